"""The card/report charts drawn with Pillow: valid PNGs of the promised size, each series in its
palette colour (blended where series overlap), bar heights proportional to counts, edge cases
(empty, one value, huge and narrow ranges), byte-stable output, and no matplotlib import."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from curate.publish import png_chart as pc
from curate.publish.plots import ALPHA, HEIGHT, PALETTE, WIDTH, bar_chart, token_histogram


def decode(png: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(png))
    image.load()
    assert image.format == "PNG"
    return np.asarray(image.convert("RGB"))


def pixels_of(pixels: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    """Boolean mask of pixels exactly `colour`."""
    return np.all(pixels == np.array(colour, dtype=np.uint8), axis=-1)


def shade(i: int) -> tuple[int, int, int]:
    """Series i's bar colour over the white background."""
    return pc.blend(pc.rgb(PALETTE[i]), ALPHA)


def test_histogram_is_a_png_of_the_figure_size():
    png = token_histogram({"default": np.random.default_rng(0).lognormal(7, 1, 5000).astype(int)})
    assert decode(png).shape == (HEIGHT, WIDTH, 3)


def test_each_series_shows_in_its_colour_and_overlaps_blend():
    rng = np.random.default_rng(1)
    png = token_histogram({"math": rng.integers(10, 2000, 3000), "code": rng.integers(500, 50_000, 3000)})
    pixels = decode(png)
    code, math = shade(0), shade(1)  # labels are sorted: code first
    both = pc.blend(pc.rgb(PALETTE[1]), ALPHA, under=code)
    for colour, least in ((code, 5000), (math, 5000), (both, 300)):
        assert pixels_of(pixels, colour).sum() > least, colour


