"""Model output to safe HTML: every character escaped, code fences highlighted, matched spans marked.

Shared by `curate view` and the run report (both show traces).

Traces are hostile HTML: nothing here passes a character of the text through unescaped. Code
fences go through Pygments (which escapes what it emits); benchmark hits become `<mark>` around
escaped text. LaTeX stays as escaped text for MathJax to typeset in the page (MathJax reads text
nodes, never markup, and runs no script from them), or, with `math=True` (pages without script),
becomes MathML on the server (`curate.text.mathml`, allowlisted).
"""

from __future__ import annotations

import html
import re

FENCE = re.compile(r"```([\w+#.-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)


def text_html(text: str | None, spans: list[tuple[int, int]] = (), *, math: bool = False) -> str:
    """`text` as HTML: escaped prose, highlighted code fences, `<mark>` over `spans` (prose only);
    with `math`, formulas in the prose as MathML."""
    if not text:
        return ""
    prose = _with_math if math else _prose
    out, position = [], 0
    for match in FENCE.finditer(text):
        out.append(prose(text, position, match.start(), spans))
        out.append(code_html(match.group(2), match.group(1)))
        position = match.end()
    out.append(prose(text, position, len(text), spans))
    return "".join(out)


def _with_math(text: str, start: int, stop: int, spans) -> str:
    from curate.text.mathml import MATH, formula_html

    out, position = [], start
    for match in MATH.finditer(text, start, stop):
        out.append(_prose(text, position, match.start(), spans))
        latex = next(g for g in match.groups() if g is not None)
        out.append(formula_html(latex, display=match.group(1) is not None or match.group(2) is not None))
        position = match.end()
    out.append(_prose(text, position, stop, spans))
    return "".join(out)


def _prose(text: str, start: int, stop: int, spans) -> str:
    pieces, position = [], start
    for lo, hi in sorted(spans):
        lo, hi = max(lo, position), min(hi, stop)
        if lo >= hi:
            continue
        pieces.append(html.escape(text[position:lo]))
        pieces.append(f'<mark class="hit">{html.escape(text[lo:hi])}</mark>')
        position = hi
    pieces.append(html.escape(text[position:stop]))
    return "".join(pieces)


def code_html(code: str, language: str = "") -> str:
    """A highlighted `<div class="highlight"><pre>…` block (plain escaped `<pre>` without Pygments)."""
    try:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import get_lexer_by_name
        from pygments.util import ClassNotFound
    except ImportError:
        return f'<pre class="plain">{html.escape(code)}</pre>'
    try:
        lexer = get_lexer_by_name(language or "python")
    except ClassNotFound:
        lexer = get_lexer_by_name("text")
    return highlight(code, lexer, HtmlFormatter(cssclass="highlight"))


def pygments_css() -> str:
    try:
        from pygments.formatters import HtmlFormatter
    except ImportError:
        return ""
    return HtmlFormatter(cssclass="highlight", style="default").get_style_defs(".highlight")
