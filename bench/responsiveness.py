"""Responsiveness: key press to repaint latency (p50, p95) of `policywatch` in a real
terminal (a 120x40 pty replayed by pyte) while 100 loopback feeds ingest (a fresh database:
the first full ingest of 3,000 items, then each feed polled every 5 s, mostly 304s, with a
new item every 30 s) and a
websocket ticker pushes the BTC price 10 times a second. Target: p95 < 50 ms.
(A stress test: a new item per feed every 30 s is some 300 times a busy news day.)

Keys: j and g in turn (cursor to the second item, back to the top taking in the items
that arrived meanwhile; the repaint counts when the cursor shows on its new row) and, every
tenth key, f/a (flagged/all filter: the store pages a new list; the repaint counts when the
pane title names the filter). Baseline in the same run and terminal: a bare Textual
app repainting a counter on each key, the floor this harness can see.

    /work/venv/bin/python bench/responsiveness.py [--presses 120]"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.live import RollingFeeds, Ticker  # noqa: E402
from bench.term import Terminal  # noqa: E402

TARGET_MS = 50.0
SPOT = b'{"data": {"amount": "97000.12", "base": "BTC", "currency": "USD"}}'
TOP = 2  # first content row of the headlines pane (status bar, then the pane's border)
COUNTER = """\
from textual.app import App
from textual.widgets import Static


class Counter(App):
    BINDINGS = [("j", "bump(1)"), ("k", "bump(-1)")]
    n = 0

    def compose(self):
        yield Static("count 0", id="c")

    def action_bump(self, step):
        self.n += step
        self.query_one("#c", Static).update(f"count {self.n}")


