"""The top line: the app's name, a feed-health summary ("14/15 feeds ok") and a clock."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable, Iterable

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip
from textual.widget import Widget

from feeds.model import FeedState
from tui import safe
from tui.panes.component_styles import ComponentStyles


def health_summary(states: Iterable[FeedState]) -> tuple[str, str]:
    """("14/15 feeds ok", level) where level is ok | pending | warn | bad."""
    states = list(states)
    total = len(states)
    ok = sum(1 for s in states if s.ok)
    failing = sum(1 for s in states if s.failures > 0 or s.gone)
    pending = total - ok - failing
    if total == 0:
        return "no feeds", "warn"
    text = f"{ok}/{total} feeds ok"
    if failing:
        text += f", {failing} failing"
    if pending:
        text += f", {pending} waiting"
    level = "ok" if ok == total else "bad" if failing * 2 > total else "warn" if failing else "pending"
    return text, level


class StatusBar(ComponentStyles, Widget):
    """One line, docked at the top. The clock ticks once a second (a fixed clock in tests)."""

    DEFAULT_CSS = """
    StatusBar {
        dock: top;
        height: 1;
        background: $panel;
        color: $foreground;
    }
    """

    COMPONENT_CLASSES = {"status--name", "status--ok", "status--pending", "status--warn", "status--bad",
                         "status--clock", "status--badge"}

    def __init__(self, *, clock: Callable[[], datetime] | None = None, badge: str = "",
                 id: str | None = None, ticking: bool = True) -> None:
        super().__init__(id=id)
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.badge = badge
        self.health = ("starting", "pending")
        self.ticker = Text("")
        self.ticking = ticking  # False: the owner calls tick() (the app, with the price pane's ages)
        self._shown_clock = ""
        self._left_cache: tuple[tuple, tuple[list[Segment], int]] | None = None

    def on_mount(self) -> None:
        if self.ticking:
            self.set_interval(1, self.tick)

    def tick(self) -> None:
        """Once a second: repaint if the clock moved since the last repaint (a price tick
        may already have shown this second)."""
        if self._clock_text() != self._shown_clock:
            self.refresh()

    def set_health(self, states: Iterable[FeedState]) -> None:
        health = health_summary(states)
        if health != self.health:  # every poll reports its feed; most change nothing here
            self.health = health
            self.refresh()

    def set_ticker(self, ticker: Text) -> None:
        if ticker != self.ticker:
            self.ticker = ticker
            self.refresh()

    def _clock_text(self) -> str:
        return self.clock().astimezone().strftime(_CLOCKS[0])

    def _left(self, base: Style) -> tuple[list[Segment], int]:
        """The name, badge, health and ticker as segments (kept until one of them or the
        base style changes: the clock moves every second, they seldom do)."""
        key = (base, self.badge, self.health, self.ticker)
        if self._left_cache is not None and self._left_cache[0] == key:
            return self._left_cache[1]
        style = self.component
        segments = [Segment(" policywatch", base + style("status--name"))]
        if self.badge:
            segments += [Segment("  ", base), Segment(f" {self.badge} ", base + style("status--badge"))]
        health_text, level = self.health
        segments += [Segment("  ", base), Segment(health_text, base + style(f"status--{level}"))]
        if self.ticker.plain:
            segments.append(Segment("   ", base))
            segments += [Segment(text, base + self.app.console.get_style(span_style) if span_style else base)
                         for text, span_style in _pieces(self.ticker)]
        # drawn straight to the terminal: control characters are shown as ␛ and the like,
        # never sent (none of these texts come from outside today; kept so)
        segments = [Segment(safe.clean(segment.text), segment.style) for segment in segments]
        left = (segments, sum(s.cell_length for s in segments))
        self._left_cache = (key, left)
        return left

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._left_cache = None  # drawn in the old styles

    def render_line(self, y: int) -> Strip:
        """One line drawn directly (Textual's path for a rendered Text took ~1.5 ms, in every
        frame that moves the clock or the ticker): the left part, then the clock flush
        right. When both do not fit, the clock drops its zone, then its date, then goes;
        the left part is cut last."""
        width = self.size.width
        base = self.rich_style
        if y != 0 or not width:
            return Strip.blank(width, base)
        left, left_len = self._left(base)
        now = self.clock().astimezone()
        self._shown_clock = now.strftime(_CLOCKS[0])
        clock = next((text for text in map(now.strftime, _CLOCKS) if left_len + 1 + cell_len(text) <= width), "")
        clock_len = cell_len(clock)
        line = Strip(left, left_len).crop(0, width - clock_len).extend_cell_length(width - clock_len, base)
        if clock:
            line = Strip.join([line, Strip([Segment(clock, base + self.component("status--clock"))],
                                           clock_len)])
        return line


# the clock, then in less room without the zone, then the time alone
_CLOCKS = ("%a %d %b  %H:%M:%S %Z ", "%a %d %b  %H:%M:%S ", "%H:%M:%S ")


def _pieces(text: Text) -> list[tuple[str, str | Style]]:
    """A Text's runs of characters with the same span style (spans do not overlap in the
    ticker the app builds; later spans win where they do, as in Rich)."""
    styles: list[str | Style] = [text.style] * len(text.plain)
    for span in text.spans:
        for i in range(span.start, min(span.end, len(styles))):
            styles[i] = span.style
    pieces: list[tuple[str, str | Style]] = []
    start = 0
    for i in range(1, len(styles) + 1):
        if i == len(styles) or styles[i] != styles[start]:
            pieces.append((text.plain[start:i], styles[start]))
            start = i
    return pieces
