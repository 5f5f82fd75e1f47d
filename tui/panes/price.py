"""The price pane: a large BTC-USD price, its 24 h change, a sparkline of the stored 24 h,
how many sources agree, which are live (stream) or polled (REST), and warnings.

It only renders what the price engine says (AggregatePrice, PriceUpdate, PriceHistory,
PriceStreamStatus); the one thing it computes is the age of the newest tick, once a
second, so "stale 45 s" keeps counting when no events arrive at all."""

from __future__ import annotations

import functools
from collections import deque
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from itertools import groupby
from typing import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.css.query import NoMatches
from textual.containers import Vertical
from textual.widgets import Digits

from feeds.model import AggregatePrice, PriceHistory, PriceStreamStatus, PriceTick, PriceUpdate
from tui import safe
from tui.panes.component_styles import ComponentStyles
from tui.panes.chart import PriceChart
from tui.panes.digits import PriceDigits
from tui.panes.rows import Rows

HISTORY = timedelta(hours=24)


def money(value: Decimal | None, places: int = 2) -> str:
    return "—" if value is None else f"{value:,.{places}f}"


def age_text(seconds: float, compact: bool = False) -> str:
    if compact:
        return f"{seconds:.0f}s" if seconds < 90 else f"{seconds / 60:.0f}m" if seconds < 5400 else f"{seconds / 3600:.0f}h"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _minute(at: datetime) -> tuple:
    return (at.year, at.month, at.day, at.hour, at.minute)


def _summary(run: list[tuple[datetime, float]]) -> list[tuple[datetime, float]]:
    """The first, lowest, highest and last of a run of points, in time order, each once."""
    if len(run) <= 4:
        return run
    low = min(run, key=lambda p: p[1])
    high = max(run, key=lambda p: p[1])
    return sorted({run[0], low, high, run[-1]})


