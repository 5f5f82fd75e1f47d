"""The monitor on the real engine: real SQLite files, real feeds and price APIs served from
a loopback HTTP server, the engine running on Textual's own loop."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from feeds.config import PriceSourceConfig
from feeds.parse import make_item
from feeds.store import Store
from tests.loopback import Route
from tests.tuikit import DATA, offline_config, screen_text
from tui.app import PolicyWatchApp
from tui.commands.app import FIRST_PAGE, engine_factory, stored_page
from tui.panes.headlines import NEXT_UNREAD_PAGES, PAGE, HeadlineList
from tui.panes.price import PricePane
from tui.screens.detail import DetailScreen
from tui.screens.health import HealthScreen
from tui.screens.search import SearchScreen

RSS = "application/rss+xml; charset=utf-8"


async def until(pilot, condition, timeout: float = 10.0) -> None:
    """Let the app run until `condition()` holds (the network is real, so it takes a moment)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time; the screen:\n" + screen_text(pilot.app))
        await pilot.pause(0.05)


@pytest.fixture
def two_page_window(monkeypatch) -> None:
    """The headline list's loaded window capped at two pages (WINDOW_PAGES), so that a
    test reaches its edges with a short history."""
    from tui.panes import headlines as headlines_module

    monkeypatch.setattr(headlines_module, "WINDOW_PAGES", 2)


def prefill(db, count: int, feed: str = "Stored feed") -> None:
    """`count` stored headlines, as an earlier run of the engine would have left them."""
    base = datetime(2025, 8, 1, tzinfo=timezone.utc)
    items = [make_item(feed, title=f"Stored headline number {n:05d} about markets", summary="old news",
                       link=f"https://example.com/stored/{n}", guid=None, published=base + timedelta(minutes=n))
             for n in range(count)]
    with Store(db) as store:
        store.ingest(feed, items, now=base + timedelta(days=2))


def app_for(config, db) -> PolicyWatchApp:
    return PolicyWatchApp(config, db, engine_factory=engine_factory(config, db))


def history_app(write_config, db) -> PolicyWatchApp:
    """The monitor over the history stored in `db`, with no feeds to poll."""
    return app_for(offline_config(write_config, feeds=[]), db)


async def paged_list(app, pilot) -> HeadlineList:
    """The headline list once the engine has given it its pager."""
    headlines = app.query_one("#headlines", HeadlineList)
    await until(pilot, lambda: headlines.pager is not None and len(headlines.items) > 0)
    return headlines


def record_pages(headlines: HeadlineList, entry) -> list:
    """Each page the list asks for, as entry(args, kwargs) gives it."""
    pages: list = []
    pager = headlines.pager
    headlines.pager = lambda *args, **kwargs: pages.append(entry(args, kwargs)) or pager(*args, **kwargs)
    return pages


async def test_startup_shows_the_stored_headlines_before_the_network_answers(server, write_config, tmp_path):
    db = tmp_path / "pw.db"
    prefill(db, 5)
    server.add("/slow.rss", Route.file(DATA / "tui" / "policy.rss", content_type=RSS, delay=3.0))
    config = offline_config(write_config, feeds=[("Slow desk", server.url("/slow.rss"))])
    app = app_for(config, db)
    async with app.run_test(size=(140, 40)) as pilot:
        headlines = app.query_one("#headlines", HeadlineList)
        await until(pilot, lambda: len(headlines.items) == 5, timeout=2.0)
        assert headlines.items[0].title == "Stored headline number 00004 about markets"
        assert server.requests_to("/slow.rss") == [] or len(headlines.items) == 5  # the poll is still out
        await until(pilot, lambda: len(headlines.items) == 8, timeout=10.0)
        assert headlines.items[0].title.startswith("Executive Order: Democratizing Access")
        assert "1/1 feeds ok" in screen_text(app).splitlines()[0]


