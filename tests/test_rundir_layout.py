"""The run-directory layout is spelled in one place: `curate/rundir.py`.

Every other module asks `RunDir` (or `part_file_name`) for a path inside a run directory. This
test reads each module under `curate/` and fails on a string that names a piece of the layout
(`_done`, `rejected`, `reports`, `dataset`, `artifacts`, `scratch`, `part-...`,
`recipe.resolved.yaml`, `manifest.json`, `_fingerprint.json`) outside `rundir.py`.

What counts: string constants and f-strings without whitespace (a path piece, not prose), whose
`/`-separated pieces include a layout name. Not counted: docstrings, dictionary keys and
subscripts (`stats["rejected"]` is a counter, not a folder), and the few uses in ALLOWED, each
with the reason it is not a path.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "curate"
OWNER = ROOT / "rundir.py"
LAYOUT_NAMES = {"_done", "rejected", "reports", "dataset", "artifacts", "scratch",
                "recipe.resolved.yaml", "manifest.json", "_fingerprint.json"}
#: (module, literal, where it stands: `keyword=`, "comparison" or "f-string field") -> why it is
#: not a run-directory path
ALLOWED: dict[tuple[str, str, str], str] = {
    ("publish/hub.py", "dataset", "repo_type="): "the Hub's repository kind, not a folder",
    ("publish/follow.py", "dataset", "repo_type="): "the Hub's repository kind, not a folder",
    ("cli/inspect.py", "rejected", "f-string field"): "a column header of `curate status`",
    ("publish/card_facts.py", "rejected", "comparison"): "the counter of rejected rows, kept out of the notes",
    ("publish/plots.py", "rejected", "label="): "the legend label of the funnel chart's rejected bars",
}


def layout_pieces(text: str) -> list[str]:
    """The pieces of a whitespace-free string that name part of the layout."""
    if any(ch.isspace() for ch in text):
        return []
    return [p for p in text.split("/") if p in LAYOUT_NAMES or p.startswith("part-")]


def docstring_ids(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def key_ids(tree: ast.AST) -> set[int]:
    """Constants used as dictionary keys or subscripts: data keys, not paths."""
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            ids.update(id(k) for k in node.keys if k is not None)
        elif isinstance(node, ast.Subscript):
            ids.add(id(node.slice))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in (
                "get", "setdefault", "pop") and node.args:
            ids.add(id(node.args[0]))
    return ids


def roles(tree: ast.AST) -> dict[int, str]:
    """Where a constant stands, for ALLOWED: passed as `keyword=`, compared, or an f-string field."""
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            out.update((id(kw.value), f"{kw.arg}=") for kw in node.keywords if kw.arg)
        elif isinstance(node, ast.Compare):
            out.update((id(operand), "comparison") for operand in [node.left, *node.comparators])
        elif isinstance(node, ast.FormattedValue):
            out[id(node.value)] = "f-string field"
    return out


def strings(tree: ast.AST):
    """(node, text) for every string constant and f-string; an f-string's values show as `{}`."""
    inside_fstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
            inside_fstrings.update(id(v) for v in node.values if isinstance(v, ast.Constant))
            yield node, text
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in inside_fstrings:
            yield node, node.value


def layout_literals(path: Path) -> list[tuple[int, str, str]]:
    """(line, literal, where it stands) of every layout spelling in one module."""
    tree = ast.parse(path.read_text())
    skip = docstring_ids(tree) | key_ids(tree)
    where = roles(tree)
    return sorted((node.lineno, text, where.get(id(node), "")) for node, text in strings(tree)
                  if id(node) not in skip and layout_pieces(text))


