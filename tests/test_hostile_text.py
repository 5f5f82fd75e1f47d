"""Hostile headlines end to end: a loopback feed whose titles and summaries carry Rich and
Textual markup, ANSI CSI and OSC sequences (OSC 52 clipboard, OSC 8 links), 8-bit C1
controls, bidi overrides, zero-width characters, NUL and lone surrogates goes through the
real pipeline, and every place it is shown — JSONL from the real `fetch` and `watch`
commands, their stderr, the log file, and the Textual screen — shows markup literally and
escape or invisible characters not at all (stripped by the parser, or made visible)."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from feeds import logs
from feeds.config import load_config
from feeds.engine import Engine
from tests.loopback import Route

REPO = Path(__file__).resolve().parent.parent

# marker -> (what the feed says, what must be shown)
VECTORS = {
    "RICH": ("[bold red]RICH[/bold red] [link=https://evil.test/rich]click[/link]",
             "[bold red]RICH[/bold red] [link=https://evil.test/rich]click[/link]"),
    "TEXTUAL": ("[@click=app.quit]TEXTUAL[/] $accent [b]bold[/b] \\[esc]",
                "[@click=app.quit]TEXTUAL[/] $accent [b]bold[/b] \\[esc]"),
    "CSI": ("\x1b[2J\x1b[31mCSI red\x1b[0m \x1b[6n", "CSI red"),
    "OSC52": ("\x1b]52;c;ZWNobyBwd25lZA==\x07OSC52 clipboard \x1b]52;c;eA==\x1b\\", "OSC52 clipboard"),
    "OSC8": ("\x1b]8;;https://evil.test/osc8\x1b\\OSC8 link\x1b]8;;\x1b\\", "OSC8 link"),
    "TITLE": ("\x1b]0;pwned window title\x07TITLE set", "TITLE set"),
    "BIDI": ("BIDI \u202egnp.exe\u202c \u2066iso\u2069 \u200fmark", "BIDI gnp.exe iso mark"),
    "ZERO": ("ZERO\u200bWIDTH\u200d\ufeff\u2060", "ZEROWIDTH"),
    "NUL": ("NUL\x00byte\x07bell\x08back", "NULbytebellback"),
    "C1": ("C1 \x9b31mcsi \x9d52;c;eA==\x9c", "C1 csi"),
    "SUR": ("SUR\ud800ROG\udfffATE", "SURROGATE"),
}
# Nothing of this may reach a terminal, a JSON consumer's screen, the log or the store.
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff]")
HOSTILE_FEED_NAME = "Desk \x1b[31m[b]red[/b]\u202e\x07"


def hostile_json_feed() -> bytes:
    items = [{"id": f"hostile-{marker}", "url": f"https://hostile.test/{marker.lower()}", "title": raw,
              "summary": f"Summary {raw}", "date_published": f"2025-10-{10 + n:02d}T12:00:00Z"}
             for n, (marker, (raw, _)) in enumerate(VECTORS.items())]
    return json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "Hostile \x1b[5m",
                       "items": items}).encode("ascii")


def toml_string(text: str) -> str:
    return json.dumps(text)  # a JSON string with \\uXXXX escapes is a valid TOML basic string


@pytest.fixture
def hostile(server, write_config, tmp_path):
    """A config with the hostile JSON Feed, the hostile RSS fixture, and a failing feed whose
    *name* is hostile (names come from config files and OPML imports)."""
    json_url = server.add("/hostile.json", Route(body=hostile_json_feed(), content_type="application/feed+json"))
    rss_url = server.add("/hostile.rss", Route.file(Path(__file__).parent / "data" / "feeds" / "hostile.rss"))
    down_url = server.add("/down.rss", Route(status=404, body=b"gone", content_type="text/plain"))
    text = ""
    for name, url in (("Hostile JSON", json_url), ("Hostile RSS", rss_url), (HOSTILE_FEED_NAME, down_url)):
        text += f"[[feeds]]\nname = {toml_string(name)}\nurl = {toml_string(url)}\ninterval = 1\n"
    text += '[prices]\nsources = []\nstream = "none"\n'
    return write_config(text), tmp_path / "db.sqlite"


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tui", *args], cwd=REPO, env=dict(os.environ),
                          capture_output=True, timeout=timeout)


def assert_inert_bytes(raw: bytes, what: str) -> None:
    """Printable ASCII and newlines only: JSON with ensure_ascii, or escaped stderr."""
    bad = sorted({b for b in raw if not (0x20 <= b < 0x7F or b == 0x0A)})
    assert not bad, f"{what} carries raw bytes {bad}"


def check_items(objects: list[dict]) -> None:
    shown = {o["title"]: o for o in objects}
    for marker, (_, expected) in VECTORS.items():
        assert expected in shown, (marker, sorted(shown))
        assert shown[expected]["summary"] == f"Summary {expected}"
    for obj in objects:
        for field in ("title", "summary", "link"):
            assert not UNSAFE.search(obj[field] or ""), (field, obj[field])
    # the RSS fixture's character references are stripped the same way
    rss = [o for o in objects if o["feed"] == "Hostile RSS"]
    assert rss and rss[0]["title"].startswith("[bold red]x[/] [link=https://evil.example]click[/link]")
    assert "txet" in rss[0]["summary"] and "\u202e" not in rss[0]["summary"]


def test_fetch_jsonl_and_its_stderr_are_inert(hostile):
    config, db = hostile
    done = cli("fetch", "--once", "--jsonl", "--config", str(config), "--db", str(db), "--log-level", "DEBUG")
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert_inert_bytes(done.stdout, "fetch --jsonl stdout")
    assert_inert_bytes(done.stderr, "fetch stderr")
    check_items([json.loads(line) for line in done.stdout.decode("ascii").splitlines()])
    err = done.stderr.decode("ascii")
    assert "failed: HTTP 404 Not Found" in err  # the hostile-named feed's failure is reported ...
    assert "Desk [b]red[/b]" in err or "Desk \\x1b[31m[b]red[/b]" in err  # ... with its name made inert


def test_watch_jsonl_is_inert_and_survives_sigterm(hostile):
    config, db = hostile
    proc = subprocess.Popen([sys.executable, "-m", "tui", "watch", "--all", "--config", str(config), "--db", str(db),
                             "--log-level", "INFO"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines: list[bytes] = []
    try:
        deadline = time.monotonic() + 30
        while len(lines) < len(VECTORS) + 1 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    lines += out.splitlines(keepends=True)
    assert proc.returncode == 0, err.decode(errors="replace")
    raw = b"".join(lines)
    assert_inert_bytes(raw, "watch stdout")
    assert_inert_bytes(err, "watch stderr")
    check_items([json.loads(line) for line in raw.decode("ascii").splitlines()])


async def test_the_log_file_is_inert(hostile, caplog):
    config_path, db = hostile
    path = logs.configure("DEBUG", file=db.parent / "state" / "policywatch.log")
    try:
        config = load_config(config_path)
        engine = Engine(config, db, lambda event: None)
        try:
            await engine.poll_all()
            logging.getLogger("policywatch.test").warning("title as logged: %s", VECTORS["OSC52"][0])
        finally:
            await engine.stop()
    finally:
        logs.configure(logging.WARNING, file=False)
    text = path.read_bytes()
    assert_inert_bytes(text, "log file")
    assert b"failed (1 in a row): HTTP 404 Not Found" in text
    assert b"Desk \\x1b[31m[b]red[/b]\\u202e\\x07" in text  # the hostile feed name, visibly escaped
    assert b"title as logged: \\x1b]52;c;ZWNobyBwd25lZA==\\x07OSC52" in text


# ---------------------------------------------------------------- the TUI


async def test_the_monitor_shows_hostile_items_literally(hostile):
    from rich.segment import Segment

    from tests.test_tui_engine import app_for, until
    from tests.tuikit import screen_text
    from tui.panes.headlines import HeadlineList
    from tui.screens.detail import DetailScreen
    from tui.screens.health import HealthScreen

    config_path, db = hostile
    config = load_config(config_path)
    app = app_for(config, db)

    def segments():
        for strip in app.screen._compositor.render_strips():
            yield from strip

    def check_screen() -> str:
        for segment in segments():
            assert isinstance(segment, Segment)
            assert not UNSAFE.search(segment.text), repr(segment.text)
            style = segment.style
            if style is not None:
                assert not (style.link and "evil" in style.link), style.link  # no [link=...] from a title
                if any(m in segment.text for m in ("RICH", "TEXTUAL")):
                    assert not (style.meta or {}).get("@click"), style.meta  # no [@click=...] from a title
        return screen_text(app)

    async with app.run_test(size=(220, 50)) as pilot:
        headlines = app.query_one("#headlines", HeadlineList)
        await until(pilot, lambda: len(headlines.items) >= len(VECTORS) + 1, timeout=20)
        text = check_screen()
        for marker in ("RICH", "TEXTUAL", "CSI red", "OSC52 clipboard", "BIDI gnp.exe iso"):
            assert marker in text, text
        assert "[bold red]RICH[/bold red] [link=https://evil.test/rich]click[/link]" in text
        assert "[@click=app.quit]TEXTUAL[/] $accent [b]bold[/b]" in text
        # every item's detail screen, title and summary in full
        shown = {expected for _, expected in VECTORS.values()}
        for item in list(headlines.items):
            await pilot.press("enter")
            assert isinstance(app.screen, DetailScreen)
            detail = check_screen()
            assert item.title in detail, detail
            if item.title in shown:
                assert f"Summary {item.title}" in detail, detail
            await pilot.press("escape")
            await pilot.press("down")
        # the health screen names the hostile feed without obeying it
        await until(pilot, lambda: "failing" in screen_text(app).splitlines()[0], timeout=10)
        await pilot.press("s")
        assert isinstance(app.screen, HealthScreen)
        health = check_screen()
        assert "[b]red[/b]" in health and "404" in health
        await pilot.press("escape")
        await pilot.press("q")
