"""`/`: search the stored history (SQLite FTS through the engine). Results are a headline
list of their own; Enter opens the detail view."""

from __future__ import annotations

from typing import Callable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Input, Static

from feeds.model import Item
from tui.panes.footer import KeyBar
from tui.panes.headlines import HeadlineList

Search = Callable[[str], list[Item]]


class SearchScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "dismiss_screen", "Back", id="search.close"),
        Binding("down", "focus_results", "Results", show=False, id="search.results"),
    ]

    DEFAULT_CSS = """
    SearchScreen #search-input { margin: 0 0; }
    SearchScreen #search-status { height: 1; padding: 0 1; color: $text-muted; }
    SearchScreen HeadlineList { height: 1fr; }
    """

    def __init__(self, search: Search, query: str = "") -> None:
        super().__init__()
        self.search = search
        self.initial = query
        self.searches = 0

    def compose(self) -> ComposeResult:
        yield Input(value=self.initial, placeholder="Search stored headlines (words, \"phrases\", prefix*)",
                    id="search-input")
        yield Static(Text("Type and press enter."), id="search-status")
        yield HeadlineList(id="search-results")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted, "#search-input")
    def _submitted(self, event: Input.Submitted) -> None:
        self.run_search(event.value)
        results = self.query_one(HeadlineList)
        if results.items:
            results.focus()

    @on(Input.Changed, "#search-input")
    def _changed(self, event: Input.Changed) -> None:
        if len(event.value.strip()) >= 3:
            self.run_search(event.value)

    def run_search(self, query: str) -> None:
        query = query.strip()
        results = self.query_one(HeadlineList)
        status = self.query_one("#search-status", Static)
        if not query:
            results.add_items([], initial=True)
            status.update(Text("Type and press enter."))
            return
        self.searches += 1
        try:
            found = self.search(query)
        except Exception as exc:  # a bad query must not close the app
            status.update(Text(f"search failed: {type(exc).__name__}", "red"))
            return
        results.add_items(found, initial=True)
        status.update(Text(f"{len(found)} result{'s' if len(found) != 1 else ''}"
                           + (" (showing the first 200)" if len(found) >= 200 else "")))

    def on_headline_list_search_requested(self, event: HeadlineList.SearchRequested) -> None:
        event.stop()
        self.query_one(Input).focus()

    def action_dismiss_screen(self) -> None:
        self.dismiss(None)

    def action_focus_results(self) -> None:
        self.query_one(HeadlineList).focus()