async def test_the_stored_page_is_on_the_first_frame_and_the_engine_follows(write_config, tmp_path):
    """The first screen shows the store's newest page before the engine is built (the
    engine starts after that first frame), and the engine's hand-over keeps the cursor."""
    from feeds.engine import INITIAL_ITEMS

    assert FIRST_PAGE == INITIAL_ITEMS  # the same page: the hand-over changes nothing visible
    db = tmp_path / "pw.db"
    prefill(db, 600)
    config = offline_config(write_config, feeds=[])
    make = engine_factory(config, db)
    seen_by_engine = []

    def factory(sink):  # what the screen showed when the engine was built
        headlines = app.query_one("#headlines", HeadlineList)
        seen_by_engine.append((len(headlines.items), headlines.items[0].title, str(headlines.border_title)))
        return make(sink)

    app = PolicyWatchApp(config, db, engine_factory=factory, stored_page=stored_page(db))
    async with app.run_test(size=(140, 40)) as pilot:
        headlines = app.query_one("#headlines", HeadlineList)
        await until(pilot, lambda: bool(seen_by_engine))
        assert seen_by_engine == [(FIRST_PAGE, "Stored headline number 00599 about markets",
                                   f"Headlines · all · {FIRST_PAGE}+ · ● {FIRST_PAGE}")]
        await pilot.press("down", "down")
        await until(pilot, lambda: app.engine is not None and headlines.pager is not None)
        await pilot.pause()
        assert headlines.current.title == "Stored headline number 00597 about markets"
        assert headlines.border_title == f"Headlines · all · {FIRST_PAGE}+ · ● {FIRST_PAGE}"
        assert "Stored headline number 00599 about markets" in screen_text(app)


async def test_an_unreadable_store_leaves_the_first_page_to_the_engine(write_config, tmp_path):
    db = tmp_path / "pw.db"
    db.write_bytes(b"this is not a database" * 100)
    config = offline_config(write_config, feeds=[])
    app = PolicyWatchApp(config, db, stored_page=stored_page(db))
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        assert app.query_one("#headlines", HeadlineList).items == []
        assert "No headlines yet." in screen_text(app)


async def test_a_thousand_stored_items_are_paged_not_loaded(write_config, tmp_path):
    db = tmp_path / "pw.db"
    prefill(db, 1000)
    app = history_app(write_config, db)
    async with app.run_test(size=(140, 40)) as pilot:
        headlines = app.query_one("#headlines", HeadlineList)
        await until(pilot, lambda: len(headlines.items) > 0)
        await pilot.pause()
        assert len(headlines.items) == FIRST_PAGE  # the engine's hand-over, used as it is
        assert f"all · {FIRST_PAGE}+" in headlines.border_title
        for _ in range(3):
            await pilot.press("pagedown")
        assert len(headlines.items) == FIRST_PAGE  # scrolling a little loads nothing more
        await pilot.press("f", "a")  # a filter change reloads a page at a time
        assert len(headlines.items) == PAGE
        await pilot.press("G")  # the oldest page, not every page in between
        assert len(headlines.items) == PAGE and headlines.cursor == PAGE - 1
        assert headlines.current.title == "Stored headline number 00000 about markets"
        assert f"all · {PAGE}+" in headlines.border_title
        await pilot.press("g")  # and back to the newest
        assert headlines.cursor == 0 and headlines.current.title == "Stored headline number 00999 about markets"


async def test_end_jumps_to_the_oldest_and_the_list_pages_back_up_from_there(write_config, tmp_path):
    """End (G) on a long history loads the oldest page only (loading every page on the
    event loop froze the monitor: minutes and gigabytes at 5 million items); walking up
    from there loads each newer page in turn, joining up with no gap and no repeat, and
    keeps the cursor on the headline it was on."""
    db = tmp_path / "pw.db"
    prefill(db, 1000)
    app = history_app(write_config, db)
    async with app.run_test(size=(140, 40)) as pilot:
        headlines = await paged_list(app, pilot)
        pages = record_pages(headlines, lambda args, kwargs: kwargs)
        await pilot.press("end")
        assert pages == [{"oldest": True}]
        assert headlines.current.title == "Stored headline number 00000 about markets"
        assert "Stored headline number 00000" in screen_text(app)
        seen = headlines.current
        for _ in range(PAGE + 30):
            await pilot.press("up")
            assert headlines.current is not seen and headlines.current.title > seen.title
            seen = headlines.current
        assert len(pages) == 2 and "after" in pages[1]  # one newer page, loaded ahead of the cursor
        assert headlines.current.title == f"Stored headline number {PAGE + 30:05d} about markets"
        assert f"{PAGE + 30:05d}" in screen_text(app)  # the screen follows the cursor
        while "after" in (pages[-1] if pages else {}) and len(headlines.items) < 1000:
            await pilot.press("pageup")
            if headlines.cursor == 0:
                break
        for _ in range(40):
            await pilot.press("pageup")
        titles = [i.title for i in headlines.items]
        assert titles == [f"Stored headline number {n:05d} about markets" for n in range(999, -1, -1)]
        assert headlines.cursor == 0
        assert "all · 1000 ·" in headlines.border_title  # the whole history now, newest on top


