"""The dataset card: YAML metadata the Hub reads, and a body rendered from a Jinja template.

The metadata carries license, language, task categories, size category, tags, pretty name,
source datasets, the `configs:` block (exactly one default) and, optionally, `dataset_info`
features generated from the written Parquet schema (never by hand). The body is a Jinja
template fed with the recipe and the facts of the run (`curate.publish.card_facts`): every number in it
comes from the manifest, the rejected rows, the stage outputs or the written files. Plots are
PNGs in `plots/` next to the card. Nothing time-dependent goes in: rerunning a finished recipe
must not change a byte of `dataset/`.

Templates are found by name, first match wins: the folder of a `card.template` given as a path,
`./data_cards/` (the folder users edit), `data_cards/` next to the recipe, then the templates
packaged in `curate/publish/templates/` (so a wheel install renders a card too). A user file
named like a packaged one replaces it; `curate/NAME` always means the packaged one, so a user
template can `{% include "curate/r1_mix.md.j2" %}` and add its own sections around it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from curate.errors import CurateError
from curate.publish import card_facts as facts_mod
from curate.publish.cost import compute_cost

TEMPLATES = Path(__file__).resolve().with_name("templates")  # packaged defaults
USER_TEMPLATES = "data_cards"  # the folder users edit (in the working directory or beside the recipe)
PLOTS_DIR = "plots"
REPO_PLACEHOLDER = "REPO_ID"  # the load snippets' repo id until the recipe or `curate push` names one


def size_category(rows: int) -> str:
    for limit, label in [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                         (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M")]:
        if rows < limit:
            return label
    return "10M<n<100M"


def gather_facts(run_dir: Path, dataset_dir: Path, files: dict[str, list[str]], manifest: dict) -> dict:
    """Every figure the card shows, from the run (see curate.publish.card_facts)."""
    stages = facts_mod.stages_before_write(manifest)
    rows = {name: sum(_rows(dataset_dir / f) for f in names) for name, names in files.items()}
    published = [dataset_dir / f for names in files.values() for f in names]
    return {
        "stages": facts_mod.funnel(run_dir, stages),
        "generation": facts_mod.generation(run_dir, stages, published, facts_mod.written_values(run_dir, manifest)),
        "verdicts": facts_mod.verdicts(run_dir, stages),
        "published_verdicts": facts_mod.published_verdicts(published),
        "pass_at_k": facts_mod.pass_at_k(run_dir, stages, published),
        "duplicates": facts_mod.duplicates(run_dir, stages),
        "contamination": facts_mod.contamination(run_dir, stages),
        "mix": facts_mod.mix(stages),
        "tokens": facts_mod.token_stats(dataset_dir, files),
        "rows": rows,
        "total_rows": sum(rows.values()),
        "cost": compute_cost(run_dir, stages, sum(rows.values())),
        "eval_checks": facts_mod.eval_checks(run_dir),
    }


def source_datasets(recipe) -> list[str]:
    """Hub ids of the sources read from the Hub; `original` when every source is local."""
    from curate.io import hub_id

    hub = sorted({hub_id(s.path) for s in recipe.sources if hub_id(s.path)})
    return hub or ["original"]


def card_license(recipe) -> str:
    if recipe.card.license:
        return recipe.card.license
    licenses = {s.license for s in recipe.sources}
    return next(iter(licenses)) if len(licenses) == 1 and None not in licenses else "other"


def card_metadata(recipe, write_stage, files: dict[str, list[str]], facts: dict, dataset_dir: Path) -> dict:
    card = recipe.card
    meta: dict[str, Any] = {
        "pretty_name": card.pretty_name or recipe.name,
        "license": card_license(recipe),
        "language": list(card.language),
        "task_categories": list(card.task_categories),
        "tags": list(card.tags),
        "size_categories": [size_category(facts["total_rows"])],
        "source_datasets": source_datasets(recipe),
        "configs": write_stage.configs_block(files),
    }
    if write_stage.config.dataset_info:
        info = dataset_info(dataset_dir, write_stage, files)
        if info:
            meta["dataset_info"] = info
    return meta


def dataset_info(dataset_dir: Path, write_stage, files: dict[str, list[str]]) -> list[dict]:
    """`dataset_info` per config: features from the written schema, row counts, download size."""
    import pyarrow.parquet as pq

    split = write_stage.config.split
    infos, schemas, spelled = [], {}, {}
    for entry in write_stage.configs_block(files):
        name = entry["config_name"]
        names = files.get(name) or [f for n in files if n != name for f in files[n]]
        paths = [dataset_dir / f for f in names]
        if not paths:
            continue
        schema = pq.read_schema(paths[0]).remove_metadata()
        schemas.setdefault(str(schema), schema)
        if len(schemas) > 1:
            return []  # configs with different columns: let the Hub infer them
        rows = sum(_rows(p) for p in paths)
        size = sum(_uncompressed_bytes(p) for p in paths)
        features = spelled.setdefault(str(schema), yaml_features(schema))  # one object: one YAML block
        infos.append({"config_name": name, "features": features,
                      "splits": [{"name": split, "num_bytes": size, "num_examples": rows}],
                      "download_size": sum(p.stat().st_size for p in paths), "dataset_size": size})
    return infos


def yaml_features(schema) -> list[dict]:
    """The card's feature list; `datasets` spells the types curate's own module does not."""
    from curate.publish.card_features import features

    spelled = features(schema)
    if spelled is None:
        from datasets import Features

        spelled = Features.from_arrow_schema(schema)._to_yaml_list()
    return spelled


def draw_plots(dataset_dir: Path, files: dict[str, list[str]], facts: dict) -> list[dict]:
    """Token-length and verdict PNGs in dataset/plots/; returns [{file, title}]."""
    return write_plots(dataset_dir, start_plots(facts, facts_mod.token_lengths(dataset_dir, files)))


def start_plots(facts: dict, lengths: dict) -> list[tuple]:
    """The card's charts, set drawing (in the chart helper when one runs: `chart_process`):
    [(file name, title, Drawing)]; `lengths`: `card_facts.token_lengths` of the dataset."""
    from curate.publish.plots import token_histogram, verdict_chart
    from curate.text.chart_process import draw

    bars = facts_mod.verdict_bars(facts["verdicts"], facts.get("published_verdicts", {}))
    return [("token_lengths.png", "Tokens per row, by config", draw(token_histogram, lengths, title="Tokens per row")),
            ("verdicts.png", "Verification outcome by domain: every verified trace, and the published rows",
             draw(verdict_chart, bars, title="Verdicts: verified traces and published rows"))]


def write_plots(dataset_dir: Path, drawings: list[tuple]) -> list[dict]:
    """Wait for `start_plots`' charts and write them into dataset/plots/; returns [{file, title}]."""
    folder = dataset_dir / PLOTS_DIR
    shutil.rmtree(folder, ignore_errors=True)
    made = []
    for name, title, drawing in drawings:
        png = drawing.result()
        if png:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(png)
            made.append({"file": f"{PLOTS_DIR}/{name}", "title": title})
    return made


