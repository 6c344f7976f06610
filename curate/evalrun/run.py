"""Run an evaluation: one load -> generate -> verify recipe per model, then the measurements.

Each model's recipe runs through `curate.runner.run_recipe` into RUN/models/<name>/, so an
evaluation resumes exactly like generation (finished parts are skipped, finished requests come
from the request cache) and adding a model to the list runs only that model: the others' runs
are unchanged and resume as no-ops. Changing a model's sampling changes its generate
fingerprint; the runner then refuses with the diff and a `--force generate` hint, never mixing
samples.

After the runs, `collect` turns each model's verified rows into per-problem records, the pure
metrics of `curate.evaluation` summarise them (all items, per benchmark, per domain, fresh vs
full, clean vs contaminated), and `outputs` writes RUN/eval.json, eval.md and eval.html.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from curate.evalrun.config import EvalConfig, EvalModel, model_dir
from curate.recipe import Recipe, validate_recipe


def model_recipe(config: EvalConfig, model: EvalModel, source: dict[str, Any]) -> Recipe:
    """The load -> generate -> verify recipe of one model."""
    raw = {"name": f"{config.name}-{model.name}", "seed": config.seed, "sources": [source],
           "base_dir": config.base_dir,
           "stages": [{"use": "load", "rows_per_part": config.rows_per_part},
                      {"use": "generate", **model.generate_config(config.n)},
                      {"use": "verify", **config.verify}]}
    return validate_recipe({k: v for k, v in raw.items() if v is not None},
                           filename=f"eval {config.name}, model {model.name}")


def run_models(config: EvalConfig, run_dir: Path, *, force: tuple[str, ...] = (), workers: int = 1,
               progress: bool = True) -> dict[str, str | None]:
    """Generate and verify with every model (resuming); return the date key of the items' extra."""
    from curate.evalrun.items import eval_source
    from curate.runner import run_recipe

    source, date_key = eval_source(config, Path(run_dir))
    recipes = [(m, model_recipe(config, m, source)) for m in config.models]  # validate all before running
    for model, recipe in recipes:
        run_recipe(recipe, model_dir(run_dir, model.name), force=force, workers=workers, progress=progress)
    return {"date_key": date_key}


def run_eval(config: EvalConfig, run_dir: str | Path, *, force: tuple[str, ...] = (), workers: int = 1,
             progress: bool = True) -> dict[str, Any]:
    """Run (or resume) the evaluation in `run_dir`; write the reports; return the JSON result."""
    from curate.evalrun.analyse import analyse
    from curate.evalrun.outputs import write_outputs

    run_dir = Path(run_dir)
    info = run_models(config, run_dir, force=force, workers=workers, progress=progress)
    result = analyse(config, run_dir, date_key=info["date_key"])
    write_outputs(result, run_dir)
    if config.train:
        from curate.evalrun.outputs import record_in_training_run

        record_in_training_run(result, config.resolve(config.train))
    return result
