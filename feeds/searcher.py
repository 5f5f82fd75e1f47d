"""Full-text searches off the event loop, for front ends that must not freeze.

Most searches take milliseconds even over millions of items (Store.search stops at the
newest matches), but some cannot stop early: a short prefix reads the list of every
word it starts ("s*": 1.3 s at 5 million items), and the search screen searches as the
reader types. Here each search runs in a thread of its own on a read connection of its
own (SQLite in WAL mode: it never waits for the writer), and a search that is no longer
wanted (a newer one started, or its caller was cancelled) is interrupted where it is."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from feeds.model import Item
from feeds.store import Store


class SearchInterrupted(Exception):
    """A newer search (or a close) stopped this one."""


class Searcher:
    """Store.search on its own thread and connection; one search runs at a time."""

    def __init__(self, path: str | Path) -> None:
        self._path = path
        self._store: Store | None = None  # opened in the thread, on first use
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="policywatch-search")
        self._lock = threading.Lock()
        self._running: int | None = None  # the number of the search on the connection now
        self._numbers = itertools.count(1)
        self._latest = 0  # the newest search asked for: older ones still queued are skipped
        self._unwanted: set[int] = set()  # searches whose callers were cancelled
        self._closed = False

    async def search(self, query: str, limit: int = 200, *, before: int | None = None) -> list[Item]:
        """Store.search's newest `limit` matches (just older than item `before`, if given).
        Starting a search interrupts the one still running; raises SearchInterrupted if
        this one is interrupted in turn."""
        if self._closed:
            raise SearchInterrupted("the searcher is closed")
        number = self._latest = next(self._numbers)
        self.interrupt()
        future = asyncio.get_running_loop().run_in_executor(self._pool, self._search, number, query, limit, before)
        try:
            return await future
        except asyncio.CancelledError:
            with self._lock:
                self._unwanted.add(number)  # nobody wants its result any more
            self.interrupt(number)
            raise

    def interrupt(self, number: int | None = None) -> None:
        """Stop the search running now (only if it is search `number`, when given)."""
        with self._lock:
            if self._running is not None and (number is None or self._running == number) and self._store:
                self._store.db.interrupt()

    def _search(self, number: int, query: str, limit: int, before: int | None) -> list[Item]:
        if self._store is None:
            self._store = Store.reader(self._path)
        with self._lock:
            unwanted = number in self._unwanted
            self._unwanted = {n for n in self._unwanted if n > number}  # (these searches ran or were skipped)
            if number != self._latest or unwanted or self._closed:
                raise SearchInterrupted(query)
            self._running = number
        try:
            return self._store.search(query, limit, before=before)
        except sqlite3.OperationalError as exc:
            if "interrupted" in str(exc):
                raise SearchInterrupted(query) from None
            raise
        finally:
            with self._lock:
                self._running = None

    def close(self) -> None:
        """Interrupt any search, then close the connection in its thread (without waiting)."""
        self._closed = True
        self.interrupt()
        self._pool.submit(self._close)
        self._pool.shutdown(wait=False, cancel_futures=False)

    def _close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
