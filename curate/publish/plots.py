"""Plots for the dataset card and the run report, drawn with Pillow: PNG bytes, byte-stable.

Two charts: `token_histogram` (overlaid log-x histograms of tokens per row, one series per
config) and `bar_chart` (stacked horizontal bars; `verdict_chart`: verdicts by domain in the
badge colours). Both used to be
matplotlib figures; importing matplotlib and drawing one histogram cost about half a second, the
largest fixed cost of a `load + write` run, while Pillow imports in tens of milliseconds. The
drawing primitives (axes, ticks, text, legend) live in `curate.publish.png_chart`.

Same input, same bytes: no timestamps or software metadata, fixed size and fonts. Pillow is
imported inside the functions (through `png_chart`), so importing curate stays cheap.
"""

from __future__ import annotations

import math

import numpy as np

from curate.publish import png_chart as pc

PALETTE = ["#4C6EF5", "#12B886", "#F59F00", "#E8590C", "#AE3EC9", "#1C7ED6", "#2F9E44", "#868E96"]

WIDTH = 770          # 7 in at 110 dpi, the size the matplotlib figures had
HEIGHT = 352         # 3.2 in at 110 dpi
BINS = 40
ALPHA = 140          # series opacity out of 255 (0.55): overlaps stay visible
LEGEND_MAX_LIFT = 1.6  # the y range may grow up to this much over the peak to keep bars off the legend


#: verdict -> colour, as the report's verdict badges: pass green, fail orange, the failures to
#: judge (no answer, timeout, error) red, a bad reference violet. Also the stacking order.
VERDICT_COLOURS = {"pass": "#12B886", "fail": "#E8590C", "no_answer": "#C92A2A", "timeout": "#F59F00",
                   "error": "#862E9C", "bad_reference": "#AE3EC9", "unverified": "#868E96"}


def median(values) -> int:
    """The median token count as a whole number, halves rounded up: the one definition that the
    plot legends and the card's and report's tables share (a median of 97.5 reads 98 in both)."""
    return int(math.floor(float(np.median(values)) + 0.5))


def colour(i: int) -> pc.RGB:
    """The i-th palette colour as an RGB tuple (the palette repeats)."""
    return pc.rgb(PALETTE[i % len(PALETTE)])


