"""Snapshots of the monitor's layouts (pytest-textual-snapshot). Everything on screen is
fixed: the clock, the headlines, the price history and the feed states, local time is UTC.
After an intended change of look, review and accept with `pytest --snapshot-update`."""

from __future__ import annotations

from datetime import timedelta

import pytest

from feeds.model import FeedState, FeedStatus, NewItems, PriceHistory
from tests.tuikit import NOW, aggregate, clock, fixed_tz, offline_config, sample_items, tick
from tui.app import PolicyWatchApp

FEEDS = [("White House presidential actions", "http://127.0.0.1:9/wh"), ("SEC press releases", "http://127.0.0.1:9/sec"),
         ("CoinDesk", "http://127.0.0.1:9/cd"), ("Federal Reserve press releases", "http://127.0.0.1:9/fed")]


@pytest.fixture
def app(write_config, monkeypatch):
    fixed_tz(monkeypatch)
    return PolicyWatchApp(offline_config(write_config, feeds=FEEDS), clock=clock)


def populated(app):
    async def run_before(pilot) -> None:
        app.sink(NewItems(tuple(sample_items()), initial=True))
        history = tuple(tick("coinbase", str(114900 + (i * 37) % 900 + 5 * i), seconds_ago=300 * (288 - i))
                        for i in range(288))
        app.sink(PriceHistory("BTC-USD", history))
        app.sink(aggregate("116300.00"))
        for name, url in FEEDS[:3]:
            app.sink(FeedStatus(FeedState(feed=name, url=url, last_success=NOW - timedelta(minutes=2))))
        app.sink(FeedStatus(FeedState(feed=FEEDS[3][0], url=FEEDS[3][1], failures=2, last_error="HTTP 503",
                                      last_error_at=NOW)))
        await pilot.pause()

    return run_before


def test_wide_layout(snap_compare, app):
    assert snap_compare(app, terminal_size=(140, 40), run_before=populated(app))


def test_very_wide_layout_one_line_rows(snap_compare, app):
    assert snap_compare(app, terminal_size=(200, 40), run_before=populated(app), press=["j", "j"])


def test_narrow_layout(snap_compare, app):
    assert snap_compare(app, terminal_size=(80, 24), run_before=populated(app))


def test_narrow_layout_scenario_pane(snap_compare, app):
    assert snap_compare(app, terminal_size=(80, 24), run_before=populated(app), press=["tab", "tab", "plus"])


def test_detail_view(snap_compare, app):
    assert snap_compare(app, terminal_size=(100, 30), run_before=populated(app), press=["enter"])
