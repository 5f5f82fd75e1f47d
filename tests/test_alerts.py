"""Alert rules: matching on real classifications, config errors, hooks as real processes
(JSON on stdin, timeouts that kill, failures that are only logged) and the engine wiring."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from feeds.alerts import AlertRules, HookRunner, run_hook
from feeds.classify import Classifier
from feeds.config import ConfigError, load_config
from feeds.engine import Engine
from feeds.model import AlertRaised, NewItems
from feeds.parse import make_item
from tests.loopback import Route
from tests.newsfeed import FRESH_HIGH, OLD_HIGH, fresh_and_old

DATA = Path(__file__).parent / "data" / "feeds"
PY = sys.executable

RULES = """
[[feeds]]
name = "wire"
url = "http://127.0.0.1:9/wire"
[[feeds]]
name = "other"
url = "http://127.0.0.1:9/other"

[[alerts.rules]]
name = "high"
when = "high"
bell = true

[[alerts.rules]]
name = "sec crypto"
when = "policy and crypto"
toast = false

[[alerts.rules]]
name = "wire only"
when = "flag"
feeds = ["wire"]
"""


def item(config, title: str, summary: str = "", feed: str = "wire", link: str | None = None):
    base = make_item(feed, title=title, summary=summary, link=link or f"https://news.example.org/{abs(hash(title))}",
                     guid=None, published=None)
    classifier = Classifier.from_config(config.classifier)
    from dataclasses import replace

    return replace(base, classification=classifier.classify(base.title, base.summary), sources=(feed,))


@pytest.fixture
def config(write_config):
    return load_config(write_config(RULES))


def test_rules_match_on_tags_priority_and_feed(config):
    rules = AlertRules.from_config(config)
    high = item(config, "Executive order opens 401(k) plans to crypto and private equity",
                "The Labor Department is told to revisit its guidance.")
    assert high.classification.priority == "high"
    alerts = rules.match(high)
    assert [a.rule for a in alerts] == ["high", "sec crypto", "wire only"]
    by_rule = {a.rule: a for a in alerts}
    assert by_rule["high"].bell and by_rule["high"].toast
    assert not by_rule["sec crypto"].toast and not by_rule["sec crypto"].bell
    for a in alerts:
        assert a.title == high.title and a.link == high.link and a.feed == "wire"
    # The terms behind the tags the rule names, not just a count.
    crypto_terms = {m.term for m in high.classification.matches if m.tag in ("policy", "crypto")}
    assert set(by_rule["sec crypto"].matches) == crypto_terms and "crypto" in by_rule["sec crypto"].matches
    assert set(by_rule["high"].matches) == {m.term for m in high.classification.matches}

    elsewhere = item(config, high.title, high.summary, feed="other")
    assert [a.rule for a in rules.match(elsewhere)] == ["high", "sec crypto"]

    price = item(config, "Bitcoin slips 2% as traders await Fed minutes")
    assert price.classification.tags and not price.classification.flag
    assert rules.match(price) == []
    from dataclasses import replace

    assert rules.match(replace(high, classification=None)) == []


@pytest.mark.parametrize("rule, key, problem", [
    ("name = 'x'\nwhen = 'policy and'", "alerts.rules[0].when", "ends too early"),
    ("name = 'x'\nwhen = 'policy and weather'", "alerts.rules[0].when", "unknown name 'weather'"),
    ("name = 'x'\nwhen = 'flag'\nfeeds = ['nope']", "alerts.rules[0].feeds[0]", "names no configured feed"),
    ("name = 'x'\nwhen = 'flag'\nhook = []", "alerts.rules[0].hook", "must not be empty"),
    ("name = 'x'\nwhen = 'flag'\nhook = 'notify-send hi'", "alerts.rules[0].hook", "must be an array"),
    ("name = 'x'\nwhen = 'flag'\nhook = ['notify-send', 3]", "alerts.rules[0].hook[1]", "non-empty string"),
    ("name = 'x'\nwhen = 'flag'\nhook_timeout = 0", "alerts.rules[0].hook_timeout", "must be positive"),
    ("name = 'x'\nwhen = 'flag'\nsound = true", "alerts.rules[0].sound", "unknown key"),
    ("when = 'flag'", "alerts.rules[0].name", "is required"),
])
def test_bad_rules_are_config_errors_naming_the_key(write_config, rule, key, problem):
    path = write_config(f"[[alerts.rules]]\n{rule}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.key == key and problem in err.value.problem and err.value.file == str(path)


def test_duplicate_rule_names_are_refused(write_config):
    path = write_config("[[alerts.rules]]\nname = 'a'\nwhen = 'high'\n[[alerts.rules]]\nname = 'a'\nwhen = 'flag'\n")
    with pytest.raises(ConfigError, match=r"alerts.rules\[1\].name: duplicate alert rule name 'a'"):
        load_config(path)


def test_shipped_config_alerts_on_new_high_items_with_a_toast_and_the_bell():
    alerts = load_config(use_user_file=False).alerts
    assert [(r.name, r.when, r.toast, r.bell, r.hook, r.feeds) for r in alerts.rules] == [
        ("high priority", "high", True, True, (), ())]
    assert alerts.max_age_hours == 6


def test_user_rules_replace_the_shipped_rule_and_other_alert_keys_merge(write_config):
    mine = load_config(write_config("[[alerts.rules]]\nname = 'mine'\nwhen = 'flag'\n"))
    assert [r.name for r in mine.alerts.rules] == ["mine"]
    tuned = load_config(write_config("[alerts]\nmax_age_hours = 0.5\n"))
    assert [r.name for r in tuned.alerts.rules] == ["high priority"] and tuned.alerts.max_age_hours == 0.5


@pytest.mark.parametrize("value, problem", [("-1", "must not be negative"), ("'6h'", "must be a number")])
def test_bad_max_age_is_a_config_error(write_config, value, problem):
    path = write_config(f"[alerts]\nmax_age_hours = {value}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.key == "alerts.max_age_hours" and problem in err.value.problem


def test_only_recent_news_raises_alerts(config):
    """Published (or, undated, first seen) within max_age_hours; a published time in the
    future counts as first seen, as the store orders it."""
    now = datetime(2025, 8, 7, 15, 30, tzinfo=timezone.utc)
    rules = AlertRules.from_config(config)
    assert rules.max_age == timedelta(hours=6)
    high = item(config, "Executive order opens 401(k) plans to crypto and private equity")

    def fires(published, first_seen) -> bool:
        return bool(rules.match(replace(high, published=published, first_seen=first_seen), now))

    assert fires(now - timedelta(hours=5, minutes=59), now)
    assert not fires(now - timedelta(hours=6, minutes=1), now)  # old news, found now
    assert not fires(None, now - timedelta(hours=7))  # undated: first seen long ago
    assert fires(None, now - timedelta(hours=1))
    assert fires(None, None)  # nothing says it is old
    assert fires(now + timedelta(days=3), now - timedelta(hours=1))  # a future date: first seen counts
    assert not fires(now + timedelta(days=3), now - timedelta(hours=7))
    assert not fires(now - timedelta(days=400), None)
    forever = AlertRules.from_config(replace(config.alerts, max_age_hours=0))
    assert forever.max_age is None and forever.match(replace(high, published=now - timedelta(days=400)), now)


# ---------------------------------------------------------------- hooks


async def test_hook_gets_the_item_as_json_on_stdin(config, tmp_path):
    out = tmp_path / "hook.json"
    script = f"import sys, os; open({str(out)!r}, 'w').write(os.environ['POLICYWATCH_ALERT_RULE'] + '\\n' + sys.stdin.read())"
    high = item(config, "Executive order opens 401(k) plans to crypto", "Labor Department guidance follows.")
    [alert] = [a for a in AlertRules.from_config(config).match(high) if a.rule == "high"]
    result = await run_hook(alert, [PY, "-c", script], timeout=30)
    assert result.ok and not result.timed_out
    rule, payload = out.read_text().split("\n", 1)
    obj = json.loads(payload)
    assert rule == "high"
    assert obj["title"] == high.title and obj["link"] == high.link and obj["alert"] == "high"
    assert obj["priority"] == "high" and set(obj["matches"]) == set(alert.matches) and obj["feed"] == "wire"


async def test_slow_hook_is_killed_with_its_children_and_logged(config, tmp_path, caplog):
    pids = tmp_path / "pids"
    # The hook starts a grandchild and both sleep: the whole process group must die.
    script = ("import subprocess, sys, time; "
              "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
              f"open({str(pids)!r}, 'w').write(f'{{__import__(\"os\").getpid()}} {{child.pid}}'); time.sleep(60)")
    [alert] = AlertRules.from_config(config).match(item(config, "Executive order opens 401(k) plans to crypto"))[:1]
    caplog.set_level(logging.WARNING, logger="policywatch.alerts")
    started = time.monotonic()
    result = await run_hook(alert, [PY, "-c", script], timeout=1.5)
    took = time.monotonic() - started
    assert result.timed_out and result.returncode is None
    assert 1.5 <= took < 5
    assert any("timed out after 1.5s and was killed" in r.getMessage() for r in caplog.records)
    for pid in map(int, pids.read_text().split()):
        deadline = time.monotonic() + 5
        while _alive(pid) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert not _alive(pid), f"process {pid} survived the timeout"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


async def test_failing_and_missing_hooks_are_logged_not_raised(config, caplog):
    [alert] = AlertRules.from_config(config).match(item(config, "Executive order opens 401(k) plans to crypto"))[:1]
    caplog.set_level(logging.WARNING, logger="policywatch.alerts")
    failed = await run_hook(alert, [PY, "-c", "import sys; sys.stderr.write('no token configured'); sys.exit(3)"], 30)
    assert failed.returncode == 3 and "no token configured" in failed.stderr
    missing = await run_hook(alert, ["/nonexistent/notify"], 30)
    assert missing.returncode is None and missing.error
    # A hook that ignores its stdin entirely is fine too.
    deaf = await run_hook(alert, [PY, "-c", "import os; os.close(0)"], 30)
    assert deaf.ok
    messages = [r.getMessage() for r in caplog.records]
    assert any("exited with 3: no token configured" in m for m in messages)
    assert any("could not start" in m and "/nonexistent/notify" in m for m in messages)


async def test_runner_bounds_concurrency_and_drops_beyond_the_queue(config):
    [alert] = AlertRules.from_config(config).match(item(config, "Executive order opens 401(k) plans to crypto"))[:1]
    runner = HookRunner(max_running=2, max_queued=1)
    script = "import time; time.sleep(0.5)"
    tasks = [runner.submit(alert, (PY, "-c", script), 10) for _ in range(5)]
    assert sum(t is None for t in tasks) == 2 and runner.dropped == 2
    started = time.monotonic()
    await runner.wait()
    # 3 hooks of 0.5 s, two at a time: two rounds.
    assert time.monotonic() - started >= 0.9
    assert [r.ok for r in runner.results] == [True, True, True]


# ---------------------------------------------------------------- in the engine


async def test_engine_raises_alerts_and_a_slow_hook_never_blocks_it(server, write_config, tmp_path, caplog):
    wire = server.add("/wire.rss", Route.file(DATA / "policy.rss"))
    other = server.add("/other.rss", Route.file(DATA / "history.rss"))
    marker = tmp_path / "hook-ran"
    config = load_config(write_config(f"""
