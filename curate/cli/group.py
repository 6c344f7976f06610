"""The `curate` command: a thin skin over the library.

Click parses, calls the library, and turns `CurateError` into `Error:` / `Hint:` lines and an
exit code at one boundary (`CurateGroup.invoke`). Stage subcommands (`curate filter IN OUT`) are
generated from each stage's config model, lazily: `curate --help` imports no vllm, torch, ray or
sympy.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from curate import __version__
from curate.cli.params import Location
from curate.errors import CurateError

CORE_COMMANDS = ["run", "recipe", "stages", "inspect", "status"]
LISTING = "curate.listing"  # ctx.meta key: set while the command list is being formatted
#: top-level commands of feature modules, imported only when used: name -> "module:attribute"
PLUGIN_COMMANDS: dict[str, str] = {
    "decontaminate": "curate.cli.decontam:decontaminate",
    "benchmarks": "curate.cli.decontam:benchmarks",
    "card": "curate.cli.publish:card",
    "eval": "curate.cli.evaluate:evaluate",
    "report": "curate.cli.publish:report",
    "push": "curate.cli.publish:push",
    "tiny-model": "curate.teachers.tiny_model:tiny_model_command",
    "view": "curate.cli.view:view",
}


class CurateGroup(click.Group):
    """Core commands, then one generated command per registered stage; errors at one boundary."""

    def list_commands(self, ctx):
        from curate.cli.listing import module_exists
        from curate.registry import available

        plugins = [n for n, path in PLUGIN_COMMANDS.items() if module_exists(path.partition(":")[0])]
        return sorted(super().list_commands(ctx)) + sorted(plugins) + available()

    def format_commands(self, ctx, formatter):
        """The command list, with stand-ins read from source for stage and feature commands
        (`curate.cli.listing`): `curate --help` imports none of them."""
        ctx.meta[LISTING] = True
        try:
            super().format_commands(ctx, formatter)
        finally:
            ctx.meta.pop(LISTING, None)

    def get_command(self, ctx, name):
        command = super().get_command(ctx, name)
        if command is not None:
            return command
        if ctx.meta.get(LISTING):
            command = _listed(name)
            if command is not None:
                return command
        if name in PLUGIN_COMMANDS:
            import importlib

            module, _, attr = PLUGIN_COMMANDS[name].partition(":")
            return getattr(importlib.import_module(module), attr)
        from curate.registry import STAGES

        if name in STAGES:
            from curate.cli.stages import stage_command

            return stage_command(name)
        return None

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except CurateError as exc:
            close_progress_bars()
            click.secho(f"Error: {exc.message}", fg="red", err=True)
            if exc.hint:
                click.echo(f"Hint: {exc.hint}", err=True)
            ctx.exit(exc.exit_code)


def _listed(name: str) -> click.Command | None:
    """The stand-in of command `name` in the command list, or None to import it."""
    from curate.cli.listing import plugin_listing, stage_listing
    from curate.registry import STAGES

    if name in PLUGIN_COMMANDS:
        return plugin_listing(name, PLUGIN_COMMANDS[name])
    if name in STAGES:
        return stage_listing(name, STAGES[name].partition(":")[0])
    return None


def close_progress_bars() -> None:
    """Close (and clear) progress bars an error left open, so `Error:` starts its own line."""
    tqdm = sys.modules.get("tqdm")
    for bar in list(getattr(getattr(tqdm, "tqdm", None), "_instances", ()) or ()):
        bar.close()
    sys.stderr.flush()


def show_version(ctx: click.Context, _param, value: bool) -> None:
    """`--version`: the version, and which kernels dedup and decontam run (their C build, or
    numba when the install had no C compiler or a checkout's C changed since it was built)."""
    if not value or ctx.resilient_parsing:
        return
    from curate.decontam import native as decontam_native
    from curate.dedup import native as dedup_native

    built = {"dedup": dedup_native.available(), "decontam": decontam_native.available()}
    kernels = ", ".join(f"{name} {'C' if ok else 'numba'}" for name, ok in built.items())
    hint = ("" if all(built.values()) else " (CURATE_NATIVE=0)" if os.environ.get("CURATE_NATIVE") == "0"
            else " (no C build: see docs/getting-started.md#install)")
    click.echo(f"curate, version {__version__}\nkernels: {kernels}{hint}")
    ctx.exit()


@click.group(cls=CurateGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=show_version,
              help="Show the version and which kernels run, and exit.")
def cli():
    """Build reasoning-distillation datasets: generate teacher traces, verify them, remove
    duplicates and benchmark leaks, mix by exact counts, and publish sharded Parquet to the Hub.

    Start with `curate run recipes/quickstart.yaml`.
    """


def overrides_option(f):
    return click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                        help="Override a recipe value, e.g. --set stages.dedup.threshold=0.9.")(f)


