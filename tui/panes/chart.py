"""The price pane's 24 h chart: a sparkline on a time axis, drawn cell for cell.

Each column is a fixed span of the clock (a whole number of minutes, so that the last
24 h fit the width) and shows the highest price in it, scaled between the lowest and the
highest price on the chart. Columns are aligned to the clock, so a new price changes
the last column only, and only when it is the highest of its span or of the chart: the
history stays still while a stream ticks ten times a second, and a tick that leaves the
columns as they were repaints nothing. Textual's Sparkline buckets by count instead:
every new point moved every bucket's edges, and the whole chart wobbled (and was redrawn
and sent to the terminal) on every tick (bench/idle.py: half the bytes of a price frame).

Bar heights and the colour blend are the Sparkline's own (tests/test_tui_panes.py holds
the cells equal to a Sparkline's given one price a column); a span without prices (before
the history starts, or while no price came in) is left blank."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Callable, ClassVar, Sequence

from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

BARS = "▁▂▃▄▅▆▇█"
MINUTE = 60
SPAN = 24 * 3600  # what the chart holds at most: older points fall off its left edge


def blend_colors(low: Color, high: Color, ratio: float) -> Color:
    """The colour `ratio` of the way from `low` to `high`, as the Sparkline blends them
    (Textual's own helper lives in a private module)."""
    if low.triplet is None or high.triplet is None:
        return high
    (r1, g1, b1), (r2, g2, b2) = low.triplet, high.triplet
    return Color.from_rgb(r1 + (r2 - r1) * ratio, g1 + (g2 - g1) * ratio, b1 + (b2 - b1) * ratio)


def column_seconds(span: float, width: int) -> int:
    """The span of one column: whole minutes, at least one, so that `width - 1` columns
    hold `span` seconds (the last column is the one the clock is in, partly gone)."""
    return MINUTE * max(1, math.ceil(span / (max(1, width - 1) * MINUTE)))


def columns_of(buckets: dict[int, list[float]], first: int, width: int) -> tuple[float | None, ...]:
    """Each column's height as a fraction of the chart's range (None: no price in it),
    from the (low, high) of the spans numbered first .. first + width - 1."""
    shown = [buckets.get(k) for k in range(first, first + width)]
    present = [b for b in shown if b is not None]
    if not present:
        return (None,) * width
    minimum = min(low for low, _ in present)
    extent = max(high for _, high in present) - minimum or 1
    return tuple(None if b is None else (b[1] - minimum) / extent for b in shown)


def _count(buckets: dict[int, list[float]], number: int, price: float) -> None:
    """Widen span `number`'s (low, high) to take in `price`."""
    bucket = buckets.get(number)
    if bucket is None:
        buckets[number] = [price, price]
    elif price < bucket[0]:
        bucket[0] = price
    elif price > bucket[1]:
        bucket[1] = price


def _stamp(at: datetime) -> float:
    return (at if at.tzinfo is not None else at.replace(tzinfo=timezone.utc)).timestamp()


class PriceChart(Widget):
    """The chart of a list of (time, price) points in time order, which its owner grows,
    compacts and trims in place and then calls points_changed(); colours from CSS."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"sparkline--max-color", "sparkline--min-color"}

    DEFAULT_CSS = """
    PriceChart { height: 1; }
    PriceChart > .sparkline--max-color { color: $primary; }
    PriceChart > .sparkline--min-color { color: $primary 30%; }
    """

    def __init__(self, *, clock: Callable[[], datetime] | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.points: Sequence[tuple[datetime, float]] = ()
        # (low, high) of each column-long span of the clock that holds a point, by its
        # number (seconds since the epoch // the column's seconds); kept between ticks
        self._buckets: dict[int, list[float]] = {}
        self._key: tuple | None = None  # (width, column seconds) the buckets are for
        self._last: float | None = None  # time of the newest point counted
        self._first: float | None = None  # time of the oldest point counted
        self._window: tuple[int, int, int] | None = None  # numbers of the first and last column, their seconds
        self._shown: tuple | None = None  # (size, columns or the count of points) drawn last
        self._rows: tuple | None = None  # (the _shown they were drawn from, the rows)

    def set_points(self, points: Sequence[tuple[datetime, float]]) -> None:
        """Chart these points (kept by reference) from scratch."""
        self.points = points
        self._key = None
        self.points_changed()

    def points_changed(self) -> None:
        """After the owner added, compacted or trimmed points, or the clock moved: a
        repaint only if the columns differ from those shown."""
        shown = self._columns()
        if shown != self._shown:
            self._shown = shown
            self.refresh()

    def _columns(self) -> tuple:
        width, height = self.size
        points = self.points
        if len(points) < 1 or width <= 0:
            self._window = None
            return ((width, height), len(points))
        now = _stamp(self.clock())
        first_at = _stamp(points[0][0])
        seconds = column_seconds(min(now - first_at, SPAN), width)
        if self._key != (width, seconds):
            self._count_all(seconds)
            self._key = (width, seconds)
        else:
            self._count_new(seconds, first_at)
        last = int(now // seconds)
        first = last - width + 1
        buckets = self._buckets
        if len(buckets) > width and min(buckets) < first:
            for k in [k for k in buckets if k < first]:
                del buckets[k]
        self._window = (first, last, seconds)
        return ((width, height), columns_of(buckets, first, width))

    def low_high(self) -> tuple[float, float] | None:
        """The lowest and highest of the points as last counted, from the columns (a few
        dozen to look at, not the day's points); None when the columns do not hold every
        point (no width yet, or older points than the chart's span)."""
        if self._window is None or self._first is None:
            return None
        first, last, seconds = self._window
        if self._first < first * seconds:
            return None
        shown = [b for k, b in self._buckets.items() if first <= k <= last]
        if not shown:
            return None
        return min(low for low, _ in shown), max(high for _, high in shown)

    def _count_all(self, seconds: int) -> None:
        buckets: dict[int, list[float]] = {}
        for at, price in self.points:
            _count(buckets, int(_stamp(at) // seconds), price)
        self._buckets = buckets
        self._first = _stamp(self.points[0][0])
        self._last = _stamp(self.points[-1][0])

    def _count_new(self, seconds: int, first_at: float) -> None:
        """Only what changed: points newer than the newest counted (compacting a minute
        keeps its lowest and highest, which were counted), and the oldest span again when
        points were trimmed from it."""
        points, buckets = self.points, self._buckets
        new = []
        for at, price in reversed(points):
            stamp = _stamp(at)
            if self._last is not None and stamp <= self._last:
                break
            new.append((stamp, price))
        for stamp, price in reversed(new):
            _count(buckets, int(stamp // seconds), price)
        if new:
            self._last = new[0][0]
        if first_at != self._first:  # trimmed: count the oldest span again from what is left
            oldest = int(first_at // seconds)
            for k in [k for k in buckets if k <= oldest]:
                del buckets[k]
            for at, price in points:
                if int(_stamp(at) // seconds) != oldest:
                    break
                _count(buckets, oldest, price)
            self._first = first_at

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

    def _draw(self, cols: tuple[float | None, ...] | int) -> list[Strip]:
        """Every row at once: the styles are worked out once for all of them."""
        width, height = self.size
        base = self.rich_style
        _, background = self.background_colors
        min_color = (background + self.get_component_styles("sparkline--min-color").color).rich_color
        max_color = (background + self.get_component_styles("sparkline--max-color").color).rich_color
        if not isinstance(cols, tuple):  # no prices yet: an empty Sparkline's look
            blank = Strip.blank(width, Style(bgcolor=base.bgcolor))  # as Textual pads the Sparkline's empty rows
            return [blank] * (height - 1) + [Strip([Segment("▁" * width, base + Style.from_color(min_color))], width)]
        styles = [None if ratio is None else base + Style.from_color(blend_colors(min_color, max_color, ratio))
                  for ratio in cols]
        bar_segments = len(BARS) * height - 1
        rows = []
        for y in range(height):
            i = height - 1 - y  # the Sparkline counts rows from the bottom
            low, high = i * len(BARS), (i + 1) * len(BARS)
            segments = []
            for ratio, style in zip(cols, styles):
                bar_index = -1 if ratio is None else int(ratio * bar_segments)
                if bar_index < low:
                    segments.append(Segment(" ", base))
                else:
                    segments.append(Segment("█" if bar_index >= high else BARS[bar_index % len(BARS)], style))
            rows.append(Strip(segments, width).simplify())
        return rows