[fetch]
jitter = 0
[[feeds]]
name = "wire"
url = "{wire}"
[[feeds]]
name = "other"
url = "{other}"
[alerts]
max_age_hours = 0  # the recorded feeds are months old: alert on any age
[[alerts.rules]]
name = "slow"
when = "high"
feeds = ["wire"]
hook = [{json.dumps(PY)}, "-c", "import time, sys; sys.stdin.read(); open({str(marker)!r}, 'a').write('x'); time.sleep(60)"]
hook_timeout = 2
"""))
    events = []
    caplog.set_level(logging.WARNING, logger="policywatch.alerts")
    engine = Engine(config, tmp_path / "db.sqlite", events.append)
    try:
        started = time.monotonic()
        await engine.poll_all()
        assert time.monotonic() - started < 2, "the poll waited for a hook"
        alerts = [e.alert for e in events if isinstance(e, AlertRaised)]
        new = [i for e in events if isinstance(e, NewItems) for i in e.items]
        expected = [i for i in new if i.feed == "wire" and i.classification.priority == "high"]
        assert expected and [a.title for a in alerts] == [i.title for i in expected]
        assert all(a.rule == "slow" and a.matches and a.link for a in alerts)
        # The engine goes on while the hooks sleep: another full poll completes.
        again = time.monotonic()
        await engine.refresh()
        assert time.monotonic() - again < 2 and engine.hooks.pending == len(alerts)
        await engine.hooks.wait()
        assert all(r.timed_out for r in engine.hooks.results)
        assert marker.read_text() == "x" * len(alerts)
        assert sum("timed out" in r.getMessage() for r in caplog.records) == len(alerts)
    finally:
        await engine.stop()


async def test_engine_stop_kills_running_hooks_after_a_grace_period(server, write_config, tmp_path):
    wire = server.add("/wire.rss", Route.file(DATA / "policy.rss"))
    config = load_config(write_config(f"""
