"""Math answers: compare an extracted final answer with the gold, proven equal with sympy.

Extraction (parent side, pure Python) is the recorded cascade of `math_extract`. Before
comparing, both sides are read into normal forms (`readings`): digit grouping (`1,000`,
`1\\,000`, `11,\\!111`) and decimal commas by `locale`, `\\textnormal`-style units, `(x, y) =`
labels, `\\text{ and }` between items; a gold may offer several forms ("X, or equivalently Y",
named values and the tuple they name, a worked solution's boxes), any of which may match.

Equivalence (worker side) builds on math-verify: the gold goes first in `verify(gold, pred)` (it
is asymmetric on purpose), bare golds such as `\\tfrac83`, `[2,5)` or `x^2+2x+1` are wrapped in
`$...$` (math-verify parses nothing from them otherwise), and math-verify's own SIGALRM timeouts
are disabled: the pool's parent process enforces the deadline by killing the worker. A gold is
parsed once per problem and worker (`prepare`), not once per sample. A text that committed to
several different answers passes only if all of them, or all of them together, are the gold.

Strict where graders disagree; those conventions are per-source `MathOptions`.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Literal

from curate.verifiers.math_extract import Policy, boxes, extract
from curate.verifiers.math_forms import (
    gold_alternatives,
    is_tuple,
    is_wordy,
    normalise_text,
    readings,
    split_top_level,
    split_unit,
    strip_delims,
    unit_key,
    unwrap_set,
    wrap,
)

_LETTER = re.compile(r"^\(?\s*([A-J])\s*\)?[.:]?$")


@dataclass(frozen=True)
class MathOptions:
    """Grader conventions for one source (strict by default)."""

    # sign: "60%" is notation and matches 60 only; fraction: it means 0.6 only; either: both
    percent: Literal["sign", "fraction", "either"] = "sign"
    lists: Literal["ordered", "unordered"] = "ordered"  # "1,2,3" vs "3,2,1"
    rel_tol: float | None = None  # numeric tolerance (relative; absolute below 1)
    # match: a unit the gold lacks is dropped, two units must agree; strip: ignore units; strict: as written
    units: Literal["match", "strict", "strip"] = "match"
    multiple_choice: bool = False  # gold is a letter A-J; compare letters
    text_answers: bool = False  # a wordy gold ("Yes", a name) compared as normalised text
    locale: Literal["auto", "en", "eu"] = "auto"  # en: 1,000 = 1000; eu: 2,5 = 2.5; auto: both unambiguous

    def key(self) -> tuple:
        return tuple(sorted(asdict(self).items()))


# ---------------------------------------------------------------- extraction (parent side)


def last_boxed(text: str) -> str | None:
    """Content of the last `\\boxed{...}` (balanced braces), or None."""
    found = extract(text, "strict")
    return found.answer


def extract_answer(text: str | None, policy: Policy = "standard") -> str | None:
    """The final answer in `text` (the part after the reasoning), or None; see `math_extract`.

    >>> extract_answer("so $x=3$. The answer is $\\\\boxed{3}$.")
    '3'
    >>> extract_answer("The final answer is 12.")
    '12'
    >>> extract_answer("I computed 2+2=4 somewhere.", "strict") is None
    True
    """
    return extract(text, policy).answer


# ---------------------------------------------------------------- equivalence (worker side)


def prepare(header: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    """Parse a gold once: the state `check` needs, or ValueError (bad gold).

    A gold may offer alternatives ("C(10, 5), or equivalently 252"); each reading of each one
    (a decimal comma read both ways where the locale allows) is prepared, and any may match.
    """
    gold, raw_options = header
    options = MathOptions(**raw_options)
    states, errors = [], []
    for alternative in gold_alternatives(gold):
        for reading in readings(alternative, options.locale):
            try:
                states.append(_prepare_one(reading, options))
            except ValueError as exc:
                errors.append(str(exc))
    if not states:
        raise ValueError(errors[0] if errors else "gold answer is empty")
    if len(boxes(gold)) > 1:  # a worked solution that boxes several answers: order is not meant
        for state in states:
            state["unordered"] = True
    return {"states": states, "options": options}


def _prepare_one(gold: str, options: MathOptions) -> dict[str, Any]:
    gold = strip_delims(gold.strip())
    if options.percent == "sign":
        gold = _drop_percent(gold)
    if not gold:
        raise ValueError("gold answer is empty")
    letter = _LETTER.match(gold)
    if options.multiple_choice:
        if not letter:
            raise ValueError(f"multiple_choice source but the gold {gold!r} is not a letter A-J")
        return {"kind": "letter", "gold": letter.group(1), "options": options}
    if is_wordy(gold):
        if options.text_answers:
            return {"kind": "text", "gold": normalise_text(gold), "options": options}
        raise ValueError(f"gold {gold[:60]!r} is prose, not math (set text_answers: true for this source)")
    gold, unit = split_unit(gold) if options.units != "strict" else (gold, None)
    items = split_top_level(gold)
    if len(items) > 1 and not _is_interval(gold):
        # Solution sets (tuples), named values (`a=3, b=-7`) and `lists: unordered` match as sets.
        unordered = options.lists == "unordered" or all(is_tuple(i) or "=" in i for i in items)
        return {"kind": "list", "gold": [_parse_gold(g, options) for g in items], "options": options,
                "unordered": unordered, "unit": unit}
    return {"kind": "expr", "gold": _parse_gold(gold, options), "options": options, "unit": unit}


def _same_items(gold: list, preds: list[str], options: MathOptions) -> bool:
    """Every answer item equals some gold item and every gold item is given (repeats ignored)."""
    parsed = [(_parse(p, options), p) for p in dict.fromkeys(preds)]
    if any(not p for p, _ in parsed):
        return False
    hit = [False] * len(gold)
    for p, text in parsed:
        found = [i for i, g in enumerate(gold) if _equal(g, p, text, options)]
        if not found:
            return False
        for i in found:
            hit[i] = True
    return all(hit)


def _is_interval(text: str) -> bool:
    return len(text) > 2 and text[0] in "([" and text[-1] in ")]" and len(split_top_level(text[1:-1])) == 2


def _parse_gold(gold: str, options: MathOptions) -> list:
    parsed = _parse(gold, options)
    if not parsed:
        raise ValueError(f"gold {gold[:60]!r} does not parse")
    return parsed


def _parse(text: str, options: MathOptions) -> list:
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse
    from math_verify.parser import NormalizationConfig

    norm = NormalizationConfig(basic_latex=True, units=options.units == "strip", malformed_operators=True,
                               nits=True, boxed="all", equations=False)
    config = [LatexExtractionConfig(normalization_config=norm, boxed_match_priority=0), ExprExtractionConfig()]
    return parse(wrap(text), extraction_config=config, parsing_timeout=None)


def check(state: dict[str, Any], pred: str | dict) -> tuple[str, dict[str, Any]]:
    """Compare one extracted answer with a prepared gold: (verdict, detail).

    `pred` is an answer, or `{"alternatives": [...], "joined": ...}` when the text committed to
    several different answers: it passes when the answers together are the gold (a multi-part
    answer in separate boxes) or when every one of them equals it; a hedge never passes for free.
    """
    if isinstance(pred, dict) and pred.get("forms"):  # one answer, read whole and as its right side
        results = [_matches(state, form) for form in [*pred["alternatives"], *pred["forms"]]]
        return next((r for r in results if r[0] == "pass"), results[0])
    if isinstance(pred, dict):
        alternatives = pred["alternatives"]
        if pred.get("joined") and _matches(state, pred["joined"], unordered=True)[0] == "pass":
            return "pass", {"reason": f"equal ({len(alternatives)} answers taken together)"}
        results = [_matches(state, a) for a in alternatives]
        if all(r[0] == "pass" for r in results):
            return "pass", {"reason": f"equal (all {len(alternatives)} stated answers)"}
        return "fail", {"reason": f"several different final answers ({'; '.join(a[:40] for a in alternatives)}): "
                                  "a hedge is not a pass"}
    return _matches(state, pred)


def _matches(state: dict[str, Any], pred: str, unordered: bool = False) -> tuple[str, dict[str, Any]]:
    first = None
    options = state["options"]
    pred, unit = split_unit(pred) if options.units != "strict" else (pred, None)
    for reading in readings(pred, options.locale):
        for gold in reversed(state["states"]):  # "X, or equivalently 252": the plain form is cheapest
            if unit and gold.get("unit") and unit_key(unit) != unit_key(gold["unit"]):
                first = first or ("fail", {"reason": f"unit {unit!r}, expected {gold['unit']!r}"})
                continue
            result = _check_one(gold, reading, unordered)
            if result[0] == "pass":
                return result
            first = first or result
    return first or ("fail", {"reason": "answer is empty"})


def _check_one(state: dict[str, Any], pred: str, unordered: bool = False) -> tuple[str, dict[str, Any]]:
    kind, options = state["kind"], state["options"]
    if kind == "letter":
        letter = _LETTER.match(strip_delims(re.sub(r"\\text\{([^}]*)\}", r"\1", pred)).strip())
        if not letter:
            return "fail", {"reason": "answer is not a choice letter"}
        return _verdict(letter.group(1) == state["gold"], "letters")
    if kind == "text":
        return _verdict(normalise_text(pred) == state["gold"], "normalised text")
    if kind == "list":
        preds = split_top_level(unwrap_set(strip_delims(pred)))
        if unordered or state.get("unordered"):
            return _verdict(_same_items(state["gold"], preds, options), "unordered list, as sets")
        if len(preds) != len(state["gold"]):
            return "fail", {"reason": f"{len(preds)} items, expected {len(state['gold'])} (ordered list)"}
        results = [_equal(g, _parse(p, options), p, options) for g, p in zip(state["gold"], preds)]
        return _verdict(all(results), "ordered list, item by item")
    if options.percent == "sign":
        pred = _drop_percent(pred)
    parsed = _parse(pred, options)
    if not parsed:
        return "fail", {"reason": "answer does not parse as math"}
    return _verdict(_equal(state["gold"], parsed, pred, options), "sympy equivalence")


def _verdict(ok: bool, how: str) -> tuple[str, dict[str, Any]]:
    return ("pass", {"reason": f"equal ({how})"}) if ok else ("fail", {"reason": f"not equal ({how})"})


def _equal(gold: list, pred: list, pred_text: str, options: MathOptions) -> bool:
    from math_verify import verify

    if "%" in pred_text and options.percent == "fraction":
        return _strict_percent(gold, pred)
    if verify(gold, pred, timeout_seconds=None):
        return True
    return options.rel_tol is not None and _close(gold, pred, options.rel_tol)


def _drop_percent(text: str) -> str:
    return re.sub(r"\\?%", "", text).strip()


def _strict_percent(gold: list, pred: list) -> bool:
    """`50\\%` means 1/2 only: math-verify alone would also accept a gold of 50."""
    g, p = _number(gold), _number(pred)
    return g is not None and p is not None and abs(g - p) <= 1e-9 * max(1.0, abs(g))


def _number(parsed: list) -> float | None:
    import sympy

    try:
        value = sympy.N(parsed[0].doit())
        return float(value) if value.is_number and value.is_real else None
    except (TypeError, ValueError, IndexError, AttributeError):
        return None


def _close(gold: list, pred: list, rel_tol: float) -> bool:
    g, p = _number(gold), _number(pred)
    return g is not None and p is not None and abs(g - p) <= rel_tol * max(1.0, abs(g))


def warm_up() -> None:
    """Import sympy and math-verify and run one comparison, before any deadline starts."""
    import logging

    logging.getLogger("math_verify").setLevel(logging.ERROR)  # "timeout disabled": the pool enforces it
    state = prepare(("1/2", {}))
    check(state, "\\frac{1}{2}")