async def test_the_loaded_window_stays_within_its_pages_both_ways(write_config, tmp_path, two_page_window):
    """Scrolling through a long history keeps at most WINDOW_PAGES pages loaded: a page
    loaded at one end drops as many headlines at the other, the cursor moving through
    every headline in order, with no gap or repeat, down to the oldest and back up to
    the newest (the window grew without end: every headline scrolled past stayed in
    memory, and each batch of new ones merged into all of them)."""
    db = tmp_path / "pw.db"
    prefill(db, 1000)
    app = history_app(write_config, db)
    async with app.run_test(size=(140, 40)) as pilot:
        headlines = await paged_list(app, pilot)
        number = lambda: int(headlines.current.title.split()[3])  # noqa: E731
        assert number() == 999
        page_step = headlines.size.height // headlines._row_height - 1
        biggest = 0
        while number() > 0:
            before = number()
            await pilot.press("pagedown")
            step = before - number()
            assert step == min(before, page_step), (before, number())
            biggest = max(biggest, len(headlines.items))
        assert biggest <= 2 * PAGE + PAGE and len(headlines.items) <= 2 * PAGE
        assert f"{0:05d} about markets" in screen_text(app)  # the screen follows the cursor
        while number() < 999:
            before = number()
            await pilot.press("pageup")
            assert number() - before == min(999 - before, page_step), (before, number())
            biggest = max(biggest, len(headlines.items))
        assert biggest <= 3 * PAGE and headlines.cursor == 0
        titles = [i.title for i in headlines.items]
        assert titles == [f"Stored headline number {n:05d} about markets" for n in range(999, 999 - len(titles), -1)]


async def test_new_headlines_keep_the_window_within_its_pages(write_config, tmp_path, two_page_window):
    """A monitor left open all day takes in new headlines at the top: the loaded window
    keeps to its pages all the same, dropping the oldest (a page and more below the view),
    and paging down afterwards still walks every headline in order, the dropped ones read
    again from the store (new headlines used to be merged into a window that grew without
    end: every batch then sorted all of them, and each stayed in memory)."""
    from feeds.model import NewItems

    db = tmp_path / "pw.db"
    prefill(db, 300)
    app = history_app(write_config, db)
    async with app.run_test(size=(140, 40)) as pilot:
        headlines = await paged_list(app, pilot)
        base = datetime(2025, 8, 1, tzinfo=timezone.utc)
        for batch in range(6):
            numbers = range(300 + 50 * batch, 350 + 50 * batch)
            with Store(db) as store:
                new = store.ingest("Stored feed", [
                    make_item("Stored feed", title=f"Stored headline number {n:05d} about markets", summary="new",
                              link=f"https://example.com/stored/{n}", guid=None, published=base + timedelta(minutes=n))
                    for n in numbers], now=base + timedelta(days=2))
            app.sink(NewItems(tuple(new), feed="Stored feed"))
            await pilot.pause()
            assert len(headlines.items) <= 2 * PAGE, (batch, len(headlines.items))
            assert headlines.cursor == 0 and int(headlines.current.title.split()[3]) == 349 + 50 * batch
        seen = []
        for _ in range(200):
            seen.append(int(headlines.current.title.split()[3]))
            if seen[-1] == 0:
                break
            await pilot.press("pagedown")
        numbers = sorted({n for n in seen}, reverse=True)
        assert seen == numbers and seen[0] == 599 and seen[-1] == 0  # in order, down to the oldest
        page_step = headlines.size.height // headlines._row_height - 1
        assert all(a - b == page_step for a, b in zip(seen, seen[1:-1]))  # no gap: a screen a press


async def test_home_and_a_filter_from_the_oldest_end_load_one_page(write_config, tmp_path):
    """From the oldest end, g and a filter key each load the newest page and nothing
    next to the window they replace (whose scroll position pointed deep down)."""
    db = tmp_path / "pw.db"
    prefill(db, 1000)
    app = history_app(write_config, db)
    async with app.run_test(size=(140, 40)) as pilot:
        headlines = await paged_list(app, pilot)
        pages = record_pages(headlines, lambda args, kwargs: (args[0], kwargs))
        await pilot.press("end", "pageup", "g")
        assert pages == [("all", {"oldest": True}), ("all", {})]
        assert headlines.cursor == 0 and headlines.scroll_offset.y == 0 and len(headlines.items) == PAGE
        assert headlines.current.title == "Stored headline number 00999 about markets"
        pages.clear()
        await pilot.press("end", "f")
        assert pages == [("all", {"oldest": True}), ("flagged", {})]
        assert headlines.cursor == 0 and headlines.scroll_offset.y == 0
        await pilot.press("a")
        assert headlines.current.title == "Stored headline number 00999 about markets"


