"""Math answers: extract the final answer, then prove it equal to the gold with sympy.

Extraction (parent side, pure Python, cheap) reads only the text after the reasoning: the last
`\\boxed{}`/`\\fbox{}` wins, then an explicit "answer is X" / "Answer: X" phrase; there is never a
fallback to "the last number in the text" (that turns a wrong derivation into a false accept).

Equivalence (worker side) builds on math-verify: the gold goes first in `verify(gold, pred)` (it
is asymmetric on purpose), bare golds such as `\\tfrac83`, `[2,5)` or `x^2+2x+1` are wrapped in
`$...$` (math-verify parses nothing from them otherwise), and math-verify's own SIGALRM timeouts
are disabled: the pool's parent process enforces the deadline by killing the worker. A gold is
parsed once per problem and worker (`prepare`), not once per sample.

Strict by default; the conventions graders disagree on are per-source `MathOptions`.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Literal

from curate.verifiers.math_extract import Policy, boxes, extract, stated_value

_DELIMS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))
_WORD = re.compile(r"[A-Za-z]{3,}")
_MATH_WORDS = {"sin", "cos", "tan", "cot", "sec", "csc", "log", "exp", "sqrt", "frac", "dfrac", "tfrac",
               "pi", "infty", "inf", "max", "min", "gcd", "lcm", "mod", "arcsin", "arccos", "arctan",
               "sinh", "cosh", "tanh", "det", "ln", "cdot", "times", "left", "right", "text", "mathrm",
               "textnormal", "begin", "end", "pmatrix", "bmatrix", "matrix", "leq", "geq", "neq", "cup",
               "cap", "emptyset", "varnothing", "mathbb", "binom", "dbinom", "approx"}
_LETTER = re.compile(r"^\(?\s*([A-J])\s*\)?[.:]?$")
_ALSO = re.compile(r",?\s*(?:\\text\{\s*)?(?:or\s+equivalently|equivalently|or\s+an?\s+equivalent\s+form"
                   r"(?:\s+such\s+as)?|or\s+approximately)\b\s*\}?\s*,?\s*", re.IGNORECASE)
_LABEL = re.compile(r"(?:^|(?<=,))\s*\(\s*[a-z](?:\s*,\s*[a-z])+\s*\)\s*=\s*")  # "(x, y) = (5, 8)": the names
_SEGMENTS = re.compile(r"^\s*\$[^$]+\$(?:\s*(?:,|and|,\s*and)\s*\$[^$]+\$)+\s*\.?\s*$")
_ASIDE = re.compile(r"\s*\((?:i\.e\.|e\.g\.)[^)]*\)\s*$")
_COUNTED = re.compile(r"^\$?([-−]?\d+(?:[./]\d+)?)\$?\s+[A-Za-z][A-Za-z ]*$")  # "0 roots", "3 is the only ..."
_GOLD_AND = re.compile(r"\s*,?\s+and\s+")
_NAMED = re.compile(r"^\s*([A-Za-z]\w*(?:\s*=\s*[A-Za-z]\w*)*)\s*=\s*([^=]+)$")  # "98 values": a count with its noun
_GROUPED = re.compile(r"(?<![\d.,])\d{1,3}(?:(?:\{,\}|\\[,!;]|\\ |~| )\d{3})+(?![\d])")
_COMMA_THOUSANDS = re.compile(r"^[-−]?[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?$")
_DOT_THOUSANDS = re.compile(r"^[-−]?\d{1,3}(?:\.\d{3})+(?:,\d+)?$")
_DECIMAL_COMMA = re.compile(r"^([-−]?\d+),(\d+)$")
_UNIT = re.compile(r"\s*\\(?:text|textnormal|mathrm|textrm|textbf|textit|mbox)\s*\{\s*([A-Za-z°^{}0-9 ]*?)\s*\}\s*$")


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


def strip_delims(text: str) -> str:
    text = text.strip()
    for left, right in _DELIMS:
        if text.startswith(left) and text.endswith(right) and len(text) > len(left) + len(right):
            return text[len(left):-len(right)].strip()
    return text


def wrap(latex: str) -> str:
    """Wrap a bare expression in `$...$` so math-verify's LaTeX extractor sees it."""
    stripped = latex.strip()
    if any(stripped.startswith(d) for d, _ in _DELIMS) or "\\boxed" in stripped:
        return stripped
    return f"${stripped}$"


def is_wordy(gold: str) -> bool:
    """True when the gold is prose ('see solution', 'Yes'): words that are not math."""
    plain = re.sub(r"\\text\{[^}]*\}", " ", gold)
    plain = re.sub(r"\\[A-Za-z]+", " ", plain)
    return any(w.lower() not in _MATH_WORDS for w in _WORD.findall(plain)) or plain.strip() in {"Yes", "No"}


