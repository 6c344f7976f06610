"""Normal forms of math answers and golds, before sympy compares them.

Pure text, cheap, shared by the parent (extraction) and the workers (equivalence): delimiters,
digit grouping and decimal commas by locale, trailing units, `(x, y) =` labels, items joined by
`\\text{ and }`, and the several forms a gold may offer ("X, or equivalently Y"; "1, 4 and 9";
"0 is the only possible value"; named values `x=2, y=1` and the tuple `(2, 1)` they name).
"""

from __future__ import annotations

import re

from curate.verifiers.math_extract import boxes, stated_value

_DELIMS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))
_WORD = re.compile(r"[A-Za-z]{3,}")
_MATH_WORDS = {"sin", "cos", "tan", "cot", "sec", "csc", "log", "exp", "sqrt", "frac", "dfrac", "tfrac",
               "pi", "infty", "inf", "max", "min", "gcd", "lcm", "mod", "arcsin", "arccos", "arctan",
               "sinh", "cosh", "tanh", "det", "ln", "cdot", "times", "left", "right", "text", "mathrm",
               "textnormal", "begin", "end", "pmatrix", "bmatrix", "matrix", "leq", "geq", "neq", "cup",
               "cap", "emptyset", "varnothing", "mathbb", "binom", "dbinom", "approx"}
_ALSO = re.compile(r",?\s*(?:\\text\{\s*)?(?:or\s+equivalently|equivalently|or\s+an?\s+equivalent\s+form"
                   r"(?:\s+such\s+as)?|or\s+approximately)\b\s*\}?\s*,?\s*", re.IGNORECASE)
_LABEL = re.compile(r"(?:^|(?<=,))\s*\(\s*[a-z](?:\s*,\s*[a-z])+\s*\)\s*=\s*")  # "(x, y) = (5, 8)": the names
_SEGMENTS = re.compile(r"^\s*\$[^$]+\$(?:\s*(?:,|and|,\s*and)\s*\$[^$]+\$)+\s*\.?\s*$")
_ASIDE = re.compile(r"\s*\((?:i\.e\.|e\.g\.)[^)]*\)\s*$")
_COUNTED = re.compile(r"^\$?([-−]?\d+(?:[./]\d+)?)\$?\s+[A-Za-z][A-Za-z ]*$")  # "0 roots", "3 is the only ..."
_GOLD_AND = re.compile(r"\s*,?\s+and\s+")
_NAMED = re.compile(r"^\s*([A-Za-z]\w*(?:\s*=\s*[A-Za-z]\w*)*)\s*=\s*([^=]+)$")
_GROUPED = re.compile(r"(?<![\d.,])\d{1,3}(?:(?:\{,\}|\\[,!;]|\\ |~| )\d{3})+(?![\d])")
_COMMA_THOUSANDS = re.compile(r"^[-−]?[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?$")
_DOT_THOUSANDS = re.compile(r"^[-−]?\d{1,3}(?:\.\d{3})+(?:,\d+)?$")
_DECIMAL_COMMA = re.compile(r"^([-−]?\d+),(\d+)$")
_UNIT = re.compile(r"\s*\\(?:text|textnormal|mathrm|textrm|textbf|textit|mbox)\s*\{\s*([A-Za-z°^{}0-9 ]*?)\s*\}\s*$")


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
    return parts + [t for t in map(as_tuple, parts) if t]


def as_tuple(gold: str) -> str | None:
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


def split_unit(text: str) -> tuple[str, str | None]:
    """`5\\text{ cm}` -> ('5', 'cm'); text without a trailing unit is returned unchanged."""
    m = _UNIT.search(text)
    if not m or not m.group(1).strip() or not text[:m.start()].strip():
        return text, None
    return text[:m.start()].strip(), m.group(1).strip()


def unit_key(unit: str) -> str:
    return re.sub(r"[^a-z0-9^]", "", unit.lower()).rstrip("s")


def is_tuple(item: str) -> bool:
    return len(item) > 2 and item[0] == "(" and item[-1] == ")" and len(split_top_level(item[1:-1])) > 1


def unwrap_set(text: str) -> str:
    """`{2, 3, 5}` / `\\{2, 3, 5\\}` -> `2, 3, 5` (compared with a list gold item by item)."""
    for left, right in (("\\{", "\\}"), ("{", "}")):
        if text.startswith(left) and text.endswith(right):
            return text[len(left):-len(right)]
    return text