def test_bar_heights_follow_the_counts():
    values = np.array([10] * 200 + [1000] * 50)
    pixels = decode(token_histogram({"a": values}))
    heights = pixels_of(pixels, shade(0)).sum(axis=0)
    left, right = heights[: WIDTH // 2].max(), heights[WIDTH // 2:].max()
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


@pytest.mark.parametrize("values", [[5], [0], [7] * 100, [-3, 0, 2], [1, 10**6], list(range(100, 131))])
def test_odd_ranges_draw(values):
    pixels = decode(token_histogram({"a": np.array(values), "b": np.array(values[:1])}))
    assert pixels.shape == (HEIGHT, WIDTH, 3)
    assert pixels_of(pixels, shade(0)).any() or pixels_of(pixels, pc.blend(pc.rgb(PALETTE[1]), ALPHA, shade(0))).any()


def test_log_ticks_widen_to_1_2_5_then_linear():
    assert pc.log_ticks(1, 1e6)[0] == [10.0**k for k in range(7)]
    assert pc.log_ticks(1, 50)[0] == [1, 2, 5, 10, 20, 50]
    assert pc.log_ticks(100, 200) == ([100, 120, 140, 160, 180, 200], [])
    major, minor = pc.log_ticks(1, 1000)
    assert 20 in minor and 10 not in minor and len(minor) == 24


def test_linear_ticks_are_round_and_cover_the_range():
    assert pc.linear_ticks(0, 1620) == [0, 500, 1000, 1500]
    assert pc.linear_ticks(0, 10) == [0, 2, 4, 6, 8, 10]
    assert pc.linear_ticks(0, 1) == [0, 1]


@pytest.mark.parametrize("value, text", [(0, "0"), (120, "120"), (1500, "1.5k"), (20_000, "20k"),
                                         (1e6, "1M"), (2.5, "2.5")])
def test_tick_labels_are_short(value, text):
    assert pc.format_number(value) == text


def verdicts(n_bars: int, n_parts: int) -> dict[str, dict[str, int]]:
    parts = ["pass", "fail", "error", "timeout", "not verified", "skipped", "unknown", "other"][:n_parts]
    return {f"domain{i}": {p: 10 * (i + 1) + j for j, p in enumerate(parts)} for i in range(n_bars)}


def test_bar_chart_grows_with_bars_and_shows_every_part():
    heights = []
    for n in (1, 3, 8):
        pixels = decode(bar_chart(verdicts(n, 3), title="Verdicts by domain"))
        assert pixels.shape[1] == WIDTH
        heights.append(pixels.shape[0])
        for i in range(3):
            assert pixels_of(pixels, pc.rgb(PALETTE[i])).sum() > 100 * n
    assert heights[0] < heights[1] < heights[2]
    assert heights[1] == round((0.45 * 3 + 1.0) * 110)


def test_bar_lengths_follow_the_totals():
    pixels = decode(bar_chart({"a": {"pass": 300}, "b": {"pass": 100}}, title="t"))
    widths = pixels_of(pixels, pc.rgb(PALETTE[0])).sum(axis=1)
    rows = widths[widths > 20]  # the legend swatch is narrower
    assert rows.max() / rows.min() == pytest.approx(3, rel=0.03)


def test_bar_chart_legend_wraps_into_more_height():
    few = decode(bar_chart(verdicts(2, 2), title="t"))
    many = decode(bar_chart(verdicts(2, 8), title="t"))
    assert many.shape[0] > few.shape[0]
    for i in range(8):
        assert pixels_of(many, pc.rgb(PALETTE[i])).any()


def test_bar_chart_is_byte_stable_and_survives_empty_bars():
    data = {"math": {"pass": 5, "fail": 0}, "code": {}, "a label far too long " * 5: {"pass": 1}}
    assert bar_chart(data, title="t") == bar_chart(dict(reversed(data.items())), title="t")
    assert decode(bar_chart({"x": {}}, title="t")).shape[1] == WIDTH


def test_primitives_work_with_the_bitmap_font():
    canvas = pc.Canvas(200, 120, scalable=False)
    top = canvas.title("Bitmap")
    axis = pc.Axis(1, 1000, 30, 190, log=True)
    canvas.frame((30, top, 190, 90))
    canvas.x_ticks(axis, 90, *pc.log_ticks(1, 1000))
    canvas.y_ticks(pc.Axis(0, 10, 90, top), (30, top, 190, 90), [0, 5, 10])
    canvas.vertical_text(8, 60, "rows")
    canvas.legend(120, top, [("one", (255, 0, 0))], backing=True)
    pixels = decode(canvas.png())
    assert pixels.shape == (120, 200, 3)
    assert pixels_of(pixels, (255, 0, 0)).any()
    assert (pixels[:, :20] < 128).any()  # the rotated label left ink


def test_no_matplotlib_and_pillow_only_when_drawing():
    code = (
        "import sys\n"
        "import numpy as np\n"
        "import curate.publish.plots as rp\n"
        "assert 'PIL' not in sys.modules, 'Pillow imported with the module'\n"
        "assert rp.token_histogram({'a': np.arange(1, 100)})\n"
        "assert rp.bar_chart({'a': {'pass': 1}}, title='t')\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_verdict_chart_colours_pass_green_like_the_badges():
    """The report's badges show pass green and fail orange; the verdict chart must agree."""
    from curate.publish.plots import VERDICT_COLOURS, verdict_chart

    assert VERDICT_COLOURS["pass"] == "#12B886" and VERDICT_COLOURS["fail"] == "#E8590C"
    pixels = decode(verdict_chart({"math": {"fail": 100, "pass": 300, "no_answer": 50}}))
    green, orange = pixels_of(pixels, pc.rgb("#12B886")), pixels_of(pixels, pc.rgb("#E8590C"))
    bar = green.sum(axis=1) > 20  # rows through the bar, not the legend swatches
    assert green[bar].sum() / orange[bar].sum() == pytest.approx(3, rel=0.05)
    assert np.argmax(green[bar].any(axis=0)) < np.argmax(orange[bar].any(axis=0))  # pass stacks first


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