@cli.command()
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.option("--run-dir", type=click.Path(file_okay=False),
              help="Run directory: a folder or an object-store URL, e.g. s3://bucket/runs/r1 "
                   "(default: runs/<recipe name>).")
@overrides_option
@click.option("--force", multiple=True, metavar="STAGE", help="Recompute STAGE and every stage after it.")
@click.option("--workers", type=int, default=1, show_default=True,
              help="Parts processed in parallel (with --executor ray, 1 means as many as the cluster fits).")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="Where part tasks run: local processes or a Ray cluster.")
@click.option("--address", help="Ray cluster address (with --executor ray), e.g. auto.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option("-v", "--verbose", is_flag=True,
              help="Print the engine's (vLLM's) log lines instead of writing them to RUN_DIR/logs/engine.log.")
@click.option("--report/--no-report", default=True, show_default=True,
              help="Write the HTML run report (RUN_DIR/reports/report.html) at the end.")
@click.option("--push/--no-push", default=False, show_default=True,
              help="At the end, push RUN_DIR/dataset/ as the recipe's `push:` section says (like `curate push`).")
def run(recipe, run_dir, overrides, force, workers, executor, address, quiet, verbose, report, push):
    """Run (or resume) RECIPE; the publishable folder is RUN_DIR/dataset/."""
    import os

    from curate.cli.inspect import summary_table
    from curate.evalrun.config import is_eval_recipe
    from curate.recipe import load_recipe
    from curate.rundir import RunDir
    from curate.runner import run_recipe

    if is_eval_recipe(recipe):  # the eval recipe kind: the same as `curate eval RECIPE`
        from curate.cli.evaluate import evaluate

        return click.get_current_context().invoke(evaluate, recipe=recipe, overrides=overrides, run_dir=run_dir,
                                                  force=force, workers=workers, quiet=quiet)
    parsed = load_recipe(recipe, list(overrides))
    if push and parsed.push is None:
        raise CurateError(f"--push given, but {recipe} has no `push:` section.",
                          "Add `push: {repo_id: YOUR_NAME/DATASET}` to the recipe (or "
                          "--set push.repo_id=YOUR_NAME/DATASET), or push later: curate push RUN_DIR REPO_ID.")
    from curate.storage import is_url

    run_dir = run_dir if is_url(run_dir) else Path(run_dir or Path("runs") / parsed.name)
    local = RunDir(run_dir).path  # a run on object storage works in this local copy
    engine_log = RunDir(run_dir).engine_log.resolve()
    if not verbose:  # read by the engine (and the worker processes that inherit it)
        os.environ["CURATE_ENGINE_LOG"] = str(engine_log)
    manifest = run_recipe(parsed, run_dir, force=tuple(force), workers=workers, executor=executor,
                          address=address, progress=not quiet, clean=not (report or push), chart_helper=True,
                          charts_after=report)
    click.echo(summary_table(manifest, run_dir))
    if report:
        from curate.publish.report import write_report

        path, rd = write_report(local), RunDir(run_dir)
        if rd.store:  # beside the run's other reports, where `curate report URL` puts it too
            rd.store.put(path, rd.rel(path))
        if rd.store:  # the working copy holding `path` goes at the end: name what stays
            click.echo(f"\nReport:  {rd.store.url_of(rd.rel(path))} (a local copy: curate report {run_dir})")
        else:
            click.echo(f"\nReport:  {path}")
    dataset = RunDir(run_dir).dataset
    stored = local != run_dir and any(s.get("name") == "write" for s in manifest["stages"].values())
    if dataset.exists() or stored:  # on object storage the working copy may be gone (`clean`)
        click.echo(f"Dataset: {f'{run_dir}/{dataset.name}' if stored else dataset}")
        click.echo(f"Publish: curate push {run_dir} YOUR_NAME/{parsed.name} --dry-run")
    if not verbose and engine_log.exists():
        click.echo(f"Engine log: {engine_log}")
    if push:
        from curate.cli.publish import publish

        publish(local, **parsed.push.model_dump())
    if report or push:  # on object storage: the working copy they read goes now (see run_recipe's `clean`)
        RunDir(run_dir).drop_working_copy()



