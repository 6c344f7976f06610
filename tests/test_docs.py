"""The README's CLI reference is generated from --help; every command is documented.

Regenerate after changing a command: `python tests/test_docs.py --write`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
START, END = "<!-- cli-reference:start -->", "<!-- cli-reference:end -->"


def iter_commands():
    """(full name, command, context) for every command and subcommand, in help order."""
    from curate.cli import cli

    settings = {"terminal_width": 88, "max_content_width": 88, "help_option_names": ["-h", "--help"]}
    root = click.Context(cli, info_name="curate", **settings)
    yield "curate", cli, root
    for name in cli.list_commands(root):
        command = cli.get_command(root, name)
        ctx = click.Context(command, info_name=name, parent=root, **settings)
        yield f"curate {name}", command, ctx
        if isinstance(command, click.Group):
            for sub in command.list_commands(ctx):
                subcommand = command.get_command(ctx, sub)
                subctx = click.Context(subcommand, info_name=sub, parent=ctx, **settings)
                yield f"curate {name} {sub}", subcommand, subctx


def cli_reference() -> str:
    parts = []
    for full, command, ctx in iter_commands():
        parts.append(f"### `{full}`\n\n```text\n{command.get_help(ctx).rstrip()}\n```\n")
    return "\n".join(parts)


def readme_section() -> str:
    text = README.read_text()
    return text.split(START, 1)[1].split(END, 1)[0].strip("\n")


def test_readme_cli_reference_matches_help():
    assert readme_section() == cli_reference().strip("\n"), (
        "README's CLI reference is stale: run `python tests/test_docs.py --write`")


def test_every_command_has_help_text():
    for full, command, ctx in iter_commands():
        assert (command.help or "").strip(), f"{full} has no help text"
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"{full} {param.opts[0]} has no help text"


def test_help_does_not_import_heavy_packages():
    code = ("import sys; from click.testing import CliRunner; from curate.cli import cli; "
            "r = CliRunner().invoke(cli, ['--help']); assert r.exit_code == 0, r.output; "
            "heavy = [m for m in ('vllm', 'torch', 'ray', 'sympy', 'math_verify', 'matplotlib') if m in sys.modules]; "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""


def test_readme_has_the_two_commands_ci_uses():
    text = README.read_text()
    assert "pip install -e . && curate run recipes/quickstart.yaml" in text
    assert "bash tests/install_test_deps.sh && python -m pytest" in text
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash tests/install_test_deps.sh" in ci and "python -m pytest" in ci


if __name__ == "__main__":
    if "--write" in sys.argv:
        text = README.read_text()
        head, rest = text.split(START, 1)
        tail = rest.split(END, 1)[1]
        README.write_text(f"{head}{START}\n{cli_reference()}\n{END}{tail}")
        print("README CLI reference updated")
