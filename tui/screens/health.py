"""Feed health: last success, last error, failures and next poll of every feed.
Enter polls the highlighted feed now."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable, Sequence

from rich.cells import cell_len
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


COLUMNS = ("Feed", "Status", "Last success", "Last error", "Failures", "Next poll", "Error")
Cell = tuple[str, str]  # (text, style)


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


def _cell(cell: Cell) -> Text:
    return safe.text(cell[0], cell[1])  # feed names and errors come from outside: shown literally


class HealthScreen(Screen[None]):
    """A table of feed states, refreshed each second."""

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
        self._shown: dict[str, tuple[Cell, ...]] = {}  # each feed's row as on screen, in order

    def compose(self) -> ComposeResult:
        yield Static(Text("Feed health"), id="health-summary")
        yield DataTable(id="health-table", cursor_type="row", zebra_stripes=True)
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        self._columns = table.add_columns(*COLUMNS)
        self.update_states()
        self.set_interval(1, self.update_states)
        table.focus()

    def update_states(self) -> None:
        table = self.query_one(DataTable)
        now = self.clock()
        states = list(self.states())
        text, level = health_summary(states)
        colour = {"ok": "green", "pending": "yellow", "warn": "yellow", "bad": "red"}[level]
        summary = Text.assemble(("Feed health  ", "bold"), (text, colour), ("   enter: poll now   esc: back", "dim"))
        line = self.query_one("#health-summary", Static)
        if summary != line.content:  # (an update lays out the whole screen again: only on a change, in place)
            line.update(summary, layout=False)
        rows = {s.feed: row_cells(s, now) for s in states}
        if list(rows) != list(self._shown):
            # other feeds (a config reload), or the first time: the table anew
            row = table.cursor_row
            table.clear()
            for feed, cells in rows.items():
                table.add_row(*map(_cell, cells), key=feed)
            if rows:
                table.move_cursor(row=min(row, len(rows) - 1))
        else:
            # Only the cells that changed (mostly ages under 90 s): rebuilding every row
            # each second took 270 ms with 1,000 feeds, and moved the view to the cursor.
            # A column widens for a wider cell and never narrows: Textual narrows one by
            # measuring all its cells again, for each cell updated (6 s a tick at 1,000).
            for feed, cells in rows.items():
                shown = self._shown[feed]
                if cells != shown:
                    for column, before, after in zip(self._columns, shown, cells):
                        if before != after:
                            wider = cell_len(after[0]) > table.columns[column].content_width
                            table.update_cell(feed, column, _cell(after), update_width=wider)
        self._shown = rows

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
