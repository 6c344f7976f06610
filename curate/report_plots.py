"""Plots for the dataset card and the run report: matplotlib (Agg), PNG bytes, byte-stable.

PNGs are written without the `Software` metadata entry and with fixed size and DPI, so the same
figures give the same bytes on a rerun (the card folder must not change between identical runs).
matplotlib is imported inside the functions: importing curate stays cheap.
"""

from __future__ import annotations

import io

import numpy as np

PALETTE = ["#4C6EF5", "#12B886", "#F59F00", "#E8590C", "#AE3EC9", "#1C7ED6", "#2F9E44", "#868E96"]


STYLE = {"font.size": 9, "axes.spines.top": False, "axes.spines.right": False,
         "svg.hashsalt": "curate", "path.simplify": True}


def _figure(width: float = 7.0, height: float = 3.2):
    """A bare Agg figure and its axes: no pyplot, so no GUI backend machinery to import."""
    import matplotlib
    from matplotlib.figure import Figure

    matplotlib.rcParams.update(STYLE)
    fig = Figure(figsize=(width, height), dpi=110)
    return fig, fig.subplots()


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def token_histogram(lengths: dict[str, np.ndarray], *, title: str = "Tokens per row") -> bytes | None:
    """Overlaid log-x histograms of token counts, one per label; None when there is no data."""
    series = {k: np.asarray(v, dtype=np.float64) for k, v in lengths.items() if len(v)}
    if not series:
        return None
    fig, ax = _figure()
    low = max(1.0, min(float(v.min()) for v in series.values()))
    high = max(low * 2, max(float(v.max()) for v in series.values()))
    bins = np.geomspace(low, high, 40)
    for i, (label, values) in enumerate(sorted(series.items())):
        median = float(np.median(values))
        ax.hist(np.clip(values, low, high), bins=bins, alpha=0.55, color=PALETTE[i % len(PALETTE)],
                label=f"{label} (n={len(values)}, median {median:.0f})")
    ax.set_xscale("log")
    ax.set_xlabel("tokens (prompt + completion)")
    ax.set_ylabel("rows")
    ax.set_title(title)
    ax.legend(frameon=False)
    return _png(fig)


def bar_chart(counts: dict[str, dict[str, int]], *, title: str, xlabel: str = "rows") -> bytes | None:
    """Stacked horizontal bars: outer key per bar, inner keys stacked (e.g. domain x verdict)."""
    if not counts:
        return None
    labels = sorted(counts)
    parts = sorted({k for inner in counts.values() for k in inner})
    fig, ax = _figure(height=max(1.6, 0.45 * len(labels) + 1.0))
    left = np.zeros(len(labels))
    for i, part in enumerate(parts):
        values = np.array([counts[label].get(part, 0) for label in labels], dtype=float)
        ax.barh(labels, values, left=left, color=PALETTE[i % len(PALETTE)], label=part)
        left += values
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.legend(frameon=False, ncols=min(4, len(parts)), fontsize=8, loc="lower right")
    return _png(fig)
