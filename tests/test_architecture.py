"""The import graph: lower layers never import higher ones, and no module imports itself back.

Layers, from the top: cli -> evalrun -> runner -> executors -> part_task -> stages -> features (teachers,
verifiers, dedup, decontam, publish) -> core. Imports inside functions count too: a lazy import
is still a dependency. Features may use each other only where listed in FEATURE_USES.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "curate"
FEATURES = ("teachers", "verifiers", "dedup", "decontam", "publish", "evaluation", "view")
LAYERS = [("cli",), ("evalrun",), ("runner",), ("executors",), ("part_task", "part_columns"), ("stages",), FEATURES]
CORE = ("errors", "schema", "recipe", "registry", "fingerprint", "rundir", "storage", "io", "text", "background",
        "cache_dir")
#: feature -> the features it may import
FEATURE_USES: dict[str, set[str]] = {"publish": set(), "verifiers": set(), "teachers": set(),
                                     "dedup": set(), "decontam": set(), "evaluation": set(), "view": set()}


def modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def imports_of(path: Path, known: set[str]) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            if name.startswith("curate"):
                while name not in known and "." in name:
                    name = name.rsplit(".", 1)[0]
                if name in known and name != "curate":
                    found.add(name)
    return found


def top(module: str) -> str:
    return module.split(".")[1] if module.count(".") else module


def layer(module: str) -> int:
    name = top(module)
    for rank, group in enumerate(LAYERS):
        if name in group:
            return rank
    assert name in CORE or name in ("__main__",), f"{module} belongs to no layer: add it to LAYERS or CORE"
    return len(LAYERS)


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {m: imports_of(p, set(mods)) - {m} for m, p in mods.items()}


def test_core_stays_small():
    flat = [p.stem for p in ROOT.glob("*.py") if p.stem not in ("__init__", "__main__")]
    assert len(flat) + 1 <= 12, f"the flat core grew to {sorted(flat)}: give new work a feature package"


def test_imports_only_point_down():
    upward = []
    for module, deps in graph().items():
        if top(module) == "__main__":
            continue
        for dep in deps:
            same_package = top(dep) == top(module)
            if layer(dep) < layer(module) and not same_package:
                upward.append(f"{module} -> {dep}")
            if layer(dep) == layer(module) == len(LAYERS) - 1 and not same_package:
                if top(dep) not in FEATURE_USES[top(module)]:
                    upward.append(f"{module} -> {dep} (feature to feature)")
    assert not upward, "imports that point up or sideways:\n" + "\n".join(sorted(upward))


def test_core_imports_only_core_and_executors_know_no_stages():
    for module, deps in graph().items():
        if top(module) in CORE:
            assert all(top(d) in CORE for d in deps), f"{module} imports {deps}"
        if top(module) == "executors":
            assert not any(top(d) in ("part_task", "registry", "stages", "rundir", "recipe") for d in deps), \
                f"{module} imports {deps}: executors only place work"


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of `edges` (depth-first, in name order), or None."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(edges.get(node, ())):
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if dep not in state and (cycle := visit(dep)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles():
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])
