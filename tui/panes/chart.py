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
        self._shown: tuple | None = None  # (size, columns or the count of values) drawn last
        self._rows: tuple | None = None  # (the _shown they were drawn from, the rows)

    def set_data(self, data: Sequence[float]) -> None:
        """New values: a repaint only if the columns they make differ from those shown."""
        self.data = data
        shown = self._columns()
        if shown != self._shown:
            self._shown = shown
            self.refresh()

    def _columns(self) -> tuple:
        width, height = self.size
        cols = columns(self.data, width)
        return ((width, height), cols if cols is not None else len(self.data))

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._rows = None  # drawn in the old colours

    def render_line(self, y: int) -> Strip:
        # Textual keeps the rows drawn until the next refresh: this runs after a change only
        if self._shown is None or self._shown[0] != (self.size.width, self.size.height):
            self._shown = self._columns()
        if self._rows is None or self._rows[0] is not self._shown:
            self._rows = (self._shown, self._draw(self._shown[1]))
        rows = self._rows[1]
        return rows[y] if y < len(rows) else Strip.blank(self.size.width, self.rich_style)

    def _draw(self, cols: tuple[float, ...] | int) -> list[Strip]:
        """Every row at once: the styles are worked out once for all of them."""
        width, height = self.size
        base = self.rich_style
        _, background = self.background_colors
        min_color = (background + self.get_component_styles("sparkline--min-color").color).rich_color
        max_color = (background + self.get_component_styles("sparkline--max-color").color).rich_color
        if not isinstance(cols, tuple):
            blank = Strip.blank(width, Style(bgcolor=base.bgcolor))  # as Textual pads the Sparkline's empty rows
            if cols == 1:
                return [Strip([Segment("█" * width, base + Style.from_color(max_color))], width)] * height
            return [blank] * (height - 1) + [Strip([Segment("▁" * width, base + Style.from_color(min_color))], width)]
        styles = [base + Style.from_color(blend_colors(min_color, max_color, ratio)) for ratio in cols]
        bar_segments = len(BARS) * height - 1
        rows = []
        for y in range(height):
            i = height - 1 - y  # the Sparkline counts rows from the bottom
            low, high = i * len(BARS), (i + 1) * len(BARS)
            segments = []
            for ratio, style in zip(cols, styles):
                bar_index = int(ratio * bar_segments)
                if bar_index < low:
                    segments.append(Segment(" ", base))
                else:
                    segments.append(Segment("█" if bar_index >= high else BARS[bar_index % len(BARS)], style))
            rows.append(Strip(segments, width).simplify())
        return rows
