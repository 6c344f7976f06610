"""The card/report/eval charts drawn with matplotlib: PNGs decoded with Pillow (at least 800 px
wide, each series and verdict in its palette colour, bar sizes proportional to counts), inline
SVGs (width, font sizes, ids, escaping), edge cases, byte-stable output, and the lazy import."""

from __future__ import annotations

import io
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from curate.publish.plots import (
    ALPHA,
    bar_chart,
    cluster_chart,
    funnel_chart,
    line_chart,
    token_histogram,
    verdict_chart,
)
from curate.text import palette
from curate.text.charts import DPI, short_number


def decode(png: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(png))
    image.load()
    assert image.format == "PNG"
    return np.asarray(image.convert("RGB"))


def rgb(colour: str) -> np.ndarray:
    return np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)], dtype=float)


def blend(colour: str, alpha: float = ALPHA, under: np.ndarray | None = None) -> np.ndarray:
    """The colour a fill of `colour` at opacity `alpha` shows over `under` (white)."""
    under = np.full(3, 255.0) if under is None else under
    return rgb(colour) * alpha + under * (1 - alpha)


def pixels_of(pixels: np.ndarray, colour: np.ndarray, tolerance: int = 2) -> np.ndarray:
    """Boolean mask of pixels within `tolerance` of `colour` per channel."""
    return np.all(np.abs(pixels.astype(int) - np.round(colour).astype(int)) <= tolerance, axis=-1)


def test_histogram_is_a_png_at_least_800_px_wide():
    pixels = decode(token_histogram({"default": np.random.default_rng(0).lognormal(7, 1, 5000).astype(int)}))
    assert pixels.shape[1] >= 800 and pixels.shape[0] >= 300


def test_each_series_shows_in_its_colour_and_overlaps_blend():
    rng = np.random.default_rng(1)
    pixels = decode(token_histogram({"math": rng.integers(10, 2000, 3000), "code": rng.integers(500, 50_000, 3000)}))
    code, math = blend(palette.SERIES[0]), blend(palette.SERIES[1])  # labels are sorted: code first
    both = blend(palette.SERIES[1], under=code)
    for colour, least in ((code, 5000), (math, 5000), (both, 300)):
        assert pixels_of(pixels, colour).sum() > least, colour


def test_bar_heights_follow_the_counts():
    pixels = decode(token_histogram({"a": np.array([10] * 200 + [1000] * 50)}))
    heights = pixels_of(pixels, blend(palette.SERIES[0])).sum(axis=0)
    half = pixels.shape[1] // 2
    left, right = heights[:half].max(), heights[half:].max()
    assert right > 0
    assert left / right == pytest.approx(4, rel=0.05)


def test_histogram_is_independent_of_label_order_and_byte_stable():
    a, b = np.arange(1, 500), np.arange(100, 9000, 7)
    first = token_histogram({"a": a, "b": b}, title="T")
    assert first == token_histogram({"b": b, "a": a}, title="T")
    assert first != token_histogram({"a": a, "b": b}, title="U")


def test_no_data_gives_none():
    assert token_histogram({}) is None
    assert token_histogram({"a": np.array([], dtype=np.int64)}) is None
    assert token_histogram({"a": np.array([np.nan])}) is None
    assert bar_chart({}, title="t") is None
    assert funnel_chart([]) is None and line_chart({"m": []}, title="t") is None


@pytest.mark.parametrize("values", [[5], [0], [7] * 100, [-3, 0, 2], [1, 10**6], list(range(100, 131))])
def test_odd_ranges_draw(values):
    pixels = decode(token_histogram({"a": np.array(values), "b": np.array(values[:1])}))
    assert pixels.shape[1] >= 800
    assert pixels_of(pixels, blend(palette.SERIES[0])).any() or \
        pixels_of(pixels, blend(palette.SERIES[1], under=blend(palette.SERIES[0]))).any()


@pytest.mark.parametrize("value, text", [(0, "0"), (120, "120"), (1500, "1.5k"), (20_000, "20k"),
                                         (1e6, "1M"), (2.5, "2.5")])
def test_tick_labels_are_short(value, text):
    assert short_number(value) == text


def verdicts(n_bars: int, n_parts: int) -> dict[str, dict[str, int]]:
    parts = ["pass", "fail", "error", "timeout", "not verified", "skipped", "unknown", "other"][:n_parts]
    return {f"domain{i}": {p: 10 * (i + 1) + j for j, p in enumerate(parts)} for i in range(n_bars)}


def test_bar_chart_grows_with_bars_and_shows_every_part():
    heights = []
    for n in (1, 3, 8):
        pixels = decode(bar_chart(verdicts(n, 3), title="Verdicts by domain"))
        assert pixels.shape[1] >= 800
        heights.append(pixels.shape[0])
        for i in range(3):
            assert pixels_of(pixels, rgb(palette.SERIES[i]), 0).sum() > 100 * n
    assert heights[0] < heights[1] < heights[2]
    assert heights[2] - heights[1] == round(0.45 * 5 * DPI)


def test_bar_lengths_follow_the_totals():
    pixels = decode(bar_chart({"a": {"pass": 300}, "b": {"pass": 100}}, title="t"))
    widths = pixels_of(pixels, rgb(palette.SERIES[0]), 0).sum(axis=1)
    rows = widths[widths > 40]  # the legend swatch is narrower
    assert rows.max() / rows.min() == pytest.approx(3, rel=0.03)


