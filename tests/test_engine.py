"""The pipeline end to end against a real loopback HTTP server and a real SQLite file:
conditional GET, size cap, timeouts, redirects, politeness, dedup, backoff, scheduling."""

from __future__ import annotations

import asyncio
import gzip
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from feeds.config import FetchConfig, load_config
from feeds.engine import Engine
from feeds.model import FeedStatus, NewItems
from feeds.scheduler import backoff_delay, next_delay
from tests.loopback import Route

DATA = Path(__file__).parent / "data" / "feeds"


def make_config(write_config, feeds: dict[str, str], fetch: str = "") -> "Config":
    text = "[fetch]\njitter = 0\n" + fetch + "\n"
    for name, url in feeds.items():
        text += f'[[feeds]]\nname = "{name}"\nurl = "{url}"\ninterval = 60\n'
    return load_config(write_config(text))


class Events(list):
    def __call__(self, event):
        self.append(event)

    def of(self, kind):
        return [e for e in self if isinstance(e, kind)]


@pytest.fixture
def events():
    return Events()


async def poll_once(config, db, sink):
    engine = Engine(config, db, sink, classifier=None)
    try:
        return await engine.poll_all()
    finally:
        await engine.stop()


async def test_items_are_stored_once_and_second_ingest_adds_nothing(server, write_config, tmp_path, events):
    url = server.add("/policy.rss", Route.file(DATA / "policy.rss"))
    config = make_config(write_config, {"wire": url})
    [first] = await poll_once(config, tmp_path / "db.sqlite", events)
    assert first.fetched == 3 and first.new == 3 and first.state.ok
    [second] = await poll_once(config, tmp_path / "db.sqlite", events)
    assert second.fetched == 3 and second.new == 0
    new = [i for e in events.of(NewItems) for i in e.items]
    assert len(new) == 3


async def test_a_poll_reads_its_feed_state_without_counting_the_feeds_items(server, write_config, tmp_path, events):
    """Each poll read its feed's state with a count of the feed's stored items, which
    nothing used: at 5 million items a feed's ~300,000 index entries, 35 ms on the event
    loop per poll. The count still reads back where asked for."""
    url = server.add("/policy.rss", Route.file(DATA / "policy.rss"))
    config = make_config(write_config, {"wire": url})
    engine = Engine(config, tmp_path / "db.sqlite", events, classifier=None)
    try:
        statements: list[str] = []
        engine.open().db.set_trace_callback(statements.append)
        await engine.poll_all()
        await engine.poll_all()
        engine.open().db.set_trace_callback(None)
        assert any("feed_state" in s for s in statements)  # (the trace sees the poll's reads)
        assert not [s for s in statements if "count(" in s.lower()], statements
        assert engine.open().feed_state("wire").item_count == 3
    finally:
        await engine.stop()


async def test_conditional_get_sends_validators_and_304_stores_nothing(server, write_config, tmp_path, events):
    url = server.add("/c.rss", Route.file(DATA / "policy.rss", etag='"v1"', last_modified="Wed, 21 Oct 2025 07:28:00 GMT"))
    config = make_config(write_config, {"wire": url})
    db = tmp_path / "db.sqlite"
    await poll_once(config, db, events)
    [status] = await poll_once(config, db, events)
    first, second = server.requests_to("/c.rss")
    assert "if-none-match" not in first.headers
    assert second.headers["if-none-match"] == '"v1"'
    assert second.headers["if-modified-since"] == "Wed, 21 Oct 2025 07:28:00 GMT"
    assert status.not_modified and status.new == 0 and status.state.ok
    # after a 304 the next poll is a full interval away, never an immediate retry
    assert status.state.next_due - status.state.last_success >= timedelta(seconds=59)


async def test_user_agent_and_compression(server, write_config, tmp_path, events):
    url = server.add("/gz.rss", Route.file(DATA / "policy.rss", gzip=True))
    config = make_config(write_config, {"gz": url})
    [status] = await poll_once(config, tmp_path / "db.sqlite", events)
    assert status.fetched == 3
    hit = server.requests_to("/gz.rss")[0]
    assert hit.headers["user-agent"].startswith("policywatch/")
    assert "gzip" in hit.headers["accept-encoding"]


