"""`curate --help` lists commands from their source (curate.cli.listing): the same lines as the
imported commands give, without importing the heavy libraries."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from curate.cli import cli
from curate.cli.group import PLUGIN_COMMANDS, _listed
from curate.cli.listing import module_exists
from curate.registry import STAGES


def _listing(format_commands, width: int) -> str:
    with click.Context(cli, info_name="curate", terminal_width=width) as ctx:
        formatter = ctx.make_formatter()
        format_commands(cli, ctx, formatter)
        return formatter.getvalue()


@pytest.mark.parametrize("width", [60, 80, 120])
def test_help_lists_what_the_imported_commands_say(width):
    ours = _listing(type(cli).format_commands, width)
    imported = _listing(click.Group.format_commands, width)  # each command imported
    assert "dedup" in imported and "tiny-model" in imported
    assert ours == imported
    assert ours.strip() in CliRunner().invoke(cli, ["--help"], terminal_width=width).output


@pytest.mark.parametrize("name", [*PLUGIN_COMMANDS, *STAGES])
@pytest.mark.parametrize("limit", [20, 45, 70])
def test_each_stand_in_has_the_commands_short_help(name, limit):
    listed = _listed(name)
    assert listed is not None, f"{name}: read from source, not imported"
    with click.Context(cli) as ctx:
        real = cli.get_command(ctx, name)
    assert listed.get_short_help_str(limit) == real.get_short_help_str(limit)


def test_help_imports_no_heavy_library():
    code = ("import sys\nfrom curate.cli import cli\n"
            "try:\n    cli(['--help'], prog_name='curate')\nexcept SystemExit:\n    pass\n"
            "print(sorted({m.split('.')[0] for m in sys.modules}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = set(eval(out.splitlines()[-1]))
    assert not loaded & {"numba", "polars", "pyarrow", "numpy", "pydantic", "yaml", "pandas"}, loaded


@pytest.mark.parametrize("module", ["curate.teachers.tiny_model", "curate.stages.dedup", "curate.cli.view",
                                    "curate.nothing", "curate.teachers.nothing", "nothing_at_all.x", "json"])
def test_module_exists_agrees_with_find_spec(module):
    try:
        expected = importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a missing parent package
        expected = False
    assert module_exists(module) == expected