def _series(lengths: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Finite values per label, labels sorted, empty series left out."""
    out = {}
    for label in sorted(lengths):
        values = np.asarray(lengths[label], dtype=np.float64)
        values = values[np.isfinite(values)]
        if len(values):
            out[label] = values
    return out


def _x_band(canvas: pc.Canvas) -> int:
    """Pixels below the plot box taken by tick labels and the x-axis label."""
    return 8 + canvas.line_height(canvas.small) + 10 + canvas.line_height() + 10


def _left_margin(canvas: pc.Canvas, tick_labels: list[str]) -> int:
    """Room for the rotated y label plus the widest y tick label."""
    widest = max((canvas.text_width(t, canvas.small) for t in tick_labels), default=0)
    return 8 + canvas.line_height() + 10 + widest + 10


def _legend_corner(counts: list[np.ndarray], starts: np.ndarray, spans: tuple[int, int, int, int],
                   ) -> tuple[str, float]:
    """('right'|'left', tallest count under the legend) for the corner whose bars are lower.

    `spans` holds the legend's x range in either corner: (right lo, right hi, left lo, left hi).
    """
    best = None
    for corner in ("right", "left"):
        lo, hi = spans[:2] if corner == "right" else spans[2:]
        under = (starts[1:] > lo) & (starts[:-1] < hi)
        peak = max(float(c[under].max()) if under.any() else 0.0 for c in counts)
        if best is None or peak < best[1]:
            best = (corner, peak)
    return best


def token_histogram(lengths: dict[str, np.ndarray], *, title: str = "Tokens per row") -> bytes | None:
    """Overlaid log-x histograms of token counts, one per label; None when there is no data.

    40 geometric bins between max(1, smallest) and max(2 x low, largest); values outside are
    clipped into the end bins. Legend entries read "label (n=N, median M)".
    """
    series = _series(lengths)
    if not series:
        return None
    low = max(1.0, min(float(v.min()) for v in series.values()))
    high = max(low * 2, max(float(v.max()) for v in series.values()))
    edges = np.geomspace(low, high, BINS + 1)
    counts = [np.histogram(np.clip(v, low, high), bins=edges)[0] for v in series.values()]
    entries = [(f"{label} (n={len(v)}, median {median(v)})", colour(i))
               for i, (label, v) in enumerate(series.items())]
    peak = max(float(c.max()) for c in counts)

    canvas = pc.Canvas(WIDTH, HEIGHT)
    top = canvas.title(title)
    bottom = HEIGHT - _x_band(canvas)
    left = _left_margin(canvas, [pc.format_number(t) for t in pc.linear_ticks(0, peak * LEGEND_MAX_LIFT)])
    right = WIDTH - 18
    x_axis = pc.Axis(low, high, left + 4, right, log=True)
    starts = np.array([x_axis(e) for e in edges])

    legend_w, legend_h = canvas.legend_size([e for e, _ in entries])
    spans = (right - legend_w - 10, right, left + 14, left + 14 + legend_w)
    corner, under = _legend_corner(counts, starts, spans)
    lift = under / max(1e-9, 1 - (legend_h + 12) / (bottom - top))
    y_high = max(peak * 1.05, min(lift, peak * LEGEND_MAX_LIFT), 1.0)
    y_axis = pc.Axis(0, y_high, bottom, top)
    box = (left, top, right, bottom)

    canvas.y_ticks(y_axis, box, pc.linear_ticks(0, y_high))
    for count, (_, fill) in zip(counts, entries):
        _draw_bins(canvas, count, starts, y_axis, bottom, fill)
    canvas.frame(box)
    canvas.x_ticks(x_axis, bottom, *pc.log_ticks(low, high))
    canvas.text((left + right) / 2, HEIGHT - 8, "tokens (prompt + completion)", h="center", v="bottom")
    canvas.vertical_text(8 + canvas.line_height() / 2, (top + bottom) / 2, "rows")
    legend_x = spans[0] if corner == "right" else spans[2]
    canvas.legend(legend_x, top + 4, [(e, pc.blend(c, ALPHA)) for e, c in entries], backing=True)
    return canvas.png()


def _draw_bins(canvas: pc.Canvas, counts: np.ndarray, starts: np.ndarray, y_axis: pc.Axis, bottom: int,
               fill: pc.RGB) -> None:
    """One series' bins on its own transparent layer, composited so overlaps blend."""
    layer, draw = canvas.layer()
    for i, count in enumerate(counts):
        if count <= 0:
            continue
        x0, x1 = int(starts[i]), max(int(starts[i]), int(starts[i + 1]) - 1)
        draw.rectangle([x0, min(y_axis(float(count)), bottom - 1), x1, bottom - 1], fill=fill + (ALPHA,))
    canvas.merge(layer)


# ---------------------------------------------------------------- stacked bars


def _fit(canvas: pc.Canvas, text: str, width: int) -> str:
    """`text`, cut with an ellipsis to fit `width` pixels."""
    if canvas.text_width(text) <= width:
        return text
    while text and canvas.text_width(text + "…") > width:
        text = text[:-1]
    return text + "…"


def _legend_columns(canvas: pc.Canvas, parts: list[str]) -> int:
    """Legend columns: at most 4 and what fits the width, rows filled evenly (5 parts: 3 + 2)."""
    if not parts:
        return 1
    column = canvas.legend_size(parts)[0] + 16
    rows = math.ceil(len(parts) / max(1, min(4, (WIDTH - 40) // column)))
    return math.ceil(len(parts) / rows)


def verdict_chart(counts: dict[str, dict[str, int]], *, title: str = "Verdicts by domain") -> bytes | None:
    """Verdicts stacked per domain, each verdict in its badge colour (pass green)."""
    return bar_chart(counts, title=title, colours=VERDICT_COLOURS)


def bar_chart(counts: dict[str, dict[str, int]], *, title: str, xlabel: str = "rows",
              colours: dict[str, str] | None = None) -> bytes | None:
    """Stacked horizontal bars: outer key per bar, inner keys stacked (e.g. domain x verdict).

    Bars are sorted by outer key top to bottom, stack parts by inner key left to right (the keys
    of `colours` first, in its order, and in its colours); the legend sits under the title and
    each bar's total is written at its end. The image grows 0.45 in (50 px) per bar.
    """
    if not counts:
        return None
    labels = sorted(counts)
    found = {k for inner in counts.values() for k in inner}
    fixed = [k for k in (colours or {}) if k in found]
    parts = fixed + sorted(found - set(fixed))
    fills = [pc.rgb(colours[p]) if p in fixed else colour(i) for i, p in enumerate(parts)]
    totals = [sum(counts[label].values()) for label in labels]
    probe = pc.Canvas(1, 1)
    columns = _legend_columns(probe, parts)
    legend_w, legend_h = probe.legend_size(parts, columns=columns) if parts else (0, 0)
    height = round(max(1.6, 0.45 * len(labels) + 1.0) * 110) + max(0, legend_h - probe.legend_size(["x"])[1])

    canvas = pc.Canvas(WIDTH, height)
    top = canvas.title(title)
    if parts:
        canvas.legend(round((WIDTH - legend_w) / 2), top - 4, list(zip(parts, fills)),
                      columns=columns)
        top += legend_h + 2
    bottom = height - _x_band(canvas)
    shown = [_fit(canvas, label, WIDTH // 3) for label in labels]
    left = max(canvas.text_width(s) for s in shown) + 18
    right = WIDTH - 14 - max(canvas.text_width(f"{t:,}", canvas.small) for t in totals) - 6
    x_axis = pc.Axis(0, max(max(totals), 1), left, right)
    box = (left, top, right, bottom)

    for value in pc.linear_ticks(0, x_axis.high):
        if value:
            canvas.draw.line([(x_axis(value), top), (x_axis(value), bottom - 1)], fill=pc.GRID)
    slot = (bottom - top) / len(labels)
    thickness = min(40.0, slot * 0.72)
    for row, label in enumerate(labels):
        middle = top + slot * (row + 0.5)
        y0, y1 = round(middle - thickness / 2), round(middle + thickness / 2) - 1
        _draw_stack(canvas, x_axis, [counts[label].get(p, 0) for p in parts], fills, y0, y1)
        canvas.text(left - 8, middle, shown[row], h="right", v="middle")
        canvas.draw.line([(left - 4, round(middle)), (left, round(middle))], fill=pc.MUTED)
        canvas.text(x_axis(totals[row]) + 5, middle, f"{totals[row]:,}", font=canvas.small, fill=pc.MUTED,
                    v="middle")
    canvas.frame(box)
    canvas.x_ticks(x_axis, bottom, pc.linear_ticks(0, x_axis.high))
    canvas.text((left + right) / 2, height - 8, xlabel, h="center", v="bottom")
    return canvas.png()


def _draw_stack(canvas: pc.Canvas, x_axis: pc.Axis, values: list[int], fills: list[pc.RGB], y0: int, y1: int,
                ) -> None:
    """One bar's parts left to right, each at least a pixel wide when non-zero."""
    done = 0
    for i, value in enumerate(values):
        if value <= 0:
            continue
        x0 = x_axis(done) + (1 if done == 0 else 0)
        done += value
        x1 = max(x0, x_axis(done) - 1)
        canvas.draw.rectangle([x0, y0, x1, y1], fill=fills[i])



# ---------------------------------------------------------------- lines with bands


def line_chart(series: dict[str, list[tuple[float, float, float, float]]], *, title: str,
               xlabel: str = "k", ylabel: str = "pass@k") -> bytes | None:
    """One line per label through (x, y) points, with a shaded (low, high) band: pass@k curves.

    `series` maps a label to [(x, y, low, high), ...]; the x axis is log2 when x spans more than
    a factor of 8 (k = 1..64 reads better so), the y axis runs from 0 to 1. Labels keep the order
    given (the baseline first); the legend sits in the lower right, where pass@k curves are high.
    """
    series = {label: sorted(points) for label, points in series.items() if points}
    if not series:
        return None
    xs = [p[0] for points in series.values() for p in points]
    low, high = min(xs), max(max(xs), min(xs) + 1)
    log = high / max(low, 1e-9) > 8 and low > 0
    canvas = pc.Canvas(WIDTH, HEIGHT)
    top = canvas.title(title)
    bottom = HEIGHT - _x_band(canvas)
    y_values = [i / 5 for i in range(6)]
    left = _left_margin(canvas, [pc.format_number(v) for v in y_values])
    right = WIDTH - 18
    x_axis = pc.Axis(low, high, left + 8, right - 8, log=log)
    y_axis = pc.Axis(0.0, 1.0, bottom, top)
    box = (left, top, right, bottom)
    canvas.y_ticks(y_axis, box, y_values)
    for i, points in enumerate(series.values()):
        layer, draw = canvas.layer()
        band = [(x_axis(x), y_axis(hi)) for x, _, _, hi in points] + \
               [(x_axis(x), y_axis(lo)) for x, _, lo, _ in reversed(points)]
        if len(points) > 1:
            draw.polygon(band, fill=colour(i) + (50,))
        canvas.merge(layer)
        line = [(x_axis(x), y_axis(y)) for x, y, _, _ in points]
        if len(line) > 1:
            canvas.draw.line(line, fill=colour(i), width=2)
        for x, y in line:
            canvas.draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=colour(i))
    canvas.frame(box)
    ticks = sorted({p[0] for points in series.values() for p in points})
    if len(ticks) > 10:
        ticks = [t for t in ticks if t in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)] or ticks[::len(ticks) // 8]
    canvas.x_ticks(x_axis, bottom, ticks)
    canvas.text((left + right) / 2, HEIGHT - 8, xlabel, h="center", v="bottom")
    canvas.vertical_text(8 + canvas.line_height() / 2, (top + bottom) / 2, ylabel)
    labels = list(series)
    width, height = canvas.legend_size(labels)
    canvas.legend(right - width - 10, bottom - height - 8, [(lab, colour(i)) for i, lab in enumerate(labels)],
                  backing=True)
    return canvas.png()