def _while_composed(method):
    """An update that arrives during shutdown, after the pane's children were removed,
    is dropped (the engine's last events can race the app's teardown)."""

    @functools.wraps(method)
    def guarded(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except NoMatches:
            return None

    return guarded


# Seconds without a move before the digits go out: a price that moves every second keeps
# them lit (in its direction's colour) instead of putting them out in the clock's frame and
# lighting them again in the next price's (bench/idle.py: the clock's frame then drew the
# digits, and with them everything between the status line and the digits).
FLASH = 1.0


class PricePane(ComponentStyles, Vertical, can_focus=True):
    """Shows the aggregate price; `show`, `source_update`, `history`, `stream` feed it."""

    ALLOW_MAXIMIZE = True

    DEFAULT_CSS = """
    PricePane {
        height: auto;
        #price-digits { width: auto; color: $text; }
        #price-digits.-up { color: $text-success; }
        #price-digits.-down { color: $text-error; }
        #price-digits.-flash.-up { background: $success 25%; }
        #price-digits.-flash.-down { background: $error 25%; }
        #price-small { display: none; text-style: bold; }
        #price-small.-up { color: $text-success; }
        #price-small.-down { color: $text-error; }
        &.-compact #price-digits { display: none; }
        &.-compact #price-small { display: block; }
        #price-spark { height: 3; margin: 1 0 0 0; }
        #price-spark > .sparkline--max-color { color: $success; }
        #price-spark > .sparkline--min-color { color: $error; }
    }
    """

    COMPONENT_CLASSES = {"price--up", "price--down", "price--muted", "price--warn", "price--bad",
                         "price--ok", "price--label"}

    def __init__(self, *, symbol: str = "BTC-USD", stale_after: float = 30.0, dead_after: float = 120.0,
                 divergence: float = 1.0, clock: Callable[[], datetime] | None = None,
                 id: str | None = None, classes: str | None = None, ticking: bool = True) -> None:
        super().__init__(id=id, classes=classes)
        self.ticking = ticking  # False: the owner calls tick() once a second
        self.symbol = symbol
        self.stale_after = stale_after
        self.dead_after = dead_after
        self.divergence = divergence
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.aggregate: AggregatePrice | None = None
        self.previous: Decimal | None = None
        self.direction = 0
        self.points: deque[tuple[datetime, float]] = deque()
        self.ticks: dict[str, PriceTick] = {}
        self.errors: dict[str, str] = {}
        self.streams: dict[str, bool] = {}
        self.repaints = 0
        self._flash_since: datetime | None = None  # when the digits lit up (tick() puts them out)

    def compose(self) -> ComposeResult:
        yield PriceDigits("—", id="price-digits")
        yield Rows(Text("—"), id="price-small")
        yield Rows(id="price-change")
        yield PriceChart(id="price-spark", clock=lambda: self.clock())
        yield Rows(id="price-range")
        yield Rows(id="price-sources")
        yield Rows(id="price-warn")

    def on_mount(self) -> None:
        self.border_title = self.symbol
        self.query_one("#price-spark", PriceChart).set_points(self.points)
        if self.ticking:
            self.set_interval(1, self.tick)
        self._render_all()

    @_while_composed
    def on_resize(self) -> None:
        self._fit_digits()
        self._render_sources()

    def _fit_digits(self) -> None:
        """Digits take 3 columns a character: drop the cents, then fall back to one line.
        Only the form on screen is kept up to date (the other is hidden, and updating and
        restyling it cost about a millisecond a tick); it catches up when it shows."""
        if not self.is_mounted:
            return
        price = self.aggregate.price if self.aggregate else None
        width = self.content_region.width
        full = money(price)
        fitted = money(price, 0) if price is not None and len(full) * 3 > width else full
        compact = len(fitted) * 3 > width
        if compact:
            self.query_one("#price-small", Rows).show(Text(f"{self.symbol} {full}"))
        else:
            digits = self.query_one("#price-digits", Digits)
            shown = fitted if price is not None else "-"
            if shown != digits.value:  # Digits.update repaints (~1 ms) even when the text is the same
                digits.update(shown)
        self.set_class(compact, "-compact")
        self._set_classes(compact)

    # ------------------------------------------------------------ data (down)

    @_while_composed
    def show(self, aggregate: AggregatePrice) -> None:
        price = aggregate.price
        if price is not None and self.aggregate is not None and self.aggregate.price is not None:
            if price != self.aggregate.price:
                self.direction = 1 if price > self.aggregate.price else -1
                self._flash()
            self.previous = self.aggregate.price
        self.aggregate = aggregate
        for tick in aggregate.ticks:
            self.ticks[tick.source] = tick
        if price is not None:
            self._add_point(aggregate.newest or aggregate.at, float(price))
        self._render_all()

    def _flash(self) -> None:
        """A ticker's light: the background lights up on a move and goes out on the first
        once-a-second tick at least FLASH seconds after the last move (1-2 s): in that
        tick's frame, not in a frame of its own (bench/idle.py: a fifth of the idle frames)."""
        self._flash_since = self.clock()  # _render_all, next, lights the digits

    @_while_composed
    def source_update(self, update: PriceUpdate) -> None:
        if update.tick is not None:
            self.ticks[update.source] = update.tick
            self.errors.pop(update.source, None)
        elif update.error:
            self.errors[update.source] = update.error
        self._render_sources()

    @_while_composed
    def history(self, history: PriceHistory) -> None:
        points = sorted((t.received, float(t.price)) for t in history.ticks if t.symbol == self.symbol)
        merged = sorted(set(points) | set(self.points))
        self.points = deque(merged)
        self._compact_all()
        self._trim()
        self.query_one("#price-spark", PriceChart).set_points(self.points)
        self._render_chart()

    @_while_composed
    def stream(self, status: PriceStreamStatus) -> None:
        self.streams[status.source] = status.connected
        if not status.connected and status.error:
            self.errors[status.source] = f"stream: {status.error}"
        self._render_sources()

    # ------------------------------------------------------------ rendering

    def _add_point(self, at: datetime, price: float) -> None:
        points = self.points
        if points and at <= points[-1][0]:
            return
        if points and _minute(points[-1][0]) != _minute(at):
            self._compact_last_minute()
        points.append((at, price))
        self._trim()

    def _compact_last_minute(self) -> None:
        """Keep a finished minute's first, lowest, highest and last prices only: the chart,
        its lo/hi and the 24 h change stay what the raw points give, and a day of a
        streamed price (up to ten a second) is at most 5,760 points instead of 864,000
        rebuilt into the chart on every tick."""
        points = self.points
        minute = _minute(points[-1][0])
        run = []
        while points and _minute(points[-1][0]) == minute:
            run.append(points.pop())
        run.reverse()
        points.extend(_summary(run))

    def _compact_all(self) -> None:
        """The same for every minute (after merging stored history). Compacting the
        current minute early changes nothing: its first, lowest, highest and last prices
        are still among what is kept when it ends."""
        self.points = deque(p for _, run in groupby(self.points, key=lambda p: _minute(p[0]))
                            for p in _summary(list(run)))

    def _trim(self) -> None:
        cutoff = self.clock() - HISTORY
        while self.points and self.points[0][0] < cutoff:
            self.points.popleft()

    def _style(self, name: str):
        return self.component(f"price--{name}")

    def _render_all(self) -> None:
        if not self.is_mounted:
            return
        self.repaints += 1
        self._fit_digits()
        self._render_change()
        self._render_chart()
        self._render_sources()
        self._render_warnings()

    def _set_classes(self, compact: bool) -> None:
        """Direction and light of the price on screen, in one change of classes: each
        change restyles the widget (about 1 ms), and a price that turned round changed
        four, two of them on the hidden form (bench/idle.py)."""
        lit = {"-up": self.direction > 0, "-down": self.direction < 0}
        if compact:
            widget, wanted = self.query_one("#price-small", Rows), lit
        else:
            widget, wanted = self.query_one("#price-digits", Digits), {**lit, "-flash": self._flash_since is not None}
        classes = (set(widget.classes) - wanted.keys()) | {name for name, on in wanted.items() if on}
        if classes != widget.classes:
            widget.set_classes(classes)

    def _change_24h(self) -> Decimal | None:
        agg = self.aggregate
        if agg is None or agg.price is None:
            return None
        if agg.change_24h is not None:
            return agg.change_24h
        if self.points and self.clock() - self.points[0][0] >= HISTORY - timedelta(hours=1):
            first = Decimal(repr(self.points[0][1]))
            return (agg.price / first - 1) * 100 if first else None
        return None

    def _render_change(self) -> None:
        line = Text()
        change = self._change_24h()
        if change is None:
            line.append("24h change —", self._style("muted"))
        else:
            style = self._style("up" if change > 0 else "down" if change < 0 else "muted")
            arrow = "▲" if change > 0 else "▼" if change < 0 else "="
            line.append(f"{arrow} {change:+.2f}%", style)
            line.append(" 24h", self._style("muted"))
        if self.previous is not None and self.aggregate and self.aggregate.price is not None:
            delta = self.aggregate.price - self.previous
            line.append("   tick " if self.content_region.width >= 32 else "\ntick ", self._style("muted"))
            line.append(f"{delta:+,.2f}", self._style("up" if delta > 0 else "down" if delta < 0 else "muted"))
        self.query_one("#price-change", Rows).show(line)

    def _render_chart(self) -> None:
        if not self.is_mounted:
            return
        chart = self.query_one("#price-spark", PriceChart)
        chart.points_changed()
        line = Text()
        if self.points:
            # the chart's columns hold every point of the last 24 h: their lows and highs
            # give the range without a pass over the day's points on every tick
            low, high = chart.low_high() or (min(p for _, p in self.points), max(p for _, p in self.points))
            span = self.points[-1][0] - self.points[0][0]
            hours = span.total_seconds() / 3600
            line.append(f"{hours:.0f}h " if hours >= 1 else f"{span.total_seconds() / 60:.0f}m ", self._style("muted"))
            if self.content_region.width < 32:
                line = Text()
            line.append("lo ", self._style("muted"))
            line.append(money(Decimal(repr(low)), 0), self._style("down"))
            line.append("  hi ", self._style("muted"))
            line.append(money(Decimal(repr(high)), 0), self._style("up"))
        else:
            line.append("no price history yet", self._style("muted"))
        self.query_one("#price-range", Rows).show(line)

    def _render_sources(self) -> None:
        if not self.is_mounted:
            return
        agg = self.aggregate
        used = set(agg.used) if agg else set()
        divergent = set(agg.divergent) if agg else set()
        now = self.clock()
        out = Text()
        names = sorted(set(self.ticks) | set(self.errors) | set(self.streams))
        if agg is not None and agg.price is not None:
            agree = len(used - divergent)
            total = len(names) or len(used)
            out.append(f"{agree}/{total} sources agree", self._style("ok" if agree == total else "warn"))
            out.append("\n")
        wide = self.content_region.width >= 32
        for name in names:
            tick = self.ticks.get(name)
            label = safe.clean(name)[:9 if wide else 8]
            out.append(label.ljust(9 if wide else 8) if tick is not None else label, self._style("label"))
            if tick is not None:
                style = self._style("warn") if name in divergent else Text().style
                out.append(f" {money(tick.price, 2):>10}" if wide else f" {money(tick.price, 0):>7}", style)
                live = self.streams.get(name, False)
                mode = (" stream" if live else " REST  ") if wide else (" ws  " if live else " REST")
                out.append(mode, self._style("ok" if live else "muted"))
                age = max(0.0, (now - tick.received).total_seconds())
                out.append(f" {age_text(age, compact=True):>3}", self._style("muted" if age < self.stale_after else "warn"))
            if name in self.errors and (tick is None or name not in used):
                out.append("\n  ")
                out.append_text(safe.text(self.errors[name][:80], self._style("bad")))
            out.append("\n")
        out.rstrip()
        self.query_one("#price-sources", Rows).show(out)

    def _render_warnings(self) -> None:
        if not self.is_mounted:
            return
        agg = self.aggregate
        out = Text()
        if agg is not None and agg.divergent and agg.price is not None:
            for name in agg.divergent:
                tick = self.ticks.get(name)
                if tick is not None and agg.price:
                    pct = (tick.price / agg.price - 1) * 100
                    out.append(f"⚠ {safe.clean(name)} diverges {pct:+.2f}%\n", self._style("warn"))
        age = self.staleness()
        if age is not None and age >= self.stale_after:
            out.append(f"stale {age_text(age)}", self._style("bad" if age >= self.dead_after else "warn"))
        elif agg is None or agg.price is None:
            out.append("waiting for prices…", self._style("muted"))
        out.rstrip()
        self.query_one("#price-warn", Rows).show(out)
        self.set_class(age is not None and age >= self.stale_after, "-stale")
        label = self._state_label(age)
        if label != getattr(self, "_subtitle", None):  # setting it repaints the pane, even unchanged
            self._subtitle = label
            self.border_subtitle = label

    def staleness(self) -> float | None:
        """Seconds since the newest tick arrived, by the pane's clock."""
        agg = self.aggregate
        if agg is None or agg.newest is None:
            return None
        return max(0.0, (self.clock() - agg.newest).total_seconds())

    def _state_label(self, age: float | None) -> str:
        if age is None:
            return "no data"
        if age >= self.dead_after:
            return "dead"
        if age >= self.stale_after:
            return "stale"
        return "stream" if any(self.streams.values()) else "REST"

    @_while_composed
    def tick(self) -> None:
        """Once a second: the ages of the ticks, the staleness warning, the flash's end."""
        if self._flash_since is not None and (self.clock() - self._flash_since).total_seconds() >= FLASH:
            self._flash_since = None
            self._set_classes(self.has_class("-compact"))
        self.query_one("#price-spark", PriceChart).points_changed()  # the clock may have begun a column
        self._tick_clock()

    def _tick_clock(self) -> None:
        self._render_sources()
        self._render_warnings()
