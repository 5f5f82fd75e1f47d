"""The price pane's 24 h chart: Textual's Sparkline, drawn cell for cell, without its cost.

Textual's Sparkline re-buckets its whole series (up to ~5,800 points after a day of
streamed prices) through Fraction arithmetic, once per row, and sends the result through
Rich on every change; a price tick then cost 2.5-7 ms of the frame (bench/idle.py). Here
the columns are worked out once per change of data or width, a tick whose columns come out
the same repaints nothing, and rows are drawn straight from the columns. The bucketing,
bar heights and colour blend are the Sparkline's own (tests/test_tui_panes.py holds the
cells equal to a Sparkline's on the same data)."""

from __future__ import annotations

from typing import ClassVar, Sequence

from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

BARS = "▁▂▃▄▅▆▇█"


def blend_colors(low: Color, high: Color, ratio: float) -> Color:
    """The colour `ratio` of the way from `low` to `high`, as the Sparkline blends them
    (Textual's own helper lives in a private module)."""
    if low.triplet is None or high.triplet is None:
        return high
    (r1, g1, b1), (r2, g2, b2) = low.triplet, high.triplet
    return Color.from_rgb(r1 + (r2 - r1) * ratio, g1 + (g2 - g1) * ratio, b1 + (b2 - b1) * ratio)


def columns(data: Sequence[float], width: int) -> tuple[float, ...] | None:
    """Each column's bar height as a fraction of the data's range, as the Sparkline
    buckets and summarizes them (None for fewer than two values: drawn without a scale)."""
    if len(data) < 2 or width <= 0:
        return None
    minimum, maximum = min(data), max(data)
    extent = maximum - minimum or 1
    n = len(data)
    # Sparkline._buckets: int(Fraction(n, width) * i) is (n * i) // width; empty ones are skipped
    bounds = [(n * i) // width for i in range(width + 1)]
    summaries = [max(data[start:end]) for start, end in zip(bounds, bounds[1:]) if end > start]
    step = len(summaries) / width
    out = []
    bucket = 0.0
    for _ in range(width):  # the Sparkline's own float steps, so columns pick the same buckets
        out.append((summaries[int(bucket)] - minimum) / extent)
        bucket += step
    return tuple(out)


class PriceChart(Widget):
    """A sparkline of the price, fed through set_data(); its colours come from CSS."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"sparkline--max-color", "sparkline--min-color"}

    DEFAULT_CSS = """
    PriceChart { height: 1; }
    PriceChart > .sparkline--max-color { color: $primary; }
    PriceChart > .sparkline--min-color { color: $primary 30%; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.data: Sequence[float] = ()
        self._shown: tuple | None = None  # (width, columns or the count of values) drawn last
        self._styles: tuple | None = None  # (what they were worked out for, each column's style)

    def set_data(self, data: Sequence[float]) -> None:
        """New values: a repaint only if the columns they make differ from those shown."""
        self.data = data
        shown = self._columns()
        if shown != self._shown:
            self._shown = shown
            self.refresh()

    def _columns(self) -> tuple:
        width = self.size.width
        cols = columns(self.data, width)
        return (width, cols if cols is not None else len(self.data))

    def render_line(self, y: int) -> Strip:
        # Textual keeps the rows drawn until the next refresh: this runs after a change only
        if self._shown is None or self._shown[0] != self.size.width:
            self._shown = self._columns()
        width, height = self.size
        cols = self._shown[1]
        base = self.rich_style
        _, background = self.background_colors
        min_color = (background + self.get_component_styles("sparkline--min-color").color).rich_color
        max_color = (background + self.get_component_styles("sparkline--max-color").color).rich_color
        i = height - 1 - y  # the Sparkline counts rows from the bottom
        if not isinstance(cols, tuple):
            if cols == 1:
                return Strip([Segment("█" * width, base + Style.from_color(max_color))], width)
            if i == 0:
                return Strip([Segment("▁" * width, base + Style.from_color(min_color))], width)
            return Strip.blank(width, Style(bgcolor=base.bgcolor))  # as Textual pads the Sparkline's empty rows
        bar_segments = len(BARS) * height - 1
        low, high = i * len(BARS), (i + 1) * len(BARS)
        # a column's style is the same in every row: work each out once per drawing
        key = (cols, base, min_color, max_color)
        if self._styles is None or self._styles[0] != key:
            self._styles = (key, [base + Style.from_color(blend_colors(min_color, max_color, ratio)) for ratio in cols])
        styles = self._styles[1]
        segments = []
        for ratio, style in zip(cols, styles):
            bar_index = int(ratio * bar_segments)
            if bar_index < low:
                segments.append(Segment(" ", base))
            else:
                segments.append(Segment("█" if bar_index >= high else BARS[bar_index % len(BARS)], style))
        return Strip(segments, width).simplify()