def render_card(run_dir: Path, dataset_dir: Path, write_stage, files: dict[str, list[str]], *,
                template: str | None = None) -> str:
    """The full README.md text (and the plots it links, written into `dataset_dir/plots`)."""
    from curate.rundir import RunDir

    rd = RunDir(run_dir)
    recipe = rd.recipe()
    manifest = rd.read_manifest()
    facts = gather_facts(Path(run_dir), dataset_dir, files, manifest)
    if getattr(write_stage.config, "shapes", None):
        from curate.publish.onpolicy_view import onpolicy_facts

        facts["onpolicy"] = onpolicy_facts(dataset_dir, files, write_stage.config.shapes)
    from curate.publish.report import draw_ahead
    from curate.text import chart_process

    charts = write_stage.config.plots or chart_process.started()
    lengths = facts_mod.token_lengths(dataset_dir, files) if charts else {}
    drawings = start_plots(facts, lengths) if write_stage.config.plots else []
    # `curate run`'s report comes next: its charts queue behind the card's (it lists configs by name)
    shown = {name: lengths[name] for name in sorted(files) if files[name]} if charts else {}
    draw_ahead(Path(run_dir), shown or None, facts["verdicts"], facts.get("published_verdicts", {}))
    meta = card_metadata(recipe, write_stage, files, facts, dataset_dir)  # while the charts are drawn
    name = template or recipe.card.template
    compiled = card_template(name, template_folders(recipe, name))  # so is the template's compile
    plots = write_plots(dataset_dir, drawings)
    body = render_body(recipe, facts, write_stage, files, plots, name, compiled=compiled)
    text = yaml.dump(meta, Dumper=CardDumper, sort_keys=False, allow_unicode=True, width=100)
    return "---\n" + text + "---\n\n" + body


class CardDumper(yaml.SafeDumper):
    """Safe YAML whose repeated blocks (the features every config shares) are written once, as
    `&features` and then `*features`, instead of once per config."""

    def generate_anchor(self, node) -> str:
        self.last_anchor_id += 1
        return "features" if self.last_anchor_id == 1 else f"features{self.last_anchor_id}"


def write_card(run_dir: Path, dataset_dir: Path, write_stage, files: dict[str, list[str]],
               *, template: str | None = None) -> Path:
    """Render README.md (and plots/) into `dataset_dir` from the run's recipe and manifest."""
    text = render_card(run_dir, dataset_dir, write_stage, files, template=template)
    path = dataset_dir / "README.md"
    path.write_text(text, encoding="utf-8")
    return path


