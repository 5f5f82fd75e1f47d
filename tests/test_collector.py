"""tui.collector: full GC collections wait for the reader to stop typing, but not forever."""

from __future__ import annotations

import gc

import pytest

from tests.tuikit import clock, offline_config
from tui.app import PolicyWatchApp
from tui.collector import IdleCollector


@pytest.fixture
def collector():
    now = [1000.0]
    c = IdleCollector(idle_after=1.0, due=3, overdue=6, clock=lambda: now[0])
    c.now = now  # the test moves the clock
    before = gc.get_threshold()
    try:
        yield c.install()
    finally:
        c.uninstall()
        assert gc.get_threshold() == before


def young_collections(n: int) -> None:
    for _ in range(n):
        gc.collect(1)  # each counts towards the next full collection, as CPython's own do


def test_install_freezes_the_start_up_and_stops_cpythons_own_full_collections(collector):
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold()[2] >= 1 << 30
    assert gc.get_threshold()[0] == collector.young
    collector.uninstall()
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold()[2] < 1000


def test_a_due_collection_waits_for_a_second_without_input(collector):
    gc.collect()
    young_collections(2)
    assert not collector.tick()  # not due yet
    young_collections(1)
    collector.input()
    assert not collector.tick()  # due, but the reader just pressed a key
    collector.now[0] += 0.5
    assert not collector.tick()
    collector.now[0] += 0.6
    assert collector.tick() and collector.collections == 1
    assert collector.pending() == 0  # a real full collection: the count starts again
    assert not collector.tick()


def test_an_overdue_collection_runs_while_the_reader_types(collector):
    gc.collect()
    young_collections(6)
    collector.input()
    assert collector.tick() and collector.pending() == 0


def test_cyclic_garbage_is_freed_by_the_idle_collection(collector):
    import weakref

    class Node:
        pass

    gc.collect()
    a, b = Node(), Node()
    a.other, b.other = b, a
    alive = weakref.ref(a)
    young_collections(3)  # both survive into the oldest generation
    del a, b
    young_collections(3)
    assert alive() is not None  # only a full collection reaches it, and none ran by itself
    collector.now[0] += 5
    assert collector.tick()
    assert alive() is None


async def test_the_app_reports_keys_and_collects_on_its_clock_tick_when_idle(write_config, collector):
    app = PolicyWatchApp(offline_config(write_config), clock=clock, collector=collector)
    async with app.run_test(size=(120, 40)) as pilot:
        gc.collect()
        young_collections(3)
        await pilot.press("j")
        assert collector.last_input == collector.now[0]
        app._tick_second()
        assert collector.collections == 0  # due, but a key was just pressed
        collector.now[0] += 2
        app._tick_second()
        assert collector.collections == 1
