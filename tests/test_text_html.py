"""curate.text.html: model output becomes escaped HTML, code fences are highlighted, spans marked."""

from curate.text.html import code_html, text_html


def test_every_character_of_prose_is_escaped():
    hostile = '<script>alert(1)</script><img src=x onerror="alert(2)"> & "quotes"'
    out = text_html(hostile)
    assert "<script" not in out and "<img" not in out
    assert "&lt;script&gt;" in out and "onerror=&quot;alert(2)&quot;" in out and "&amp;" in out


def test_code_fences_are_highlighted_and_escaped():
    text = "Here:\n```python\ndef f(x):\n    return '<b>' + x\n```\nDone <i>."
    out = text_html(text)
    assert '<div class="highlight">' in out and '<span class="k">def</span>' in out
    assert "<b>" not in out and "&lt;i&gt;" in out
    assert "Here:" in out and "Done" in out


def test_unknown_language_and_unterminated_fence_still_render():
    out = text_html("```klingon\nqapla' <x>\n")
    assert '<div class="highlight">' in out and "&lt;x&gt;" in out
    assert "&lt;" in code_html("<y>", "no-such-lexer")


def test_spans_are_marked_around_escaped_text():
    text = "a <b> matched here and not there"
    start = text.index("<b> matched")
    out = text_html(text, [(start, start + len("<b> matched"))])
    assert out == 'a <mark class="hit">&lt;b&gt; matched</mark> here and not there'
    assert text_html(text, [(0, 1), (0, 1), (50, 60)]).startswith('<mark class="hit">a</mark>')


def test_math_becomes_mathml_and_hostile_formulas_stay_escaped_source():
    import pytest

    pytest.importorskip("latex2mathml")
    out = text_html(r"Sum $\frac{a}{b}$, then $$x^2$$ costs $5 and $6.", math=True)
    assert "<mfrac>" in out and 'display="block"' in out and "costs $5 and $6." in out
    for formula in [r"\text{<img src=x onerror=alert(1)>}", r"\href{javascript:alert(1)}{x}",
                    r'\color{red" onmouseover="alert(1)}{x}', r"\style{color:red}{x}"]:
        out = text_html(f"see ${formula}$ here", math=True)
        assert "<math" not in out and out == "see " + html_escaped(f"${formula}$") + " here", out


def html_escaped(text: str) -> str:
    import html

    return html.escape(text)
