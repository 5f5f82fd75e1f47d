"""Alerts and config hot reload in the monitor, on the real engine: feeds from a loopback
server, a real SQLite file, real hook processes, the config file edited on disk while the
app runs."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from feeds.config import load_config
from tests.loopback import Route
from tests.newsfeed import FRESH_HIGH, OLD_HIGH, PLAIN, fresh_and_old
from tests.test_tui_engine import RSS, app_for, until
from tests.tuikit import DATA, offline_config, screen_text
from tui.panes.headlines import HeadlineList

PY = sys.executable


def notes(app) -> list[str]:
    return [f"{n.title}|{n.message}" for n in app._notifications]


def header(app) -> str:
    return screen_text(app).splitlines()[0]


async def test_a_fresh_high_item_toasts_and_rings_and_old_news_does_not(server, write_config, tmp_path):
    url = server.add("/desk.rss", Route(body=fresh_and_old()))
    config = offline_config(write_config, feeds=[("Desk", url)])  # the shipped rule: high -> toast + bell
    app = app_for(config, tmp_path / "pw.db")
    async with app.run_test(size=(140, 40)) as pilot:
        headlines = app.query_one("#headlines", HeadlineList)
        await until(pilot, lambda: len(headlines.items) == 3 and app.bells > 0)
        await pilot.pause(0.2)
        assert {i.title for i in headlines.items} == {FRESH_HIGH[0], OLD_HIGH[0], PLAIN[0]}
        assert app.bells == 1 and app.toasts == [FRESH_HIGH[0]]  # the two-day-old story stays quiet
        [toast] = [n for n in notes(app) if n.startswith("Alert: ")]
        heading, link, matched = toast.split("\n")
        assert heading == f"Alert: high priority|{FRESH_HIGH[0]}"
        assert link == "https://example.com/policy/eo-401k"
        assert matched.startswith("matched: ") and "401(k)" in matched


async def test_a_user_rule_runs_its_hook_and_ui_bell_mutes_only_the_bell(server, write_config, tmp_path):
    url = server.add("/desk.rss", Route(body=fresh_and_old()))
    seen = tmp_path / "hook.jsonl"
    config = offline_config(write_config, f"""
[ui]
bell = false
[[alerts.rules]]
name = "desk high"
when = "high"
bell = true
hook = [{json.dumps(PY)}, "-c", "import sys; open({str(seen)!r}, 'a').write(sys.stdin.read())"]
""", feeds=[("Desk", url)])
    assert [r.name for r in config.alerts.rules] == ["desk high"]  # the user's rules replace the shipped one
    app = app_for(config, tmp_path / "pw.db")
    async with app.run_test(size=(140, 40)) as pilot:
        await until(pilot, lambda: seen.exists() and seen.read_text().endswith("\n") and app.toasts)
        await pilot.pause(0.2)
        [line] = seen.read_text().splitlines()
        payload = json.loads(line)
        assert payload["title"] == FRESH_HIGH[0] and payload["alert"] == "desk high" and payload["matches"]
        assert app.toasts == [FRESH_HIGH[0]] and any(n.startswith("Alert: desk high|") for n in notes(app))
        assert app.bells == 0  # [ui] bell = false mutes the rule's bell in the monitor


def config_text(feeds: dict[str, str], extra: str = "") -> str:
    text = "".join(f'[[feeds]]\nname = "{n}"\nurl = "{u}"\ninterval = 600\n\n' for n, u in feeds.items())
    return text + '[prices]\nsources = []\nstream = "none"\n\n' + extra


def edit(path: Path, content: str) -> None:
    """Write like an editor: a new mtime even within the same clock tick."""
    before = path.stat().st_mtime_ns
    path.write_text(content, encoding="utf-8")
    if path.stat().st_mtime_ns == before:
        os.utime(path, ns=(before + 1_000_000, before + 1_000_000))


async def test_editing_the_config_file_applies_while_the_monitor_runs(server, write_config, tmp_path):
    urls = {"Policy desk": server.add("/policy.rss", Route.file(DATA / "tui" / "policy.rss", content_type=RSS)),
            "Wire": server.add("/wire.rss", Route.file(DATA / "tui" / "wire.rss", content_type=RSS))}
    path = write_config(config_text({"Policy desk": urls["Policy desk"]}))
    config = load_config(path)
    app = app_for(config, tmp_path / "pw.db")
    async with app.run_test(size=(140, 40)) as pilot:
        headlines = app.query_one("#headlines", HeadlineList)
        await until(pilot, lambda: len(headlines.items) == 3 and "1/1 feeds ok" in header(app))
        assert app.config_watcher is not None
        await pilot.press("h")
        assert [i.title for i in headlines.items] == [
            "Executive Order: Democratizing Access to Alternative Assets for 401(k) Investors"]

        # a feed added: reported, polled, counted in the health summary
        edit(path, config_text(urls))
        await until(pilot, lambda: "Config reloaded|added feed 'Wire'" in notes(app))
        await until(pilot, lambda: "2/2 feeds ok" in header(app))
        app.clear_notifications()

        # an invalid edit: one line, and the running config stays
        running = app.engine.config
        edit(path, config_text(urls) + '[[feeds]]\nname = "Gopher"\nurl = "gopher://old.example"\n')
        await until(pilot, lambda: any(n.startswith("Config error|") for n in notes(app)))
        [error] = notes(app)
        assert error == (f"Config error|Config not reloaded (the running config stays): "
                         f"{path}: feeds[2].url: must be an http or https URL")
        assert app.engine.config is running and "2/2 feeds ok" in header(app)
        app.clear_notifications()

        # a feed removed and the classifier changed: the summary and the headlines follow
        edit(path, config_text({"Policy desk": urls["Policy desk"]}, '[classifier]\nflag = "false"\nhigh = "false"\n'))
        await until(pilot, lambda: any(n.startswith("Config reloaded|") for n in notes(app)))
        [done] = notes(app)
        assert "removed feed 'Wire'" in done and "stored items reclassified" in done
        assert "1/1 feeds ok" in header(app)
        assert headlines.items == []  # the high filter, reloaded from the reclassified store
        await pilot.press("a")
        assert len(headlines.items) == 4 and not any(i.classification.flag for i in headlines.items)
        watcher = app.config_watcher
        await pilot.press("q")
    assert app.config_watcher is None and watcher._task is None  # stopped before the engine
