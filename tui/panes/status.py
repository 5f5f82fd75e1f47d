"""The top line: the app's name, a feed-health summary ("14/15 feeds ok") and a clock."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable, Iterable

from rich.text import Text
from textual.widget import Widget

from feeds.model import FeedState


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


class StatusBar(Widget):
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
        return self.clock().astimezone().strftime("%a %d %b  %H:%M:%S %Z ")

    def render(self) -> Text:
        style = self.get_component_rich_style
        left = Text.assemble((" policywatch", style("status--name")))
        if self.badge:
            left.append("  ")
            left.append(f" {self.badge} ", style("status--badge"))
        health_text, level = self.health
        left.append("  ")
        left.append(health_text, style(f"status--{level}"))
        if self.ticker.plain:
            left.append("   ")
            left.append_text(self.ticker)
        self._shown_clock = shown = self._clock_text()
        clock = Text(shown, style=style("status--clock"))
        width = self.size.width
        gap = max(1, width - left.cell_len - clock.cell_len)
        return Text.assemble(left, " " * gap, clock)
