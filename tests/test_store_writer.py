"""The store's one writer thread: writes run in the order submitted, off the event loop,
events name only committed items, and closing drains every queued write."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from feeds.config import load_config
from feeds.engine import Engine
from feeds.model import NewItems, PriceTick
from feeds.parse import make_item
from feeds.store import Store, StoreWriter, WriterClosed
from tests.loopback import Route
from tests.newsfeed import rss

NOW = datetime(2026, 1, 5, 12, tzinfo=timezone.utc)


def items(feed: str, n: int, start: int = 0):
    return [make_item(feed, title=f"Story {i} from the {feed} desk about plans", summary=f"body {i}", guid=None,
                      link=f"https://example.com/{feed}/{i}", published=NOW - timedelta(minutes=i))
            for i in range(start, start + n)]


def tick(n: int) -> PriceTick:
    return PriceTick(source="coinbase", symbol="BTC-USD", price=Decimal(100_000 + n),
                     received=NOW + timedelta(seconds=n))


async def test_writes_run_in_submission_order_on_one_thread_off_the_loop(tmp_path):
    store = Store(tmp_path / "db.sqlite")
    writer = StoreWriter(store)
    ran: list[tuple[int, str]] = []

    def step(n: int) -> int:
        ran.append((n, threading.current_thread().name))
        return n

    try:
        # posts and awaited calls interleaved, from several tasks at once
        for n in range(0, 50, 2):
            writer.post(step, n)
        results = await asyncio.gather(*(writer.call(step, n) for n in range(1, 50, 2)))
        for n in range(50, 60):
            writer.post(store.add_ticks, [tick(n)])
        last = await writer.call(store.latest_tick, "BTC-USD")
    finally:
        await writer.aclose()
        store.close()
    assert results == list(range(1, 50, 2))
    assert sorted(n for n, _ in ran) == list(range(50))
    assert [n for n, _ in ran if n % 2 == 0] == list(range(0, 50, 2))  # posts in order
    assert [n for n, _ in ran if n % 2] == list(range(1, 50, 2))  # calls in order
    threads = {name for _, name in ran}
    assert len(threads) == 1 and threads != {threading.current_thread().name}
    assert last is not None and last.price == Decimal(100_059)  # every earlier tick was stored first


async def test_closing_drains_every_queued_write_then_refuses_more(tmp_path):
    db = tmp_path / "db.sqlite"
    store = Store(db)
    writer = StoreWriter(store)
    gate = threading.Event()
    writer.post(gate.wait, 5)  # hold the writer so the rest queue up behind it
    for n in range(200):
        writer.post(store.add_ticks, [tick(n)])
    writer.post(store.ingest, "wire", items("wire", 30), now=NOW)
    closing = asyncio.create_task(writer.aclose())
    await asyncio.sleep(0.05)
    assert not closing.done()  # still draining behind the gate
    gate.set()
    await closing
    with pytest.raises(WriterClosed):
        await writer.call(store.count)
    writer.post(store.add_ticks, [tick(999)])  # dropped with a warning, not an exception
    store.close()
    with sqlite3.connect(db) as check:
        assert check.execute("SELECT count(*) FROM price_ticks").fetchone()[0] == 200
        assert check.execute("SELECT count(*) FROM items").fetchone()[0] == 30


async def test_engine_stop_drains_read_marks_and_price_ticks(tmp_path):
    db = tmp_path / "db.sqlite"
    with Store(db) as store:
        stored = store.ingest("wire", items("wire", 5), now=NOW)
    engine = Engine(load_config(use_user_file=False), db, lambda event: None, classifier=None)
    engine.open()
    gate = threading.Event()
    engine.writer.post(gate.wait, 5)
    for item in stored[:3]:
        engine.mark_read(item.id)
    engine.mark_read(stored[0].id, False)  # the later mark wins
    # Not committed yet, but pages and searches already show the marks.
    shown = {i.id: i.read for i in engine.recent(10)}
    assert [shown[i.id] for i in stored] == [False, True, True, False, False]
    assert {i.id: i.read for i in engine.search("story")} == shown
    gate.set()
    await engine.stop()
    with Store(db) as store:
        assert [store.get(i.id).read for i in stored] == [False, True, True, False, False]


async def test_new_items_events_name_only_committed_items_in_commit_order(server, write_config, tmp_path):
    db = tmp_path / "db.sqlite"
    feeds = {}
    for n in range(8):
        entries = [(f"Desk {n} story {i}: pension rule update", "summary", f"https://example.com/{n}/{i}", NOW)
                   for i in range(40 + 60 * n)]
        entries.append(("Shared story carried by every desk today", "s", "https://example.com/shared", NOW))
        feeds[f"desk {n}"] = server.add(f"/desk{n}.rss", Route(body=rss(entries)))
    config = load_config(write_config("[fetch]\njitter = 0\n" + "".join(
        f'[[feeds]]\nname = "{name}"\nurl = "{url}"\n' for name, url in feeds.items())))
    check = sqlite3.connect(db)  # a third connection: sees only what is committed
    seen: list[tuple[str, list[int]]] = []
    problems: list[str] = []

    def sink(event) -> None:
        if isinstance(event, NewItems) and not event.initial:
            ids = [i.id for i in event.items]
            found = {r[0] for r in check.execute(
                f"SELECT id FROM items WHERE id IN ({','.join('?' * len(ids))})", ids)}
            if found != set(ids):
                problems.append(f"{event.feed}: {len(set(ids) - found)} items announced before their commit")
            seen.append((event.feed, ids))

    engine = Engine(config, db, sink, classifier=None)
    await engine.start(schedule=False, prices=False)
    try:
        statuses = await engine.poll_all()
    finally:
        await engine.stop()
        check.close()
    assert problems == []
    assert all(s.state.ok for s in statuses)
    announced = [i for _, ids in seen for i in ids]
    assert len(announced) == len(set(announced)) == sum(40 + 60 * n for n in range(8)) + 1  # shared story once
    # Feeds were stored one after another: each event's ids are above every earlier event's.
    assert all(min(ids) > max(prev) for (_, prev), (_, ids) in zip(seen, seen[1:]))


def test_classification_json_is_exactly_what_json_dumps_gives():
    import json

    from feeds.model import Classification, Match
    from feeds.store import classification_json

    c = Classification(tags=("retirement", "crypto"), flag=True, priority="high", score=2.5, matches=(
        Match('401(k) "plan"', "retirement", "title", 0, 9), Match("crypto\u00e9\u2603\\", "crypto", "summary", 12, 30)))
    assert classification_json(c) == (1, "high", json.dumps(["retirement", "crypto"]), json.dumps(
        [[m.term, m.tag, m.field, m.start, m.end] for m in c.matches]), 2.5)
    assert classification_json(Classification()) == (0, "none", "[]", "[]", 0.0)


async def test_queued_ingests_share_a_commit_and_a_failing_one_rolls_back_alone(tmp_path):
    db = tmp_path / "db.sqlite"
    store = Store(db)
    writer = StoreWriter(store)
    gate = threading.Event()
    check = sqlite3.connect(db, check_same_thread=False)

    def ingest_and_look(feed: str, batch) -> tuple[int, int]:
        """Ingest, then count what another connection sees: nothing of the group yet."""
        new = store.ingest(feed, batch, now=NOW)
        return len(new), check.execute("SELECT count(*) FROM items").fetchone()[0]

    def broken(feed: str, batch) -> None:
        store.ingest(feed, batch, now=NOW)
        raise RuntimeError("disk on fire")

    try:
        writer.post(gate.wait, 5)
        first = writer.submit(ingest_and_look, "a", items("a", 10), weight=10)
        failing = writer.submit(broken, "b", items("b", 10), weight=10)
        third = writer.submit(ingest_and_look, "c", items("c", 10), weight=10)
        after = writer.submit(store.count)  # unweighted: runs alone, after the group's commit
        gate.set()
        assert await asyncio.wrap_future(first) == (10, 0)
        with pytest.raises(RuntimeError, match="disk on fire"):
            await asyncio.wrap_future(failing)
        assert await asyncio.wrap_future(third) == (10, 0)
        assert await asyncio.wrap_future(after) == 20
    finally:
        await writer.aclose()
        check.close()
    assert {i.feed for i in store.recent(50)} == {"a", "c"}
    assert store.count() == 20 and store.search("desk") and len(store.search("desk", 50)) == 20
    store.close()


def test_with_classification_is_replace():
    from dataclasses import replace

    from feeds.model import Classification
    from feeds.workers import with_classification

    item = items("wire", 1)[0]
    c = Classification(tags=("crypto",), flag=True, priority="normal")
    assert with_classification(item, c) == replace(item, classification=c)


def _sqlite_memory_used():
    """SQLite's sqlite3_memory_used() from the library Python's sqlite3 module runs on,
    or None when that cannot be had (a statically linked module, no libsqlite3)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("sqlite3")
    if name is None:
        return None
    lib = ctypes.CDLL(name)
    lib.sqlite3_memory_used.restype = ctypes.c_int64
    probe = sqlite3.connect(":memory:")
    before = lib.sqlite3_memory_used()
    probe.execute("CREATE TABLE t(x)")
    probe.executemany("INSERT INTO t VALUES (?)", [("x" * 1000,)] * 2000)
    grew = lib.sqlite3_memory_used() - before > 1_000_000
    probe.close()
    return lib.sqlite3_memory_used if grew else None  # else: another copy of SQLite


