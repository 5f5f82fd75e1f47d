"""`policywatch --demo`: the recordings, the loopback server, and the monitor running on
them through the real engine, parser, classifier and price adapters."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import httpx
import pytest

from feeds.config import load_config
from feeds.demo import ANCHOR, DATA, DIVERGE, FEEDS, OFFSETS, Demo, PricePath, Recording, exchange_body
from feeds.parse import parse_feed
from feeds.prices import ADAPTERS, divergence_percent
from feeds.store import Store
from tests.tuikit import screen_text
from tui.app import PolicyWatchApp
from tui.commands.app import engine_factory
from tui.panes.headlines import HeadlineList
from tui.panes.price import PricePane

START = datetime(2026, 1, 5, 9, 30, tzinfo=timezone.utc)


def test_recordings_reveal_items_as_their_moment_comes_with_dates_moved_to_now():
    recording = Recording.load(DATA / "feeds" / "whitehouse.xml")
    shift = START - ANCHOR
    before = parse_feed(recording.render(0, shift), "White House").items
    after = parse_feed(recording.render(41, shift), "White House").items
    titles_before = {i.title for i in before}
    new = [i for i in after if i.title not in titles_before]
    assert [i.title for i in new] == ["Executive Order: Democratizing Access to Alternative Assets for 401(k) Investors"]
    assert new[0].published == START + timedelta(seconds=40)
    assert all(i.published <= START for i in before)
    assert len(parse_feed(recording.render(3600, shift), "White House").items) == len(recording.items)


def test_every_recorded_feed_parses_and_new_items_keep_coming_for_minutes():
    reveals = []
    for name, file, _ in FEEDS:
        if file is None:
            continue
        recording = Recording.load(DATA / "feeds" / file)
        items = parse_feed(recording.render(10_000, timedelta(0)), name).items
        assert len(items) == len(recording.items) >= 4
        reveals += [t for t in recording.reveal_times() if t > 0]
    assert len(reveals) >= 12
    assert min(reveals) < 60 and max(reveals) > 400  # from the first minute to several minutes in


@pytest.mark.parametrize("source", sorted(OFFSETS))
def test_exchange_bodies_parse_with_the_real_adapters(source):
    path = PricePath()
    adapter = ADAPTERS[source]
    market = adapter.market("BTC-USD")
    import json

    doc = exchange_body(source, path, 10.0, START)
    quote = adapter.parse(json.dumps(doc).encode(), market, "application/json")
    assert quote.price == path.quote(source, 10.0)
    assert abs(quote.price - path.price_at(10.0)) < 20


def test_the_price_path_has_a_day_of_history_and_one_divergent_spell():
    path = PricePath()
    ticks = path.history_ticks("BTC-USD", START - ANCHOR)
    assert len(ticks) == 288
    assert ticks[-1].received == START - timedelta(minutes=5)
    assert ticks[0].received == START - timedelta(hours=24)
    median = path.price_at(100)
    name, start, end, _ = DIVERGE
    inside = path.quote(name, (start + end) / 2)
    outside = path.quote(name, start - 10)
    assert divergence_percent(inside, path.price_at((start + end) / 2)) > Decimal(1)
    assert divergence_percent(outside, path.price_at(start - 10)) < Decimal("0.1")
    assert Decimal("0.5") < abs(path.change_24h(0)) < Decimal(5)


async def test_the_demo_server_answers_like_the_real_sources():
    demo = Demo.start()
    try:
        async with httpx.AsyncClient(base_url=demo.base) as client:
            feed = await client.get("/feeds/sec.xml")
            assert feed.status_code == 200 and feed.headers["content-type"].startswith("application/rss+xml")
            again = await client.get("/feeds/sec.xml", headers={"If-None-Match": feed.headers["etag"]})
            assert again.status_code == 304
            down = await client.get("/feeds/federalreserve.xml")
            assert down.status_code == 503 and down.headers["retry-after"] == "60"
            kraken = await client.get("/0/public/Ticker", params={"pair": "XBTUSD"})
            assert "XXBTZUSD" in kraken.json()["result"]
            assert (await client.get("/0/public/Ticker", params={"pair": "DOGE"})).json()["error"]
        assert demo.base.startswith("http://127.0.0.1:")
    finally:
        demo.stop()
    assert not demo.tmp.exists()


async def test_the_monitor_runs_on_the_demo_through_the_real_pipeline(write_config):
    demo = Demo.start(speed=30.0)  # ten recorded minutes in twenty seconds
    try:
        config = demo.config(load_config(use_user_file=False))
        assert all(f.url.startswith(demo.base) for f in config.feeds)
        assert all(s.url == demo.base for s in config.prices.sources) and config.prices.stream == "none"
        with Store(demo.db_path) as store:
            assert demo.seed_prices(store) == 288
        app = PolicyWatchApp(config, demo.db_path, engine_factory=engine_factory(config, demo.db_path),
                             badge="DEMO")
        async with app.run_test(size=(140, 40)) as pilot:
            headlines = app.query_one("#headlines", HeadlineList)
            price = app.query_one(PricePane)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 20
            while loop.time() < deadline and not (
                    len(headlines.items) >= 20 and price.aggregate is not None and price.aggregate.price
                    and len(price.aggregate.used) == 4 and "6/7 feeds ok, 1 failing" in screen_text(app)):
                await pilot.pause(0.1)
            text = screen_text(app)
            assert "DEMO" in text.splitlines()[0] and "6/7 feeds ok, 1 failing" in text.splitlines()[0]
            assert len(headlines.items) >= 20
            assert any(i.classification and i.classification.priority == "high" for i in headlines.items)
            assert len(price.points) >= 288  # the seeded day is on the chart
            assert "4/4 sources agree" in text or "3/4 sources agree" in text
            await pilot.press("f")
            assert headlines.items and all(i.classification.flag for i in headlines.items)
    finally:
        demo.stop()