async def test_the_health_screen_reads_the_feed_states_in_one_query(write_config, tmp_path):
    """Once a second the health screen reads every feed's state: one query for them all,
    and no count of each feed's items (it shows none; at 5 million items the counts took
    315 ms a second on the event loop, a query per feed besides)."""
    db = tmp_path / "pw.db"
    prefill(db, 50, feed="Feed 03")
    config = offline_config(write_config, feeds=[(f"Feed {n:02d}", f"http://127.0.0.1:9/{n}") for n in range(30)])
    app = app_for(config, db)
    async with app.run_test(size=(140, 40)) as pilot:
        await until(pilot, lambda: app.engine is not None and app.engine.store is not None)
        await pilot.press("s")
        assert isinstance(app.screen, HealthScreen)
        statements = []
        app.engine.store.db.set_trace_callback(statements.append)
        try:
            app.screen.update_states()
        finally:
            app.engine.store.db.set_trace_callback(None)
        reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
        assert len(reads) == 1 and "count(" not in reads[0].lower(), reads
        assert app.screen.query_one("FeedTable").row_count == 30
    with Store(db) as store:  # the counts themselves still read back where asked for
        assert store.feed_state("Feed 03").item_count == 50


async def test_n_looks_a_few_pages_ahead_at_a_time(write_config, tmp_path):
    """n finds the next unread headline; when none is near, it loads a few pages per
    press and says so, instead of reading the whole history on the event loop."""
    db = tmp_path / "pw.db"
    prefill(db, 3000)
    with Store(db) as store:
        store.w.execute("UPDATE items SET read = 1 WHERE title != 'Stored headline number 00002 about markets'")
    app = history_app(write_config, db)
    async with app.run_test(size=(140, 40)) as pilot:
        headlines = await paged_list(app, pilot)
        await pilot.press("n")
        assert headlines.cursor == 0 and len(headlines.items) == NEXT_UNREAD_PAGES * PAGE + FIRST_PAGE
        assert any("No unread headline" in n.message for n in app._notifications)
        while headlines.current is None or headlines.current.read:
            await pilot.press("n")
        assert headlines.current.title == "Stored headline number 00002 about markets"


async def test_n_finds_every_unread_headline_in_order_in_a_window_of_few_pages(write_config, tmp_path, two_page_window):
    """With the loaded window capped (two pages here), n still stops at every unread
    headline in order, including those just past where a page drops headlines above."""
    db = tmp_path / "pw.db"
    prefill(db, 2000)
    unread = sorted({1999, 1799, 1600, 1599, 1401, 1000, 999, 201, 200, 3}, reverse=True)
    with Store(db) as store:
        store.w.execute("UPDATE items SET read = 1")
        for n in unread:
            store.w.execute("UPDATE items SET read = 0 WHERE title = ?", (f"Stored headline number {n:05d} about markets",))
    app = history_app(write_config, db)
    async with app.run_test(size=(140, 40)) as pilot:
        headlines = await paged_list(app, pilot)
        found = [int(headlines.current.title.split()[3])]  # the newest is unread: the cursor is on it
        for _ in range(40):
            await pilot.press("n")
            number = int(headlines.current.title.split()[3])
            if number != found[-1]:
                found.append(number)
            if number == unread[-1]:
                break
        assert found == unread
        assert len(headlines.items) <= 3 * PAGE + NEXT_UNREAD_PAGES * PAGE


async def test_new_headlines_wait_above_a_list_that_starts_further_down(write_config, tmp_path):
    """At the oldest end of a long history, new headlines are counted above (g: top), not
    put into a list that does not reach them."""
    from feeds.model import NewItems

    db = tmp_path / "pw.db"
    prefill(db, 600)
    app = history_app(write_config, db)
    async with app.run_test(size=(140, 40)) as pilot:
        headlines = await paged_list(app, pilot)
        await pilot.press("end")
        oldest_window = [i.title for i in headlines.items]
        with Store(db) as store:
            new = store.ingest("Stored feed", [make_item("Stored feed", title="A brand new headline about pensions",
                                                         summary="", link="https://example.com/new", guid=None,
                                                         published=datetime.now(timezone.utc))])
        app.sink(NewItems(tuple(new), feed="Stored feed"))
        await pilot.pause()
        assert [i.title for i in headlines.items] == oldest_window
        assert "1 new (g: top)" in headlines.border_subtitle
        await pilot.press("g")
        assert headlines.cursor == 0 and headlines.current.title == "A brand new headline about pensions"


