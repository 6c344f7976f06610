"""A small finished run on the sample corpus (load -> filter -> mix -> write), shared by the
write, card, report and push tests."""

from __future__ import annotations

from pathlib import Path

import yaml

SAMPLE = Path(__file__).resolve().parent.parent / "recipes" / "data"


def sample_recipe(**write: object) -> dict:
    return {
        "name": "publish-test",
        "seed": 5,
        "sources": [
            {"name": "sample-math", "path": str(SAMPLE / "math.jsonl"), "domain": "math", "license": "cc-by-4.0",
             "trace": "generation", "columns": {"problem": "question", "reference": "gold", "sample_idx": "sample"}},
            {"name": "sample-code", "path": str(SAMPLE / "code.jsonl"), "domain": "code", "license": "cc-by-4.0",
             "trace": "generation", "columns": {"problem": "question", "reference": "tests", "sample_idx": "sample"}},
            {"name": "sample-general", "path": str(SAMPLE / "general.jsonl"), "domain": "general",
             "license": "cc-by-4.0", "messages": "messages"},
        ],
        "stages": [
            {"use": "load", "rows_per_part": 50},
            {"use": "filter", "domains": ["math", "code"], "finish_reason": ["stop"]},
            {"use": "mix", "by": "domain", "counts": {"math": 90, "code": 20, "general": 30}},
            {"use": "write", "configs": {"reasoning": {"domain": ["math", "code"]}, "general": {"domain": ["general"]}},
             "all_config": "all", "default_config": "all", **write},
        ],
        "card": {"pretty_name": "publish test", "license": "cc-by-4.0"},
    }


def make_run(folder: Path, name: str = "run", **write: object) -> Path:
    from curate.recipe import load_recipe
    from curate.runner import run_recipe

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(sample_recipe(**write), sort_keys=False))
    run_dir = folder / name
    run_recipe(load_recipe(path), run_dir, progress=False)
    return run_dir
