"""`policywatch fetch --once --jsonl` as a user runs it: the installed entry point against
a loopback server serving every shared fixture feed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from feeds.parse import parse_feed, unique
from tests.loopback import Route

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data" / "feeds"


def run(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "tui", *args], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=timeout)


def feeds_toml(feeds: dict[str, str]) -> str:
    return "".join(f'[[feeds]]\nname = "{n}"\nurl = "{u}"\n' for n, u in feeds.items())


def test_fetch_prints_every_item_of_every_shared_feed(server, shared_fixtures, write_config, tmp_path):
    feeds = {}
    expected = []
    for path in sorted((shared_fixtures / "feeds").iterdir()):
        feeds[path.stem] = server.add("/" + path.name, Route.file(path, content_type="application/xml"))
        expected.extend(parse_feed(path.read_bytes(), path.stem).items)
    result = run("fetch", "--once", "--jsonl", "--config", str(write_config(feeds_toml(feeds))),
                 "--db", str(tmp_path / "db.sqlite"))
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == len(unique(expected))
    assert {(o["feed"], o["title"]) for o in lines} == {(i.feed, i.title) for i in unique(expected)}
    for obj in lines:
        assert set(obj) >= {"title", "summary", "link", "published", "feed"}
        assert obj["published"] is None or obj["published"].endswith("Z")
    assert result.stderr == ""


def test_fetch_exit_codes_and_per_feed_errors(server, write_config, tmp_path):
    good = server.add("/good.rss", Route.file(DATA / "policy.rss"))
    bad = server.add("/bad", Route(status=500))
    db = str(tmp_path / "db.sqlite")
    mixed = run("fetch", "--once", "--jsonl", "--config", str(write_config(feeds_toml({"good": good, "bad": bad}), "m.toml")), "--db", db)
    assert mixed.returncode == 0
    assert len(mixed.stdout.splitlines()) == 3
    assert mixed.stderr.strip() == "policywatch: feed 'bad' failed: HTTP 500 Internal Server Error"
    all_bad = run("fetch", "--once", "--config", str(write_config(feeds_toml({"bad": bad}), "b.toml")), "--db", db)
    assert all_bad.returncode == 1
    # --new prints only what the database had not seen: nothing on a re-run
    again = run("fetch", "--once", "--jsonl", "--new", "--config", str(write_config(feeds_toml({"good": good}), "g.toml")), "--db", db)
    assert again.returncode == 0 and again.stdout == ""


def test_fetch_does_not_import_textual(tmp_path):
    code = ("import sys, tui.cli; tui.cli.build_parser(); import feeds.engine, tui.commands.fetch; "
            "print('textual' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.stdout.strip() == "False", out.stderr


def test_fetch_does_not_import_the_scheduler(tmp_path):
    """A one-shot poll schedules nothing: APScheduler (~30 ms of imports) stays out."""
    code = ("import sys, tui.cli; tui.cli.build_parser(); import feeds.engine, feeds.forked, tui.commands.fetch; "
            "print('apscheduler' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.stdout.strip() == "False", out.stderr
