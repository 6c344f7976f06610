"""Recipes: YAML validated whole, before anything runs.

A recipe names its `sources` (what `load` reads) and an ordered list of `stages`, each
`use: <stage>` with that stage's fields inline. Errors name the path and the YAML line and
suggest the nearest valid key:

    recipe.yaml:14: stages[3] (dedup).treshold: unknown field; did you mean 'threshold'?

`--set a.b=c` overrides apply to the raw YAML before validation; list items are addressed by
index (`stages.2.threshold=0.9`) or, for stages and sources, by name (`stages.dedup.threshold`);
a name that several items share is an error listing their indexes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from curate.errors import RecipeError
from curate.recipe.errors import combined_error, pydantic_problems

SourceFormat = Literal["auto", "parquet", "jsonl", "csv", "datasets", "hub", "run"]


class StageConfig(BaseModel):
    """Base of every stage config: closed to unknown keys, documented fields."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    domains: list[str] | None = Field(
        None, description="Apply only to rows of these domains; other rows pass through untouched."
    )


class Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Source(Closed):
    """One input of `load`."""

    path: str = Field(description="File, folder or glob; a Hub dataset id (hub:org/name); or run:DIR.")
    name: str | None = Field(None, description="Source name recorded in each row (default: from path).")
    format: SourceFormat = Field("auto", description="Input format; auto guesses from the path.")
    split: str = Field("train", description="Split to read from a datasets folder or Hub dataset.")
    config: str | None = Field(None, description="Hub dataset config (subset) name.")
    revision: str | None = Field(None, description="Hub dataset revision (commit, tag or branch).")
    columns: dict[str, str] = Field(
        default_factory=dict, description="Trace column -> source column, e.g. {problem: question}."
    )
    domain: str | None = Field(None, description="Domain of every row (math, code, science, general).")
    license: str | None = Field(None, description="License of the source data.")
    trace: str | None = Field(
        None, description="Column holding a whole generation (<think>..</think> answer) to split."
    )
    messages: str | None = Field(
        None, description="Column holding a chat (list of {role, content}); the last turns fill "
        "problem/answer, earlier turns go to extra.history."
    )
    code_tests: Literal["apps", "livecodebench", "humaneval"] | None = Field(
        None, description="Convert this dataset's test format into curate's `reference` JSON "
        "(humaneval: `test` + `entry_point` columns, the prompt as `problem` and as the tests' code context)."
    )
    limit: int | None = Field(None, ge=0, description="Read at most this many rows.")
    id_scope: Literal["source", "global"] | None = Field(
        None, description="source: the source's own ids are prefixed with its name (`name:id`), so "
        "ids of different sources never meet; global: ids are kept as given, for sources that share "
        "an id space on purpose. Default: source (global for run: sources, whose ids are curate's).")

    @model_validator(mode="after")
    def _humaneval_columns(self) -> Source:
        """HumanEval-style files name their columns prompt/test/entry_point: map them unless told otherwise."""
        if self.code_tests == "humaneval":
            self.columns = {"problem": "prompt", "reference": "test", **self.columns}
        return self

    @property
    def display_name(self) -> str:
        if self.name:
            return self.name
        return Path(self.path.split(":", 1)[-1].rstrip("/")).stem or self.path


class CardConfig(Closed):
    """Dataset card metadata and template (see data_cards/README.md)."""

    pretty_name: str | None = None
    description: str | None = None
    license: str | None = None
    language: list[str] = Field(default_factory=lambda: ["en"])
    tags: list[str] = Field(default_factory=lambda: ["reasoning", "distillation", "curate"])
    task_categories: list[str] = Field(default_factory=lambda: ["text-generation"])
    template: str = Field("r1_mix.md.j2", description="Card template: a name (./data_cards/ first, then "
                          "curate's packaged templates) or a path to a .j2 file.")


class PushConfig(Closed):
    """Where `curate run --push` publishes RUN/dataset/ (the same push as `curate push`)."""

    repo_id: str = Field(description="Dataset repo on the Hub, owner/name.")
    private: bool = Field(False, description="Create the repo as private (if it does not exist).")
    revision: str | None = Field(None, description="Branch to push to (created from main if missing).")
    create_pr: bool = Field(False, description="Open a pull request instead of committing (implies atomic).")
    atomic: bool = Field(False, description="Pre-upload every file, then make one commit.")
    dry_run: bool = Field(False, description="List what would be uploaded and print the card; upload nothing.")