async def test_detail_lists_every_source_and_read_state_persists(server, write_config, tmp_path):
    db = tmp_path / "pw.db"
    server.add("/policy.rss", Route.file(DATA / "tui" / "policy.rss", content_type=RSS))
    server.add("/wire.rss", Route.file(DATA / "tui" / "wire.rss", content_type=RSS))
    config = offline_config(write_config, feeds=[("Policy desk", server.url("/policy.rss")),
                                                 ("Wire", server.url("/wire.rss"))])
    app = app_for(config, db)
    async with app.run_test(size=(140, 40)) as pilot:
        headlines = app.query_one("#headlines", HeadlineList)
        await until(pilot, lambda: len(headlines.items) == 4 and "2/2 feeds ok" in screen_text(app))
        first = headlines.items[0]
        assert first.title.startswith("Executive Order: Democratizing Access")
        assert first.classification is not None and first.classification.priority == "high"
        await pilot.press("enter")
        assert isinstance(app.screen, DetailScreen)
        text = screen_text(app)
        assert "Policy desk" in text and "Wire" in text  # both feeds carried the story
        await pilot.press("escape")
        await pilot.press("h")
        assert [i.title for i in headlines.items] == [first.title]
        await pilot.press("q")
    with Store(db) as store:
        stored = {i.title: i.read for i in store.recent(10)}
    assert stored[first.title] is True
    assert sum(stored.values()) == 1


async def test_r_polls_every_feed_now_and_search_uses_the_store(server, write_config, tmp_path):
    db = tmp_path / "pw.db"
    server.add("/policy.rss", Route.file(DATA / "tui" / "policy.rss", content_type=RSS))
    config = offline_config(write_config, feeds=[("Policy desk", server.url("/policy.rss"))])
    app = app_for(config, db)
    async with app.run_test(size=(140, 40)) as pilot:
        headlines = app.query_one("#headlines", HeadlineList)
        await until(pilot, lambda: len(headlines.items) == 3)
        before = len(server.requests_to("/policy.rss"))
        await pilot.press("r")
        await until(pilot, lambda: len(server.requests_to("/policy.rss")) > before)
        await pilot.press("slash")
        assert isinstance(app.screen, SearchScreen)
        await pilot.press(*"tokenization", "enter")
        results = app.screen.query_one(HeadlineList)
        assert [i.title for i in results.items] == ["SEC roundtable on tokenization of securities set for September"]


async def test_typing_a_search_never_waits_for_one(write_config, tmp_path, monkeypatch):
    """The search screen searches as the reader types; a search that takes long (a short
    prefix over millions of items took 1.3 s, on the event loop) runs off the loop: the
    keys typed meanwhile show at once, the screen says it is searching, the search a newer
    one supersedes is interrupted, and only the last query's results show."""
    import time as _time

    db = tmp_path / "pw.db"
    prefill(db, 400)
    real = Store.reader

    def slow_reader(path):  # SQLite itself made slow: it sleeps in its progress handler
        store = real(path)
        store.db.set_progress_handler(lambda: _time.sleep(0.003) or 0, 100)
        return store

    monkeypatch.setattr(Store, "reader", staticmethod(slow_reader))
    app = history_app(write_config, db)
    async with app.run_test(size=(140, 40)) as pilot:
        await paged_list(app, pilot)
        await pilot.press("slash")
        screen = app.screen
        assert isinstance(screen, SearchScreen)
        began = _time.monotonic()
        await pilot.press(*"sto")  # the first search starts at three letters
        await pilot.press(*"red")
        typed = _time.monotonic() - began
        assert screen.query_one("#search-input").value == "stored"
        assert typed < 1.0, typed
        await until(pilot, lambda: "Searching for stored" in screen_text(app))
        await until(pilot, lambda: "The newest 200 results" in screen_text(app), timeout=30)
        results = screen.query_one("#search-results", HeadlineList)
        assert all("Stored" in item.title for item in results.items)
        assert screen.searches == 4  # sto, stor, store, stored: the first three interrupted


