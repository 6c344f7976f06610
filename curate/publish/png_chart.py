"""Drawing primitives for small PNG charts with Pillow: axes, ticks, text, legends, PNG bytes.

Why not matplotlib: importing it and drawing one histogram cost about half a second per run,
the largest fixed cost of a `load + write` run. Pillow imports in tens of milliseconds, and the
card's charts need only axis-aligned rectangles, straight lines and text.

How a chart is drawn: a `Canvas` holds an RGBA image; an `Axis` maps data values to pixels
(linear, or log10 for token counts); `linear_ticks`/`log_ticks` choose round tick values;
`Canvas` draws the frame, tick labels, rotated axis labels and a legend. Semi-transparent series
go each on their own transparent layer, merged with `Image.alpha_composite`, so overlapping bars
blend as they would with matplotlib's `alpha`.

Text uses Pillow's bundled scalable font (`ImageFont.load_default(size=...)`, FreeType) and
falls back to the fixed bitmap font when FreeType is missing: charts stay readable, just plainer.
Text is placed from measured bounding boxes, never with `anchor=`, which bitmap fonts lack.

Byte-stable: Pillow writes no time or software chunk into a PNG, and `png_bytes` saves with fixed
settings, so the same chart gives the same bytes on a rerun with the same Pillow (its zlib decides
the compressed bytes; another Pillow build may compress differently).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Literal

RGB = tuple[int, int, int]
WHITE: RGB = (255, 255, 255)
INK: RGB = (33, 37, 41)
MUTED: RGB = (92, 99, 106)
GRID: RGB = (233, 236, 239)


def rgb(colour: str) -> RGB:
    """'#4C6EF5' -> (76, 110, 245)."""
    value = colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def blend(colour: RGB, alpha: int, under: RGB = WHITE) -> RGB:
    """The colour `colour` at opacity alpha/255 shows over `under` (what alpha_composite gives)."""
    return tuple(round((c * alpha + u * (255 - alpha)) / 255) for c, u in zip(colour, under))


def load_font(size: int, *, scalable: bool = True):
    """Pillow's bundled font at `size` px; the bitmap default font without FreeType (or if asked).

    The basic layout engine, not raqm: its word spacing reads better at small sizes, and the
    same text then renders the same whether or not libraqm is installed.
    """
    from PIL import ImageFont

    if scalable:
        try:
            font = ImageFont.load_default(size=size)
            if isinstance(font, ImageFont.FreeTypeFont):
                return font.font_variant(layout_engine=ImageFont.Layout.BASIC)
        except (TypeError, OSError, ImportError):  # Pillow < 10.1, or built without FreeType
            pass
    return ImageFont.load_default_imagefont() if hasattr(ImageFont, "load_default_imagefont") \
        else ImageFont.load_default()


# ---------------------------------------------------------------- numbers and ticks


def format_number(value: float) -> str:
    """Short tick label: 5, 120, 1.5k, 20k, 1M."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}" if value != int(value) else str(int(value))


def nice_step(span: float, *, target: int = 5, integer: bool = True) -> float:
    """A 1/2/5 x 10^k step giving about `target` intervals over `span` (at least 1 if integer)."""
    raw = max(span, 1e-12) / target
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw * 0.999)
    return max(step, 1.0) if integer else step


def linear_ticks(low: float, high: float, *, target: int = 5, integer: bool = True) -> list[float]:
    """Round tick values from `low` to `high` inclusive, about `target` intervals apart."""
    step = nice_step(high - low, target=target, integer=integer)
    first = math.ceil(low / step - 1e-9)
    return [round(k * step, 10) for k in range(first, int(math.floor(high / step + 1e-9)) + 1)]


def log_ticks(low: float, high: float) -> tuple[list[float], list[float]]:
    """(major, minor) ticks for a log axis over [low, high].

    Majors are powers of 10; when fewer than three fall in range, 1/2/5 steps per decade; when
    even those give fewer than three (a range narrower than about 2.5x), round linear steps.
    Minors mark the other 2..9 x 10^k when majors are decade-based.
    """
    decades = range(math.floor(math.log10(low)) - 1, math.ceil(math.log10(high)) + 1)

    def within(mantissas: tuple[int, ...]) -> list[float]:
        values = (m * 10.0 ** k for k in decades for m in mantissas)
        return [v for v in values if low * (1 - 1e-9) <= v <= high * (1 + 1e-9)]

    for mantissas in ((1,), (1, 2, 5)):
        major = within(mantissas)
        if len(major) >= 3:
            minor = [v for v in within(tuple(range(1, 10))) if v not in major]
            return major, minor
    return linear_ticks(low, high, target=5), []


@dataclass(frozen=True)
class Axis:
    """Maps data values in [low, high] to pixels from `start` to `end` (end < start for y)."""

    low: float
    high: float
    start: float
    end: float
    log: bool = False

    def _t(self, value: float) -> float:
        if self.log:
            return (math.log10(value) - math.log10(self.low)) / (math.log10(self.high) - math.log10(self.low))
        return (value - self.low) / ((self.high - self.low) or 1.0)

    def __call__(self, value: float) -> int:
        """The pixel of `value` (rounded, so adjacent bars share exact edges)."""
        return round(self.start + (self.end - self.start) * self._t(value))


# ---------------------------------------------------------------- canvas

HAlign = Literal["left", "center", "right"]
VAlign = Literal["top", "middle", "bottom"]


