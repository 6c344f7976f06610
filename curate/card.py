"""The dataset card: YAML metadata the Hub reads, and a body rendered from data_cards/.

The metadata carries the `configs:` block (one default), license, language, task categories,
size category and tags. The body is a Jinja template fed with the recipe and the manifest, so
every number in it comes from the run. Nothing time-dependent goes in: rerunning a finished
recipe must not change a byte of `dataset/`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

TEMPLATES = Path(__file__).resolve().parent.parent / "data_cards"


def size_category(rows: int) -> str:
    for limit, label in [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                         (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M")]:
        if rows < limit:
            return label
    return "10M<n<100M"


def card_metadata(recipe, write_stage, files: dict[str, list[str]], rows: int) -> dict[str, Any]:
    card = recipe.card
    licenses = sorted({s.license for s in recipe.sources if s.license})
    meta = {
        "pretty_name": card.pretty_name or recipe.name,
        "license": card.license or (licenses[0] if len(licenses) == 1 else "other"),
        "language": card.language,
        "task_categories": card.task_categories,
        "tags": card.tags,
        "size_categories": [size_category(rows)],
        "configs": write_stage.configs_block(files),
    }
    return meta


def write_card(run_dir: Path, dataset_dir: Path, write_stage, files: dict[str, list[str]]) -> Path:
    """Render README.md into `dataset_dir` from the run's recipe and manifest."""
    from curate.runner import load_recipe_from_run
    from curate.rundir import RunDir

    rd = RunDir(run_dir)
    recipe = load_recipe_from_run(rd)
    manifest = rd.read_manifest()
    rows = {name: sum(_rows(dataset_dir / f) for f in names) for name, names in files.items()}
    meta = card_metadata(recipe, write_stage, files, sum(rows.values()))
    body = render_body(recipe, manifest, rows, write_stage)
    text = "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n\n" + body
    path = dataset_dir / "README.md"
    path.write_text(text, encoding="utf-8")
    return path


def _rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def render_body(recipe, manifest: dict, rows: dict[str, int], write_stage) -> str:
    import jinja2

    folder = TEMPLATES
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(folder)), autoescape=False,
                             keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    stages = [manifest["stages"][k] for k in sorted(manifest.get("stages", {}), key=int)]
    context = {
        "recipe": recipe, "stages": _stable(stages), "rows": rows,
        "configs": write_stage.configs_block({k: ["x"] for k, v in rows.items() if v}),
        "split": write_stage.config.split, "sources": recipe.sources,
        "json": lambda o: json.dumps(o, sort_keys=True),
    }
    return env.get_template(recipe.card.template).render(**context)


def _stable(stages: list[dict]) -> list[dict]:
    """Drop timings from stage summaries: the card must not change between identical runs."""
    keep = ("name", "dir", "rows_in", "rows_out", "rejected", "counters", "config", "prepare_stats")
    return [_untimed({k: s.get(k) for k in keep}) for s in stages]


def _untimed(value):
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if not _is_timing(k)}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return value


def _is_timing(key: str) -> bool:
    key = str(key).lower()
    return any(word in key for word in ("second", "elapsed", "timestamp", "per_s", "eta", "gpu_hours"))
