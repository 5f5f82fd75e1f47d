"""`policywatch watch` as a server or a cron job runs it: the real command in a subprocess,
real feeds from a loopback server, a real SQLite file, real signals."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from feeds.classify import Classifier
from feeds.config import load_config
from feeds.parse import parse_feed
from feeds.store import Store
from tests.loopback import Route
from tests.newsfeed import FRESH_HIGH, OLD_HIGH, fresh_and_old

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data" / "feeds"
POLICY = (DATA / "policy.rss").read_bytes()
HISTORY = (DATA / "history.rss").read_bytes()


class Watch:
    """A running `policywatch watch`: stdout lines and stderr collected by reader threads."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tui", "watch", *args], cwd=REPO, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
        self.lines: queue.Queue[str] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines.put), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, self.stderr.append), daemon=True).start()

    @staticmethod
    def _pump(stream, put) -> None:
        for line in stream:
            put(line)

    def read(self, count: int, timeout: float = 30) -> list[dict]:
        """The next `count` JSON lines (each must be one complete, valid object)."""
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"got {len(out)} of {count} lines; stderr: {''.join(self.stderr)}")
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            assert line.endswith("\n")
            out.append(json.loads(line))
        return out

    def quiet_for(self, seconds: float) -> list[str]:
        """Lines printed during the next `seconds` (expected: none)."""
        time.sleep(seconds)
        extra = []
        while not self.lines.empty():
            extra.append(self.lines.get())
        return extra

    def stop(self, signum=signal.SIGTERM, timeout: float = 10) -> tuple[int, float]:
        started = time.monotonic()
        self.proc.send_signal(signum)
        code = self.proc.wait(timeout=timeout)
        return code, time.monotonic() - started

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def watches():
    running: list[Watch] = []

    def start(*args: str) -> Watch:
        w = Watch(*args)
        running.append(w)
        return w

    yield start
    for w in running:
        w.kill()


def config_text(feeds: dict[str, str], extra: str = "") -> str:
    text = "[fetch]\njitter = 0\n" + extra + "\n"
    for name, url in feeds.items():
        text += f'[[feeds]]\nname = "{name}"\nurl = "{url}"\ninterval = 1\n'
    return text


def classified(body: bytes, config_path: Path) -> list[tuple[str, bool]]:
    """(title, flag) per item, by the classifier the command itself will load."""
    classifier = Classifier.from_config(load_config(config_path).classifier)
    return [(i.title, classifier.classify(i.title, i.summary).flag) for i in parse_feed(body, "x").items]


def test_streams_flagged_items_as_jsonl_and_exits_0_on_sigterm(server, write_config, tmp_path, watches):
    body = {"data": POLICY}
    url = server.add("/wire.rss", Route(body=lambda: body["data"]))
    config = write_config(config_text({"wire": url}))
    expected = classified(POLICY, config)
    flagged = [t for t, f in expected if f]
    assert flagged and len(flagged) < len(expected), "the fixture must hold flagged and unflagged items"
    db = tmp_path / "db.sqlite"

    w = watches("--config", str(config), "--db", str(db))
    first = w.read(len(flagged))
    assert [o["title"] for o in first] == flagged
    for obj in first:
        assert obj["flag"] is True and obj["feed"] == "wire" and obj["sources"] == ["wire"]
        assert {"title", "summary", "link", "published", "tags", "matches", "priority", "id", "first_seen"} <= set(obj)
    assert w.quiet_for(2.5) == []  # polls every second: nothing new, nothing printed twice

    # The feed grows: the next poll prints only the new flagged story.
    body["data"] = HISTORY
    new_flagged = [t for t, f in classified(HISTORY, config) if f]
    assert new_flagged
    later = w.read(len(new_flagged))
    assert [o["title"] for o in later] == new_flagged

    code, took = w.stop(signal.SIGTERM)
    assert code == 0 and took < 5
    err = "".join(w.stderr)
    assert "Traceback" not in err and err == "", err
    # Every line printed was already committed to the database.
    with Store(db) as store:
        for obj in first + later:
            item = store.get(obj["id"])
            assert item is not None and item.title == obj["title"] and item.link == obj["link"]


def test_all_prints_every_new_item_and_sigint_also_exits_0(server, write_config, tmp_path, watches):
    url = server.add("/wire.rss", Route.file(DATA / "policy.rss"))
    config = write_config(config_text({"wire": url}))
    titles = [t for t, _ in classified(POLICY, config)]
    w = watches("--all", "--config", str(config), "--db", str(tmp_path / "db.sqlite"))
    assert [o["title"] for o in w.read(len(titles))] == titles
    code, took = w.stop(signal.SIGINT)
    assert code == 0 and took < 5
    assert "Traceback" not in "".join(w.stderr)


