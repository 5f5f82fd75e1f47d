"""Start-up: time from launch to the first full screen of `policywatch` over a generated
50,000-item database, against a bare Textual app showing one Static, in the same real
terminal (a 120x40 pty replayed by pyte), alternating runs, same run. Target: <= 1.5x.

"Full screen" for policywatch: the newest stored headline, the headlines count in the pane
title, the price and scenario panes and the footer are all on screen. The monitor's feeds
and price source are on loopback (their first polls happen in an untimed warm-up run and
are not due again), so the figure is the start-up a restarted monitor costs.

    /work/venv/bin/python bench/startup.py [--items 50000] [--runs 11]"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.feedgen import rss  # noqa: E402
from bench.gendb import cached_db  # noqa: E402
from bench.serve import serve  # noqa: E402
from bench.term import Terminal  # noqa: E402

TARGET = 1.5
BARE = """\
from textual.app import App
from textual.widgets import Static


class Bare(App):
    def compose(self):
        yield Static("bare textual app ready")


Bare().run()
"""
SPOT = b'{"data": {"amount": "97000.12", "base": "BTC", "currency": "USD"}}'


class Setup:
    """A loopback server with 17 feeds and a Coinbase-style price, and a config for it."""

    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="pw-bench-startup-"))
        bodies = {f"/feed{n}.xml": rss(n, 30) for n in range(17)}
        bodies["/v2/prices/BTC-USD/spot"] = SPOT
        self.server, base = serve(bodies)
        self.config = self.tmp / "policywatch.toml"
        self.config.write_text(
            f'[prices]\nstream = "none"\ninterval = 10\n[[prices.sources]]\nkind = "coinbase"\nurl = "{base}"\n'
            + "".join(f'[[feeds]]\nname = "Loopback feed {n}"\nurl = "{base}/feed{n}.xml"\ninterval = 86400\n'
                      for n in range(17)))
        self.env = dict(os.environ, XDG_STATE_HOME=str(self.tmp / "state"), XDG_CONFIG_HOME=str(self.tmp / "config"),
                        XDG_DATA_HOME=str(self.tmp / "data"), XDG_CACHE_HOME=str(self.tmp / "cache"))
        # The warm-up is there to write Python's bytecode caches; with this set (as in some
        # sandboxes and CI images) every start compiled policywatch's ~30 modules again,
        # ~40 ms that an installed copy never pays (the bare app's Textual is compiled).
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)

    def close(self) -> None:
        self.server.shutdown()
        shutil.rmtree(self.tmp, ignore_errors=True)


def newest_title(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT title FROM items ORDER BY sort_time DESC, id DESC LIMIT 1").fetchone()[0]


def policywatch_first_screen(setup: Setup, db: Path, *, cols: int = 120, rows: int = 40) -> float:
    """Seconds from launch until the monitor's first full screen."""
    head = newest_title(db)[:18]
    term = Terminal([sys.executable, "-m", "tui", "--config", str(setup.config), "--db", str(db)],
                    cols=cols, rows=rows, env=setup.env, cwd=str(REPO))
    try:
        at = term.wait_for(lambda t: t.contains(head, "Headlines · all", "Scenario", "Quit"), timeout=120)
        return at - term.started
    finally:
        term.close("q")


def bare_first_screen(setup: Setup, *, cols: int = 120, rows: int = 40) -> float:
    term = Terminal([sys.executable, "-c", BARE], cols=cols, rows=rows, env=setup.env)
    try:
        at = term.wait_for(lambda t: t.contains("bare textual app ready"), timeout=60)
        return at - term.started
    finally:
        term.close("\x11")  # ctrl+q


def warm_up(setup: Setup, db: Path) -> None:
    """One untimed start: Python's bytecode caches, the OS page cache, and the first
    polls of the loopback feeds (stored as not due again for a day)."""
    term = Terminal([sys.executable, "-m", "tui", "--config", str(setup.config), "--db", str(db)],
                    env=setup.env, cwd=str(REPO))
    try:
        term.wait_for(lambda t: t.contains("17/17 feeds ok"), timeout=120)
    finally:
        term.close("q")


def measure(db: Path, runs: int, setup: Setup | None = None) -> tuple[float, float]:
    """(median policywatch seconds, median bare-app seconds), alternating runs."""
    own = setup is None
    setup = setup or Setup()
    try:
        warm_up(setup, db)
        bare_first_screen(setup)
        pw, bare = [], []
        for run in range(runs):
            order = (0, 1) if run % 2 == 0 else (1, 0)
            for which in order:
                if which == 0:
                    pw.append(policywatch_first_screen(setup, db))
                else:
                    bare.append(bare_first_screen(setup))
        return statistics.median(pw), statistics.median(bare)
    finally:
        if own:
            setup.close()


def working_copy(source: Path, into: Path) -> Path:
    """A copy of a cached generated database (start-up writes feed state into it)."""
    target = into / source.name
    shutil.copy(source, target)
    return target


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=50_000)
    # 11 alternating pairs: with 5 the ratio moved from 1.46x to 1.89x between runs on the
    # shared 2-CPU machine (a loaded moment lands in the median of five); 11 takes ~25 s.
    ap.add_argument("--runs", type=int, default=11)
    args = ap.parse_args()
    setup = Setup()
    try:
        db = working_copy(cached_db(args.items), setup.tmp)
        pw, bare = measure(db, args.runs, setup)
    finally:
        setup.close()
    ratio = pw / bare
    print(f"start-up to first full screen, {args.items:,} stored items: policywatch {pw * 1000:.0f} ms, "
          f"bare Textual app {bare * 1000:.0f} ms -> ratio {ratio:.2f}x (target <= {TARGET}x)")
    print(f"RESULT startup ratio={ratio:.3f} target={TARGET} policywatch_ms={pw * 1000:.0f} bare_ms={bare * 1000:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
