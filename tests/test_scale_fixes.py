"""What the scale and start-up benchmarks called for, kept honest: a start-up over a large
history neither rescans every item for reclassification nor counts every feed's items,
and counting one feed's items reads only that feed's index entries."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

from feeds.config import load_config
from feeds.engine import Engine
from feeds.parse import make_item
from feeds.store import RULES_COMPLETE, Store


def items(feed: str, n: int, start: int = 0):
    return [make_item(feed, title=f"SEC approves crypto in 401(k) plans, part {i}", summary="", guid=None,
                      link=f"https://example.com/{feed}/{i}", published=datetime(2026, 1, 1, tzinfo=timezone.utc))
            for i in range(start, start + n)]


def test_reclassify_marks_the_store_and_an_unclassified_ingest_clears_the_mark(tmp_path):
    engine = Engine(load_config(use_user_file=False), tmp_path / "db.sqlite", lambda event: None)
    store = engine.open()  # empty store: nothing to reclassify, the mark is set
    fingerprint = engine.rules_fingerprint
    assert store.get_meta(RULES_COMPLETE) == fingerprint

    store.ingest("f", engine.classify(items("f", 3)), rules=fingerprint)  # classified: the mark stays
    assert store.get_meta(RULES_COMPLETE) == fingerprint

    store.ingest("g", items("g", 2, start=100))  # stored without a classification (another writer)
    assert store.get_meta(RULES_COMPLETE) is None
    assert engine.reclassify_stored() == 2
    assert store.get_meta(RULES_COMPLETE) == fingerprint
    assert all(i.classification is not None and i.classification.flag for i in store.recent(10))


def test_a_marked_store_is_not_rescanned(tmp_path):
    engine = Engine(load_config(use_user_file=False), tmp_path / "db.sqlite", lambda event: None)
    store = engine.open()
    store.ingest("f", engine.classify(items("f", 3)), rules=engine.rules_fingerprint)
    scans = []
    store.unclassified = lambda rules, batch=1000: scans.append(rules) or iter(())
    assert engine.reclassify_stored() == 0
    assert scans == []


def test_feed_item_counts_use_their_own_index(tmp_path):
    with Store(tmp_path / "db.sqlite") as store:
        store.ingest("a", items("a", 5))
        store.ingest("b", items("b", 2, start=100))
        for name in ("a", "b"):
            store.db.execute("INSERT INTO feed_state(feed) VALUES (?)", (name,))
        assert store.feed_state("a").item_count == 5
        assert store.feed_state("b").item_count == 2
        assert store.feed_state("a", count=False).item_count == 0
        plan = " ".join(r[-1] for r in store.db.execute(
            "EXPLAIN QUERY PLAN SELECT count(*) FROM item_sources WHERE feed=?", ("a",)))
        assert "item_sources_feed" in plan, plan


# ---------------------------------------------------------------- search at scale

WORDS = ["bitcoin", "pension", "crypto", "rule", "fund", "SEC", "savers", "ETF"]


def exact_search(store: Store, query: str, limit: int) -> list[int]:
    """Every match sorted by time: what search must return, however it gets there."""
    from feeds.store import fts_query

    return [r[0] for r in store.db.execute(
        "SELECT items.id FROM items_fts JOIN items ON items.id = items_fts.rowid WHERE items_fts MATCH ? "
        "ORDER BY items.sort_time DESC, items.id DESC LIMIT ?", (fts_query(query), limit))]


def fill(store: Store, rng, polls: int, *, clock_back: bool = False, overlap: float = 0) -> None:
    """Polls of a few items each, first seen a minute apart (with clock_back, one poll
    stored with a clock two days behind; with overlap, each poll's time taken up to that
    many minutes before it is stored, as overlapping polls do); published anywhere from a
    month back to two hours ahead of being seen (later than an hour ahead is clamped)."""
    from datetime import timedelta

    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    n = 0
    for poll in range(polls):
        now = start + timedelta(minutes=poll - overlap * rng.random())
        if clock_back and poll == polls // 2:
            now -= timedelta(days=2)
        batch = []
        for _ in range(rng.randint(1, 12)):
            words = " ".join(rng.choice(WORDS) for _ in range(3))
            published = now + timedelta(minutes=rng.choice([-43_200, -600, -5, 0, 30, 59, 120]) * rng.random())
            batch.append(make_item(f"feed{poll % 5}", title=f"{words} story {n}", summary="", guid=None,
                                   link=f"https://example.com/{n}", published=published))
            n += 1
        store.ingest(f"feed{poll % 5}", batch, now=now)


def test_search_returns_the_newest_matches_exactly_as_a_full_sort_would(tmp_path):
    import random

    rng = random.Random(5)
    with Store(tmp_path / "db.sqlite") as store:
        fill(store, rng, 400)
        assert store.get_meta("search.first_seen_skew") is None  # ids in first_seen order
        for query in ["bitcoin", "pension crypto", "ETF", "savers rule fund", "story", "nothing"]:
            for limit in (1, 7, 50, 200, 5000):
                got = [i.id for i in store.search(query, limit)]
                assert got == exact_search(store, query, limit), (query, limit)


def test_search_stays_exact_when_polls_overlap(tmp_path):
    import random

    rng = random.Random(7)
    with Store(tmp_path / "db.sqlite") as store:
        fill(store, rng, 400, overlap=90)  # first_seen up to 90 minutes out of id order
        assert 0 < float(store.get_meta("search.first_seen_skew")) <= 90 * 60
        for query in ["bitcoin", "pension crypto", "savers rule fund", "story"]:
            for limit in (1, 7, 50, 200):
                assert [i.id for i in store.search(query, limit)] == exact_search(store, query, limit), (query, limit)


def test_search_stays_exact_after_the_clock_went_back(tmp_path):
    import random

    rng = random.Random(9)
    with Store(tmp_path / "db.sqlite") as store:
        fill(store, rng, 200, clock_back=True)
        assert float(store.get_meta("search.first_seen_skew")) >= 2 * 86400 - 600
        for query in ["bitcoin", "story", "SEC savers"]:
            assert [i.id for i in store.search(query, 30)] == exact_search(store, query, 30)
        # a store marked out of order before the skew was recorded sorts every match
        store.db.execute("DELETE FROM meta WHERE key = 'search.first_seen_skew'")
        store.db.execute("INSERT INTO meta(key, value) VALUES ('search.seen_out_of_order', '1')")
        assert [i.id for i in store.search("story", 30)] == exact_search(store, "story", 30)


def walk_search(store: Store, query: str, page: int) -> list[int]:
    """A search's result list read page by page, each page just older than the last
    result so far (the search screen's scrolling)."""
    ids: list[int] = []
    while True:
        got = [i.id for i in store.search(query, page, before=ids[-1] if ids else None)]
        ids += got
        if len(got) < page:
            return ids


@pytest.mark.parametrize("overlap, clock_back", [(0, False), (90, False), (0, True)])
def test_search_pages_join_into_exactly_the_full_order(tmp_path, overlap, clock_back):
    """Pages of a search, each just older than the result before it, make exactly the
    whole list of matches in time order (ties in time included), however the ids and
    times are out of order."""
    import random

    rng = random.Random(11)
    with Store(tmp_path / "db.sqlite") as store:
        fill(store, rng, 300, overlap=overlap, clock_back=clock_back)
        for query in ["bitcoin", "pension crypto", "story", "nothing"]:
            for page in (7, 50):
                assert walk_search(store, query, page) == exact_search(store, query, 100_000), (query, page)
        assert store.search("story", 10, before=10**9) == []  # no such item: nothing older to show
        if clock_back:  # and in a store that sorts every match
            store.db.execute("DELETE FROM meta WHERE key = 'search.first_seen_skew'")
            store.db.execute("INSERT INTO meta(key, value) VALUES ('search.seen_out_of_order', '1')")
            assert walk_search(store, "story", 25) == exact_search(store, "story", 100_000)


def test_a_stopping_engine_leaves_the_rest_of_a_reclassification_to_the_next_start(tmp_path):
    """Reclassifying a long history commits a batch at a time; once the engine is
    stopping, it ends at the next batch instead of holding the quit for minutes, and the
    store stays marked as not up to date, so the next start goes on from there."""
    engine = Engine(load_config(use_user_file=False), tmp_path / "db.sqlite", lambda event: None)
    store = engine.open()
    store.ingest("g", items("g", 2500))  # stored without a classification
    assert store.get_meta(RULES_COMPLETE) is None
    engine._stopped = True  # as stop() sets before it closes the writer
    assert engine.reclassify_stored() == 0
    assert store.get_meta(RULES_COMPLETE) is None
    engine._stopped = False
    assert engine.reclassify_stored() == 2500
    assert store.get_meta(RULES_COMPLETE) == engine.rules_fingerprint


async def test_a_reclassification_on_the_loop_lets_other_writes_in_between(tmp_path):
    """The event loop's reclassification (a rules hot reload) is a writer job per batch:
    a poll's write submitted meanwhile runs after the current batch, not after the whole
    history (minutes at millions of items), and the store is marked up to date at the end."""
    engine = Engine(load_config(use_user_file=False), tmp_path / "db.sqlite", lambda event: None)
    store = engine.open()
    store.ingest("g", items("g", 2500))  # stored without a classification
    seen = []
    steps = []
    step = Engine._reclassify_step

    def counted(self, *args):
        result = step(self, *args)
        steps.append(result[0])
        return result

    engine._reclassify_step = counted.__get__(engine)
    task = asyncio.create_task(engine.reclassify())
    while not steps:
        await asyncio.sleep(0.001)
    await engine.writer.call(lambda: seen.append((len(steps), store.get_meta(RULES_COMPLETE, writing=True))))
    assert await task == 2500
    # after the first batch or the second (whichever the loop queued first), before the mark
    assert len(seen) == 1 and seen[0][0] in (1, 2) and seen[0][1] is None
    assert steps == [1000, 1000, 500, 0]
    assert store.get_meta(RULES_COMPLETE) == engine.rules_fingerprint
    await engine.stop()