async def test_the_write_cache_is_large_only_while_bulk_batches_run(tmp_path):
    """A poll's few items leave the write connection on SQLite's default 2 MB page cache
    (a bigger one only fills with pages written once: the soak's growth); a batch of
    BULK_WEIGHT items or more gets the large one, given back after a pause."""
    store = Store(tmp_path / "db.sqlite")
    writer = StoreWriter(store)
    writer.BULK_LINGER = 0.3
    memory_used = _sqlite_memory_used()

    def cache_kb() -> int:
        return -store.w.execute("PRAGMA cache_size").fetchone()[0]

    try:
        assert await writer.call(cache_kb) == Store.CACHE_KB
        assert -store.db.execute("PRAGMA cache_size").fetchone()[0] == Store.BULK_CACHE_KB  # reads keep it
        assert len(await writer.call(store.ingest, "small", items("small", 60), now=NOW, weight=60)) == 60
        assert await writer.call(cache_kb) == Store.CACHE_KB
        big = items("big", 10_000)
        assert len(await writer.call(store.ingest, "big", big, now=NOW, weight=len(big))) == 10_000
        assert await writer.call(cache_kb) == Store.BULK_CACHE_KB
        held = memory_used() if memory_used else None
        await asyncio.sleep(writer.BULK_LINGER * 4)
        assert await writer.call(cache_kb) == Store.CACHE_KB
        if held is not None:  # the pages beyond 2 MB were freed
            assert memory_used() < held - 2_000_000, (held, memory_used())

        def walk_history() -> int:  # a job that asks for the large cache itself (reclassifying)
            writer.bulk()
            return cache_kb()

        # polls that never pause do not keep it large: it goes back before the next batch
        assert len(await writer.call(store.ingest, "big2", items("big2", 2000), now=NOW, weight=2000)) == 2000
        assert await writer.call(cache_kb) == Store.BULK_CACHE_KB
        for n in range(int(writer.BULK_LINGER / 0.05) + 4):
            await writer.call(store.ingest, "busy", items("busy", 5, start=5 * n), now=NOW, weight=5)
            await asyncio.sleep(0.05)
        assert await writer.call(cache_kb) == Store.CACHE_KB

        writer.bulk()  # from outside the writer: nothing
        assert await writer.call(cache_kb) == Store.CACHE_KB
        assert await writer.call(walk_history) == Store.BULK_CACHE_KB
        await asyncio.sleep(writer.BULK_LINGER * 4)
        assert await writer.call(cache_kb) == Store.CACHE_KB
    finally:
        await writer.aclose()
    assert store.count() == 12_060 + 5 * (int(writer.BULK_LINGER / 0.05) + 4)
    store.close()


