"""Feed health: last success, last error, failures and next poll of every feed.
Enter polls the highlighted feed now."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable, Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Static

from feeds.model import FeedState
from tui import safe
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


class HealthScreen(Screen[None]):
    """A table of feed states, refreshed each second and on every poll."""

    BINDINGS = [
        Binding("escape,q,s", "dismiss_screen", "Back", id="health.close"),
        Binding("enter,r", "refresh_feed", "Poll now", id="health.refresh"),
    ]

    DEFAULT_CSS = """
    HealthScreen #health-summary { height: 1; padding: 0 1; background: $panel; }
    HealthScreen DataTable { height: 1fr; }
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
        yield DataTable(id="health-table", cursor_type="row", zebra_stripes=True)
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("Feed", "Status", "Last success", "Last error", "Failures", "Next poll", "Error")
        self.update_states()
        self.set_interval(1, self.update_states)
        table.focus()

    def update_states(self) -> None:
        table = self.query_one(DataTable)
        now = self.clock()
        states = list(self.states())
        text, level = health_summary(states)
        colour = {"ok": "green", "pending": "yellow", "warn": "yellow", "bad": "red"}[level]
        self.query_one("#health-summary", Static).update(
            Text.assemble(("Feed health  ", "bold"), (text, colour), ("   enter: poll now   esc: back", "dim")))
        row = table.cursor_row
        table.clear()
        for s in states:
            if s.gone:
                status = Text("gone", "bold red")
            elif s.failures:
                status = Text(f"failing", "bold red" if s.failures >= 3 else "yellow")
            elif s.ok:
                status = Text("ok", "green")
            else:
                status = Text("waiting", "dim")
            table.add_row(
                safe.text(s.feed),
                status,
                Text(ago(s.last_success, now)),
                Text(ago(s.last_error_at, now) if s.last_error else "—"),
                Text(str(s.failures), "red" if s.failures else ""),
                Text(ago(s.next_due, now) if s.next_due else "—"),
                safe.text((s.last_error or "")[:120], "red"),
                key=s.feed,
            )
        if states:
            table.move_cursor(row=min(row, len(states) - 1))

    def action_dismiss_screen(self) -> None:
        self.dismiss(None)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a row (the table takes enter itself, so this is where it lands)."""
        event.stop()
        self.action_refresh_feed()

    def action_refresh_feed(self) -> None:
        table = self.query_one(DataTable)
        if table.row_count:
            key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
            if key:
                self.post_message(self.RefreshFeed(key))
                self.notify(f"Polling {safe.clean(key)}", markup=False, timeout=2)
