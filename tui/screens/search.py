"""`/`: search the stored history (SQLite FTS through the engine). Results are a headline
list of their own; Enter opens the detail view. Searches run as the reader types, each in
a worker that a newer one cancels (the engine runs them off the event loop and interrupts
the one superseded), so typing never waits for a search."""

from __future__ import annotations

from typing import Awaitable, Callable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Input, Static

from feeds.model import Item
from feeds.searcher import SearchInterrupted
from tui.panes.footer import KeyBar
from tui.panes.headlines import HeadlineList

Search = Callable[[str], Awaitable[list[Item]]]
# A search that takes longer than this says so
SLOW_SEARCH = 0.15
# How many results a search shows: the newest (the app's search asks for this many)
RESULTS = 200


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
        results = HeadlineList(id="search-results")
        results.empty_text = ""  # until a search has run
        yield results
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted, "#search-input")
    def _submitted(self, event: Input.Submitted) -> None:
        self.run_search(event.value, focus_results=True)

    @on(Input.Changed, "#search-input")
    def _changed(self, event: Input.Changed) -> None:
        if len(event.value.strip()) >= 3:
            self.run_search(event.value)

    def run_search(self, query: str, *, focus_results: bool = False) -> None:
        """Search in a worker; the one still running, if any, is cancelled."""
        query = query.strip()
        if not query:
            self.workers.cancel_group(self, "search")
            self.query_one(HeadlineList).empty_text = ""
            self.query_one(HeadlineList).add_items([], initial=True)
            self.query_one("#search-status", Static).update(Text("Type and press enter."))
            return
        self.searches += 1
        self.run_worker(self._search(query, focus_results), group="search", exclusive=True, exit_on_error=False)

    async def _search(self, query: str, focus_results: bool) -> None:
        results = self.query_one(HeadlineList)
        status = self.query_one("#search-status", Static)
        slow = self.set_timer(SLOW_SEARCH, lambda: status.update(Text(f"Searching for {query} …")))
        try:
            found = await self.search(query)
        except SearchInterrupted:
            return  # a newer search took its place
        except Exception as exc:  # a bad query must not close the app
            status.update(Text(f"search failed: {type(exc).__name__}", "red"))
            return
        finally:
            slow.stop()
        results.empty_text = "No stored headline matches."
        results.add_items(found, initial=True)
        if len(found) >= RESULTS:
            status.update(Text(f"The newest {RESULTS} results (older ones too? add a word to narrow the search)"))
        else:
            status.update(Text(f"{len(found)} result{'s' if len(found) != 1 else ''}"))
        if focus_results and results.items:
            results.focus()

    def on_headline_list_search_requested(self, event: HeadlineList.SearchRequested) -> None:
        event.stop()
        self.query_one(Input).focus()

    def action_dismiss_screen(self) -> None:
        self.dismiss(None)

    def action_focus_results(self) -> None:
        self.query_one(HeadlineList).focus()