async def test_the_engine_takes_the_large_cache_only_to_reclassify_stored_items(tmp_path):
    """Starting on a store with nothing to reclassify leaves the small cache (a fresh
    store's soak grew with the large one); items stored under other rules get it."""
    config = load_config(use_user_file=False)

    async def cache_after_start(db) -> int:
        engine = Engine(config, db, lambda event: None)
        try:
            await engine.start(schedule=False, prices=False)
            return await engine.writer.call(lambda: -engine.store.w.execute("PRAGMA cache_size").fetchone()[0])
        finally:
            await engine.stop()

    assert await cache_after_start(tmp_path / "fresh.sqlite") == Store.CACHE_KB
    with Store(tmp_path / "old.sqlite") as store:
        store.ingest("wire", items("wire", 5), rules="rules of an older version", now=NOW)
    assert await cache_after_start(tmp_path / "old.sqlite") == Store.BULK_CACHE_KB


async def test_writes_linger_for_their_neighbours_while_more_are_coming(tmp_path):
    """While the engine has fetches in flight, a feed's items wait (up to LINGER) for the
    next feed's, so that a burst of polls commits in a few transactions, not one each;
    `wake()` (the last fetch is done) or an unweighted write ends the wait at once."""
    db = tmp_path / "db.sqlite"
    store = Store(db)
    coming = [True]
    writer = StoreWriter(store, more_coming=lambda: coming[0])
    writer.LINGER = 5.0  # long, so that only wake() or an unweighted job can end it
    check = sqlite3.connect(db, check_same_thread=False)

    def ingest_and_look(feed: str, batch) -> tuple[int, int]:
        new = store.ingest(feed, batch, now=NOW)
        return len(new), check.execute("SELECT count(*) FROM items").fetchone()[0]

    try:
        first = asyncio.wrap_future(writer.submit(ingest_and_look, "a", items("a", 10), weight=10))
        await asyncio.sleep(0.2)
        assert not first.done()  # lingering: more are coming
        second = asyncio.wrap_future(writer.submit(ingest_and_look, "b", items("b", 10), weight=10))
        await asyncio.sleep(0.1)
        assert not first.done() and not second.done()
        coming[0] = False
        writer.wake()
        # one transaction: neither saw the other's items committed
        assert await asyncio.wait_for(first, 2) == (10, 0)
        assert await asyncio.wait_for(second, 2) == (10, 0)

        coming[0] = True
        third = asyncio.wrap_future(writer.submit(ingest_and_look, "c", items("c", 10), weight=10))
        await asyncio.sleep(0.1)
        assert not third.done()
        # a write someone waits for, unweighted, ends the wait: the lingering one commits first
        assert await asyncio.wait_for(writer.call(store.count), 2) == 30
        assert third.done() and third.result() == (10, 30)  # alone: its own commit

        writer.LINGER = 0.1  # and the wait is bounded even if more stay "coming"
        fourth = asyncio.wrap_future(writer.submit(ingest_and_look, "d", items("d", 10), weight=10))
        assert await asyncio.wait_for(fourth, 2) == (10, 40)
    finally:
        coming[0] = False
        await writer.aclose()
        check.close()
    store.close()


