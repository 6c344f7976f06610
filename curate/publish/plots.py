"""The charts of the dataset card, the run report and `curate eval`, drawn with matplotlib.

- `token_histogram`: overlaid log-x histograms of tokens per row, one series per config;
- `bar_chart` / `verdict_chart`: stacked horizontal bars (verdicts by domain, in badge colours);
- `funnel_chart`: rows kept and rejected per stage;
- `line_chart`: pass@k curves with their interval bands.

Each returns PNG bytes (`fmt="png"`: the card's plots/ folder, which goes to the Hub, and
`curate eval`) or an inline `<svg>` string (`fmt="svg"`: the run report), or None when there is
nothing to draw. Colours come from `curate.text.palette`, the palette the report's chips and the
viewer's badges use. matplotlib is imported only when a chart is drawn (`curate.text.charts.figure`).
"""

from __future__ import annotations

import math

import numpy as np

from curate.text import palette
from curate.text.charts import SMALLEST_PT, figure, fit, output, place, short_number, text_width

BINS = 40
ALPHA = 0.55  # series opacity: overlapping histograms stay visible
HEIGHT_IN = 4.0


def median(values) -> int:
    """The median token count as a whole number, halves rounded up: the one definition that the
    plot legends and the card's and report's tables share (a median of 97.5 reads 98 in both)."""
    return int(math.floor(float(np.median(values)) + 0.5))