@cli.group()
def recipe():
    """Check and print recipes."""


@recipe.command("validate")
@click.argument("path", type=click.Path(dir_okay=False))
@overrides_option
def recipe_validate(path, overrides):
    """Validate a recipe whole (keys, types, stages, optional dependencies)."""
    from curate.recipe import load_recipe

    parsed = load_recipe(path, list(overrides))
    stages = ", ".join(e.use for e in parsed.stage_entries())
    click.echo(f"{path}: OK ({len(parsed.sources)} source(s); stages: {stages})")


@recipe.command("show")
@click.argument("path", type=click.Path(dir_okay=False))
@overrides_option
def recipe_show(path, overrides):
    """Print the recipe as it will run (overrides applied, defaults filled in)."""
    from curate.recipe import load_recipe
    from curate.registry import stage_class

    parsed = load_recipe(path, list(overrides))
    for entry in parsed.stages:
        entry.config = stage_class(entry.use)(entry.config).config_dict()
    click.echo(parsed.to_yaml(), nl=False)


@cli.command()
def stages():
    """List the stages a recipe can `use:`."""
    from curate.cli.listing import first_line
    from curate.registry import available, stage_class

    for name in available():
        doc = (stage_class(name).__module__ and sys.modules[stage_class(name).__module__].__doc__ or "")
        click.echo(f"{name:<10} {first_line(doc)}")


@cli.command()
@click.argument("path", type=Location())
@click.option("--rows", "sample_rows", type=int, default=3, show_default=True, help="Sample rows to show.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def inspect(path, sample_rows, as_json):
    """Show schema, counts by domain/source/verdict and sample rows of PATH (Parquet, JSONL, run;
    a folder or a URL such as s3://bucket/runs/r1)."""
    from curate.cli.inspect import describe, render

    info = describe(path, sample_rows=sample_rows)
    click.echo(json.dumps(info, indent=2, default=str) if as_json else render(info))


@cli.command()
@click.argument("run_dir", type=Location(file_okay=False))
def status(run_dir):
    """Print the stage x part table of a run (a folder or a URL): what is done, what is left."""
    from curate.cli.inspect import status_table

    click.echo(status_table(run_dir))


def main():
    import gc

    # A command creates few cyclic objects but imports hundreds of thousands (pyarrow, polars,
    # numba, pydantic), and each full collection walks them all: with Python's default
    # thresholds `curate dedup` on 30k rows spent 0.11-0.14 s holding the GIL in 330 collections
    # (two full), 0.04-0.06 s with these (33, one of the middle generation, none full). Cycles
    # are still collected, less often: a full collection after about 4M allocations, not 70k.
    gc.set_threshold(10_000, 20, 20)
    try:
        cli(prog_name="curate")
    except SystemExit as done:
        gc.freeze()
        _exit(done)
    finally:
        # The command is done: spare the interpreter's exit a garbage collection over every object
        # of pyarrow, pandas, pydantic... (0.1-0.3 s on an idle machine, over 1 s under load).
        # Objects freed by reference counting are finalized as before, and Python never promised
        # to finalize the rest at exit.
        gc.freeze()


def _exit(done: SystemExit) -> None:
    """Leave as the interpreter would, without its teardown of every module (0.1-0.2 s after a
    `curate run`): the exit handlers run (multiprocessing's finalizers, the forkserver's stop,
    logging, temporary folders), the streams are flushed, then the process ends. With another
    non-daemon thread still running, the normal exit waits for it instead."""
    import atexit
    import os
    import threading

    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        raise done
    code = done.code
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`curate ... | head`): nothing left to say
            pass
    os._exit(code or 0)


if __name__ == "__main__":
    main()