@pytest.mark.parametrize("route, fetch, message", [
    (Route(body=b"<rss>" + b"x" * 200_000 + b"</rss>"), "max_bytes = 100000", "larger than 100000 bytes"),
    (Route(body=gzip.compress(b"<rss>" + b" " * 2_000_000 + b"</rss>"), headers={"Content-Encoding": "gzip"}),
     "max_bytes = 100000", "larger than 100000 bytes"),
    (Route(body=b"<rss/>", delay=3), "read_timeout = 0.5", "timed out"),
    (Route(body=b"<rss><channel></channel></rss>" * 40, drip=0.05), "total_timeout = 1\nread_timeout = 5", "timed out"),
    (Route(redirect="/loop", status=302), "", "redirects"),
    (Route(redirect="ftp://127.0.0.1/feed", status=301), "", "unsupported URL scheme"),
    (Route(status=500, body=b"oops"), "", "HTTP 500"),
    (Route(status=404), "", "HTTP 404"),
    (Route(body=b"<html><body>Maintenance</body></html>", content_type="text/html"), "", "not a"),
    (Route(body=b""), "", "empty response"),
])
async def test_failures_end_as_that_feeds_error(server, write_config, tmp_path, events, route, fetch, message):
    bad = server.add("/loop", route)
    good = server.add("/good.rss", Route.file(DATA / "policy.rss"))
    config = make_config(write_config, {"bad": bad, "good": good}, fetch)
    bad_status, good_status = await poll_once(config, tmp_path / "db.sqlite", events)
    assert bad_status.state.failures == 1
    assert message in bad_status.state.last_error
    assert good_status.state.ok and good_status.new == 3


async def test_retry_after_is_honoured_and_410_marks_the_feed_gone(server, write_config, tmp_path, events):
    busy = server.add("/busy", Route(status=429, headers={"Retry-After": "7200"}))
    unavailable = server.add("/down", Route(status=503, headers={"Retry-After": "900"}))
    gone = server.add("/gone", Route(status=410))
    config = make_config(write_config, {"busy": busy, "down": unavailable, "gone": gone})
    busy_s, down_s, gone_s = await poll_once(config, tmp_path / "db.sqlite", events)
    assert busy_s.state.next_due - busy_s.state.last_error_at >= timedelta(seconds=7200)
    assert down_s.state.next_due - down_s.state.last_error_at >= timedelta(seconds=900)
    assert gone_s.state.gone and not busy_s.state.gone


async def test_backoff_grows_and_resets_on_success(server, write_config, tmp_path, events):
    route = server.add("/flaky", Route(status=500))
    config = make_config(write_config, {"flaky": route})
    db = tmp_path / "db.sqlite"
    delays = []
    for _ in range(3):
        [status] = await poll_once(config, db, events)
        delays.append((status.state.next_due - status.state.last_error_at).total_seconds())
    assert [round(d) for d in delays] == [120, 240, 480]
    server.routes["/flaky"] = Route.file(DATA / "policy.rss")
    [status] = await poll_once(config, db, events)
    assert status.state.failures == 0 and status.state.last_success is not None
    assert round((status.state.next_due - status.state.last_success).total_seconds()) == 60


def test_backoff_policy_is_capped_and_never_below_retry_after():
    assert [backoff_delay(300, n, 3600) for n in range(6)] == [300, 600, 1200, 2400, 3600, 3600]
    assert backoff_delay(7200, 3, 3600) == 7200
    assert next_delay(60, 0, jitter=0, max_backoff=3600, retry_after=500) == 500
    delays = {next_delay(100, 0, jitter=0.1, max_backoff=3600) for _ in range(50)}
    assert all(90 <= d <= 110 for d in delays) and len(delays) > 1


async def test_same_story_from_two_feeds_is_stored_once_with_both_sources(server, write_config, tmp_path, events):
    a = server.add("/a.rss", Route.file(DATA / "policy.rss"))
    b = server.add("/b.atom", Route.file(DATA / "markets.atom", content_type="application/atom+xml"))
    config = make_config(write_config, {"policy wire": a, "markets desk": b})
    db = tmp_path / "db.sqlite"
    engine = Engine(config, db, events, classifier=None)
    first = await engine.poll_feed(config.feed("policy wire"))
    second = await engine.poll_feed(config.feed("markets desk"))
    assert first.new == 3
    # the atom feed's two entries: same title within 48 h, and same canonical link
    assert second.fetched == 2 and second.new == 0
    items = {i.title: i for i in engine.recent()}
    eo = items["Executive order opens 401(k)s to private equity & crypto"]
    assert set(eo.sources) == {"policy wire", "markets desk"}
    sources = engine.item_sources(eo.id)
    assert {s[0] for s in sources} == {"policy wire", "markets desk"}
    await engine.stop()