def test_since_replays_stored_history_before_going_live(server, write_config, tmp_path, watches):
    url = server.add("/wire.rss", Route.file(DATA / "policy.rss", etag='"v1"'))
    config = write_config(config_text({"wire": url}))
    db = tmp_path / "db.sqlite"
    flagged = [t for t, f in classified(POLICY, config) if f]
    fill = subprocess.run([sys.executable, "-m", "tui", "fetch", "--once", "--config", str(config), "--db", str(db)],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert fill.returncode == 0, fill.stderr

    # The feed now answers 304: anything printed comes from the stored history.
    w = watches("--since", "1h", "--config", str(config), "--db", str(db))
    replayed = w.read(len(flagged))
    assert sorted(o["title"] for o in replayed) == sorted(flagged)
    assert w.quiet_for(2) == []
    assert w.stop()[0] == 0

    w = watches("--since", "1h", "--all", "--config", str(config), "--db", str(db))
    assert len(w.read(3)) == 3
    assert w.stop()[0] == 0

    # A moment after everything was stored replays nothing.
    w = watches("--since", "2999-01-01T00:00:00Z", "--all", "--config", str(config), "--db", str(db))
    assert w.quiet_for(2.5) == []
    assert w.stop()[0] == 0


def test_feed_errors_go_to_stderr_and_the_stream_goes_on(server, write_config, tmp_path, watches):
    good = server.add("/good.rss", Route.file(DATA / "policy.rss"))
    bad = server.add("/bad.rss", Route(status=500))
    config = write_config(config_text({"good": good, "bad": bad}))
    flagged = [t for t, f in classified(POLICY, config) if f]
    w = watches("--config", str(config), "--db", str(tmp_path / "db.sqlite"))
    assert len(w.read(len(flagged))) == len(flagged)
    deadline = time.monotonic() + 10
    while not any("bad" in line for line in w.stderr) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert w.stop()[0] == 0
    failures = [line for line in w.stderr if "failed" in line]
    # Reported once per failure: with backoff the second attempt comes 2 s later at the earliest.
    assert failures and failures[0] == "policywatch: feed 'bad' failed: HTTP 500 Internal Server Error\n"
    assert all(line.startswith("policywatch: ") for line in w.stderr)


def test_config_edits_apply_while_watching(server, write_config, tmp_path, watches):
    one = server.add("/one.rss", Route.file(DATA / "policy.rss"))
    two = server.add("/two.rss", Route.file(DATA / "history.rss"))
    config = write_config(config_text({"one": one}))
    w = watches("--config", str(config), "--db", str(tmp_path / "db.sqlite"))
    assert len(w.read(len([t for t, f in classified(POLICY, config) if f]))) >= 1
    config.write_text(config_text({"one": one, "two": two}), encoding="utf-8")
    new_flagged = [t for t, f in classified(HISTORY, config) if f]
    got = w.read(len(new_flagged), timeout=20)
    assert [o["title"] for o in got] == new_flagged and {o["feed"] for o in got} == {"two"}
    config.write_text("[[feeds]]\nname = 'broken'\nurl = 'ftp://x'\n", encoding="utf-8")
    deadline = time.monotonic() + 10
    while not any("config error" in line for line in w.stderr) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert w.stop()[0] == 0
    assert any("config reloaded: added feed 'two'" in line for line in w.stderr), w.stderr
    [error] = [line for line in w.stderr if "config error" in line]
    assert "feeds[0].url: must be an http or https URL" in error and "keeping the running config" in error


def test_a_first_run_hooks_only_fresh_news(server, write_config, tmp_path, watches):
    """On a first run every story in the feed is new to the database, but only those
    published within [alerts] max_age_hours (6) run the alert hook."""
    url = server.add("/desk.rss", Route(body=fresh_and_old()))
    seen = tmp_path / "hook.jsonl"
    config = write_config(config_text({"desk": url}) + f"""
[[alerts.rules]]
name = "high"
when = "high"
hook = [{json.dumps(sys.executable)}, "-c", "import sys; open({str(seen)!r}, 'a').write(sys.stdin.read())"]
""")
    w = watches("--config", str(config), "--db", str(tmp_path / "db.sqlite"))
    printed = {o["title"] for o in w.read(2)}
    assert printed == {FRESH_HIGH[0], OLD_HIGH[0]}  # both are new flagged items: both printed
    deadline = time.monotonic() + 10
    while not (seen.exists() and seen.read_text().endswith("\n")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert w.quiet_for(1.5) == [] and w.stop()[0] == 0
    assert [json.loads(line)["title"] for line in seen.read_text().splitlines()] == [FRESH_HIGH[0]]


def test_bad_config_and_bad_since_exit_2_with_one_line(write_config, tmp_path):
    bad = write_config("[[alerts.rules]]\nname = 'x'\nwhen = 'policy and'\n")
    out = subprocess.run([sys.executable, "-m", "tui", "watch", "--config", str(bad)], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and "alerts.rules[0].when" in out.stderr
    out = subprocess.run([sys.executable, "-m", "tui", "watch", "--since", "yesterday"], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "neither a duration" in out.stderr