class StageEntry(Closed):
    """A validated `stages:` item: the stage name and its config as a plain dict."""

    use: str
    config: dict[str, Any] = Field(default_factory=dict)


class Recipe(Closed):
    name: str = Field(description="Recipe name; also the default run directory name.")
    description: str | None = None
    seed: int = Field(0, description="Seed for every random choice in the run.")
    sources: list[Source] = Field(min_length=1)
    stages: list[StageEntry] = Field(default_factory=list)
    card: CardConfig = Field(default_factory=CardConfig)
    push: PushConfig | None = None
    base_dir: str | None = Field(None, description="Folder relative source paths resolve from.")

    def stage_entries(self) -> list[StageEntry]:
        """The stages to run; a `load` is prepended when the recipe does not start with one.

        `load` gets the recipe's sources; every stage whose config has a `base_dir` field gets
        the folder relative paths resolve from (the recipe's)."""
        from curate.registry import stage_class

        stages = list(self.stages)
        if not stages or stages[0].use != "load":
            stages.insert(0, StageEntry(use="load"))
        sources = [s.model_dump(mode="json", exclude_none=True) for s in self.sources]
        entries = [StageEntry(use="load", config={**stages[0].config, "sources": sources})]
        entries += [StageEntry(use=e.use, config=dict(e.config)) for e in stages[1:]]
        for entry in entries:
            if "base_dir" in stage_class(entry.use).Config.model_fields and self.base_dir:
                entry.config.setdefault("base_dir", self.base_dir)
        return entries

    def resolve_path(self, path: str) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() or not self.base_dir else Path(self.base_dir) / p

    def to_yaml(self) -> str:
        data = self.model_dump(mode="json", exclude_none=True)
        data["stages"] = [{"use": s.use, **s.config} for s in self.stages]
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


# ---------------------------------------------------------------- loading


def load_recipe(path: str | Path, overrides: list[str] = ()) -> Recipe:
    """Read, override, and validate a recipe file. Raises RecipeError with path and line."""
    path = Path(path)
    if not path.exists():
        raise RecipeError(f"recipe file not found: {path}", "Check the path; recipes live in recipes/.")
    text = path.read_text(encoding="utf-8")
    raw, lines = parse_yaml(text, str(path))
    for item in overrides:
        apply_override(raw, item)
    raw.setdefault("base_dir", str(path.resolve().parent))
    return validate_recipe(raw, lines, str(path))