class Canvas:
    """An RGBA image with fonts and helpers to place text, axes and a legend."""

    def __init__(self, width: int, height: int, *, scalable: bool = True) -> None:
        from PIL import Image, ImageDraw

        self.image = Image.new("RGBA", (width, height), WHITE + (255,))
        self.draw = ImageDraw.Draw(self.image)
        self.font = load_font(13, scalable=scalable)
        self.small = load_font(12, scalable=scalable)
        self.title_font = load_font(15, scalable=scalable)

    @property
    def size(self) -> tuple[int, int]:
        return self.image.size

    def text_width(self, text: str, font=None) -> int:
        left, _, right, _ = self.draw.textbbox((0, 0), text, font=font or self.font)
        return right - left

    def line_height(self, font=None) -> int:
        """Ink height of a line with ascenders and descenders, the same for every text in `font`."""
        _, top, _, bottom = self.draw.textbbox((0, 0), "Ag", font=font or self.font)
        return bottom - top

    def text(self, x: float, y: float, text: str, *, font=None, fill: RGB = INK, h: HAlign = "left",
             v: VAlign = "top") -> None:
        """Draw `text` aligned to (x, y): h/v say which edge or centre of its box sits there."""
        font = font or self.font
        left, _, right, _ = self.draw.textbbox((0, 0), text, font=font)
        _, top, _, bottom = self.draw.textbbox((0, 0), "Ag", font=font)
        dx = {"left": 0, "center": (right - left) / 2, "right": right - left}[h]
        dy = {"top": 0, "middle": (bottom - top) / 2, "bottom": bottom - top}[v]
        self.draw.text((round(x - dx - left), round(y - dy - top)), text, font=font, fill=fill)

    def vertical_text(self, x: float, y: float, text: str, *, font=None, fill: RGB = INK) -> None:
        """Text rotated to read bottom-up, centred on (x, y): the y-axis label."""
        from PIL import Image, ImageDraw

        font = font or self.font
        width, height = self.text_width(text, font) + 2, self.line_height(font) + 2
        mask = Image.new("L", (width, height), 0)
        sketch = ImageDraw.Draw(mask)
        left, _, _, _ = sketch.textbbox((0, 0), text, font=font)
        _, top, _, _ = sketch.textbbox((0, 0), "Ag", font=font)
        sketch.text((1 - left, 1 - top), text, font=font, fill=255)
        mask = mask.rotate(90, expand=True)
        ink = Image.new("RGBA", mask.size, fill + (255,))
        self.image.paste(ink, (round(x - mask.width / 2), round(y - mask.height / 2)), mask)

    def title(self, text: str) -> int:
        """Centred title at the top; returns the y below it."""
        self.text(self.size[0] / 2, 8, text, font=self.title_font, h="center")
        return 8 + self.line_height(self.title_font) + 10

    def layer(self):
        """A transparent layer the size of the canvas, with its draw handle (for alpha series)."""
        from PIL import Image, ImageDraw

        layer = Image.new("RGBA", self.image.size, (0, 0, 0, 0))
        return layer, ImageDraw.Draw(layer)

    def merge(self, layer) -> None:
        """Alpha-composite a layer onto the canvas."""
        from PIL import ImageDraw

        self.image = self.image.copy()
        self.image.alpha_composite(layer)
        self.draw = ImageDraw.Draw(self.image)

    def frame(self, box: tuple[int, int, int, int]) -> None:
        """Left and bottom spines of the plot box (left, top, right, bottom)."""
        left, top, right, bottom = box
        self.draw.line([(left, top), (left, bottom), (right, bottom)], fill=MUTED, width=1)

    def x_ticks(self, axis: Axis, bottom: int, major: list[float], minor: list[float] = ()) -> None:
        """Tick marks below the x axis with labels under the major ones."""
        for value in minor:
            x = axis(value)
            self.draw.line([(x, bottom), (x, bottom + 3)], fill=MUTED)
        for value in major:
            x = axis(value)
            self.draw.line([(x, bottom), (x, bottom + 5)], fill=MUTED)
            self.text(x, bottom + 8, format_number(value), font=self.small, fill=MUTED, h="center")

    def y_ticks(self, axis: Axis, box: tuple[int, int, int, int], values: list[float]) -> None:
        """Tick marks and labels left of the y axis, with light horizontal grid lines."""
        left, _, right, _ = box
        for value in values:
            y = axis(value)
            if value:
                self.draw.line([(left + 1, y), (right, y)], fill=GRID)
            self.draw.line([(left - 5, y), (left, y)], fill=MUTED)
            self.text(left - 8, y, format_number(value), font=self.small, fill=MUTED, h="right", v="middle")

    def legend_size(self, entries: list[str], *, columns: int = 1) -> tuple[int, int]:
        """(width, height) of a legend with `entries` laid out in `columns`."""
        rows = math.ceil(len(entries) / columns)
        column = max(self.text_width(e, self.small) for e in entries) + 19 + 16
        return column * columns - 16, rows * (self.line_height(self.small) + 8) + 4

    def legend(self, x: int, y: int, entries: list[tuple[str, RGB]], *, columns: int = 1,
               backing: bool = False) -> None:
        """Colour swatch + label per entry from top-left (x, y), filled row by row."""
        width, height = self.legend_size([e for e, _ in entries], columns=columns)
        if backing:
            self.draw.rectangle([x - 4, y - 2, x + width, y + height], fill=WHITE)
        column = (width + 16) // columns
        step = self.line_height(self.small) + 8
        for i, (label, colour) in enumerate(entries):
            cx, cy = x + (i % columns) * column, y + 2 + (i // columns) * step
            self.draw.rectangle([cx, cy + 1, cx + 13, cy + 11], fill=colour)
            self.text(cx + 19, cy + 6, label, font=self.small, h="left", v="middle")

    def png(self) -> bytes:
        """PNG bytes of the canvas as RGB: no metadata, fixed compression, so byte-stable."""
        buffer = io.BytesIO()
        self.image.convert("RGB").save(buffer, format="PNG", optimize=False, compress_level=9)
        return buffer.getvalue()
