"""The figure, style and output of every curate chart (matplotlib): PNG bytes or inline SVG.

In the core, beside the palette, because features that may not import each other draw charts:
publish (the card, the run report, eval's curves) and dedup (its cluster-size histogram).

matplotlib is imported here, inside the functions, never when curate is imported: a run that
draws no chart never pays for it (about 0.3-0.5 s on first use, see docs/performance.md). Only
`matplotlib.figure.Figure` and its Agg/SVG canvases are used, never pyplot: no global figure
state, no GUI backend to choose, nothing left open.

Sizes: figures are `WIDTH_IN` inches wide at `DPI`, so a PNG is 900 px wide; an SVG gets the
same size in CSS pixels (its `width`/`height` attributes), so 1 pt of matplotlib text is
DPI/72 px in both: the smallest text (10 pt) shows at about 14 px at 100% zoom.

Same input, same output: PNGs carry no software or time chunk; SVG ids come from a fixed hash
salt and are prefixed per chart, so several charts can sit inline in one page.
"""

from __future__ import annotations

import io
import re
from contextlib import contextmanager

from curate.text import palette

WIDTH_IN = 9.0
DPI = 100
SMALLEST_PT = 10
FONT = "DejaVu Sans"

STYLE = {
    "text.parse_math": False,  # labels are data (config and domain names): "$" is a dollar, not math
    # DejaVu Sans ships with matplotlib: the same glyphs in every PNG; an SVG names it with the
    # generic fallback ("'DejaVu Sans', sans-serif"), so a browser without it stays sans-serif
    "font.family": "sans-serif", "font.sans-serif": [FONT],
    "font.size": 11, "axes.titlesize": 13, "axes.titleweight": "bold", "axes.labelsize": 11,
    "xtick.labelsize": SMALLEST_PT, "ytick.labelsize": SMALLEST_PT, "legend.fontsize": SMALLEST_PT,
    "text.color": palette.INK, "axes.labelcolor": palette.INK, "axes.edgecolor": palette.MUTED,
    "xtick.color": palette.MUTED, "ytick.color": palette.MUTED, "grid.color": palette.GRID,
    "axes.spines.top": False, "axes.spines.right": False, "axes.axisbelow": True,
    "legend.frameon": True, "legend.framealpha": 0.9, "legend.edgecolor": palette.LINE,
    "svg.fonttype": "none",  # text stays text: selectable, searchable, sized in the page's pixels
    "svg.hashsalt": "curate",
}


def import_matplotlib() -> None:
    """Import what drawing a chart needs and load the chart font (`curate.text.chart_process`'s
    helper does this before its first chart)."""
    import matplotlib.backends.backend_agg  # noqa: F401 - PNG
    import matplotlib.backends.backend_svg  # noqa: F401 - SVG
    import matplotlib.figure  # noqa: F401
    import matplotlib.ticker  # noqa: F401

    text_width(["0"], SMALLEST_PT)


@contextmanager
def figure(height_in: float):
    """A Figure in curate's style, 900 px wide and `height_in` inches high.

    No layout engine: constrained layout measured every text twice and took half of a chart's
    time; charts place their axes with `place`, from margins they know (tick labels are short
    numbers) or measure once (`text_width`).
    """
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(STYLE):
        yield Figure(figsize=(WIDTH_IN, height_in), dpi=DPI)


def place(fig, *, left: float, bottom: float, top: float = 0.45, right: float = 0.25):
    """One axes with these margins (inches) around it; returns the axes."""
    width, height = fig.get_size_inches()
    return fig.add_axes((left / width, bottom / height, 1 - (left + right) / width, 1 - (top + bottom) / height))


def text_width(texts, size_pt: float) -> float:
    """The width in inches of the widest of `texts` at `size_pt` in the chart font."""
    from matplotlib.backends.backend_agg import RendererAgg
    from matplotlib.font_manager import FontProperties

    renderer = RendererAgg(1, 1, DPI)
    font = FontProperties(family=FONT, size=size_pt)
    widest = max((renderer.get_text_width_height_descent(t, font, ismath=False)[0] for t in texts), default=0)
    return widest / DPI


def output(fig, fmt: str, *, name: str, label: str) -> bytes | str:
    """The figure as PNG bytes (fmt "png") or as an `<svg>` element string to inline (fmt "svg").

    `name` prefixes the SVG's ids (unique per page), `label` is its accessible name. Call it
    inside the `figure()` block, so the style also holds while saving.
    """
    buffer = io.BytesIO()
    if fmt == "png":
        fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
        return buffer.getvalue()
    if fmt != "svg":
        raise ValueError(f"unknown chart format {fmt!r}: png or svg")
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    return inline_svg(buffer.getvalue().decode("utf-8"), fig, name=name, label=label)


def inline_svg(svg: str, fig, *, name: str, label: str) -> str:
    """matplotlib's SVG file made fit to sit in an HTML page: no XML prologue, no metadata, no
    document-wide `*{}` style, ids prefixed with `name`, and a size in CSS pixels."""
    from markupsafe import escape

    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.S)
    svg = re.sub(r"<style type=\"text/css\">\*\{[^}]*\}</style>", "", svg)
    svg = re.sub(r'\bid="([^"]+)"', rf'id="{name}-\1"', svg)
    svg = re.sub(r'(xlink:href|href)="#([^"]+)"', rf'\1="#{name}-\2"', svg)
    svg = re.sub(r"url\(#([^)]+)\)", rf"url(#{name}-\1)", svg)
    width, height = (round(v * DPI) for v in fig.get_size_inches())
    svg = re.sub(r'width="[\d.]+pt" height="[\d.]+pt"', f'width="{width}" height="{height}"', svg, count=1)
    head = f'<svg class="chart" data-chart="{name}" role="img" aria-label="{escape(label)}"'
    return head + svg[len("<svg"):].rstrip() + "\n"


def short_number(value: float, _position=None) -> str:
    """Short tick label: 5, 120, 1.5k, 20k, 1M."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}" if value != int(value) else str(int(value))


def fit(text: str, limit: int = 40) -> str:
    """`text` cut to `limit` characters with an ellipsis (axis labels of long names)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