def parse_yaml(text: str, filename: str) -> tuple[dict, dict[tuple, int]]:
    """YAML -> (data, {key path: line number}); malformed YAML names the line and column."""
    try:
        try:
            node, data = compose_and_load(text, FAST_LOADER)
        except yaml.YAMLError:  # the pure-Python parser's message (and its verdict) is the one we show
            node, data = compose_and_load(text, yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{filename}:{mark.line + 1}:{mark.column + 1}" if mark else filename
        problem = getattr(exc, "problem", None) or str(exc)
        raise RecipeError(f"{where}: invalid YAML: {problem}", "Fix the YAML syntax at that line.")
    if not isinstance(data, dict):
        raise RecipeError(f"{filename}: a recipe must be a YAML mapping (name:, sources:, stages:).")
    lines: dict[tuple, int] = {}
    _collect_lines(node, (), lines)
    return data, lines


#: libyaml's parser when PyYAML was built with it: the same safe constructor over a C scanner, 15x
#: faster than the pure-Python one; every part task parses the run's recipe again (`RunDir.recipe`)
FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def compose_and_load(text: str, loader_class) -> tuple[Any, Any]:
    """(node, data) from one parse of `text`: the node tree for line numbers, the data built from it."""
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        return node, (loader.construct_document(node) if node is not None else None)
    finally:
        loader.dispose()


def _collect_lines(node, path: tuple, lines: dict[tuple, int]) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            lines[path + (key.value,)] = key.start_mark.line + 1
            _collect_lines(value, path + (key.value,), lines)
            lines[path + (key.value,)] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, value in enumerate(node.value):
            _collect_lines(value, path + (i,), lines)


def apply_override(raw: dict, item: str) -> None:
    """Apply one `a.b=c` override to the raw recipe dict (value parsed as YAML)."""
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise RecipeError(f"--set {item!r}: expected KEY=VALUE, e.g. --set seed=3")
    parts = key.split(".")
    target: Any = raw
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(target, list):
            index = _list_index(target, part, key)
            if last:
                target[index] = yaml.safe_load(value)
            else:
                target = target[index]
        elif isinstance(target, dict):
            if last:
                target[part] = yaml.safe_load(value)
            else:
                target = target.setdefault(part, {})
        else:
            raise RecipeError(f"--set {key}: '{'.'.join(parts[:i])}' is not a mapping or list.")


def _list_index(items: list, part: str, key: str) -> int:
    if part.lstrip("-").isdigit():
        index = int(part)
        if -len(items) <= index < len(items):
            return index
        raise RecipeError(f"--set {key}: index {index} is out of range (the list has {len(items)}).")
    named = [i for i, item in enumerate(items) if isinstance(item, dict) and item.get("name") == part]
    used = [i for i, item in enumerate(items) if isinstance(item, dict) and item.get("use") == part]
    matches = named or used
    if len(matches) == 1:
        return matches[0]
    if matches:  # never guess which one: the edit would silently land on the first
        head = key.split(".")[0]
        tail = key.split(".", 2)[2:] if key.count(".") >= 2 else []
        spelled = [".".join([head, str(i), *tail]) for i in matches]
        raise RecipeError(f"--set {key}: '{part}' is ambiguous: items {matches} all match it.",
                          f"Address one by its index: {' or '.join(spelled)}")
    names = [i.get("use") or i.get("name") for i in items if isinstance(i, dict)]
    raise RecipeError(f"--set {key}: no item named '{part}'", f"choose one of: {names}")


def validate_recipe(raw: dict, lines: dict[tuple, int] | None = None, filename: str = "recipe") -> Recipe:
    """Validate the whole recipe: top level, then each stage's config against its model.

    Every problem found is reported in one error (a typo in one stage does not hide the next)."""
    lines = lines or {}
    raw = dict(raw)
    stage_items = raw.pop("stages", None) or []
    if not isinstance(stage_items, list):
        raise RecipeError(f"{filename}:{lines.get(('stages',), '?')}: stages must be a list.")
    problems: list[tuple[str, str | None]] = []
    recipe = None
    try:
        recipe = Recipe(**raw)
    except ValidationError as exc:
        problems += pydantic_problems(exc, (), Recipe, lines, filename)
    entries = _validate_stages(stage_items, lines, filename, problems)
    if problems:
        raise combined_error(problems, filename)
    recipe.stages = entries
    return recipe


def _validate_stages(stage_items: list, lines, filename: str, problems: list) -> list[StageEntry]:
    """Each stage's config checked against its model; problems are appended, not raised."""
    from curate.registry import stage_class

    entries = []
    for i, item in enumerate(stage_items):
        if not isinstance(item, dict) or "use" not in item:
            line = lines.get(("stages", i), "?")
            problems.append((f"{filename}:{line}: stages[{i}] needs `use: <stage name>`.", None))
            continue
        config = {k: v for k, v in item.items() if k != "use"}
        try:
            cls = stage_class(str(item["use"]))
        except RecipeError as exc:
            line = lines.get(("stages", i, "use"), "?")
            problems.append((f"{filename}:{line}: stages[{i}]: {exc.message}", exc.hint))
            continue
        try:
            cls(config)  # validates, and checks optional dependencies
        except ValidationError as exc:
            problems += pydantic_problems(exc, ("stages", i), cls.Config, lines, filename, cls.name)
        if entries and stage_class(entries[-1].use).terminal:
            line = lines.get(("stages", i, "use"), "?")
            problems.append((f"{filename}:{line}: stages[{i}] ({cls.name}) comes after "
                             f"'{entries[-1].use}', which must be the last stage.",
                             f"Move '{entries[-1].use}' to the end of `stages:`."))
        entries.append(StageEntry(use=cls.name, config=config))
    return entries
