"""Benchmark selections: parse `aime24`, `livecodebench:release_v5`, `./x.jsonl#problem=q`.

A selection names what to check against; `loaders.resolve_selections` loads each one into `BenchItem`s
(through `loaders`) and returns them with a JSON-able description for the reports (pack version,
Hub revision or local file digest, version tag and date window).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.decontam.pack import PACK, PACK_VERSION, BenchmarkSpec
from curate.errors import CurateError

LOCAL_SUFFIXES = (".jsonl", ".json", ".ndjson", ".parquet", ".jsonl.gz")
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})?\.\.(\d{4}-\d{2}-\d{2})?$")


@dataclass(frozen=True)
class BenchItem:
    """One benchmark item: `benchmark:id` is what the `contaminated` column lists."""

    benchmark: str
    id: str
    problem: str
    answer: str | None = None

    @property
    def key(self) -> str:
        return f"{self.benchmark}:{self.id}"


@dataclass(frozen=True)
class LocalSpec:
    """A local JSONL/Parquet benchmark file and which of its fields to read."""

    path: str
    name: str
    fields: dict[str, str] = field(default_factory=lambda: {"id": "id", "problem": "problem", "answer": "answer"})


@dataclass(frozen=True)
class Selection:
    """A pack benchmark (with an optional version and date window) or a local file."""

    spec: BenchmarkSpec | LocalSpec
    version: str | None = None
    date_from: str | None = None
    date_to: str | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    def describe(self) -> dict[str, Any]:
        """What the report records about this benchmark."""
        if isinstance(self.spec, LocalSpec):
            return {"name": self.name, "source": "local", "path": self.spec.path, "fields": self.spec.fields,
                    "revision": file_revision(self.spec.path)}
        s = self.spec
        out = {"name": s.name, "source": "hub", "pack_version": PACK_VERSION, "hub_id": s.hub_id,
               "config": s.config, "split": s.split, "revision": s.revision, "revision_note": s.revision_note,
               "license": s.license, "release_date": s.release_date}
        if s.versions:
            out.update(version=self.version or s.default_version, date_from=self.date_from, date_to=self.date_to)
        return {k: v for k, v in out.items() if v not in (None, "")}


def file_revision(path: str) -> str:
    """A local file's revision: the start of its content's sha256 (or 'missing')."""
    import hashlib

    p = Path(path)
    if not p.exists():
        return "missing"
    digest = hashlib.sha256()
    with open(p, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()[:16]


def lookup(name: str) -> BenchmarkSpec:
    """The pack spec for a name or alias; an unknown name lists close matches and all names."""
    key = name.strip().lower().replace("-", "_")
    for spec in PACK.values():
        if key == spec.name or key in {a.replace("-", "_") for a in spec.aliases}:
            return spec
    names = list(PACK) + [a for s in PACK.values() for a in s.aliases]
    close = difflib.get_close_matches(key, names, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    raise CurateError(f"unknown benchmark '{name}'",
                      f"{hint}Pack names: {', '.join(PACK)} (`curate benchmarks list`), or give a "
                      "path to a local .jsonl/.parquet file.")


def is_local(text: str) -> bool:
    base = text.split("#", 1)[0]
    return "/" in base or "\\" in base or base.lower().endswith(LOCAL_SUFFIXES) or Path(base).exists()


def parse_selection(text: str, *, base_dir: str | Path | None = None) -> Selection:
    """Parse one selection string (see the package docstring for the forms)."""
    text = text.strip()
    if not text:
        raise CurateError("empty benchmark name", "Give pack names or file paths, separated by commas.")
    if is_local(text):
        return Selection(_local_spec(text, base_dir))
    name, *options = text.split(":")
    spec = lookup(name)
    if options and not spec.versions:
        raise CurateError(f"{spec.name} has no versions or date windows", f"Write just '{spec.name}'.")
    version = date_from = date_to = None
    for option in options:
        match = _DATE.match(option)
        if match:
            date_from, date_to = match.groups()
        elif option in spec.versions:
            version = option
        else:
            choices = ", ".join(sorted(spec.versions)) or "none"
            raise CurateError(f"{spec.name}: unknown option '{option}'",
                              f"Versions: {choices}; a date window reads 2024-08-01..2025-02-01 "
                              "(either end may be left open).")
    return Selection(spec, version, date_from, date_to)


def _local_spec(text: str, base_dir: str | Path | None) -> LocalSpec:
    path_text, _, mapping = text.partition("#")
    path = Path(path_text).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    fields = {"id": "id", "problem": "problem", "answer": "answer"}
    for pair in filter(None, (p.strip() for p in mapping.split(","))):
        key, sep, value = pair.partition("=")
        if not sep or key.strip() not in fields:
            raise CurateError(f"bad field mapping '{pair}' in '{text}'",
                              "Write file.jsonl#problem=question,answer=gold,id=uid (keys: id, problem, answer).")
        fields[key.strip()] = value.strip()
    name = path.name.split(".")[0]
    return LocalSpec(path=str(path), name=name, fields=fields)


def split_names(text: str) -> list[str]:
    """Split `a,b,./x.jsonl#problem=q,id=uid` on commas, keeping a file's mapping together."""
    out: list[str] = []
    for piece in text.split(","):
        if out and "=" in piece and "#" not in piece and "#" in out[-1]:
            out[-1] += "," + piece
        else:
            out.append(piece)
    return out


def parse_selections(names: list[str] | str, *, base_dir: str | Path | None = None) -> list[Selection]:
    """Parse a list (or a comma-separated string) of selections; refuses duplicate names."""
    items = split_names(names) if isinstance(names, str) else names
    out = [parse_selection(n, base_dir=base_dir) for n in items if n.strip()]
    seen: dict[str, Selection] = {}
    for sel in out:
        if sel.name in seen:
            raise CurateError(f"benchmark name '{sel.name}' is selected twice",
                              "Each benchmark (or local file stem) may appear once; rename one file.")
        seen[sel.name] = sel
    if not out:
        raise CurateError("no benchmarks selected", "Give e.g. --benchmarks aime24,math500,./my_eval.jsonl")
    return out

