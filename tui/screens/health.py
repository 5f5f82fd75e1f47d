"""Feed health: last success, last error, failures and next poll of every feed, the
feeds in trouble first. Enter polls the highlighted feed now."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable, Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Static

from feeds.model import FeedState
from tui import safe
from tui.panes.feedtable import Cell, FeedTable
from tui.panes.footer import KeyBar
from tui.panes.status import health_summary


def ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    seconds = (now - moment).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 90:
        text = f"{seconds:.0f} s"
    elif seconds < 5400:
        text = f"{seconds / 60:.0f} min"
    elif seconds < 172800:
        text = f"{seconds / 3600:.1f} h"
    else:
        text = f"{seconds / 86400:.0f} d"
    return f"in {text}" if future else f"{text} ago"


COLUMNS = ("Feed", "Status", "Last success", "Last error", "Failures", "Next poll", "Error")


def trouble_first(s: FeedState) -> int:
    """Feeds gone, then failing, then waiting for a first poll, then ok: with hundreds of
    feeds the few in trouble are at the top, not somewhere in the list."""
    return 0 if s.gone else 1 if s.failures else 3 if s.ok else 2


def row_cells(s: FeedState, now: datetime) -> tuple[Cell, ...]:
    """A feed's row as (text, style) per column: compared with the row shown, it says
    which cells to change."""
    if s.gone:
        status = ("gone", "bold red")
    elif s.failures:
        status = ("failing", "bold red" if s.failures >= 3 else "yellow")
    elif s.ok:
        status = ("ok", "green")
    else:
        status = ("waiting", "dim")
    return ((s.feed, ""), status, (ago(s.last_success, now), ""),
            (ago(s.last_error_at, now) if s.last_error else "—", ""),
            (str(s.failures), "red" if s.failures else ""),
            (ago(s.next_due, now) if s.next_due else "—", ""),
            ((s.last_error or "")[:120], "red"))


class HealthScreen(Screen[None]):
    """A table of feed states, refreshed each second."""

    BINDINGS = [
        Binding("escape,q,s", "dismiss_screen", "Back", id="health.close"),
        Binding("enter,r", "refresh_feed", "Poll now", id="health.refresh"),
    ]

    DEFAULT_CSS = """
    HealthScreen #health-summary { height: 1; padding: 0 1; background: $panel; }
    HealthScreen FeedTable { height: 1fr; }
    """

    class RefreshFeed(Message):
        def __init__(self, feed: str) -> None:
            super().__init__()
            self.feed = feed

    def __init__(self, states: Callable[[], Sequence[FeedState]],
                 clock: Callable[[], datetime] | None = None) -> None:
        super().__init__()
        self.states = states
        self.clock = clock or (lambda: datetime.now(timezone.utc))

    def compose(self) -> ComposeResult:
        yield Static(Text("Feed health"), id="health-summary")
        yield FeedTable(COLUMNS, id="health-table")
        yield KeyBar()

    def on_mount(self) -> None:
        self.update_states()
        self.set_interval(1, self.update_states)
        self.query_one(FeedTable).focus()

    def update_states(self) -> None:
        now = self.clock()
        states = list(self.states())
        text, level = health_summary(states)
        colour = {"ok": "green", "pending": "yellow", "warn": "yellow", "bad": "red"}[level]
        summary = Text.assemble(("Feed health  ", "bold"), (text, colour), ("   enter: poll now   esc: back", "dim"))
        line = self.query_one("#health-summary", Static)
        if summary != line.content:  # (an update lays out the whole screen again: only on a change, in place)
            line.update(summary, layout=False)
        # the table asks for the cells of the rows on screen and repaints those that
        # changed (mostly ages under 90 s); a feed whose trouble starts or ends moves, and
        # the cursor stays on its feed
        states.sort(key=trouble_first)
        by_feed = {s.feed: s for s in states}
        self.query_one(FeedTable).set_rows(list(by_feed), lambda feed: row_cells(by_feed[feed], now))

    def action_dismiss_screen(self) -> None:
        self.dismiss(None)

    def on_feed_table_chosen(self, event: FeedTable.Chosen) -> None:
        """A double click on a row: poll that feed."""
        event.stop()
        self.action_refresh_feed()

    def action_refresh_feed(self) -> None:
        key = self.query_one(FeedTable).cursor_key
        if key:
            self.post_message(self.RefreshFeed(key))
            self.notify(f"Polling {safe.clean(key)}", markup=False, timeout=2)
