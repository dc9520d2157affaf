"""The window's style sheet (resources/style.qss), the text size limits, and a colour per tier.

Tiers have a colour each, the same on a card's badge and border and on its chip in the ranking
strip (these paint themselves with `tier_colour`: a repaint is cheaper than re-applying a style
sheet on every key), so ties (one colour) and the order read at a glance. Each colour is dark enough for white
bold text (contrast at least 4.5:1) and stands out on a light or a dark background alike.
"""

from __future__ import annotations

from string import Template

from PySide6.QtGui import QPalette

from labeler.bundled import bundled_text

TIER_COLOURS = (
    "#1e7b34",  # 1st: green
    "#1f5fa8",  # blue
    "#7a3f9d",  # purple
    "#a04a00",  # burnt orange
    "#a12d5f",  # raspberry
    "#1d6b6b",  # teal
    "#5b5b8f",  # slate
    "#6d5a00",  # olive
    "#5f5f5f",  # grey
)
MIN_POINTS, MAX_POINTS = 7, 32  # Ctrl++ / Ctrl+- stay within these (the start is the system's size)


def tier_colour(tier: int) -> str:
    return TIER_COLOURS[min(tier, len(TIER_COLOURS) - 1)]


def stylesheet(points: float) -> str:
    """The style sheet for a window whose text is `points` large."""
    return Template(bundled_text("style.qss")).substitute(base=f"{points:g}pt", big=f"{round(points * 1.45)}pt")


def is_dark(palette: QPalette) -> bool:
    """Whether the palette is a dark scheme (light text on a dark background)."""
    return palette.color(QPalette.ColorRole.Base).lightness() < palette.color(QPalette.ColorRole.Text).lightness()
