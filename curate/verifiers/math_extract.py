"""Final-answer extraction from model prose: an explicit cascade whose every step is recorded.

Only the answer region is read (the text after `</think>` when the model thinks aloud). Rules, in
order, stopping at the first that finds something:

1. `boxed`: the last `\\boxed{}` / `\\fbox{}`;
2. `phrase`: the last explicit phrase ("the final answer is", "Answer:", a bold or heading
   "Answer", and the same in French, German, Spanish and Chinese), read up to the end of its line;
3. `last_expression` (policy `standard` and `lenient`): the last mathematical expression of the
   final display equation or final sentence ("...so there are 771 such strings." -> 771; an
   equation chain `a + b = 230 + 311 = 771` -> its right-most side);
4. `last_expression_paragraph` (`lenient` only): the last expression of the last paragraph that
   has one, skipping closing chit-chat.

`strict` stops after rule 1. Never "the last number anywhere in the text": a wrong derivation
whose scratch work happens to contain the gold would be a false accept.

Hedges are never passed for free: every different answer the region commits to becomes an
`alternatives` entry (two different boxes, "either 12 or 13"), and the checker passes the row
only when every alternative equals the gold, so "252, or equivalently C(10,5)" passes and "12 or
13" does not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

Policy = Literal["strict", "standard", "lenient"]

_BOX = re.compile(r"\\(?:boxed|fbox)\s*\{")
_BARE_BOX = re.compile(r"\\boxed[ \t]+([^\s${}]+)")
_PHRASES = (
    r"(?:the\s+)?final\s+answer\s*(?:is|:|=)", r"the\s+(?:correct\s+)?answer\s+(?:is|would\s+be|should\s+be)",
    r"(?:^|\n)\s*(?:\*\*|__|#+\s*)?(?:final\s+)?answer\s*(?:\*\*|__)?\s*[:=]\s*(?:\*\*|__)?",
    r"(?:^|\n)\s*(?:\*\*|#+\s*)(?:final\s+)?answer(?:\*\*)?\s*\n",
    r"answer\s*:", r"(?:la\s+)?r[ée]ponse\s+(?:finale\s+)?(?:est|:)",
    r"(?:die\s+)?(?:endg[üu]ltige\s+)?antwort\s+(?:ist|:)",
    r"(?:la\s+)?respuesta\s+(?:final\s+)?(?:es|:)", r"(?:最终)?答案\s*(?:是|为|[:：])",
)
_PHRASE = re.compile("|".join(f"(?:{p})" for p in _PHRASES), re.IGNORECASE)
_INLINE = re.compile(r"\$\$(.+?)\$\$|\\\[(.+?)\\\]|\$(.+?)\$|\\\((.+?)\\\)", re.DOTALL)
_DISPLAY_END = re.compile(r"(?:\$\$(.+?)\$\$|\\\[(.+?)\\\])\s*\.?\s*$", re.DOTALL)
_MD = re.compile(r"\*\*|__|`")
_NUMBER = re.compile(r"(?<![A-Za-z_\d.^{])[-−]?(?:\d[\d,]*(?:\.\d+)?|\.\d+)(?:\s*/\s*\d+)?%?(?:[a-z]{1,2}[²³])?"
                     r"(?![A-Za-z\d])")
_UNIT_SUFFIX = re.compile(r"^([-−]?[\d.,]*\d)\s*(?:[a-z]{1,2}[²³]|mm|cm|km|kg|mg|ml)$")  # "1,000.99m²" -> number
_HEDGE = re.compile(r"\s+(?:or|oder|ou|o)\s+(?:equivalently\s+|possibly\s+)?", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z]{2,}")
_MATH_WORDS = {"sin", "cos", "tan", "cot", "sec", "csc", "log", "exp", "sqrt", "frac", "dfrac", "tfrac", "pi",
               "infty", "ln", "cdot", "times", "le", "ge", "leq", "geq", "neq", "pm", "mp", "cup", "cap",
               "mod", "pmod", "bmod", "equiv"}
_SENTENCE_END = re.compile(r"(?<=[^\d\s][.!?])\s+(?=[A-Z*#(])|(?<=\$\$|\\\])\s+(?=[A-Z])|\n\s*\n"
                           r"|\n(?=\s*[-*#]|\s*\d+\.\s)")
_COPULA = re.compile(r"\b(?:is|are|equals|was|be)\s+(?:(?:therefore|thus|then|also|indeed|simply|just|exactly|"
                     r"always|equal\s+to|given\s+by)\s*,?\s+)*(?:[:]\s*)?", re.IGNORECASE)
_CHATTER = re.compile(r"^\s*(?:i\s+hope|let\s+me\s+know|hope\s+this|feel\s+free|this\s+is\s+the\s+(?:final\s+)?"
                      r"answer\W*$)", re.IGNORECASE)
_AND = re.compile(r"[$\\)\]*_]*\s*(?:,\s*(?:(?:and|und|et|y)\s+)?|(?:and|und|et|y)\s+)(.+)", re.DOTALL)
_AND_PROSE = re.compile(r"[$\\)\]*_]*\s+(?:and|und|et|y)\s+")  # "0 and any positive integer": no value
_NEGATION = re.compile(r"\b(?:no|not|cannot|never|none|neither|nor|nicht|kein|pas)\b|n't", re.IGNORECASE)
_BACKREF = re.compile(r"^\s*(?:this|that|it)\b[^$\\\d]*$", re.IGNORECASE)
_SPECIAL = re.compile(r"<\|(?:im_start|im_end|endoftext|eot_id|end)\|>")
_ARTICLES = {"a", "an", "the"}
_LONE = re.compile(r"\s*[A-Za-z](?:_\{?\w+\}?)?\s*")  # a variable name alone


@dataclass(frozen=True)
class Extraction:
    """What the cascade found: the rule, the answer, the span it read and any hedged alternatives."""

    rule: str  # boxed | phrase | last_expression | last_expression_paragraph | none
    answer: str | None = None
    span: tuple[int, int] | None = None  # offsets into the answer region
    alternatives: tuple[str, ...] = field(default_factory=tuple)  # every distinct committed answer
    forms: tuple[str, ...] = field(default_factory=tuple)  # other readings of the same answer

    def record(self, text: str) -> dict:
        """The `verify_detail` fields: rule, span offsets and the text of the span (cut at 200)."""
        if self.span is None:
            return {"extraction": self.rule}
        read = text[self.span[0]:self.span[1]]
        return {"extraction": self.rule, "span": list(self.span),
                "read": read if len(read) <= 200 else read[:200] + "..."}


def extract(text: str | None, policy: Policy = "standard") -> Extraction:
    """Run the cascade on an answer region.

    >>> extract("so the number of such strings is 771.").answer
    '771'
    >>> extract("**Answer:** 72").rule
    'phrase'
    >>> extract("Either 12 or 13.", "standard").alternatives
    ('12', '13')
    """
    if not text or not text.strip():
        return Extraction("none")
    text = _SPECIAL.split(text, 1)[0]  # a leaked chat template ends the answer
    found = _boxed(text)
    if found and policy != "strict":
        later = _phrase(text, after=found.span[1])
        found = later if later and later.answer else found
    if found or policy == "strict":
        return found or Extraction("none")
    found = _phrase(text)
    if found:
        return found
    found = _last_expression(text, _final_block(text), "last_expression")
    if found or policy != "lenient":
        return found or Extraction("none")
    return _last_paragraph(text) or Extraction("none")


# ---------------------------------------------------------------- rule 1: boxes


def boxes(text: str) -> list[tuple[int, int]]:
    """Spans of the contents of every balanced `\\boxed{...}` / `\\fbox{...}`, in order."""
    spans = []
    for m in _BOX.finditer(text):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        if depth == 0:
            spans.append((m.end(), i - 1))
    return spans


def _boxed(text: str) -> Extraction | None:
    spans = [s for s in boxes(text) if text[s[0]:s[1]].strip()]
    if not spans:
        bare = list(_BARE_BOX.finditer(text))  # `\boxed 5`, the brace-less form
        if not bare:
            return None
        m = bare[-1]
        return Extraction("boxed", m.group(1), (m.start(1), m.end(1)), (m.group(1),))
    paragraph = text.rfind("\n\n", 0, spans[-1][0])
    spans = [sp for sp in spans if sp[0] > paragraph]  # earlier paragraphs: intermediate results
    contents = [text[a:b].strip() for a, b in spans]
    distinct = tuple(dict.fromkeys(_squash(c) for c in contents))
    alternatives = tuple(next(c for c in contents if _squash(c) == d) for d in distinct)
    last = spans[-1]
    return Extraction("boxed", contents[-1], (spans[0][0] if len(distinct) > 1 else last[0], last[1]),
                      alternatives)


def _squash(text: str) -> str:
    return re.sub(r"\s+|\\[,;!]|\\(?:d|t)(?=frac)", "", text)


# ---------------------------------------------------------------- rule 2: explicit phrases


def _phrase(text: str, after: int = 0) -> Extraction | None:
    matches = [m for m in _PHRASE.finditer(text) if m.start() >= after]
    for m in reversed(matches):
        start = m.end()
        while start < len(text) and text[start] in " \t\n*_:":
            start += 1
        end = _line_end(text, start)
        found = _leading(text, start, end)
        if found:
            hedged = _hedged("phrase", text, found, end)
            if len(hedged.alternatives) != 1 or not hedged.answer:
                return hedged
            value = _right_side(hedged.answer) or hedged.answer
            return Extraction("phrase", value, hedged.span, (value,), _forms(value, hedged.answer))
    return None


def _line_end(text: str, start: int) -> int:
    """End of the answer after a phrase: the line, or the display that opens right there."""
    for left, right in (("$$", "$$"), ("\\[", "\\]")):
        if text.startswith(left, start):
            close = text.find(right, start + len(left))
            if close > 0:
                return close + len(right)
    end = text.find("\n", start)
    return len(text) if end < 0 else end


def _leading(text: str, start: int, end: int) -> tuple[int, int] | None:
    """The expression right after an answer phrase: a math segment, else the leading formula."""
    piece = text[start:end]
    m = _INLINE.search(piece)
    if m and not _WORD.search(_MD.sub("", piece[:m.start()])):
        g = next(i for i in range(1, 5) if m.group(i) is not None)
        return start + m.start(g), start + m.end(g)
    tokens = list(re.finditer(r"\S+", piece))
    if tokens and tokens[0].group().lower() in {"either", "entweder", "soit"}:
        tokens = tokens[1:]
        start = start + tokens[0].start() if tokens else start
        tokens = list(re.finditer(r"\S+", text[start:end]))
    if len(tokens) > 1 and tokens[0].group().lower() in _ARTICLES and _is_prose(tokens[1].group().strip(".,;:")):
        return None  # "is a zero matrix: ..." names the answer, it is not one
    stop = start
    for n, tok in enumerate(tokens):
        if n and tok.group().startswith("(") and not re.search(r"[=+\-*/^,]$", tokens[n - 1].group()):
            break  # "99 (100 - 1, because ...)": an aside after a complete answer
        word = _MD.sub("", tok.group()).strip(".,;:!?()")
        if _is_prose(word) and stop > start:
            break
        if _is_prose(word):
            return None
        stop = start + tok.end()
    return (start, stop) if stop > start else None


def _is_prose(word: str) -> bool:
    plain = re.sub(r"\\[A-Za-z]+|[{}]", "", word)
    return bool(_WORD.fullmatch(plain)) and plain.lower() not in _MATH_WORDS and len(plain) > 1


def _hedged(rule: str, text: str, span: tuple[int, int], end: int) -> Extraction:
    """Clean the span and split hedges ("12 or 13", "12 / 13") into alternatives."""
    raw = text[span[0]:span[1]]
    answer = _clean(raw)
    if not answer:
        return Extraction("none")
    tail = text[span[1]:end]
    parts = [_clean(p) for p in _HEDGE.split(answer)]
    more = re.match(r"[$\\)\]*_]*\s*,?\s*(?:or|oder|ou|o)\s+(?:equivalently\s+)?(.+)", tail)
    if more:
        extra = _leading(tail, more.start(1), len(tail))
        if extra:
            parts.append(_clean(tail[extra[0]:extra[1]]))
            span = (span[0], span[1] + extra[1])
    parts = [p for p in parts if p]
    if len(parts) == 1:  # "1, 4, and 9", "x = 2 and y = 1": one answer of several items
        items, pos = [answer], span[1]
        while pos > span[0] and text[pos - 1] in ",;":
            pos -= 1  # "is 0, and it is achieved ...": the comma belongs to the sentence
        while (more := _AND.match(text, pos, end)) and (extra := _leading(text, more.start(1), end)):
            items.append(_clean(text[extra[0]:extra[1]]))
            pos = extra[1]
        if _AND_PROSE.match(text, pos, end):
            return Extraction("none")  # the value goes on in words: not a value the sentence states
        if len(items) > 1:
            return Extraction(rule, ", ".join(i for i in items if i), (span[0], pos))
    answer = re.sub(r"^(?:either|entweder|soit)\s+", "", answer, flags=re.IGNORECASE) if len(parts) == 1 else answer
    parts = [re.sub(r"^(?:either|entweder|soit)\s+", "", p, flags=re.IGNORECASE) for p in parts]
    return Extraction(rule, parts[-1] if len(parts) > 1 else answer, span, tuple(dict.fromkeys(parts)))


def _clean(text: str) -> str:
    text = _MD.sub("", text).strip().rstrip(".,;:!")
    for left, right in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if text.startswith(left) and text.endswith(right) and len(text) > len(left) + len(right):
            text = text[len(left):-len(right)]
    text = text.strip().rstrip(".,;:!").strip()
    text = _UNIT_SUFFIX.sub(r"\1", text)
    inner = boxes(text)
    return text[inner[-1][0]:inner[-1][1]].strip() if inner else text


# ---------------------------------------------------------------- rule 3/4: last expression


def _final_block(text: str) -> tuple[int, int]:
    """The final sentence or final display equation of the region, as offsets."""
    end = len(text.rstrip())
    display = _DISPLAY_END.search(text[:end])
    if display:
        return display.start(), end
    cuts = [0] + [m.end() for m in _SENTENCE_END.finditer(text[:end]) if m.end() < end]
    while len(cuts) > 1 and (_CHATTER.match(text[cuts[-1]:end]) or _BACKREF.match(text[cuts[-1]:end])):
        end = len(text[:cuts[-1]].rstrip())
        cuts.pop()
    return cuts[-1], end


def _last_expression(text: str, block: tuple[int, int], rule: str) -> Extraction | None:
    """The sentence's stated value: the expression right after its first "is"/"are"/"equals"
    that has one ("there are 239 strings of length 6" -> 239, not 6), else its last expression."""
    start, end = block
    whole = _clean(text[start:end])
    if whole and not any(_is_prose(w.strip(".,;:()")) for w in _MD.sub("", whole).split()):
        a = start + len(text[start:end]) - len(text[start:end].lstrip())
        value = _right_side(whole)
        return Extraction(rule, value, (a, end), (value,), _forms(value, whole))
    stated = _stated(text, start, end, rule)
    if stated:
        return stated
    piece = text[start:end]
    if _NEGATION.search(re.sub(r"\bnot\s+\S+", " ", _INLINE.sub(" ", piece))):  # "not 10, it's 1,000": 10 only
        return None  # "there are no integers satisfying $...$": its expressions are not the answer
    segments = [m for m in _INLINE.finditer(piece)]
    named = [m for m in segments if not _LONE.fullmatch(m.group().strip("$\\()[] "))]
    if segments:
        m = (named or segments)[-1]  # "holds for \\(100\\) values of \\(n\\)": 100, not n
        g = next(i for i in range(1, 5) if m.group(i) is not None)
        a, b = start + m.start(g), start + m.end(g)
        rhs = _right_side(text[a:b])
        return Extraction(rule, rhs, (a, b), (rhs,), _forms(rhs, _clean(text[a:b]))) if rhs else None
    numbers = list(_NUMBER.finditer(_MD.sub(lambda m: " " * len(m.group()), piece)))
    if not numbers:
        return None
    equals = piece.rfind("=")
    after = [n for n in numbers if n.start() > equals] if equals >= 0 else []
    m = after[0] if after else numbers[-1]  # "we need 25 + 1 = 26 questions for all 50 numbers": 26
    a, b = start + m.start(), start + m.end()
    value = _UNIT_SUFFIX.sub(r"\1", text[a:b].rstrip(","))
    return Extraction(rule, value, (a, a + len(value)), (value,))


def stated_value(text: str) -> str | None:
    """The value a sentence states after "is"/"equals" ("The limit exists and is equal to 4" ->
    4), or None; used to read prose golds, where nothing weaker may guess."""
    found = _stated(text, 0, len(text), "gold")
    return found.answer if found and len(found.alternatives) <= 1 else None


def _stated(text: str, start: int, end: int, rule: str) -> Extraction | None:
    for m in reversed(list(_COPULA.finditer(text, start, end))):  # the last statement of a value
        if re.search(r"(?:\bnot|n't|\bcannot|\bnever)\s*$", text[max(start, m.start() - 12):m.start()]):
            continue  # "cannot be 0": a value denied, not stated
        found = _leading(text, m.end(), end)
        if found and _clean(text[found[0]:found[1]]):
            hedged = _hedged(rule, text, found, end)
            if hedged.rule == "none":
                continue
            value = _right_side(hedged.answer or "")
            if value and len(hedged.alternatives) <= 1:
                return Extraction(rule, value, hedged.span, (value,), _forms(value, hedged.answer or ""))
            if value:
                return hedged
    return None


def _forms(answer: str, whole: str) -> tuple[str, ...]:
    """Other readings of one answer: the whole equation beside its right side (a gold may be an
    equation, `2x+4y-3=0`), each tried; never a different answer."""
    whole = re.split(r"\\approx", whole)[0].strip()
    return (whole,) if whole and whole != answer else ()


def _right_side(expr: str) -> str:
    """`a + b = 230 + 311 = 771` -> `771`; an inequality or a lone expression stays whole;
    `1/3 \\approx 0.33` -> `1/3` (the exact value, not its rounding)."""
    parts = [x.strip() for x in re.split(r"\\approx|≈", _clean(expr))]
    expr = parts[1] if len(parts) > 1 and re.fullmatch(r"[A-Za-z](?:_\{?\w+\}?)?", parts[0]) else parts[0]
    if re.search(r"\\[lg]eq?\b|[<>]|\\neq", expr) or _has_top_comma(expr):
        return expr
    sides = re.split(r"(?<![<>!\\])=(?!=)", expr)
    return sides[-1].strip() if sides[-1].strip() else expr


def _has_top_comma(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += 1 if ch in "([{" else -1 if ch in ")]}" else 0
        if ch == "," and depth == 0:
            return True
    return False


def _last_paragraph(text: str) -> Extraction | None:
    paragraphs = [m.span() for m in re.finditer(r"\S(?:.|\n(?!\s*\n))*", text)]
    for a, b in reversed(paragraphs):
        if _CHATTER.match(text[a:b]):
            continue
        found = _last_expression(text, (a, b), "last_expression_paragraph")
        if found:
            return found
    return None