def _series(lengths: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Finite values per label, labels sorted, empty series left out."""
    out = {}
    for label in sorted(lengths):
        values = np.asarray(lengths[label], dtype=np.float64)
        values = values[np.isfinite(values)]
        if len(values):
            out[label] = values
    return out


def _short_ticks(axis, *, minor: bool = False) -> None:
    """Short tick labels, on minor ticks too when `minor` (a log range too narrow for majors)."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    axis.set_major_formatter(FuncFormatter(short_number))
    axis.set_minor_formatter(FuncFormatter(short_number) if minor else NullFormatter())


def token_histogram(lengths: dict[str, np.ndarray], *, title: str = "Tokens per row",
                    fmt: str = "png") -> bytes | str | None:
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
    from matplotlib.ticker import LogLocator

    with figure(HEIGHT_IN) as fig:
        ax = place(fig, left=0.85, bottom=0.75)
        for i, (label, values) in enumerate(series.items()):
            counts = np.histogram(np.clip(values, low, high), bins=edges)[0]
            ax.stairs(counts, edges, fill=True, alpha=ALPHA, color=palette.series_colour(i),
                      label=f"{label} (n={len(values):,}, median {median(values):,})")
        ax.set_xscale("log")
        ax.set_xlim(low, high)
        # minor ticks at 2 and 5 x 10^k only where majors suffice: every tick is an object to lay out
        ax.xaxis.set_minor_locator(LogLocator(subs=np.arange(2.0, 10.0) if high / low < 30 else (2.0, 5.0)))
        _short_ticks(ax.xaxis, minor=high / low < 30)
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax.grid(axis="y")
        ax.set(title=title, xlabel="tokens (prompt + completion)", ylabel="rows")
        ax.legend(loc="best")
        return output(fig, fmt, name="tokens", label=title)


def verdict_chart(counts: dict[str, dict[str, int]], *, title: str = "Verdicts by domain",
                  fmt: str = "png") -> bytes | str | None:
    """Verdicts stacked per domain, each verdict in its badge colour (pass green, fail red)."""
    colours = {name: swatch.fill for name, swatch in palette.VERDICTS.items()}
    return bar_chart(counts, title=title, colours=colours, fmt=fmt, name="verdicts")


def bar_chart(counts: dict[str, dict[str, int]], *, title: str, xlabel: str = "rows",
              colours: dict[str, str] | None = None, fmt: str = "png", name: str = "bars",
              ) -> bytes | str | None:
    """Stacked horizontal bars: outer key per bar, inner keys stacked (e.g. domain x verdict).

    Bars are sorted by outer key top to bottom, stack parts by inner key left to right (the keys
    of `colours` first, in its order and colours, then the others in series colours); the legend
    sits under the x axis and each bar's total is written at its end. The figure grows 0.45 in
    (45 px) per bar and a row of legend per four parts.
    """
    if not counts:
        return None
    labels = sorted(counts)
    found = {k for inner in counts.values() for k in inner}
    fixed = [k for k in (colours or {}) if k in found]
    parts = fixed + sorted(found - set(fixed))
    fills = [colours[p] if p in fixed else palette.series_colour(i) for i, p in enumerate(parts)]
    totals = [sum(counts[label].values()) for label in labels]
    legend_rows = math.ceil(len(parts) / 4)
    shown = [fit(label) for label in labels]
    legend = 0.3 * legend_rows
    with figure(1.3 + 0.45 * len(labels) + legend) as fig:
        ax = place(fig, left=text_width(shown, SMALLEST_PT) + 0.3, bottom=0.6 + legend)
        y = np.arange(len(labels))
        done = np.zeros(len(labels))
        for part, fill in zip(parts, fills):
            values = np.array([counts[label].get(part, 0) for label in labels], dtype=float)
            ax.barh(y, values, left=done, height=0.7, color=fill, label=part)
            done += values
        for row, total in enumerate(totals):
            ax.annotate(f"{total:,}", (total, row), xytext=(4, 0), textcoords="offset points", va="center",
                        fontsize=SMALLEST_PT, color=palette.MUTED)
        ax.set_yticks(y, shown)
        ax.set_ylim(len(labels) - 0.5, -0.5)  # the first label on top
        ax.set_xlim(0, max(max(totals), 1) * 1.12)
        ax.xaxis.get_major_locator().set_params(integer=True)
        _short_ticks(ax.xaxis)
        ax.grid(axis="x")
        ax.set(title=title, xlabel=xlabel)
        if parts:
            fig.legend(loc="lower center", ncols=min(4, len(parts)), frameon=False)
        return output(fig, fmt, name=name, label=title)


def funnel_chart(funnel: list[dict], *, title: str = "Rows per stage", fmt: str = "svg") -> bytes | str | None:
    """Per stage, rows kept (blue) and rejected (fail red) on one scale; each stage's bars carry
    the id "stage-DIR" (in the SVG: "funnel-stage-DIR")."""
    if not funnel:
        return None
    shown = [fit(str(s["dir"])) for s in funnel]
    with figure(1.5 + 0.45 * len(funnel)) as fig:
        ax = place(fig, left=text_width(shown, SMALLEST_PT) + 0.3, bottom=0.9)
        y = np.arange(len(funnel))
        kept = np.array([s["rows_out"] for s in funnel], dtype=float)
        dropped = np.array([s["rejected"] for s in funnel], dtype=float)
        bars = ax.barh(y, kept, height=0.7, color=palette.KEPT, label="rows out")
        lost = ax.barh(y, dropped, left=kept, height=0.7, color=palette.REJECTED, label="rejected")
        for stage, bar, gone in zip(funnel, bars, lost):
            bar.set_gid(f"stage-{stage['dir']}")
            gone.set_gid(f"rejected-{stage['dir']}")
        for row, stage in enumerate(funnel):
            note = f"{stage['rows_out']:,}" + (f" (−{stage['rejected']:,} rejected)" if stage["rejected"] else "")
            ax.annotate(note, (kept[row] + dropped[row], row), xytext=(4, 0), textcoords="offset points",
                        va="center", fontsize=SMALLEST_PT, color=palette.MUTED)
        ax.set_yticks(y, shown)
        ax.set_ylim(len(funnel) - 0.5, -0.5)
        ax.set_xlim(0, max(float((kept + dropped).max()), 1.0) * 1.3)  # room for the notes
        _short_ticks(ax.xaxis)
        ax.grid(axis="x")
        ax.set(title=title, xlabel="rows")
        fig.legend(loc="lower center", ncols=2, frameon=False)
        return output(fig, fmt, name="funnel", label=title)


def line_chart(series: dict[str, list[tuple[float, float, float, float]]], *, title: str,
               xlabel: str = "k", ylabel: str = "pass@k", fmt: str = "png") -> bytes | str | None:
    """One line per label through (x, y) points, with a shaded (low, high) band: pass@k curves.

    `series` maps a label to [(x, y, low, high), ...]; the x axis is log2 when x spans more than
    a factor of 8 (k = 1..64 reads better so), the y axis runs from 0 to 1. Labels keep the order
    given (the baseline first); the legend sits in the lower right, where pass@k curves are high.
    """
    series = {label: sorted(points) for label, points in series.items() if points}
    if not series:
        return None
    xs = sorted({p[0] for points in series.values() for p in points})
    with figure(HEIGHT_IN) as fig:
        ax = place(fig, left=0.85, bottom=0.75)
        for i, (label, points) in enumerate(series.items()):
            x, y, low, high = (np.array(column, dtype=float) for column in zip(*points))
            colour = palette.series_colour(i)
            if len(points) > 1:
                ax.fill_between(x, low, high, color=colour, alpha=0.2, linewidth=0)
            ax.plot(x, y, marker="o", markersize=5, linewidth=2, color=colour, label=label)
        if xs[0] > 0 and xs[-1] / xs[0] > 8:
            ax.set_xscale("log", base=2)
            ax.minorticks_off()
        ax.set_xticks(xs if len(xs) <= 10 else [x for x in xs if x in {2 ** k for k in range(11)}] or xs[::8])
        _short_ticks(ax.xaxis)
        ax.set_ylim(0, 1)
        ax.grid(axis="y")
        ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
        ax.legend(loc="lower right")
        return output(fig, fmt, name="curve", label=title)


def cluster_chart(sizes: dict, *, title: str = "dedup: cluster sizes", fmt: str = "svg") -> bytes | str | None:
    """Dedup's clusters per size (log counts), from reports/dedup.json's `cluster_sizes`; None if
    empty. One bar per size that occurs (ids "clusters-size-N"). Drawn by the report, not by the
    dedup stage, so a dedup run never pays the plotting library's import."""
    if not sizes:
        return None
    labels = [str(size) for size in sizes]
    with figure(4.0) as fig:
        ax = place(fig, left=0.85, bottom=0.75)
        bars = ax.bar(range(len(sizes)), list(sizes.values()), width=0.8, color=palette.KEPT, log=True)
        for label, bar in zip(labels, bars):
            bar.set_gid(f"size-{label}")
        step = len(sizes) // 25 + 1  # at most 25 labels: sizes stay readable
        ax.set_xticks(range(0, len(sizes), step), labels[::step])
        ax.set_xlim(-0.6, len(sizes) - 0.4)
        ax.yaxis.set_major_formatter(short_number)
        ax.yaxis.set_minor_formatter("")  # matplotlib's own log labels would be TeX-like text
        ax.grid(axis="y")
        ax.set(title=title, xlabel="cluster size (units)", ylabel="clusters (log scale)")
        return output(fig, fmt, name="clusters", label=title)
