"""`policywatch serve`: the loopback-only default, the --public escape hatch, and the app
seen by a real headless Chromium through textual-serve.

The browser is driven over the DevTools protocol (the `websockets` client we already
depend on): before the page loads, a script records the bytes textual-serve's websocket
delivers to the page's terminal, so the test reads what the browser rendered."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from feeds.parse import parse_feed
from tests.loopback import Route
from tui.commands.serve import is_loopback, public_url

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data" / "feeds"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def cli(*args: str, timeout: float = 60):
    return subprocess.run([sys.executable, "-m", "tui", "serve", *args], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=timeout)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "example.com", "my-laptop"])
def test_a_non_loopback_host_is_refused_with_one_line(host):
    out = cli("--host", host)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.count("\n") == 1
    assert out.stderr.startswith(f"policywatch: refusing to serve on {host}: textual-serve has no authentication")
    assert "--public" in out.stderr


def test_public_lifts_the_refusal():
    # 192.0.2.1 (TEST-NET-1) is never a local address: once the refusal is lifted the
    # bind itself fails, so nothing is ever exposed by this test.
    out = cli("--host", "192.0.2.1", "--public", "--port", str(free_port()))
    assert out.returncode == 1, out.stderr
    assert "refusing" not in out.stderr and "cannot listen on 192.0.2.1" in out.stderr
    assert "Traceback" not in out.stderr


def test_loopback_names_and_urls():
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "LOCALHOST"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.1", "localhost.example.com", ""))
    assert public_url("127.0.0.1", 8000) == "http://127.0.0.1:8000"
    assert public_url("::1", 8000) == "http://[::1]:8000"
    assert public_url("0.0.0.0", 8000) == f"http://{socket.gethostname()}:8000"


def test_bad_config_is_reported_before_serving(write_config):
    out = cli("--config", str(write_config("[[feeds]]\nname = 'x'\nurl = 'file:///etc/passwd'\n")))
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "feeds[0].url" in out.stderr


# ---------------------------------------------------------------- in a browser

RECORD_TERMINAL = r"""
(() => {
  const Native = window.WebSocket;
  const seen = window.__policywatch = {text: "", frames: 0};
  const decoder = new TextDecoder();
  function Recording(url, protocols) {
    const ws = protocols === undefined ? new Native(url) : new Native(url, protocols);
    ws.addEventListener("message", (event) => {
      seen.frames += 1;
      if (typeof event.data !== "string") seen.text += decoder.decode(new Uint8Array(event.data), {stream: true});
    });
    return ws;
  }
  Recording.prototype = Native.prototype;
  Object.assign(Recording, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
  window.WebSocket = Recording;
})();
"""
PAGE_STATE = ("JSON.stringify({body: document.body ? document.body.className : '',"
              " terminal: !!document.querySelector('#terminal .xterm-screen'),"
              " text: (window.__policywatch || {}).text || ''})")
_ESCAPES = re.compile(r"\x1b\[[0-9;?<>=!]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[P^_].*?\x1b\\|\x1b.", re.S)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited early: {proc.stderr.read() if proc.stderr else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listening on 127.0.0.1:{port}")


class Browser:
    """Headless Chromium with one page, driven over the DevTools protocol."""

    def __init__(self) -> None:
        self.profile = tempfile.mkdtemp(prefix="policywatch-chromium-")
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={self.profile}", "--remote-debugging-port=0", "--window-size=1400,900",
             "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        port_file = Path(self.profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                pytest.fail("chromium did not open its DevTools port")
            time.sleep(0.05)
        port = port_file.read_text().split()[0]
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10))
        page = next(t for t in targets if t["type"] == "page")
        from websockets.sync.client import connect

        self._stack = contextlib.ExitStack()
        self.ws = self._stack.enter_context(connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=10))
        self.ids = itertools.count(1)

    def call(self, method: str, **params):
        call_id = next(self.ids)
        self.ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=30))
            if message.get("id") == call_id:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return message["result"]

    def evaluate(self, expression: str):
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def close(self) -> None:
        try:
            if hasattr(self, "_stack"):
                self._stack.close()
        finally:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
            shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture
def browser():
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (Debian package `chromium`): the browser test needs it")
    b = Browser()
    yield b
    b.close()


def test_the_app_is_seen_in_headless_chromium(server, write_config, tmp_path, browser):
    url = server.add("/policy.rss", Route.file(DATA / "policy.rss"))
    config = write_config(f'[prices]\nstream = "none"\nsources = []\n[[feeds]]\nname = "wire"\nurl = "{url}"\n')
    port = free_port()
    serve = subprocess.Popen(
        [sys.executable, "-m", "tui", "serve", "--port", str(port), "--config", str(config),
         "--db", str(tmp_path / "db.sqlite")],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, start_new_session=True)
    try:
        wait_for_port(port, serve)
        headline = parse_feed((DATA / "policy.rss").read_bytes(), "wire").items[1].title
        browser.call("Page.enable")
        browser.call("Page.addScriptToEvaluateOnNewDocument", source=RECORD_TERMINAL)
        browser.call("Page.navigate", url=f"http://127.0.0.1:{port}/")
        state, screen = {}, ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = json.loads(browser.evaluate(PAGE_STATE) or "{}")
            screen = _ESCAPES.sub("", state.get("text", ""))
            if "-closed" in state.get("body", "") or headline in screen:
                break
            time.sleep(0.25)
        # The page's own markers: its websocket is open and the terminal got the app's output.
        assert "-loaded" in state["body"] and "-first-byte" in state["body"], state.get("body")
        assert "-closed" not in state["body"], "the app session ended"
        assert state["terminal"]
        # What the terminal was given to draw: the app's title, its panes, and a headline
        # that came through the real pipeline from the loopback feed.
        assert "policywatch" in screen and "Headlines" in screen
        assert headline in screen, screen[-2000:]
    finally:
        os.killpg(serve.pid, signal.SIGTERM)
        try:
            serve.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(serve.pid, signal.SIGKILL)
            serve.wait()