async def test_search_results_load_older_pages_as_the_reader_scrolls(write_config, tmp_path):
    """A search shows its newest 200 results; scrolling to the end loads the next older
    page (off the event loop) until every match is shown, in the store's order."""
    db = tmp_path / "pw.db"
    prefill(db, 450)
    app = history_app(write_config, db)
    async with app.run_test(size=(140, 40)) as pilot:
        await paged_list(app, pilot)
        await pilot.press("slash", *"markets", "enter")
        screen = app.screen
        await until(pilot, lambda: "The newest 200 results" in screen_text(app))
        results = screen.query_one("#search-results", HeadlineList)
        assert len(results.items) == 200 and results.has_more
        await pilot.press("end")
        await until(pilot, lambda: len(results.items) == 400)
        await pilot.press("end")
        await until(pilot, lambda: "450 results" in screen_text(app))
        assert not results.has_more
        with Store(db) as store:
            assert [i.id for i in results.items] == [i.id for i in store.search("markets", 1000)]
        await pilot.press("end")  # nothing older: no more searches
        await pilot.pause()
        assert len(results.items) == 450


async def test_health_screen_reads_the_engine_and_polls_one_feed(server, write_config, tmp_path):
    db = tmp_path / "pw.db"
    server.add("/policy.rss", Route.file(DATA / "tui" / "policy.rss", content_type=RSS))
    server.add("/down.rss", Route(status=503, body=b"down", content_type="text/plain"))
    config = offline_config(write_config, feeds=[("Policy desk", server.url("/policy.rss")),
                                                 ("Down desk", server.url("/down.rss"))])
    app = app_for(config, db)
    async with app.run_test(size=(140, 40)) as pilot:
        await until(pilot, lambda: "1/2 feeds ok, 1 failing" in screen_text(app).splitlines()[0], timeout=5)
        await pilot.press("s")
        assert isinstance(app.screen, HealthScreen)
        text = screen_text(app)
        assert "Policy desk" in text and "Down desk" in text and "503" in text
        before = len(server.requests_to("/down.rss"))
        await pilot.press("enter")  # the feed in trouble is the first row
        await until(pilot, lambda: len(server.requests_to("/down.rss")) > before)


async def test_prices_flow_from_a_loopback_exchange_to_the_panes(server, write_config, tmp_path):
    db = tmp_path / "pw.db"
    server.add("/v2/prices/BTC-USD/spot", Route(
        body=json.dumps({"data": {"amount": "116300.00", "base": "BTC", "currency": "USD"}}).encode(),
        content_type="application/json"))
    config = offline_config(write_config, feeds=[])
    config = replace(config, prices=replace(
        config.prices, sources=(PriceSourceConfig(kind="coinbase", url=server.base),), interval=1.0))
    app = app_for(config, db)
    async with app.run_test(size=(140, 40)) as pilot:
        pane = app.query_one(PricePane)
        await until(pilot, lambda: pane.aggregate is not None and pane.aggregate.price is not None)
        assert str(pane.aggregate.price) == "116300.00"
        assert "BTC 748,065" in app.query_one("#scenario").render().plain
        await pilot.press("q")
    with Store(db) as store:
        assert store.latest_tick("BTC-USD").price == pane.aggregate.price  # the ticks were stored


async def test_startup_shows_the_last_stored_price_before_any_exchange_answers(server, write_config, tmp_path):
    from decimal import Decimal

    from feeds.model import PriceTick

    db = tmp_path / "pw.db"
    now = datetime.now(timezone.utc)
    with Store(db) as store:
        store.add_ticks([PriceTick("coinbase", "BTC-USD", Decimal(115000 + n), now - timedelta(minutes=5 * (60 - n)))
                         for n in range(60)])
    server.add("/v2/prices/BTC-USD/spot", Route(
        body=json.dumps({"data": {"amount": "116300.00", "base": "BTC", "currency": "USD"}}).encode(),
        content_type="application/json", delay=3.0))
    config = offline_config(write_config, feeds=[])
    config = replace(config, prices=replace(
        config.prices, sources=(PriceSourceConfig(kind="coinbase", url=server.base),)))
    app = app_for(config, db)
    async with app.run_test(size=(170, 40)) as pilot:
        pane = app.query_one(PricePane)
        await until(pilot, lambda: pane.aggregate is not None and pane.aggregate.price is not None, timeout=1.5)
        assert pane.aggregate.price == Decimal(115059)
        assert len(pane.points) == 60
        assert "stale 5 min" in screen_text(app)  # the stored price is old, and says so
        await until(pilot, lambda: pane.aggregate.price == Decimal("116300.00"), timeout=10)
        assert "stale" not in app.query_one("#price-warn").render().plain
