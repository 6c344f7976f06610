"""The one colour palette of curate's pictures: verdict badges, charts, the report and the viewer.

A verdict has the same colour wherever it shows: the run report's chips, the card's and the
report's charts, and `curate view`'s badges (pass green, fail red; the failures to judge in
warm tones, a bad reference violet). The report inlines `verdict_css()`, the viewer serves it as
/static/palette.css, and the charts (curate.publish.plots) fill bars from `VERDICTS`.

Series that are not verdicts (configs, models) take `SERIES`, which holds no green or red, so a
config is never read as a verdict. The stage funnel draws kept rows in `KEPT` and rejected rows
in the fail colour.
"""

from __future__ import annotations

from typing import NamedTuple


class Swatch(NamedTuple):
    """A fill colour and the text colour that reads on it (contrast 4.5:1 or more)."""

    fill: str
    ink: str


WHITE_INK, DARK_INK = "#FFFFFF", "#212529"

#: verdict -> swatch, in the order verdict bars stack (pass first)
VERDICTS: dict[str, Swatch] = {
    "pass": Swatch("#28803A", WHITE_INK),
    "fail": Swatch("#C92A2A", WHITE_INK),
    "no_answer": Swatch("#F76707", DARK_INK),
    "timeout": Swatch("#F59F00", DARK_INK),
    "error": Swatch("#862E9C", WHITE_INK),
    "bad_reference": Swatch("#5F3DC4", WHITE_INK),
    "unverified": Swatch("#868E96", DARK_INK),
}

#: colours for series that are not verdicts (configs, models), in order; no green, no red
SERIES = ["#4C6EF5", "#F59F00", "#15AABF", "#AE3EC9", "#495057", "#FF922B", "#1864AB", "#868E96"]
KEPT = "#4C6EF5"
REJECTED = VERDICTS["fail"].fill
INK, MUTED, GRID, LINE = "#212529", "#5C636A", "#E9ECEF", "#CED4DA"


def verdict_colour(verdict: str) -> str:
    """The fill of a verdict's badge; grey for a verdict the palette does not name."""
    return VERDICTS.get(verdict, VERDICTS["unverified"]).fill


def series_colour(i: int) -> str:
    """The i-th series colour (the list repeats)."""
    return SERIES[i % len(SERIES)]


def verdict_css(selector: str) -> str:
    """CSS giving `selector.VERDICT` (e.g. `.chip.pass`) its badge colours, one rule per verdict."""
    return "\n".join(f"{selector}.{name} {{ background:{s.fill}; color:{s.ink}; }}"
                     for name, s in VERDICTS.items())
