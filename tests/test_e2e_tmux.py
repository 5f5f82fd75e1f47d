"""End to end: the installed `policywatch --demo` in a real terminal (tmux), read back with
capture-pane after each key, the way a person would look at it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

COMMAND = Path(sys.executable).parent / "policywatch"


def _require():
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (CI installs it in .ci/run; locally: apt-get install tmux)")
    if not COMMAND.exists():
        pytest.skip(f"the policywatch command is not installed beside {sys.executable} (pip install -e .)")


class Terminal:
    """One tmux server of our own (its own socket), one window running the command."""

    def __init__(self, tmp: Path, width: int, height: int) -> None:
        self.socket = f"policywatch-e2e-{os.getpid()}-{width}x{height}"
        self.width, self.height = width, height
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TMUX")}
        self.env.update({"TERM": "xterm-256color", "XDG_CONFIG_HOME": str(tmp / "config"),
                         "XDG_DATA_HOME": str(tmp / "data"), "XDG_STATE_HOME": str(tmp / "state"),
                         "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"})
        self.env.pop("COLORTERM", None)  # no true colour: 256 colours must do

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null", *args], capture_output=True,
                              text=True, env=self.env, timeout=20).stdout

    def start(self, command: str) -> None:
        self.tmux("new-session", "-d", "-s", "e2e", "-x", str(self.width), "-y", str(self.height),
                  f"{command}; echo POLICYWATCH-EXIT=$?; sleep 60")

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "e2e")

    def press(self, *keys: str) -> None:
        for key in keys:
            self.tmux("send-keys", "-t", "e2e", key)
            time.sleep(0.15)

    def wait_for(self, predicate, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if predicate(screen):
                return screen
            time.sleep(0.2)
        raise AssertionError(f"the screen never showed what was expected:\n{screen}")

    def close(self) -> None:
        self.tmux("kill-server")


@pytest.fixture
def terminal(tmp_path):
    _require()
    made: list[Terminal] = []

    def make(width: int = 140, height: int = 40) -> Terminal:
        t = Terminal(tmp_path, width, height)
        made.append(t)
        return t

    yield make
    for t in made:
        t.close()


def headline_rows(screen: str) -> list[str]:
    return [line for line in screen.splitlines() if line.startswith("│●") or line.startswith("│ ")]


def test_demo_in_a_real_terminal_filter_scenario_help_quit(terminal):
    term = terminal(140, 40)
    term.start(f"{COMMAND} --demo")
    screen = term.wait_for(lambda s: "DEMO" in s and "Headlines · all ·" in s and "feeds ok" in s
                           and "sources agree" in s)
    first = screen.splitlines()[0]
    assert "policywatch" in first and "DEMO" in first
    assert "Scenario" in screen and "BTC-USD" in screen

    # a filter: only flagged headlines, each marked by priority
    term.press("f")
    screen = term.wait_for(lambda s: "Headlines · flagged ·" in s)
    markers = [line[2:5] for line in screen.splitlines() if line.startswith("│●") or line.startswith("│  !")]
    assert markers and all("!" in m for m in markers)

    # the scenario: + moves the allocation 0.1 point and the inflow follows at once
    term.press("Tab", "Tab")
    term.wait_for(lambda s: "Pool" in s and "Allocation   1%" in s)
    term.press("+")
    screen = term.wait_for(lambda s: "Allocation   1.1%" in s)
    assert "Inflow $95.70B" in screen

    # help lists the bindings; escape closes it
    term.press("?")
    screen = term.wait_for(lambda s: "policywatch keys" in s)
    assert "headlines.flagged" in screen and "Flagged" in screen
    term.press("Escape")
    term.wait_for(lambda s: "policywatch keys" not in s)

    # q quits cleanly
    term.press("q")
    screen = term.wait_for(lambda s: "POLICYWATCH-EXIT=" in s, timeout=20)
    assert "POLICYWATCH-EXIT=0" in screen
    assert "Traceback" not in screen


def test_demo_at_80x24_switches_panes(terminal):
    term = terminal(80, 24)
    term.start(f"{COMMAND} --demo")
    term.wait_for(lambda s: "Headlines · all ·" in s and "Price" in s.splitlines()[1])
    term.press("Tab")
    screen = term.wait_for(lambda s: "BTC-USD" in s and "sources agree" in s)
    assert "Headlines ·" not in screen
    term.press("Tab")
    screen = term.wait_for(lambda s: "Allocation" in s)
    term.press("Tab")  # tab walks the scenario's fields first
    term.press("q")
    screen = term.wait_for(lambda s: "POLICYWATCH-EXIT=" in s, timeout=20)
    assert "POLICYWATCH-EXIT=0" in screen
