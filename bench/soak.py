"""Soak: the engine polling loopback feeds for 10,000 poll cycles, resident memory after
warm-up growing by at most 5%.

One cycle polls every configured feed once (Engine.poll_all, as a refresh does): 6 feeds
that publish a new item every 0.5 s (60-item windows, above the in-place size, so the
parse workers take them), answering 304 between times, and one that answers 404 every
time. The feeds are served from a separate process, so only the engine's memory is
measured: this process (event loop, store, HTTP client) and, separately, its parse workers.
Baseline: the same process's memory after the first 1,000 cycles.

    /work/venv/bin/python bench/soak.py [--cycles 10000] [--warmup 1000]"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.term import rss_mb  # noqa: E402

TARGET = 5.0  # percent growth after warm-up
SERVER = """\
import sys, time
sys.path.insert(0, {repo!r})
from bench.live import RollingFeeds
feeds = RollingFeeds(6, items=60, fresh=1, step=0.5)
print(feeds.base, flush=True)
sys.stdin.read()
"""


def children_rss_mb(pid: int) -> float:
    total = 0.0
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    for child in children:
        try:
            total += rss_mb(int(child))
        except (OSError, ValueError):
            pass
    return total


async def soak(base: str, db: Path, cycles: int, warmup: int, every: int) -> list[tuple[int, float, float, float]]:
    from feeds.config import FeedConfig, load_config
    from feeds.engine import Engine

    config = load_config(use_user_file=False)
    feeds = tuple(FeedConfig(name=f"Soak feed {n}", url=f"{base}/live/{n}.xml", interval=60.0) for n in range(6))
    feeds += (FeedConfig(name="Soak missing", url=f"{base}/missing.xml", interval=60.0),)
    config = replace(config, feeds=feeds)
    events = [0]

    def sink(event) -> None:
        events[0] += 1

    samples = []
    engine = Engine(config, db, sink)
    try:
        start = time.perf_counter()
        for cycle in range(1, cycles + 1):
            await engine.poll_all()
            if cycle % every == 0 or cycle == warmup:
                samples.append((cycle, rss_mb(os.getpid()), children_rss_mb(os.getpid()), time.perf_counter() - start))
    finally:
        await engine.stop()
    return samples


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=10_000)
    ap.add_argument("--warmup", type=int, default=1_000)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="pw-bench-soak-"))
    server = subprocess.Popen([sys.executable, "-c", SERVER.format(repo=str(REPO))], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        base = server.stdout.readline().strip()
        every = max(1, args.cycles // 20)
        samples = asyncio.run(soak(base, tmp / "soak.db", args.cycles, args.warmup, every))
    finally:
        server.stdin.close()
        server.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)
    warm = next(s for s in samples if s[0] >= args.warmup)
    end = samples[-1]
    peak = max(s[1] for s in samples if s[0] >= args.warmup)
    growth = (end[1] / warm[1] - 1) * 100
    workers = (end[2] / warm[2] - 1) * 100 if warm[2] else 0.0
    for cycle, rss, kids, elapsed in samples:
        print(f"  cycle {cycle:6d}  {elapsed:6.1f} s  engine RSS {rss:6.1f} MB  parse workers {kids:6.1f} MB")
    print(f"soak: {args.cycles:,} cycles of 7 feeds in {end[3]:.0f} s; engine RSS {warm[1]:.1f} MB after "
          f"{warm[0]:,} cycles -> {end[1]:.1f} MB at the end (peak {peak:.1f}): {growth:+.2f}% (target <= {TARGET:.0f}%); "
          f"parse workers {warm[2]:.1f} -> {end[2]:.1f} MB ({workers:+.2f}%)")
    print(f"RESULT soak_rss_growth_percent value={growth:.3f} target={TARGET} workers_percent={workers:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