def split_top_level(text: str) -> list[str]:
    """Split at commas outside brackets: '1, (2,3), 4' -> ['1', '(2,3)', '4']."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += 1 if ch in "([{" else -1 if ch in ")]}" else 0
        if ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def normalise_text(text: str) -> str:
    text = re.sub(r"\\text\{([^}]*)\}", r"\1", strip_delims(text))
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


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


def gold_alternatives(gold: str) -> list[str]:
    """The forms a gold offers: its boxes joined when it is a worked solution, and the parts of
    "X, or equivalently Y"; a prose gold is read with the extraction cascade."""
    gold = gold.strip()
    if "\\boxed" in gold or "\\fbox" in gold:
        spans = boxes(gold)
        if spans:
            return [", ".join(dict.fromkeys(gold[a:b].strip() for a, b in spans))]
    gold = strip_delims(_ASIDE.sub("", gold))
    gold = re.sub(r"\\text\{\s*and\s*\}", " and ", gold)
    if _SEGMENTS.match(gold):  # "$1$ and $2$ and $3$": one answer of several items
        return [", ".join(re.findall(r"\$([^$]+)\$", gold))]
    parts = []
    for part in (p.strip() for p in _ALSO.split(gold) if p.strip()):
        items = _GOLD_AND.split(part)
        if len(items) > 1 and not any(is_wordy(strip_delims(i)) for i in items):
            part = ", ".join(strip_delims(i) for i in items)  # "1, 4 and 9", "x=16 and x=81"
        part = _COUNTED.sub(r"\1", part)
        if is_wordy(strip_delims(part)):
            part = stated_value(part) or part  # "The limit exists and is equal to 4"
        parts.append(part)
    return parts + [t for t in map(_as_tuple, parts) if t]


def _as_tuple(gold: str) -> str | None:
    """Named values as the tuple they name: `x=2, y=1` -> `(2, 1)`, `x=y=0` -> `(0, 0)`."""
    names, values = [], []
    for item in split_top_level(strip_delims(gold)):
        m = _NAMED.match(item)
        if not m:
            return None
        names += re.split(r"\s*=\s*", m.group(1))
        values += [m.group(2).strip()] * len(re.split(r"\s*=\s*", m.group(1)))
    distinct = len(set(names)) == len(names)  # `x=16, x=81` is a set of solutions, not a tuple
    return f"({', '.join(values)})" if len(values) > 1 and distinct else None


def readings(text: str, locale: str = "auto") -> list[str]:
    """Normalised readings of an answer: thousands separators dropped, decimal commas read as
    points; `1,5` under `auto` is both 1.5 and the list 1, 5 (ambiguous, so both are tried)."""
    text = strip_delims(text.strip())
    text = re.sub(r"\\(?:textnormal|textrm|textbf|textit|mbox|textup)\s*\{", r"\\text{", text)
    text = re.sub(r"(?<=\d),\s*\\!\s*(?=\d{3}(?!\d))", ",", text)  # 11,\! 111 (LaTeX digit grouping)
    text = _GROUPED.sub(lambda m: re.sub(r"\{,\}|\\[,!; ]|~| ", "", m.group()), text)
    text = re.sub(r"(?<!\\)\\[,;:! ]", " ", text)  # thin spaces left between items (not a `\\\\` row end)
    text = re.sub(r"\s*(?:\\quad\s*)?\\text\{\s*and\s*\}\s*(?:\\quad\s*)?", ", ", text)  # "a \text{ and } b"
    text = _LABEL.sub(" ", text).strip()
    if text.startswith("((") and text.count("(") == text.count(")") + 1:
        text = text[1:]  # "((n(n+1)/2)^2": one stray opening parenthesis
    plain = text.replace("−", "-")
    if locale != "eu" and _COMMA_THOUSANDS.match(plain):
        return [plain.replace(",", "")]
    if locale == "eu" and _DOT_THOUSANDS.match(plain):
        return [plain.replace(".", "").replace(",", ".")]
    decimal = _DECIMAL_COMMA.match(plain)
    if decimal and locale == "eu":
        return [f"{decimal.group(1)}.{decimal.group(2)}"]
    if decimal and locale == "auto":
        return [f"{decimal.group(1)}.{decimal.group(2)}", text]
    return [text]


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
    gold, unit = _split_unit(gold) if options.units != "strict" else (gold, None)
    items = split_top_level(gold)
    if len(items) > 1 and not _is_interval(gold):
        # Solution sets (tuples), named values (`a=3, b=-7`) and `lists: unordered` match as sets.
        unordered = options.lists == "unordered" or all(_is_tuple(i) or "=" in i for i in items)
        return {"kind": "list", "gold": [_parse_gold(g, options) for g in items], "options": options,
                "unordered": unordered, "unit": unit}
    return {"kind": "expr", "gold": _parse_gold(gold, options), "options": options, "unit": unit}


def _split_unit(text: str) -> tuple[str, str | None]:
    """`5\\text{ cm}` -> ('5', 'cm'); text without a trailing unit is returned unchanged."""
    m = _UNIT.search(text)
    if not m or not m.group(1).strip() or not text[:m.start()].strip():
        return text, None
    return text[:m.start()].strip(), m.group(1).strip()


def _unit_key(unit: str) -> str:
    return re.sub(r"[^a-z0-9^]", "", unit.lower()).rstrip("s")


def _is_tuple(item: str) -> bool:
    return len(item) > 2 and item[0] == "(" and item[-1] == ")" and len(split_top_level(item[1:-1])) > 1


def _unwrap_set(text: str) -> str:
    """`{2, 3, 5}` / `\\{2, 3, 5\\}` -> `2, 3, 5` (compared with a list gold item by item)."""
    for left, right in (("\\{", "\\}"), ("{", "}")):
        if text.startswith(left) and text.endswith(right):
            return text[len(left):-len(right)]
    return text


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
    pred, unit = _split_unit(pred) if options.units != "strict" else (pred, None)
    for reading in readings(pred, options.locale):
        for gold in reversed(state["states"]):  # "X, or equivalently 252": the plain form is cheapest
            if unit and gold.get("unit") and _unit_key(unit) != _unit_key(gold["unit"]):
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
        preds = split_top_level(_unwrap_set(strip_delims(pred)))
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
