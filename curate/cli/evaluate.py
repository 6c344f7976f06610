"""`curate eval`: pass@k, maj@k, diversity and cost of one or more models on one evaluation set."""

from __future__ import annotations

from pathlib import Path

import click

from curate.errors import CurateError


def parse_model(text: str, index: int) -> dict:
    """`NAME=MODEL` (the vllm engine) or `NAME=openai:MODEL@URL` (a server); NAME= is optional."""
    name, sep, spec = text.partition("=")
    if not sep:
        name, spec = f"m{index}", text
    if spec.startswith("openai:"):
        model, at, url = spec[len("openai:"):].rpartition("@")
        if not at or not model:
            raise CurateError(f"--model {text}: expected NAME=openai:MODEL@URL",
                              "e.g. --model teacher=openai:my-model@http://127.0.0.1:8000/v1")
        return {"name": name, "teacher": "openai", "model": model, "base_url": url}
    return {"name": name, "teacher": "vllm", "model": spec}


def build_config(recipe, models, benchmark, n, after, train, baseline, name, overrides):
    from curate.evalrun.config import load_eval, validate_eval
    from curate.recipe import apply_override

    if recipe:
        config = load_eval(recipe, list(overrides))
        data = config.model_dump(exclude_unset=True)
    else:
        if not models or not benchmark:
            raise CurateError("give an eval recipe, or --model and --benchmark",
                              "e.g. curate eval --model tiny=./tiny-llama --benchmark ./fresh.jsonl --n 4")
        data = {"base_dir": str(Path.cwd())}
    cli = {"benchmark": benchmark, "n": n, "after": after, "train": train, "baseline": baseline, "name": name}
    data.update({k: v for k, v in cli.items() if v is not None})
    if models:
        data["models"] = [parse_model(m, i) for i, m in enumerate(models)]
    if not recipe:
        for item in overrides:
            apply_override(data, item)
    return validate_eval(data, filename=recipe or "curate eval")


@click.command("eval")
@click.argument("recipe", required=False, type=click.Path(dir_okay=False))
@click.option("--model", "models", multiple=True, metavar="[NAME=]MODEL",
              help="A model to evaluate (repeatable): NAME=PATH for the vllm engine, "
                   "NAME=openai:MODEL@URL for an OpenAI-compatible server. Replaces the recipe's models.")
@click.option("--benchmark", help="Pack benchmark (aime25, math500, humaneval, livecodebench:release_v5, "
              "...) or a local JSONL/Parquet file (file.jsonl#problem=q,answer=gold,id=uid).")
@click.option("--n", type=int, help="Samples per problem and model (default 4).")
@click.option("--after", metavar="DATE", help="Also report the fresh problems: dated after DATE (YYYY-MM-DD).")
@click.option("--train", metavar="RUN_OR_DATASET",
              help="Check every item against this training run or dataset; report clean vs contaminated.")
@click.option("--baseline", metavar="NAME", help="Model the others are compared with (default: the first).")
@click.option("--name", help="Name of the evaluation (default: the recipe's, or eval).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a value, e.g. --set models.0.temperature=1.0.")
@click.option("--run-dir", type=click.Path(file_okay=False), help="Run folder (default: runs/eval-<name>).")
@click.option("--force", multiple=True, metavar="STAGE", help="Recompute STAGE (and later ones) for every model.")
@click.option("--workers", type=int, default=1, show_default=True, help="Parts processed in parallel.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def evaluate(recipe, models, benchmark, n, after, train, baseline, name, overrides, run_dir, force, workers, quiet):
    """Evaluate models on one set: pass@k, maj@k (with bootstrap intervals), diversity, cost.

    Each model's samples are generated and verified by the normal stages in RUN_DIR/models/NAME/,
    so an interrupted eval resumes and adding a model reuses the others' samples. Writes
    RUN_DIR/eval.json, eval.md (a table for a model card) and eval.html.
    """
    from curate.evalrun.outputs import markdown
    from curate.evalrun.run import run_eval

    config = build_config(recipe, models, benchmark, n, after, train, baseline, name, overrides)
    run_dir = Path(run_dir or Path("runs") / f"eval-{config.name}")
    result = run_eval(config, run_dir, force=tuple(force), workers=workers, progress=not quiet)
    click.echo(markdown(result))
    for warning in result["warnings"]:
        click.secho(f"Warning: {warning['message']}", fg="yellow", err=True)
    click.echo(f"Report: {run_dir / 'eval.html'}\nJSON:   {run_dir / 'eval.json'}")
