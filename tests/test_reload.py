"""Config hot reload against a running engine: real files edited on disk, a real loopback
feed server and a real SQLite store."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from feeds.config import load_config
from feeds.engine import Engine
from feeds.model import AlertRaised, ConfigReloaded, NewItems
from feeds.reload import ConfigWatcher, watched_path
from tests.loopback import Route
from tests.loopgaps import loop_gaps

DATA = Path(__file__).parent / "data" / "feeds"


def text(feeds: dict[str, str], extra: str = "", interval: int = 60) -> str:
    out = "[fetch]\njitter = 0\n" + extra + "\n"
    for name, url in feeds.items():
        out += f'[[feeds]]\nname = "{name}"\nurl = "{url}"\ninterval = {interval}\n'
    return out


def edit(path: Path, content: str) -> None:
    """Write like an editor: a new mtime even within the same clock tick."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(content, encoding="utf-8")
    if path.stat().st_mtime_ns == before:
        os.utime(path, ns=(before + 1_000_000, before + 1_000_000))


async def until(predicate, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


@pytest.fixture
async def running(server, write_config, tmp_path):
    """An engine polling feed `one`, started from a user config file."""
    one = server.add("/one.rss", Route.file(DATA / "policy.rss"))
    two = server.add("/two.rss", Route.file(DATA / "history.rss"))
    path = write_config(text({"one": one}))
    events: list = []
    engine = Engine(load_config(path), tmp_path / "db.sqlite", events.append)
    await engine.start()
    await until(lambda: any(isinstance(e, NewItems) and not e.initial for e in events))
    yield engine, path, events, {"one": one, "two": two}
    await engine.stop()


async def test_added_feed_is_polled_and_removed_feed_unscheduled(running, server):
    engine, path, events, urls = running
    watcher = ConfigWatcher(engine, path)
    assert await watcher.check() is None  # nothing changed yet
    edit(path, text({"one": urls["one"], "two": urls["two"]}))
    event = await watcher.check()
    assert event.ok and event.changes == ("added feed 'two'",) and event.restart_needed == ()
    assert events[-1] is event or event in events
    await until(lambda: any(isinstance(e, NewItems) and e.feed == "two" for e in events))
    assert set(engine.scheduler.job_ids()) >= {"feed:one", "feed:two"}

    hits = len(server.requests_to("/one.rss"))
    edit(path, text({"two": urls["two"]}))
    event = await watcher.check()
    assert event.changes == ("removed feed 'one'",)
    assert "feed:one" not in engine.scheduler.job_ids()
    await engine.refresh()  # a refresh covers the configured feeds only
    assert len(server.requests_to("/one.rss")) == hits
    assert [s.feed for s in engine.feed_states()] == ["two"]


async def test_changed_url_is_polled_at_once(running, server):
    engine, path, events, urls = running
    watcher = ConfigWatcher(engine, path)
    edit(path, text({"one": urls["two"]}))
    event = await watcher.check()
    assert event.changes == ("changed feed 'one'",)
    await until(lambda: server.requests_to("/two.rss"))


async def test_invalid_edit_is_reported_and_the_running_config_kept(running):
    engine, path, events, urls = running
    before = engine.config
    watcher = ConfigWatcher(engine, path)
    edit(path, text({"one": urls["one"]}) + '[[feeds]]\nname = "two"\nurl = "gopher://old.example"\n')
    event = await watcher.check()
    assert not event.ok and event.changes == ()
    assert event.error == f"{path}: feeds[1].url: must be an http or https URL"
    assert engine.config is before and "feed:one" in engine.scheduler.job_ids()
    edit(path, "not = [valid toml")
    event = await watcher.check()
    assert "not valid TOML" in event.error and engine.config is before
    path.unlink()
    event = await watcher.check()
    assert "file not found" in event.error and engine.config is before
    assert [e for e in events if isinstance(e, ConfigReloaded)] == [
        e for e in events if isinstance(e, ConfigReloaded) and not e.ok]


async def test_classifier_change_reclassifies_stored_items(running):
    engine, path, events, urls = running
    flagged_before = engine.count(flagged_only=True)
    assert flagged_before > 0
    watcher = ConfigWatcher(engine, path)
    edit(path, text({"one": urls["one"]}, '[classifier]\nflag = "false"\nhigh = "false"\n'))
    event = await watcher.check()
    assert event.ok and event.reclassified == engine.count() > 0
    assert any(c.startswith("classifier rules") for c in event.changes)
    assert engine.count(flagged_only=True) == 0
    assert all(i.classification.flag is False for i in engine.recent())


async def test_a_reload_that_rewrites_the_history_leaves_the_event_loop_free(running, monkeypatch):
    """Reclassifying every stored item (new rules) and pruning (new retention) run in the
    writer thread while the loop goes on: the reload waited for them on the event loop,
    which froze the monitor for as long as they took (minutes at millions of items)."""
    engine, path, events, urls = running
    real_reclassify, real_prune = Engine._reclassify_step, Engine._prune

    def slow(real):
        def run(self, *args, **kwargs):
            time.sleep(0.6)  # the writer's work on a long history
            return real(self, *args, **kwargs)
        return run

    monkeypatch.setattr(Engine, "_reclassify_step", slow(real_reclassify))
    monkeypatch.setattr(Engine, "_prune", slow(real_prune))
    watcher = ConfigWatcher(engine, path)
    edit(path, text({"one": urls["one"]}, '[store]\nretention_days = 3650\n'
                                         '[classifier]\nflag = "false"\nhigh = "false"\n'))
    async with loop_gaps() as gaps:
        event = await watcher.check()
    assert event.ok and event.reclassified == engine.count() > 0
    assert any("retention" in change for change in event.changes)
    assert sum(gaps) > 1.0 and max(gaps) < 0.3, max(gaps)


async def test_new_alert_rules_apply_to_the_next_items(running, server):
    engine, path, events, urls = running
    assert not any(isinstance(e, AlertRaised) for e in events)  # the shipped rule: old news stays quiet
    watcher = ConfigWatcher(engine, path)
    edit(path, text({"one": urls["one"], "two": urls["two"]},  # the recorded feeds are old: any age
                    '[alerts]\nmax_age_hours = 0\n[[alerts.rules]]\nname = "any flagged"\nwhen = "flag"\n'))
    event = await watcher.check()
    assert "alert rules (1)" in event.changes and "added feed 'two'" in event.changes
    await until(lambda: any(isinstance(e, NewItems) and e.feed == "two" for e in events))
    new = [i for e in events if isinstance(e, NewItems) and e.feed == "two" for i in e.items]
    alerts = [e.alert for e in events if isinstance(e, AlertRaised)]
    assert [a.title for a in alerts] == [i.title for i in new if i.classification.flag]
    assert alerts and all(a.rule == "any flagged" for a in alerts)


async def test_sections_the_engine_cannot_swap_say_restart(running):
    engine, path, events, urls = running
    watcher = ConfigWatcher(engine, path)
    edit(path, text({"one": urls["one"]}, "per_host = 1"))  # lands in [fetch]
    event = await watcher.check()
    assert event.ok and event.restart_needed == ("fetch",)


async def test_watcher_task_notices_edits_and_atomic_replaces(running, tmp_path):
    engine, path, events, urls = running
    watcher = ConfigWatcher(engine, path, interval=0.1).start()
    try:
        replacement = tmp_path / "new.toml"
        replacement.write_text(text({"one": urls["one"], "two": urls["two"]}), encoding="utf-8")
        os.replace(replacement, path)  # how many editors save
        await until(lambda: any(isinstance(e, ConfigReloaded) for e in events))
        [event] = [e for e in events if isinstance(e, ConfigReloaded)]
        assert event.changes == ("added feed 'two'",) and event.path == str(path)
    finally:
        await watcher.stop()


async def test_without_a_user_file_the_xdg_file_is_watched(server, tmp_path):
    config = load_config()
    assert config.user_file is None
    assert watched_path(config) == Path(os.environ["XDG_CONFIG_HOME"]) / "policywatch" / "config.toml"
    one = server.add("/one.rss", Route.file(DATA / "policy.rss"))
    events: list = []
    engine = Engine(config, tmp_path / "db.sqlite", events.append)
    watcher = ConfigWatcher(engine)
    assert await watcher.check() is None
    target = watched_path(config)
    target.parent.mkdir(parents=True)
    target.write_text(text({"one": one}), encoding="utf-8")
    event = await watcher.check()
    assert event.ok and "added feed 'one'" in event.changes
    assert any(c.startswith("removed feed") for c in event.changes)  # the defaults went
    assert [f.name for f in engine.config.feeds] == ["one"]
    await engine.stop()


async def test_parse_workers_classify_with_the_reloaded_rules(server, write_config, tmp_path):
    """Responses above the in-place size are parsed and classified in worker processes,
    which hold the rules they were started with: after a rules reload, a large feed's items
    must still be stored as the new rules say (found reading the reload path)."""
    from datetime import datetime, timedelta, timezone

    from feeds.engine import SMALL_RESPONSE
    from tests.newsfeed import rss

    now = datetime.now(timezone.utc)

    def big(tag: str) -> bytes:
        entries = [(f"SEC rule {tag} {n} lets 401(k) plans hold bitcoin, Labor Department says",
                    "The proposal would let retirement savers buy crypto. " * 6,
                    f"https://news.example/{tag}/{n}", now - timedelta(minutes=n)) for n in range(80)]
        body = rss(entries)
        assert len(body) > SMALL_RESPONSE  # parsed by the workers, not in place
        return body

    urls = {"big": server.add("/big.rss", Route(body=big("a"))), "later": server.add("/later.rss", Route(body=big("b")))}
    head = "[fetch]\njitter = 0\nparse_processes = 1\n"
    path = write_config(head + f'[[feeds]]\nname = "big"\nurl = "{urls["big"]}"\ninterval = 600\n')
    events: list = []
    engine = Engine(load_config(path), tmp_path / "db.sqlite", events.append)
    await engine.start(prices=False)
    try:
        await until(lambda: any(isinstance(e, NewItems) and e.feed == "big" for e in events), timeout=60)
        assert engine.count(flagged_only=True) == 80
        watcher = ConfigWatcher(engine, path)
        edit(path, head + '[classifier]\nflag = "false"\nhigh = "false"\n'
             + "".join(f'[[feeds]]\nname = "{n}"\nurl = "{u}"\ninterval = 600\n' for n, u in urls.items()))
        event = await watcher.check()
        assert event.ok and event.reclassified == 80
        await until(lambda: any(isinstance(e, NewItems) and e.feed == "later" for e in events), timeout=60)
        assert engine.count() == 160
        assert engine.count(flagged_only=True) == 0
    finally:
        await engine.stop()
