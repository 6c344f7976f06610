"""What `curate --help` lists for the commands it does not import: their help, read from source.

The list shows one line per command. Importing each stage module and feature command to get it
imported pyarrow, pydantic and the teachers package (0.3-0.4 s of a 0.5 s `curate --help`), so
the help of stage and plugin commands is read from their source files instead (found without
importing the module or its parent packages). A command whose help the source does not state
plainly (a `help=` or `hidden=` argument, a computed docstring) is imported as before.
tests/test_cli_listing.py checks the lines equal what the imported commands print.
"""

from __future__ import annotations

import ast
import importlib.machinery
import importlib.util
import sys
from pathlib import Path

import click


def first_line(doc: str) -> str:
    """A docstring's first line, capitalised, without a leading "`name`: " label."""
    line = (doc or "").strip().splitlines()[0] if (doc or "").strip() else ""
    line = line.split(": ", 1)[-1] if line.startswith("`") else line
    return line[:1].upper() + line[1:]


def module_exists(module: str) -> bool:
    """Whether `module` can be imported, found without importing it or its parent packages
    (`importlib.util.find_spec` imports the parents: `curate.teachers` costs 0.2 s)."""
    return module in sys.modules or _spec(module) is not None


def _spec(module: str):
    top, *rest = module.split(".")
    spec = importlib.util.find_spec(top)
    for depth in range(1, len(rest) + 1):
        if spec is None or not spec.submodule_search_locations:
            return None
        name = ".".join([top, *rest[:depth]])
        spec = sys.modules[name].__spec__ if name in sys.modules else (
            importlib.machinery.PathFinder.find_spec(name, list(spec.submodule_search_locations)))
    return spec


def _tree(module: str) -> ast.Module | None:
    spec = _spec(module)
    origin = getattr(spec, "origin", None) or ""
    if not origin.endswith(".py"):
        return None
    return ast.parse(Path(origin).read_text(encoding="utf-8"))


def stage_listing(name: str, module: str) -> click.Command | None:
    """A stand-in for `curate <stage>` in the list: its short help is the first line of the
    stage module's docstring (what `stage_command` gives it)."""
    tree = _tree(module)
    if tree is None:
        return None
    return click.Command(name, short_help=first_line(ast.get_docstring(tree, clean=False) or ""))


def plugin_listing(name: str, path: str) -> click.Command | None:
    """A stand-in for a feature command (`module:function`, decorated `@click.command()` or
    `@click.group()`) in the list: its help is the function's docstring, as click takes it."""
    module, _, attr = path.partition(":")
    tree = _tree(module)
    for node in tree.body if tree is not None else []:
        if isinstance(node, ast.FunctionDef) and node.name == attr:
            return click.Command(name, help=ast.get_docstring(node, clean=False)) if _plain(node) else None
    return None


def _plain(node: ast.FunctionDef) -> bool:
    """Whether the function's command takes its help from the docstring alone: its outermost
    decorator is `click.command(...)` or `click.group(...)` with no help-changing argument."""
    if not node.decorator_list:
        return False
    outer = node.decorator_list[0]
    if not (isinstance(outer, ast.Call) and isinstance(outer.func, ast.Attribute)
            and isinstance(outer.func.value, ast.Name) and outer.func.value.id == "click"
            and outer.func.attr in ("command", "group")):
        return False
    changing = {"help", "short_help", "hidden", "deprecated", "cls"}
    return not any(k.arg in changing or k.arg is None for k in outer.keywords)
