"""Searches off the event loop (feeds/searcher.py) on a real SQLite file: the same results
as the store's own search, from another thread, with the loop free meanwhile; a newer
search or a cancelled caller interrupts the one running.

A search is made slow, where a test needs one, by SQLite itself: a progress handler on the
searcher's connection that sleeps every few thousand virtual-machine steps (at millions of
items a short prefix such as "s*" takes over a second on its own)."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from feeds.parse import make_item
from feeds.searcher import SearchInterrupted, Searcher
from feeds.store import Store
from tests.loopgaps import loop_gaps

T0 = datetime(2025, 8, 7, 12, tzinfo=timezone.utc)


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "items.db"
    words = ["staking", "stablecoin", "stocks", "standards", "storm", "bitcoin", "pension", "plans"]
    with Store(path) as store:
        store.ingest("f", [make_item("f", title=f"Item {n} about {words[n % len(words)]} and {words[(n * 3) % len(words)]}",
                                     summary=f"Number {n}", link=f"https://x.example/{n}", guid=None,
                                     published=T0 + timedelta(minutes=n))
                           for n in range(3000)], now=T0 + timedelta(days=3))
    return path


@pytest.fixture
def slowed(monkeypatch):
    """Every reader connection opened from now on runs slowly (sleeping in SQLite's
    progress handler), and records the threads its statements ran on."""
    threads: list[str] = []
    real = Store.reader

    def reader(path):
        store = real(path)
        store.db.set_progress_handler(lambda: time.sleep(0.002) or 0, 200)
        store.db.set_trace_callback(lambda _: threads.append(threading.current_thread().name))
        return store

    monkeypatch.setattr(Store, "reader", staticmethod(reader))
    return threads


async def test_it_finds_what_the_store_finds_from_another_thread(db, slowed):
    searcher = Searcher(db)
    try:
        with Store(db) as store:
            for query in ("st*", "bitcoin pension", '"about storm"', "nothing-here"):
                assert [i.id for i in await searcher.search(query, 50)] == [i.id for i in store.search(query, 50)]
    finally:
        searcher.close()
    assert slowed and all(name.startswith("policywatch-search") for name in slowed)


async def test_the_event_loop_runs_while_a_slow_search_does(db, slowed):
    searcher = Searcher(db)
    try:
        async with loop_gaps() as gaps:
            began = time.monotonic()
            found = await searcher.search("st*", 200)
            took = time.monotonic() - began
    finally:
        searcher.close()
    assert len(found) == 200
    assert took > 0.3, "the slowed search should take a while"
    assert max(gaps) < 0.15, max(gaps)


async def test_a_newer_search_interrupts_the_running_one(db, slowed):
    searcher = Searcher(db)
    try:
        await searcher.search("bitcoin", 5)  # the connection is open
        began = time.monotonic()
        first = asyncio.create_task(searcher.search("st*", 200))
        while searcher._running is None:
            await asyncio.sleep(0.005)
        second = await searcher.search("pension", 10)
        with pytest.raises(SearchInterrupted):
            await first
        assert time.monotonic() - began < 0.3  # not the slow search's whole time
        assert len(second) == 10 and all("pension" in i.title for i in second)
    finally:
        searcher.close()


async def test_a_cancelled_caller_frees_the_searcher(db, slowed):
    searcher = Searcher(db)
    try:
        await searcher.search("bitcoin", 5)
        slow = asyncio.create_task(searcher.search("st*", 200))
        while searcher._running is None:
            await asyncio.sleep(0.005)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        began = time.monotonic()
        assert len(await searcher.search("plans", 3)) == 3
        assert time.monotonic() - began < 0.3  # it did not wait for the cancelled search to end
    finally:
        searcher.close()


async def test_a_closed_searcher_refuses_and_interrupts(db, slowed):
    searcher = Searcher(db)
    await searcher.search("bitcoin", 5)
    slow = asyncio.create_task(searcher.search("st*", 200))
    while searcher._running is None:
        await asyncio.sleep(0.005)
    searcher.close()
    with pytest.raises(SearchInterrupted):
        await slow
    with pytest.raises(SearchInterrupted):
        await searcher.search("bitcoin", 5)
