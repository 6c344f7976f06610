"""LaTeX to MathML on the server, for pages that carry no script (the run report).

`latex2mathml` (optional; without it formulas stay as their escaped source) converts a formula,
but passes some input through as markup (`\\text{<img onerror=…>}`, `\\href{javascript:…}`). So
its output is parsed again and rebuilt from an allowlist of MathML elements and attributes, with
every text escaped; a formula holding anything else is shown as its escaped LaTeX source.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

#: `$$…$$`, `\[…\]`, `\(…\)`, `$…$` (not `\$`, not across a blank line)
MATH = re.compile(r"\$\$(.+?)\$\$|\\\[(.+?)\\\]|\\\((.+?)\\\)|(?<![\\$])\$(?!\s)([^$\n]+?)(?<!\s)\$", re.S)
ELEMENTS = {"math", "mrow", "mi", "mn", "mo", "mtext", "mspace", "ms", "mfrac", "msqrt", "mroot", "mstyle",
            "merror", "mpadded", "mphantom", "menclose", "msub", "msup", "msubsup", "munder", "mover",
            "munderover", "mmultiscripts", "mprescripts", "none", "mtable", "mtr", "mtd", "semantics", "mfenced"}
ATTRIBUTES = {"display", "mathvariant", "notation", "stretchy", "fence", "separator", "lspace", "rspace",
              "columnalign", "columnspacing", "rowspacing", "columnlines", "rowlines", "accent", "accentunder",
              "movablelimits", "symmetric", "minsize", "maxsize", "width", "height", "depth", "linethickness",
              "displaystyle", "scriptlevel", "open", "close", "separators", "xmlns"}
SAFE_VALUE = re.compile(r"[\w .%#:/+-]*")


def formula_html(latex: str, display: bool = False) -> str:
    """MathML for one formula, or its escaped source when it cannot be converted safely."""
    fallback = html.escape(f"$${latex}$$" if display else f"${latex}$")
    try:
        from latex2mathml.converter import convert
    except ImportError:
        return fallback
    try:
        return _Rebuild.clean(convert(latex, display="block" if display else "inline")) or fallback
    except Exception:  # noqa: BLE001 - latex2mathml raises many kinds on malformed input
        return fallback


class _Rebuild(HTMLParser):
    """Re-emit parsed MathML from the allowlist; `ok` turns False on anything outside it."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.ok = True

    @classmethod
    def clean(cls, markup: str) -> str | None:
        parser = cls()
        parser.feed(markup)
        parser.close()
        return "".join(parser.out) if parser.ok else None

    def handle_starttag(self, tag, attrs):
        if tag not in ELEMENTS or any(name not in ATTRIBUTES or not SAFE_VALUE.fullmatch(value or "")
                                      or "javascript" in (value or "").lower() for name, value in attrs):
            self.ok = False
            return
        rendered = "".join(f' {name}="{html.escape(value or "")}"' for name, value in attrs)
        self.out.append(f"<{tag}{rendered}>")

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if self.ok:
            self.out.append(f"</{tag}>")

    def handle_endtag(self, tag):
        if tag not in ELEMENTS:
            self.ok = False
            return
        self.out.append(f"</{tag}>")

    def handle_data(self, data):
        self.out.append(html.escape(data))

    def handle_comment(self, data):
        self.ok = False

    def handle_decl(self, decl):
        self.ok = False

    def handle_pi(self, data):
        self.ok = False

    def unknown_decl(self, data):
        self.ok = False
