"""`/`: search the stored history (SQLite FTS through the engine). Results are a headline
list of their own, newest first, a page at a time: older results load as the reader
scrolls towards the end. Enter opens the detail view. Searches run as the reader types,
each in a worker that a newer one cancels (the engine runs them off the event loop and
interrupts the one superseded), so typing never waits for a search."""

from __future__ import annotations

from typing import Awaitable, Callable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Input, Static

from feeds.model import Item
from feeds.searcher import SearchInterrupted
from tui.panes.footer import KeyBar
from tui.panes.headlines import HeadlineList

# search(query, before=None) -> the newest RESULTS matches (just older than the item with
# id `before`, if given)
Search = Callable[..., Awaitable[list[Item]]]
# A search that takes longer than this says so
SLOW_SEARCH = 0.15
# Results a search (or a page of older ones) brings
RESULTS = 200


class SearchResults(HeadlineList):
    """A headline list of search results that asks for the next older page as the reader
    nears its end (the screen fetches it in a worker: the list cannot wait for it)."""

    class NeedOlder(Message):
        def __init__(self, last: Item) -> None:
            super().__init__()
            self.last = last

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.empty_text = ""  # until a search has run
        self.asking = False  # a page of older results is on its way

    def show_results(self, found: list[Item], *, more: bool, searched: bool = True) -> None:
        self.asking = False
        self.empty_text = "No stored headline matches." if searched else ""
        self.add_items(found, initial=True)
        self._exhausted = not more

    def add_older(self, page: list[Item], *, more: bool) -> None:
        self.asking = False
        fresh = self._unseen(page)
        self.items.extend(fresh)
        self._pool.extend(fresh)
        self._exhausted = not (more and fresh)
        self._resize()
        self._announce()

    def load_more(self) -> bool:
        if self._exhausted or self.asking or not self.items:
            return False
        self.asking = True
        self.post_message(self.NeedOlder(self.items[-1]))
        return False


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
        self.shown_query = ""  # the query whose results are on screen

    def compose(self) -> ComposeResult:
        yield Input(value=self.initial, placeholder="Search stored headlines (words, \"phrases\", prefix*)",
                    id="search-input")
        yield Static(Text("Type and press enter."), id="search-status")
        yield SearchResults(id="search-results")
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
        results = self.query_one(SearchResults)
        if not query:
            self.workers.cancel_group(self, "search")
            self.shown_query = ""
            results.show_results([], more=False, searched=False)
            self._status("Type and press enter.")
            return
        self.searches += 1
        self.run_worker(self._search(query, focus_results), group="search", exclusive=True, exit_on_error=False)

    async def _search(self, query: str, focus_results: bool) -> None:
        found = await self._fetch(query)
        if found is None:
            return
        results = self.query_one(SearchResults)
        self.shown_query = query
        results.show_results(found, more=len(found) >= RESULTS)
        self._count(results)
        if focus_results and results.items:
            results.focus()

    def on_search_results_need_older(self, event: SearchResults.NeedOlder) -> None:
        event.stop()
        self.run_worker(self._older(self.shown_query, event.last), group="search", exclusive=True,
                        exit_on_error=False)

    async def _older(self, query: str, last: Item) -> None:
        results = self.query_one(SearchResults)
        page = await self._fetch(query, before=last.id)
        if page is None:
            results.asking = False  # (asked again when the reader next moves)
            return
        results.add_older(page, more=len(page) >= RESULTS)
        self._count(results)

    async def _fetch(self, query: str, before: int | None = None) -> list[Item] | None:
        """The search's results, or None when it failed (said on the status line) or a
        newer search took its place."""
        slow = self.set_timer(SLOW_SEARCH, lambda: self._status(
            f"Searching for {query} …" if before is None else f"Loading older results for {query} …"))
        try:
            return await self.search(query, before=before)
        except SearchInterrupted:
            return None
        except Exception as exc:  # a bad query must not close the app
            self._status(f"search failed: {type(exc).__name__}", "red")
            return None
        finally:
            slow.stop()

    def _count(self, results: SearchResults) -> None:
        shown = len(results.items)
        if results.has_more:
            self._status(f"The newest {shown:,} results: older ones load as you scroll down")
        else:
            self._status(f"{shown:,} result{'s' if shown != 1 else ''}")

    def _status(self, text: str, style: str = "") -> None:
        self.query_one("#search-status", Static).update(Text(text, style))

    def on_headline_list_search_requested(self, event: HeadlineList.SearchRequested) -> None:
        event.stop()
        self.query_one(Input).focus()

    def action_dismiss_screen(self) -> None:
        self.dismiss(None)

    def action_focus_results(self) -> None:
        self.query_one(HeadlineList).focus()