def test_bar_chart_legend_wraps_into_more_height():
    few = decode(bar_chart(verdicts(2, 2), title="t"))
    many = decode(bar_chart(verdicts(2, 8), title="t"))
    assert many.shape[0] > few.shape[0]
    for i in range(8):
        assert pixels_of(many, rgb(palette.SERIES[i]), 0).any()


def test_bar_chart_is_byte_stable_and_survives_empty_bars():
    data = {"math": {"pass": 5, "fail": 0}, "code": {}, "a label far too long " * 5: {"pass": 1}}
    assert bar_chart(data, title="t") == bar_chart(dict(reversed(data.items())), title="t")
    assert decode(bar_chart({"x": {}}, title="t")).shape[1] >= 800


def test_verdict_chart_colours_pass_green_and_fail_red_like_the_badges():
    """The badges show pass green and fail red (curate.text.palette); the verdict chart agrees."""
    green, red = rgb(palette.VERDICTS["pass"].fill), rgb(palette.VERDICTS["fail"].fill)
    assert green[1] > green[0] and red[0] > 2 * red[1]  # green is green, red is red
    pixels = decode(verdict_chart({"math": {"fail": 100, "pass": 300, "no_answer": 50}}))
    is_green, is_red = pixels_of(pixels, green, 0), pixels_of(pixels, red, 0)
    bar = is_green.sum(axis=1) > 40  # rows through the bar, not the legend swatches
    assert is_green[bar].sum() / is_red[bar].sum() == pytest.approx(3, rel=0.05)
    assert np.argmax(is_green[bar].any(axis=0)) < np.argmax(is_red[bar].any(axis=0))  # pass stacks first
    assert pixels_of(pixels, rgb(palette.VERDICTS["no_answer"].fill), 0)[bar].sum() > 0


def test_line_chart_draws_each_model_in_its_colour():
    points = [(k, 0.2 + 0.1 * i, 0.1 + 0.1 * i, 0.3 + 0.1 * i) for i, k in enumerate((1, 2, 4, 8, 16, 32))]
    pixels = decode(line_chart({"base": points, "new": [(k, y + 0.2, lo, hi) for k, y, lo, hi in points]},
                               title="pass@k"))
    assert pixels.shape[1] >= 800
    for i in range(2):
        assert pixels_of(pixels, rgb(palette.SERIES[i]), 0).sum() > 300


def svg_sizes(svg: str) -> tuple[float, list[float]]:
    """(CSS px per SVG unit, every font size in SVG units) of an inline chart."""
    width = float(re.search(r'<svg[^>]* width="([\d.]+)"', svg).group(1))
    view = float(re.search(r'viewBox="0 0 ([\d.]+) ', svg).group(1))
    sizes = [float(s) for s in re.findall(r"font-size: ([\d.]+)px", svg)]
    return width / view, sizes


def test_svg_charts_are_800_px_wide_with_text_of_12_px_or_more(tmp_path):
    charts = [cluster_chart({"2": 500, "3": 40, "12": 1}),
              token_histogram({"a": np.arange(1, 400)}, fmt="svg"),
              verdict_chart({"math": {"pass": 3, "fail": 1}}, fmt="svg"),
              funnel_chart([{"dir": "00-load", "rows_out": 9, "rejected": 0},
                            {"dir": "01-verify", "rows_out": 6, "rejected": 3}])]
    for svg in charts:
        assert svg.startswith('<svg class="chart"') and "<?xml" not in svg and "*{" not in svg
        scale, sizes = svg_sizes(svg)
        assert float(re.search(r' width="([\d.]+)"', svg).group(1)) >= 800
        assert sizes and min(sizes) * scale >= 12, sizes
        assert "<text" in svg  # text stays text, in the page's own pixels
        assert set(re.findall(r"font-family: ([^;\"]+)", svg)) == {"'DejaVu Sans', sans-serif"}
    assert 'id="funnel-stage-01-verify"' in charts[3] and 'id="funnel-rejected-01-verify"' in charts[3]
    ids = re.findall(r'\bid="([^"]+)"', "".join(charts))
    assert all(i.split("-")[0] in ("clusters", "tokens", "verdicts", "funnel") for i in ids)  # no clash


def test_svg_escapes_labels_and_reads_dollars_as_text():
    svg = verdict_chart({"<script>alert(1)</script>": {"pass": 1}, "costs $5 and $6": {"fail": 1}}, fmt="svg")
    assert "<script" not in svg and "&lt;script&gt;" in svg
    assert "costs $5 and $6" in svg


def test_matplotlib_only_when_drawing_and_never_pyplot():
    code = (
        "import sys\n"
        "import numpy as np\n"
        "import curate.publish.plots as rp, curate.publish.report, curate.publish.card\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported with the modules'\n"
        "assert rp.token_histogram({'a': np.arange(1, 100)})\n"
        "assert rp.bar_chart({'a': {'pass': 1}}, title='t', fmt='svg')\n"
        "assert 'matplotlib' in sys.modules and 'matplotlib.pyplot' not in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_median_is_one_definition_in_the_legend_and_the_tables(tmp_path):
    """97 and 98 tokens: the median 97.5 reads 98 in the plot legend and in the token table."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from curate.publish import card_facts
    from curate.publish.plots import median

    values = np.array([97, 98, 10, 200])
    assert median(values) == 98 and median(np.array([3, 4, 5])) == 4
    (tmp_path / "general").mkdir()
    pq.write_table(pa.table({"num_tokens": values}), tmp_path / "general" / "train-0.parquet")
    stats = card_facts.token_stats(tmp_path, {"general": ["general/train-0.parquet"]})
    assert stats["general"]["p50"] == median(values) == 98
    assert "median 98)" in token_histogram({"general": values}, fmt="svg")