[[feeds]]
name = "wire"
url = "{wire}"
[alerts]
max_age_hours = 0  # the recorded feed is months old: alert on any age
[[alerts.rules]]
name = "stuck"
when = "flag"
hook = [{json.dumps(PY)}, "-c", "import time; time.sleep(60)"]
hook_timeout = 60
"""))
    engine = Engine(config, tmp_path / "db.sqlite", lambda e: None)
    await engine.poll_all()
    assert engine.hooks.pending
    started = time.monotonic()
    await engine.stop()
    assert time.monotonic() - started < 5 and engine.hooks.pending == 0


async def test_old_news_on_a_first_poll_runs_no_hook(server, write_config, tmp_path):
    """A first run finds stories of every age: only those published within max_age_hours
    raise alerts, so a hook (what `watch` runs) never fires for last week's news."""
    url = server.add("/desk.rss", Route(body=fresh_and_old()))
    seen = tmp_path / "hook.jsonl"
    config = load_config(write_config(f"""
[[feeds]]
name = "desk"
url = "{url}"
[[alerts.rules]]
name = "high with hook"
when = "high"
hook = [{json.dumps(PY)}, "-c", "import sys; open({str(seen)!r}, 'a').write(sys.stdin.read())"]
"""))
    events = []
    engine = Engine(config, tmp_path / "db.sqlite", events.append)
    try:
        await engine.poll_all()
        new = [i for e in events if isinstance(e, NewItems) for i in e.items]
        assert {i.title for i in new if i.classification.priority == "high"} == {FRESH_HIGH[0], OLD_HIGH[0]}
        assert [e.alert.title for e in events if isinstance(e, AlertRaised)] == [FRESH_HIGH[0]]
        await engine.hooks.wait()
        [line] = seen.read_text().splitlines()
        assert json.loads(line)["title"] == FRESH_HIGH[0] and json.loads(line)["alert"] == "high with hook"
    finally:
        await engine.stop()