async def test_without_more_coming_a_write_commits_at_once(tmp_path):
    db = tmp_path / "db.sqlite"
    store = Store(db)
    writer = StoreWriter(store)
    writer.LINGER = 5.0
    check = sqlite3.connect(db, check_same_thread=False)

    def ingest_and_look(feed: str, batch) -> tuple[int, int]:
        new = store.ingest(feed, batch, now=NOW)
        return len(new), check.execute("SELECT count(*) FROM items").fetchone()[0]

    try:
        first = await asyncio.wait_for(writer.call(ingest_and_look, "a", items("a", 10), weight=10), 1)
    finally:
        await writer.aclose()
        check.close()
    store.close()
    assert first == (10, 10)


async def test_a_poll_of_many_feeds_shares_commits_and_ends_without_waiting(server, write_config, tmp_path):
    """poll_all over loopback: the feeds' items go in fewer transactions than there are
    feeds, and the last group commits when the last fetch is done, not LINGER later."""
    feeds = {}
    for n in range(12):
        entries = [(f"Desk {n} story {i}: pension rule update", "summary", f"https://example.com/{n}/{i}", NOW)
                   for i in range(30)]
        feeds[f"desk {n}"] = server.add(f"/linger{n}.rss", Route(body=rss(entries)))
    config = load_config(write_config("[fetch]\njitter = 0\n" + "".join(
        f'[[feeds]]\nname = "{name}"\nurl = "{url}"\n' for name, url in feeds.items())))
    engine = Engine(config, tmp_path / "db.sqlite", lambda event: None, classifier=None)
    engine.open()
    engine.writer.LINGER = 3.0
    commits = []
    engine.store.w.set_trace_callback(lambda sql: commits.append(sql) if sql.strip().upper() == "COMMIT" else None)
    try:
        loop = asyncio.get_running_loop()
        start = loop.time()
        statuses = await engine.poll_all()
        took = loop.time() - start
    finally:
        await engine.stop()
    assert all(s.state.ok and s.new == 30 for s in statuses)
    assert took < 2.0  # the last group did not wait out its LINGER
    assert 1 <= len(commits) < len(feeds) / 2, commits


async def test_a_cancelled_fetch_does_not_leave_the_others_lingering(server, write_config, tmp_path):
    """The last fetch in flight ends without a write of its own (its poll was cancelled):
    the engine wakes the writer, and what lingered commits at once, not LINGER later."""
    fast = server.add("/fast.rss", Route(body=rss([("Pension rule story", "s", "https://example.com/f", NOW)])))
    slow = server.add("/slow.rss", Route(body=rss([("Slow story", "s", "https://example.com/s", NOW)]), delay=20))
    config = load_config(write_config(f'[fetch]\njitter = 0\n[[feeds]]\nname = "fast"\nurl = "{fast}"\n'
                                      f'[[feeds]]\nname = "slow"\nurl = "{slow}"\n'))
    engine = Engine(config, tmp_path / "db.sqlite", lambda event: None, classifier=None)
    engine.open()
    engine.writer.LINGER = 30.0
    try:
        slow_poll = asyncio.create_task(engine.poll_feed(config.feed("slow")))
        fast_poll = asyncio.create_task(engine.poll_feed(config.feed("fast")))
        await asyncio.sleep(0.5)
        assert not fast_poll.done()  # its items linger: the slow fetch is still in flight
        slow_poll.cancel()
        status = await asyncio.wait_for(fast_poll, 3)
        assert status.new == 1
    finally:
        await engine.stop()
