"""The `eval` recipe kind: models, one evaluation set, samples per problem, and what to report.

An eval recipe is YAML with `kind: eval`; `curate eval` builds the same object from its options.
Each model takes every field of the generate stage (`curate.teachers.config.GenerateConfig`:
backend, sampling, engine options) plus a `name`; `n` is set once for all models, so their
pass@k curves cover the same k.

    kind: eval
    name: distill-check
    benchmark: ./fresh_math.jsonl        # or a pack name (aime25), or `dataset:` (any load source)
    n: 8
    models:
      - {name: teacher, teacher: openai, model: big, base_url: http://127.0.0.1:8000/v1}
      - {name: student, model: ./student, temperature: 0.7}
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from curate.errors import RecipeError
from curate.recipe import Closed, Source, apply_override, parse_yaml
from curate.recipe.errors import validation_error
from curate.teachers.config import GenerateConfig

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


class EvalModel(GenerateConfig):
    """One model under evaluation: a name plus the generate stage's fields."""

    name: str = Field(description="Short name: the folder RUN/models/<name>/ and the label in reports.")

    @field_validator("name")
    @classmethod
    def _path_safe(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("use letters, digits, '.', '_' and '-' (it names a folder)")
        return value

    def generate_config(self, n: int) -> dict[str, Any]:
        """The generate stage's config for this model with `n` samples per problem."""
        data = self.model_dump(exclude={"name"}, exclude_defaults=True)
        return {**data, "model": self.model, "n": n}


class EvalConfig(Closed):
    """A whole evaluation (see the module docstring)."""

    kind: Literal["eval"] = Field("eval", description="Marks the file as an eval recipe.")
    name: str = Field("eval", description="Name of the evaluation; the default run folder is runs/eval-<name>.")
    seed: int = Field(0, description="Seed of the runs and of the bootstrap.")
    models: list[EvalModel] = Field(min_length=1, description="The models to evaluate, side by side.")
    baseline: str | None = Field(None, description="Model the others are compared with (default: the first).")
    benchmark: str | None = Field(
        None, description="A pack benchmark (math: aime25, math500, ...; code: humaneval, mbpp, "
        "livecodebench[:release_vN][:FROM..TO]) or a local JSONL/Parquet file with an optional field "
        "mapping (file.jsonl#problem=q,answer=gold,id=uid).")
    dataset: Source | None = Field(None, description="Instead of `benchmark`: any source `load` reads.")
    date_column: str | None = Field(
        None, description="Source column holding each item's date (ISO, YYYY[-MM[-DD]]); pack "
        "benchmarks carry their release date (LiveCodeBench: each problem's contest date).")
    domain: str = Field("math", description="Domain of the items of a local `benchmark` file.")
    n: int = Field(4, ge=1, description="Samples per problem and model (pass@k for k = 1..n).")
    verify: dict[str, Any] = Field(default_factory=dict, description="Fields of the verify stage.")
    after: str | None = Field(
        None, description="Fresh problems: dated strictly after this date (e.g. a training cutoff). "
        "The report shows the fresh and the full set side by side.")
    train: str | None = Field(
        None, description="A run folder or a dataset file (Parquet/JSONL) of training data: each "
        "evaluation item is checked against its problem and trace text.")
    train_ngram: int = Field(13, ge=3, description="Word n-gram length of the contamination check.")
    bootstrap: int = Field(1000, ge=10, description="Bootstrap resamples for the confidence intervals.")
    level: float = Field(0.95, gt=0, lt=1, description="Confidence level of the intervals.")
    ngram: int = Field(4, ge=1, description="Word n-gram length of the diversity figures.")
    rows_per_part: int = Field(50_000, ge=1, description="Problems per part (the unit of resume).")
    base_dir: str | None = Field(None, description="Folder relative paths resolve from.")

    @field_validator("after")
    @classmethod
    def _iso(cls, value: str | None) -> str | None:
        if value is not None and not _DATE.match(value):
            raise ValueError("write the date as YYYY-MM-DD (or YYYY-MM, YYYY)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> EvalConfig:
        if (self.benchmark is None) == (self.dataset is None):
            raise ValueError("give exactly one of `benchmark` (pack name or file) and `dataset` (a load source)")
        names = [m.name for m in self.models]
        if len(set(names)) != len(names):
            raise ValueError(f"model names must be unique: {names}")
        fixed = [m.name for m in self.models if "n" in m.model_fields_set]
        if fixed:
            raise ValueError(f"models {fixed} set `n`; set it once at the top level (`n: {self.n}`) so "
                             "every model's pass@k covers the same k")
        if self.baseline is not None and self.baseline not in names:
            raise ValueError(f"baseline '{self.baseline}' is not one of the models {names}")
        return self

    @property
    def baseline_name(self) -> str:
        return self.baseline or self.models[0].name

    def resolve(self, path: str) -> str:
        p = Path(path).expanduser()
        return str(p if p.is_absolute() or not self.base_dir else Path(self.base_dir) / p)


def model_dir(run_dir: str | Path, name: str) -> Path:
    """Where a model's load -> generate -> verify run lives: RUN/models/<name>/."""
    return Path(run_dir) / "models" / name


def is_eval_recipe(path: str | Path) -> bool:
    """Does the YAML file at `path` declare `kind: eval`?"""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and data.get("kind") == "eval"


def load_eval(path: str | Path, overrides: list[str] = ()) -> EvalConfig:
    """Read, override and validate an eval recipe; errors name the key and the YAML line."""
    path = Path(path)
    if not path.exists():
        raise RecipeError(f"eval recipe not found: {path}", "Check the path.")
    raw, lines = parse_yaml(path.read_text(encoding="utf-8"), str(path))
    for item in overrides:
        apply_override(raw, item)
    raw.setdefault("base_dir", str(path.resolve().parent))
    return validate_eval(raw, lines, str(path))


def validate_eval(raw: dict, lines: dict | None = None, filename: str = "eval recipe") -> EvalConfig:
    try:
        return EvalConfig(**raw)
    except ValidationError as exc:
        raise validation_error(exc, EvalConfig, lines or {}, filename) from None