async def test_per_host_limit_is_never_exceeded(server, write_config, tmp_path, events):
    feeds = {f"f{i}": server.add(f"/slow{i}", Route.file(DATA / "policy.rss", delay=0.2)) for i in range(8)}
    config = make_config(write_config, feeds, "per_host = 2\nconcurrency = 8")
    statuses = await poll_once(config, tmp_path / "db.sqlite", events)
    assert all(s.state.ok for s in statuses)
    assert server.max_active <= 2


async def test_start_hands_over_stored_state_before_any_network(server, write_config, tmp_path, events):
    url = server.add("/p.rss", Route.file(DATA / "policy.rss"))
    config = make_config(write_config, {"wire": url})
    db = tmp_path / "db.sqlite"
    await poll_once(config, db, events)
    events.clear()
    hits_before = len(server.hits)
    engine = Engine(config, db, events, classifier=None)
    await engine.start(schedule=False)
    assert len(server.hits) == hits_before
    initial = events.of(NewItems)[0]
    assert initial.initial and len(initial.items) == 3
    assert events.of(FeedStatus)[0].state.ok
    await engine.stop()


async def test_scheduler_polls_each_feed_and_rearms_it(server, write_config, tmp_path, events):
    a = server.add("/a.rss", Route.file(DATA / "policy.rss"))
    b = server.add("/b.json", Route.file(DATA / "wire.json", content_type="application/feed+json"))
    config = make_config(write_config, {"a": a, "b": b})
    engine = Engine(config, tmp_path / "db.sqlite", events, classifier=None)
    await engine.start()
    for _ in range(100):
        if len(events.of(FeedStatus)) >= 4:  # 2 at start + 2 polls
            break
        await asyncio.sleep(0.05)
    polled = [e for e in events.of(FeedStatus)[2:]]
    assert {s.state.feed for s in polled} == {"a", "b"}
    # each job is re-armed for the next interval
    for state in engine.feed_states():
        assert state.next_due > datetime.now(timezone.utc) + timedelta(seconds=50)
    await engine.stop()


async def test_a_broken_sink_does_not_stop_the_pipeline(server, write_config, tmp_path):
    url = server.add("/p.rss", Route.file(DATA / "policy.rss"))
    config = make_config(write_config, {"wire": url})

    def sink(event):
        raise RuntimeError("UI exploded")

    [status] = await poll_once(config, tmp_path / "db.sqlite", sink)
    assert status.new == 3


async def test_a_poll_slower_than_its_interval_keeps_its_schedule(server, write_config, tmp_path, events):
    """The next due time counts from the end of a poll: a response slower than the interval
    must not re-arm the job in the past (APScheduler would skip it and the feed go silent)."""
    server.add("/slow.rss", Route.file(DATA / "policy.rss", delay=1.2))
    config = load_config(write_config(
        f'[fetch]\njitter = 0\n[prices]\nsources = []\nstream = "none"\n'
        f'[[feeds]]\nname = "slow"\nurl = "{server.url("/slow.rss")}"\ninterval = 1\n'))
    engine = Engine(config, tmp_path / "db.sqlite", events, classifier=None)
    await engine.start()
    await asyncio.sleep(5.5)
    await engine.stop()
    # 1.2 s per response + 1 s interval: at least 3 polls in 5.5 s, never two at once
    assert len(server.requests_to("/slow.rss")) >= 3
    assert server.max_active == 1


async def test_engine_starts_and_stops_the_price_engine(server, write_config, tmp_path, events):
    from feeds.model import AggregatePrice, PriceUpdate
    prices = Path(__file__).parent / "data" / "prices"
    base = server.url("")
    server.add("/v2/prices/BTC-USD/spot", Route.file(prices / "coinbase_spot.json", content_type="application/json"))
    config = load_config(write_config(
        f'[prices]\ninterval = 30\nstream = "none"\n[[prices.sources]]\nkind = "coinbase"\nurl = "{base}"\n'
        f'[[feeds]]\nname = "wire"\nurl = "{server.url("/p.rss")}"\n'))
    server.add("/p.rss", Route.file(DATA / "policy.rss"))
    engine = Engine(config, tmp_path / "db.sqlite", events, classifier=None)
    await engine.start()
    for _ in range(100):
        if events.of(PriceUpdate):
            break
        await asyncio.sleep(0.05)
    await engine.stop()
    update = events.of(PriceUpdate)[0]
    assert update.source == "coinbase" and update.error is None and update.tick.price > 0
    assert engine.price_engine is None  # stopped with the engine
    from feeds.store import Store
    with Store(tmp_path / "db.sqlite") as store:
        assert store.latest_tick("BTC-USD").price == update.tick.price  # flushed on stop