def _uncompressed_bytes(path: Path) -> int:
    """Uncompressed data bytes from the Parquet footer (the split size, without reading rows)."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    return sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))


def _rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def template_folders(recipe, template: str) -> list[Path]:
    """User folders searched before the packaged templates (see the module docstring)."""
    folders = []
    if template_name(template) != template:  # a path: relative to the working directory, else the recipe
        path = Path(template).expanduser()
        path = path if path.is_absolute() or path.exists() else recipe.resolve_path(template)
        folders.append(path.parent)
    folders.append(Path.cwd() / USER_TEMPLATES)
    if recipe.base_dir:
        folders.append(Path(recipe.base_dir) / USER_TEMPLATES)
    return [f for i, f in enumerate(folders) if f.is_dir() and f not in folders[:i]]


def template_name(template: str) -> str:
    """The name a template is loaded by: a path's file name; `curate/NAME` stays as it is."""
    return template if template.startswith("curate/") else Path(template).name


def template_loader(search: list[Path]):
    """User folders first, then the packaged templates, which also answer to `curate/NAME`."""
    import jinja2

    packaged = jinja2.FileSystemLoader([str(TEMPLATES)])
    return jinja2.ChoiceLoader([jinja2.PrefixLoader({"curate": packaged}),
                                jinja2.FileSystemLoader([str(f) for f in search]), packaged])


def card_template(template: str, search: list[Path] = ()):
    """The card's Jinja template, compiled (a CurateError naming where it looked if not found)."""
    import jinja2

    env = jinja2.Environment(loader=template_loader(list(search)), autoescape=False,
                             keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.ChainableUndefined)
    env.filters["cell"] = table_cell
    env.filters["num"] = number
    env.filters["shortpath"] = short_path
    try:
        return env.get_template(template_name(template))
    except jinja2.TemplateNotFound as exc:
        looked = ", ".join(str(f) for f in [*search, TEMPLATES])
        raise CurateError(f"card template '{exc.name}' not found (looked in {looked})",
                          f"Set card.template to a file in ./{USER_TEMPLATES}/, a path to a .j2 file, or a "
                          f"packaged template ({', '.join(packaged_templates())}).") from None


def render_body(recipe, facts: dict, write_stage, files: dict[str, list[str]], plots: list[dict],
                template: str, *, search: list[Path] = (), compiled=None) -> str:
    """The card's Markdown body; `compiled`: `card_template`'s answer for `template`, if made already."""
    tmpl = compiled or card_template(template, search)
    configs = write_stage.configs_block(files)
    for entry in configs:
        name = entry["config_name"]
        entry["rows"] = facts["rows"].get(name, sum(facts["rows"].values()))
    repo_id = recipe.push.repo_id if recipe.push else REPO_PLACEHOLDER  # `curate push` fills it in
    return tmpl.render(recipe=recipe, facts=facts, configs=configs, split=write_stage.config.split, repo_id=repo_id,
                       sources=recipe.sources, plots=plots, columns=write_stage.config.columns,
                       default=next((c["config_name"] for c in configs if c.get("default")), "default"),
                       json=lambda o: json.dumps(o, sort_keys=True, ensure_ascii=False))


def packaged_templates() -> list[str]:
    return sorted(p.name for p in TEMPLATES.glob("*.j2"))


def table_cell(value: Any, limit: int = 300) -> str:
    """A value safe inside a Markdown table cell: one line, pipes escaped, long text cut."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)
    text = " ".join(text.split())
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.replace("|", "\\|")


def short_path(path: str) -> str:
    """Local absolute paths shrink to their file name (the card must not leak a machine's folders)."""
    return Path(path).name if path.startswith("/") else path


def number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:,.4g}"


# ---------------------------------------------------------------- `curate card RUN`


def card_for_run(run_dir: str | Path, *, template: str | None = None, output: Path | None = None) -> Path:
    """Re-render RUN/dataset/README.md (and plots) from the finished run, without rerunning."""
    from curate.registry import stage_class
    from curate.rundir import RunDir

    rd = RunDir(run_dir)
    recipe = rd.recipe()
    entry = next((e for e in recipe.stage_entries() if e.use == "write"), None)
    if entry is None or not rd.dataset.exists():
        raise CurateError(f"{rd.path} has no written dataset (no `write` stage finished).",
                          "Add `- use: write` at the end of the recipe and run it with `curate run`.")
    write_stage = stage_class("write")(entry.config)
    files = {name: sorted(f"{name}/{p.name}" for p in (rd.dataset / name).glob("*.parquet"))
             for name in write_stage.config_filters()}
    text = render_card(rd.path, rd.dataset, write_stage, files, template=template)
    path = output or rd.dataset / "README.md"
    path.write_text(text, encoding="utf-8")
    return path