def test_layout_is_spelled_only_in_rundir():
    found, used = [], set()
    for path in sorted(ROOT.rglob("*.py")):
        if path == OWNER:
            continue
        module = path.relative_to(ROOT).as_posix()
        for line, text, role in layout_literals(path):
            if (module, text, role) in ALLOWED:
                used.add((module, text, role))
            else:
                found.append(f"curate/{module}:{line}: {text!r}")
    assert not found, ("run-directory paths spelled outside curate/rundir.py (ask RunDir for them, "
                       "or add a non-path use to ALLOWED with its reason):\n  " + "\n  ".join(found))
    assert used == set(ALLOWED), f"ALLOWED entries no longer needed: {sorted(set(ALLOWED) - used)}"


def test_the_scan_sees_layout_spellings():
    """The scanner itself: it must catch the ways a path gets spelled, and pass prose and keys."""
    source = '''
"""Docstring naming RUN/dataset/ and reports/ is prose."""
a = run / "rejected" / name
b = f"part-{part:05d}.parquet"
c = stage.glob("scratch/part-*/x/*.parquet")
d = stats["rejected"] + stats.get("dataset", 0)
e = f"{run}: no dataset here, see reports for why"
f = {"artifacts": 1}
g = run / "manifest.json"
'''
    tree = ast.parse(source)
    skip = docstring_ids(tree) | key_ids(tree)
    hits = sorted(text for node, text in strings(tree) if id(node) not in skip and layout_pieces(text))
    assert hits == ["manifest.json", "part-{}.parquet", "rejected", "scratch/part-*/x/*.parquet"], hits


def test_rundir_names_every_layout_piece():
    """The owner does spell them: the scan would be vacuous if the names drifted from rundir.py."""
    text = OWNER.read_text()
    missing = [name for name in sorted(LAYOUT_NAMES | {"part-"}) if f'"{name}' not in text]
    assert not missing, f"layout names the scan looks for but rundir.py never spells: {missing}"


def test_report_names_with_several_stages_of_a_kind(tmp_path):
    """dedup numbers the later reports (`NN-dedup`), decontam every one (`decontam-NN`)."""
    import yaml

    from curate.rundir import RunDir

    rd = RunDir(tmp_path)
    first, later = rd.stage_dir(1, "dedup"), rd.stage_dir(3, "dedup")
    for folder in (first, later):
        folder.mkdir(parents=True)
    assert rd.report_target(first, "dedup") == tmp_path / "reports" / "dedup"
    assert rd.report_target(later, "dedup") == tmp_path / "reports" / "03-dedup"

    one = rd.stage_dir(2, "decontam")
    one.mkdir()
    assert rd.report_target(one, "decontam", number="every") == tmp_path / "reports" / "decontam"
    # the second decontam stage has no folder yet; the recipe already says there are two
    rd.recipe_path.write_text(yaml.safe_dump({"stages": [{"use": "load"}, {"use": "decontam"},
                                                         {"use": "decontam"}]}))
    assert rd.report_target(one, "decontam", number="every") == tmp_path / "reports" / "decontam-02"


def test_recognising_run_and_stage_folders(tmp_path):
    from curate.rundir import RunDir, write_json_atomic

    rd = RunDir(tmp_path / "run")
    sdir = rd.stage_dir(0, "load")
    assert not RunDir.is_run(rd.path) and not RunDir.is_stage_dir(sdir)
    rd.write_manifest({"stages": {}})
    rd.mark_done(sdir, 1, {"rows_out": 3})
    rd.mark_done(sdir, 0, {"rows_out": 2})
    write_json_atomic(rd.artifacts(sdir) / "stats.json", {})
    assert RunDir.is_run(rd.path) and RunDir.is_stage_dir(sdir)
    assert rd.stage_dir_at(0) == sdir and RunDir.stage_index(sdir) == 0
    assert [p.name for p in RunDir.markers(sdir)] == ["part-00000.json", "part-00001.json"]
    assert rd.part_stats(sdir) == {0: {"rows_out": 2}, 1: {"rows_out": 3}}
    assert RunDir.parts(sdir) == []  # markers and artifacts are not parts