Counter().run()
"""


def pane_column(term: Terminal) -> list[str]:
    """Background of column 1 (inside the headlines pane's border) for each row."""
    return [term.screen.buffer[y][1].bg for y in range(term.rows)]


def cursor_rows(term: Terminal) -> list[int]:
    """Rows of the headlines pane whose gutter carries the cursor's colour (the odd one out)."""
    column = pane_column(term)[TOP:term.rows - 2]
    common = max(set(column), key=column.count)
    return [TOP + i for i, bg in enumerate(column) if bg != common]


def at_row(term: Terminal, row: int) -> bool:
    rows = cursor_rows(term)
    return bool(rows) and rows[0] == row


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure_app(presses: int, rng: random.Random) -> dict[str, list[float]]:
    feeds = RollingFeeds(100, items=30, fresh=1, step=30.0, spot=SPOT)
    ticker = Ticker(10.0)
    tmp = Path(tempfile.mkdtemp(prefix="pw-bench-resp-"))
    config = tmp / "policywatch.toml"
    config.write_text(
        f'[fetch]\njitter = 0.1\n[prices]\ninterval = 10\nstream = "coinbase"\nstream_url = "{ticker.url}"\n'
        f'[[prices.sources]]\nkind = "coinbase"\nurl = "{feeds.base}"\n'
        + "".join(f'[[feeds]]\nname = "Live feed {n:03d}"\nurl = "{url}"\ninterval = 5\n'
                  for n, url in enumerate(feeds.urls())))
    env = dict(os.environ, XDG_STATE_HOME=str(tmp / "state"), XDG_CONFIG_HOME=str(tmp / "config"),
               XDG_DATA_HOME=str(tmp / "data"))
    term = Terminal([sys.executable, "-m", "tui", "--config", str(config), "--db", str(tmp / "pw.db")],
                    cols=120, rows=40, env=env, cwd=str(REPO))
    out: dict[str, list[float]] = {"cursor": [], "filter": [], "lost": [], "followed": []}
    try:
        term.wait_for(lambda t: t.contains("Live feed", "Quit") and bool(cursor_rows(t)), timeout=60)
        # calibrate: the cursor's row on the first item, and the row height (steps down and
        # back, untimed; the smallest step, as items arriving meanwhile can add to one)
        base = cursor_rows(term)[0]
        steps = []
        for _ in range(3):
            term.send("j")
            term.wait_for(lambda t: bool(cursor_rows(t)) and cursor_rows(t)[0] != base, timeout=10)
            steps.append(cursor_rows(term)[0] - base)
            term.send("g")
            term.wait_for(lambda t: at_row(t, base), timeout=10)
            time.sleep(0.2)
        height = min(step for step in steps if step > 0)
        began, sent_before = time.perf_counter(), term.bytes
        for n in range(presses):
            time.sleep(rng.uniform(0.1, 0.25))
            term.discard()
            if n % 10 == 9:  # a filter switch every tenth key: the store pages a new list
                mode = "flagged" if "· all" in term.text() else "all"
                sent = term.send("f" if mode == "flagged" else "a")
                try:
                    at = term.wait_for(lambda t: t.contains(f"Headlines · {mode}"), timeout=3)
                    out["filter"].append(at - sent)
                except TimeoutError:
                    out["lost"].append(n)
                term.send("g")
                time.sleep(0.3)
                term.discard()
                base = cursor_rows(term)[0] if cursor_rows(term) else base
                continue
            # j from the first item to the second; g (top, taking in the new items held
            # back meanwhile) from the second to the first: either way the cursor's row
            # changes only because of the key
            key, row = ("j", base + height) if at_row(term, base) else ("g", base)
            sent = term.send(key)
            try:
                at = term.wait_for(lambda t: at_row(t, row), timeout=3)
                out["cursor"].append(at - sent)
            except TimeoutError:
                # A batch that arrives between j and its repaint moves the cursor down with
                # its item (the list keeps the cursor on what it was on): not a lost key.
                followed = bool(cursor_rows(term)) and "new (g: top)" in term.text()
                out["followed" if followed else "lost"].append(n)
                if os.environ.get("PW_BENCH_DEBUG"):
                    print(f"key {n} {key!r} expecting row {row}; cursor rows {cursor_rows(term)}\n"
                          + term.text(), file=sys.stderr)
                term.send("g")
                time.sleep(0.3)
                term.discard()
                base = cursor_rows(term)[0] if cursor_rows(term) else base
        out["bytes_per_s"] = [(term.bytes - sent_before) / (time.perf_counter() - began)]
        out["ingested"] = [float(feeds.requests)]
        out["ticks"] = [float(ticker.sent)]
    finally:
        term.close("q")
        ticker.close()
        feeds.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def measure_bare(presses: int, rng: random.Random) -> list[float]:
    term = Terminal([sys.executable, "-c", COUNTER], cols=120, rows=40)
    out = []
    try:
        term.wait_for(lambda t: t.contains("count 0"), timeout=30)
        count = 0
        for n in range(presses):
            time.sleep(rng.uniform(0.05, 0.15))
            step = 1 if n % 20 < 10 else -1
            count += step
            sent = term.send("j" if step > 0 else "k")
            at = term.wait_for(lambda t, c=count: t.contains(f"count {c} ") or t.contains(f"count {c}\n")
                               or any(line.rstrip() == f"count {c}" for line in t.screen.display), timeout=5)
            out.append(at - sent)
    finally:
        term.close("\x11")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presses", type=int, default=120)
    args = ap.parse_args()
    rng = random.Random(1)
    bare = measure_bare(min(60, args.presses), rng)
    app = measure_app(args.presses, rng)
    keys = app["cursor"] + app["filter"]
    p50, p95 = percentile(keys, 0.5) * 1000, percentile(keys, 0.95) * 1000
    print(f"bare Textual app, key -> repaint: p50 {percentile(bare, 0.5) * 1000:.1f} ms, "
          f"p95 {percentile(bare, 0.95) * 1000:.1f} ms ({len(bare)} keys)")
    for name in ("cursor", "filter"):
        if app[name]:
            print(f"policywatch {name:6} keys: p50 {percentile(app[name], 0.5) * 1000:.1f} ms, "
                  f"p95 {percentile(app[name], 0.95) * 1000:.1f} ms, max {max(app[name]) * 1000:.1f} ms "
                  f"({len(app[name])} keys)")
    print(f"policywatch all keys under load: p50 {p50:.1f} ms, p95 {p95:.1f} ms (target p95 < {TARGET_MS:.0f} ms); "
          f"{len(app['lost'])} keys lost (no repaint within 3 s), {len(app['followed'])} not counted "
          f"(a batch moved the cursor down with its item before the repaint); {app['ingested'][0]:.0f} feed requests, "
          f"{app['ticks'][0]:.0f} price ticks served meanwhile")
    print(f"RESULT responsiveness_p95_ms value={p95:.1f} target={TARGET_MS} p50_ms={p50:.1f} "
          f"bare_p95_ms={percentile(bare, 0.95) * 1000:.1f}")
    print(f"terminal output meanwhile (keys, ingest and ten price ticks a second): {app['bytes_per_s'][0]:,.0f} bytes/s")
    print(f"RESULT load_terminal_bytes_per_s value={app['bytes_per_s'][0]:.0f} target=0")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
