"""The SQLite store on a real file: idempotent ingest, story dedup, feed state, search,
schema version, and price tick downsampling."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from feeds.model import Classification, FeedState, Match, PriceTick
from feeds.parse import make_item
from feeds.store import SCHEMA_VERSION, Store, StoreError, fts_query

T0 = datetime(2025, 8, 7, 12, tzinfo=timezone.utc)


def item(title, link=None, feed="f", published=T0, guid=None, summary=""):
    return make_item(feed, title=title, summary=summary, link=link, guid=guid, published=published)


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "items.db") as s:
        yield s


def test_ingest_returns_exactly_the_new_items(store):
    a = item("Labor Department rescinds crypto guidance", "https://x.example/a")
    b = item("SEC approves spot bitcoin ETFs for trading", "https://x.example/b")
    assert [i.title for i in store.ingest("f", [a, b], now=T0)] == [a.title, b.title]
    c = item("Treasury report on stablecoins is published", "https://x.example/c")
    assert [i.title for i in store.ingest("f", [a, b, c], now=T0)] == [c.title]
    assert store.ingest("f", [a, b, c], now=T0) == []
    assert store.count() == 3


def test_same_title_merges_only_within_48_hours(store):
    first = item("Executive order opens 401(k) plans to crypto", "https://a.example/1", feed="a")
    store.ingest("a", [first], now=T0)
    near = item("EXECUTIVE ORDER opens 401(k) plans to crypto!", "https://b.example/2", feed="b",
                published=T0 + timedelta(hours=47))
    assert store.ingest("b", [near], now=T0 + timedelta(hours=47)) == []
    far = item("Executive order opens 401(k) plans to crypto", "https://c.example/3", feed="c",
               published=T0 + timedelta(hours=49))
    assert len(store.ingest("c", [far], now=T0 + timedelta(hours=49))) == 1
    [merged] = [i for i in store.recent() if i.link == "https://a.example/1"]
    assert set(merged.sources) == {"a", "b"}


def test_short_generic_titles_are_not_merged(store):
    store.ingest("a", [item("Daily update", "https://a.example/1", feed="a")], now=T0)
    assert len(store.ingest("b", [item("Daily update", "https://b.example/2", feed="b")], now=T0)) == 1


def test_items_without_links_dedup_by_guid_per_feed(store):
    x = item("Only a guid here, no link at all", guid="g-1")
    assert len(store.ingest("f", [x], now=T0)) == 1
    assert store.ingest("f", [x], now=T0) == []


def test_classification_roundtrip_and_reclassify_batches(store):
    c = Classification(tags=("crypto", "policy", "retirement"), flag=True, priority="high",
                       matches=(Match("401(k)", "retirement", "title", 0, 6),), score=2.5)
    it = item("401(k) rule for bitcoin from the Labor Department", "https://x.example/r")
    from dataclasses import replace
    [stored] = store.ingest("f", [replace(it, classification=c)], rules="r1", now=T0)
    assert store.get(stored.id).classification == c
    assert list(store.unclassified("r1")) == []
    [[stale]] = list(store.unclassified("r2"))
    store.set_classifications("r2", [(stale.id, Classification())])
    assert store.get(stored.id).classification.priority == "none"


def test_every_field_reads_back_as_stored(store):
    """Items are read by column position: each field comes back from its own column, on
    every read path (a page, one item, a search), and equal matches are shared, not copied."""
    from dataclasses import replace

    c = Classification(tags=("crypto", "retirement"), flag=True, priority="normal", score=1.5,
                       matches=(Match("401(k)", "retirement", "title", 0, 6),
                                Match("bitcoin", "crypto", "summary", 4, 11)))
    it = replace(make_item("Desk A", title="401(k) savers weigh a crypto option", summary="The bitcoin fund",
                           link="https://x.example/full", guid="guid-full", published=T0 - timedelta(hours=2)),
                 classification=c)
    [stored] = store.ingest("Desk A", [it], rules="r1", now=T0)
    store.ingest("Desk B", [replace(it, feed="Desk B", link="https://y.example/full", guid="guid-b")],
                 rules="r1", now=T0 + timedelta(minutes=5))
    store.mark_read(stored.id)
    for got in (store.recent(5)[0], store.get(stored.id), store.search("savers")[0]):
        assert (got.id, got.title, got.summary, got.link, got.guid, got.feed) == (
            stored.id, it.title, it.summary, "https://x.example/full", "guid-full", "Desk A")
        assert (got.key, got.title_key) == (it.key, it.title_key)
        assert got.published == T0 - timedelta(hours=2) and got.first_seen == T0
        assert set(got.sources) == {"Desk A", "Desk B"} and got.read is True
        assert got.classification == c
    a, b = store.recent(5)[0], store.get(stored.id)
    assert a.classification.matches[0] is b.classification.matches[0]


def test_the_classification_json_reader_falls_back_to_the_stdlib():
    from feeds.store import _json_loads

    assert _json_loads('["crypto", "policy"]') == ["crypto", "policy"]
    assert _json_loads('["\\ud800"]') == ["\ud800"]  # a lone surrogate: orjson refuses it, json reads it


def test_recent_pages_and_filters(store):
    from dataclasses import replace
    items = []
    for n in range(30):
        c = Classification(flag=n % 3 == 0, priority="high" if n % 6 == 0 else "normal" if n % 3 == 0 else "none")
        items.append(replace(item(f"Story number {n} about policy news", f"https://x.example/{n}",
                                  published=T0 + timedelta(minutes=n)), classification=c))
    store.ingest("f", items, rules="r", now=T0 + timedelta(hours=1))
    page1 = store.recent(10)
    page2 = store.recent(10, 10)
    assert page1[0].title == "Story number 29 about policy news"
    assert len({i.id for i in page1 + page2}) == 20
    assert store.count(flagged_only=True) == 10 and store.count(high_only=True) == 5
    assert all(i.classification.flag for i in store.recent(50, flagged_only=True))


def test_keyset_pages_walk_the_whole_order_both_ways(store):
    """Pages next to an item (older or newer than it) and the oldest page, for the list's
    windows: they join up into exactly the full order, ties in time included (a feed
    that stamps every item with one date), in every filter; an OFFSET walk reads every
    skipped row again (a page 2.5 million rows down took about a second)."""
    from dataclasses import replace
    items = []
    for n in range(57):
        c = Classification(flag=n % 3 == 0, priority="high" if n % 6 == 0 else "normal" if n % 3 == 0 else "none")
        when = T0 + timedelta(minutes=n // 4)  # four items share each minute
        items.append(replace(item(f"Keyset story number {n} about policy", f"https://k.example/{n}",
                                  published=when), classification=c))
    store.ingest("f", items, rules="r", now=T0 + timedelta(hours=2))
    for where in ({}, {"flagged_only": True}, {"high_only": True}):
        full = [i.id for i in store.recent(1000, **where)]
        assert len(full) == {0: 57, 1: 19, 2: 10}[len(where) and (1 if "flagged_only" in where else 2)]
        down = store.recent(5, **where)
        while len(down) < len(full):
            page = store.recent(5, before=down[-1].id, **where)
            assert page, where
            down += page
        assert [i.id for i in down] == full
        up = store.recent(5, oldest=True, **where)
        assert [i.id for i in up] == full[-5:]
        while len(up) < len(full):
            page = store.recent(5, after=up[0].id, **where)
            assert page, where
            up = page + up
        assert [i.id for i in up] == full
        assert store.recent(5, before=full[-1], **where) == []
        assert store.recent(5, after=full[0], **where) == []


def test_feed_state_roundtrip(store):
    state = FeedState(feed="f", url="https://x.example/feed", etag='"e"', last_modified="Mon",
                      last_success=T0, last_error="HTTP 500", last_error_at=T0, failures=2,
                      next_due=T0 + timedelta(minutes=5), gone=False)
    store.save_feed_state(state)
    assert store.feed_state("f") == state
    assert store.feed_state("unknown") == FeedState(feed="unknown")


def test_a_feed_without_a_state_still_counts_its_items(store):
    """Items stored under a feed whose state was never written (not polled yet in this
    database) are counted: the count said 0 (a health-screen test caught it by racing
    the first poll)."""
    store.ingest("f", [item("One", "https://x.example/1"), item("Two", "https://x.example/2")], now=T0)
    assert store.feed_state("f").item_count == 2 and store.feed_state("f", count=False).item_count == 0


def test_search_and_mark_read(store):
    store.ingest("f", [item("Labor Department crypto guidance", "https://x.example/1", summary="fiduciaries"),
                       item("Bitcoin price slips below support", "https://x.example/2")], now=T0)
    assert [i.title for i in store.search("labor crypto")] == ["Labor Department crypto guidance"]
    assert [i.title for i in store.search("fiduc*")] == ["Labor Department crypto guidance"]
    assert store.search('"unbalanced AND (') == []
    hit = store.search("bitcoin")[0]
    store.mark_read(hit.id)
    assert store.get(hit.id).read


def test_fts_query_quotes_every_word():
    assert fts_query('crypto OR "x" NEAR(') == '"crypto" "OR" "x" "NEAR"'
    assert fts_query("pens*") == '"pens"*'


def test_schema_version_and_reopen(tmp_path):
    path = tmp_path / "v.db"
    Store(path).close()
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    Store(path).close()  # reopening runs no migration twice
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="newer"):
        Store(path)


def test_not_a_database_is_a_store_error(tmp_path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError):
        Store(path)


def test_tick_downsampling_keeps_the_shape(store):
    now = T0 + timedelta(hours=3)
    ticks = []
    for second in range(0, 3 * 3600, 5):  # a tick every 5 s for 3 hours, a V shape
        at = T0 + timedelta(seconds=second)
        price = Decimal(100000) + abs(second - 5400)
        ticks.append(PriceTick("coinbase", "BTC-USD", price, at))
    store.add_ticks(ticks)
    removed = store.downsample_ticks(now)
    kept = store.ticks_since("BTC-USD", T0 - timedelta(days=1))
    last_hour = [t for t in kept if t.received >= now - timedelta(hours=1)]
    older = [t for t in kept if t.received < now - timedelta(hours=1)]
    assert len(last_hour) == 720  # every tick of the last hour
    assert len(older) == 120  # one per minute before that
    assert removed == len(ticks) - len(kept)
    bottom = min(kept, key=lambda t: t.price)  # the V's bottom survives to within a minute
    assert abs((bottom.received - (T0 + timedelta(seconds=5400))).total_seconds()) <= 60
    assert bottom.price <= Decimal(100060)
    assert store.latest_tick("BTC-USD").received == ticks[-1].received
    assert store.latest_tick("ETH-USD") is None
