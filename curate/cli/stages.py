"""One `curate <stage> IN OUT` command per registered stage, generated from its config model.

The command builds a two-stage recipe (load IN, then the stage) and runs it with OUT as the run
directory, so a stage run from the shell resumes like any recipe. IN may be a Parquet or JSONL
file or folder holding just the columns the stage needs (absent schema columns become nulls), or
another run directory (its last stage is read). The output parts are OUT/01-<stage>/.
"""

from __future__ import annotations

import json
import types
import typing
from pathlib import Path

import click
import yaml

from curate.cli.listing import first_line

NO_CLI = {"sources", "base_dir"}


def stage_command(name: str) -> click.Command:
    from curate.registry import stage_class

    cls = stage_class(name)
    doc = (cls.__doc__ or "").strip() or f"Run the {name} stage."
    module_doc = (typing.cast(types.ModuleType, __import__(cls.__module__, fromlist=["x"])).__doc__ or "")
    help_text = f"{first_line(module_doc) or doc}\n\nReads IN (file, folder or run directory), writes OUT/01-{name}/."
    params = [click.Argument(["in_path"], type=click.Path(exists=True)),
              click.Argument(["out_dir"], type=click.Path(file_okay=False))]
    params += [option_for(field_name, field) for field_name, field in cls.Config.model_fields.items()
               if field_name not in NO_CLI]
    fields = set(cls.Config.model_fields)
    generic = [
        click.Option(["--workers"], type=int, default=1, show_default=True, help="Parts processed in parallel."),
        click.Option(["--rows-per-part"], type=int, default=50_000, show_default=True, help="Rows per part."),
        click.Option(["--force"], is_flag=True, help="Recompute even if OUT holds results made with other options."),
        click.Option(["--domain"], default=None, help="Domain of every input row whose own `domain` is empty "
                     "(math, code, science, general), as `domain:` on a recipe source."),
        click.Option(["--source-columns" if "columns" in fields else "--columns", "source_columns"],
                     default=None, metavar="COL=SRC,...",
                     help="Map input columns to trace columns, e.g. problem=question,reference=gold (or a "
                     "YAML mapping), as `columns:` on a recipe source. Other columns are kept in `extra`."),
    ]
    # A stage's own field of the same name wins (e.g. verify's --workers: its checker processes).
    params += [p for p in generic if p.name not in fields]
    if cls.has_preview():
        params.append(click.Option(["--dry-run"], is_flag=True, help="Print what the stage would do "
                                   "for the first rows, without running it."))

    def callback(in_path, out_dir, force, dry_run=False, **options):
        workers = options.pop("workers") if "workers" not in fields else 1
        rows_per_part = options.pop("rows_per_part") if "rows_per_part" not in fields else 50_000
        source = source_options(options.pop("domain", None), options.pop("source_columns", None))
        config = {k: parse_value(cls.Config.model_fields[k], v) for k, v in options.items() if v is not None}
        return run_stage_command(cls, Path(in_path), Path(out_dir), config, source=source,
                                 workers=workers, rows_per_part=rows_per_part, force=force, dry_run=dry_run)

    return click.Command(name, params=params, callback=callback, help=help_text, short_help=first_line(module_doc))


def option_for(name: str, field) -> click.Option:
    """A click option from a pydantic field: flags for bools, choices for Literals, text otherwise."""
    flag = "--" + name.replace("_", "-")
    annotation = _unwrap_optional(field.annotation)
    help_text = field.description or ""
    default = None if field.is_required() else field.get_default(call_default_factory=True)
    if default not in (None, [], {}, ""):
        help_text += f"  [default: {json.dumps(default) if not isinstance(default, str) else default}]"
    if annotation is bool:
        return click.Option([f"{flag}/--no-{flag[2:]}"], default=None, help=help_text)
    if typing.get_origin(annotation) is typing.Literal:
        return click.Option([flag], type=click.Choice([str(a) for a in typing.get_args(annotation)]),
                            default=None, help=help_text)
    if annotation in (int, float, str):
        return click.Option([flag], type=annotation, default=None, help=help_text)
    if typing.get_origin(annotation) is list:
        return click.Option([flag], default=None, metavar="A,B,...", help=help_text)
    return click.Option([flag], default=None, metavar="YAML", help=help_text + " (YAML or JSON)")


def _unwrap_optional(annotation):
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def parse_value(field, value):
    annotation = _unwrap_optional(field.annotation)
    if not isinstance(value, str) or annotation is str:
        return value
    if typing.get_origin(annotation) is typing.Literal:
        return value
    if typing.get_origin(annotation) is list and not value.lstrip().startswith("["):
        return [v.strip() for v in value.split(",") if v.strip()]
    return yaml.safe_load(value)


def source_options(domain: str | None, columns: str | None) -> dict:
    """`--domain` and `--columns` as the fields of a recipe source."""
    from curate.errors import RecipeError

    out: dict = {"domain": domain} if domain else {}
    if not columns:
        return out
    if columns.lstrip().startswith("{"):
        mapping = yaml.safe_load(columns)
    else:
        pairs = [item.split("=", 1) for item in columns.split(",") if item.strip()]
        if any(len(p) != 2 or not p[0].strip() or not p[1].strip() for p in pairs):
            raise RecipeError(f"--columns {columns!r}: expected TRACE_COLUMN=SOURCE_COLUMN pairs.",
                              "e.g. --columns problem=question,reference=gold")
        mapping = {k.strip(): v.strip() for k, v in pairs}
    out["columns"] = mapping
    return out


def run_stage_command(cls, in_path: Path, out_dir: Path, config: dict, *, workers, rows_per_part,
                      force, dry_run, source: dict | None = None):
    from curate.errors import ResumeConflict
    from curate.recipe import validate_recipe
    from curate.runner import run_recipe

    raw = {"name": f"{cls.name}-{in_path.stem}", "sources": [{"path": str(in_path.resolve()), **(source or {})}],
           "stages": [{"use": "load", "rows_per_part": rows_per_part}, {"use": cls.name, **config}]}
    if cls.name == "load":
        raw["stages"] = [{"use": "load", **config}]
    recipe = validate_recipe(raw, filename=f"curate {cls.name}")
    if dry_run:
        return preview(cls, recipe, config)
    try:  # --force redoes load too: --domain and --columns are load's options
        manifest = run_recipe(recipe, out_dir, force=("load",) if force else (), workers=workers)
    except ResumeConflict as conflict:
        conflict.message = conflict.message.split("\nRefusing")[0] + "\nRefusing to mix results."
        conflict.hint = f"Add --force to recompute {out_dir}, or choose another OUT."
        raise
    from curate.cli.inspect import summary_table

    click.echo(summary_table(manifest, out_dir))
    click.echo(f"\nOutput: {out_dir / manifest['stages'][max(manifest['stages'])]['dir']}")


def preview(cls, recipe, config: dict) -> None:
    """Read the first rows of the input and print the stage's preview of them."""
    import tempfile

    import pyarrow as pa

    from curate.registry import stage_class
    from curate.stages.base import PartContext

    load = stage_class("load")(recipe.stage_entries()[0].config)
    with tempfile.TemporaryDirectory() as tmp:
        from curate.stages.base import PrepareContext

        ctx = PrepareContext(inputs=[], artifacts=Path(tmp))
        load.prepare(ctx)
        tables = list(load.run(iter(()), PartContext(artifacts=Path(tmp))))
    rows = pa.concat_tables(tables).slice(0, 5)
    click.echo(cls(config).preview(rows))
