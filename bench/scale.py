"""Scale: many feeds, many hosts, a long history.

1. One full poll cycle of 1,000 configured feeds spread over 50 loopback hosts
   (127.0.0.2 .. 127.0.0.51, each its own server that counts the requests it has in
   flight and answers after a 20 ms think time), through the engine's real fetch/parse/
   classify/store path. Figures: cycle time against the feeds' interval (target: well
   inside, <= 0.25x) and the most requests any host saw at once against [fetch] per_host
   (target: never above it).
2. A generated database of 5,000,000 items (bench/gendb.py, cached): history search p95
   over a set of user queries, common and rare words (target < 100 ms; the 50,000-item
   figure beside it), and start-up time to the first full screen against the same with
   50,000 items (bench/startup.py's measure; target: no slower, 1.10x allowed for noise).
   Also the headline list's pages at that size, as its keys ask for them: End (the oldest
   page, in each filter), n over the pages it may load in one press, and a page 2.5 million
   rows down read next to an item against the same page read by OFFSET (target for a key's
   page: inside the 50 ms key -> repaint budget; the newest page beside it).

    /work/venv/bin/python bench/scale.py [--feeds 1000] [--hosts 50] [--items 5000000] [--quick]"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.feedgen import rss  # noqa: E402
from bench.gendb import cached_db  # noqa: E402
from bench.history import timed  # noqa: E402
from bench.serve import QuietHandler, Server  # noqa: E402
from feeds.config import load_config  # noqa: E402

THINK = 0.02  # seconds each loopback host takes to answer
QUERIES = ["bitcoin", "crypto 401", "SEC", "private equity retirement", "stablecoin reserves", "Fidelity",
           "tokenized treasuries", "pension bitcoin", "executive order", "labor department guidance",
           "ETF*", "gold IRAs", "liquidations", "zebra", "record quarterly revenue", "museum maps"]


class Hosts:
    """One threaded server per loopback address, counting requests in flight per host."""

    def __init__(self, count: int, feeds_per_host: int, rng: random.Random) -> None:
        self.lock = threading.Lock()
        self.active: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self.served = 0
        self.servers: list[Server] = []
        self.urls: list[str] = []
        bodies: dict[str, bytes] = {}
        hosts = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                host = self.server.server_address[0]
                with hosts.lock:
                    hosts.active[host] = hosts.active.get(host, 0) + 1
                    hosts.peak[host] = max(hosts.peak.get(host, 0), hosts.active[host])
                try:
                    time.sleep(THINK)
                    body = bodies.get(self.path)
                    self.send_response(200 if body else 404)
                    self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
                    self.send_header("Content-Length", str(len(body or b"")))
                    self.end_headers()
                    self.wfile.write(body or b"")
                finally:
                    with hosts.lock:
                        hosts.active[host] -= 1
                        hosts.served += 1

        feed_no = 0
        for n in range(count):
            server = Server((f"127.0.0.{n + 2}", 0), Handler)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self.servers.append(server)
            host, port = server.server_address
            for _ in range(feeds_per_host):
                path = f"/feed{feed_no}.xml"
                bodies[path] = rss(feed_no, rng.randint(20, 50))
                self.urls.append(f"http://{host}:{port}{path}")
                feed_no += 1

    def close(self) -> None:
        # shutdown() waits out serve_forever's poll interval: all at once, not one by one
        closers = [threading.Thread(target=server.shutdown) for server in self.servers]
        for thread in closers:
            thread.start()
        for thread in closers:
            thread.join()
        for server in self.servers:
            server.server_close()


def poll_cycle(feeds: int, hosts: int, tmp: Path) -> dict:
    from feeds.engine import Engine
    from feeds.config import FeedConfig

    rng = random.Random(11)
    servers = Hosts(hosts, feeds // hosts, rng)
    try:
        base = load_config(use_user_file=False)
        interval = base.fetch.default_interval
        config = replace(base, feeds=tuple(FeedConfig(name=f"Feed {n:04d}", url=url, interval=interval)
                                           for n, url in enumerate(servers.urls)))
        engine = Engine(config, tmp / "scale.db", lambda event: None)

        async def cycle():
            try:
                start = time.perf_counter()
                statuses = await engine.poll_all()
                return time.perf_counter() - start, statuses
            finally:
                await engine.stop()

        wall, statuses = asyncio.run(cycle())
        ok = sum(1 for s in statuses if s.state.ok)
        return {"wall": wall, "interval": interval, "ok": ok, "feeds": len(statuses), "items": sum(s.new for s in statuses),
                "per_host": config.fetch.per_host, "concurrency": config.fetch.concurrency,
                "peak": max(servers.peak.values()), "served": servers.served,
                "floor": len(statuses) / hosts / config.fetch.per_host * THINK}
    finally:
        servers.close()


def search_p95(db: Path, repeats: int = 5, limit: int = 200) -> tuple[float, dict[str, float]]:
    """p95 over every (query, repeat) of Store.search as the search screen calls it, and
    each query's median."""
    from feeds.store import Store

    times: list[float] = []
    per_query: dict[str, float] = {}
    with Store(db) as store:
        for query in QUERIES:
            store.search(query, limit)  # warm this query's pages once, as a second keystroke would
            runs = []
            for _ in range(repeats):
                start = time.perf_counter()
                store.search(query, limit)
                runs.append(time.perf_counter() - start)
            times.extend(runs)
            per_query[query] = statistics.median(runs)
    times.sort()
    return times[min(len(times) - 1, int(0.95 * len(times)))], per_query


def paging(db: Path, repeats: int = 5) -> dict[str, float]:
    """Median seconds of the store reads behind the headline list's keys (Store.recent,
    as the list's pager calls it through the engine)."""
    from feeds.store import Store
    from tui.panes.headlines import NEXT_UNREAD_PAGES, PAGE

    def median_of(read, repeats: int = repeats) -> float:
        read()  # warm, as the key's second press would be
        return timed(read, repeats)

    out: dict[str, float] = {}
    with Store(db) as store:
        total = store.db.execute("SELECT count(*) FROM items").fetchone()[0]
        middle = store.db.execute("SELECT id FROM items ORDER BY sort_time DESC, id DESC LIMIT 1 OFFSET ?",
                                  (total // 2,)).fetchone()[0]
        out["newest page"] = median_of(lambda: store.recent(PAGE))
        out["End, oldest page (slowest filter)"] = max(
            median_of(lambda where=where: store.recent(PAGE, oldest=True, **where))
            for where in ({}, {"flagged_only": True}, {"high_only": True}))

        def next_unread_walk():
            page = store.recent(PAGE)
            for _ in range(NEXT_UNREAD_PAGES):
                page = store.recent(PAGE, before=page[-1].id)

        out[f"n, {NEXT_UNREAD_PAGES} pages in one press"] = median_of(next_unread_walk)
        out["a page halfway down, next to an item"] = median_of(lambda: store.recent(PAGE, before=middle))
        out["the same page by OFFSET"] = median_of(lambda: store.recent(PAGE, total // 2 + 1), repeats=1)
    return out


# Queries that cannot stop at the newest matches: short prefixes read the list of every
# word they start (the search screen runs them as the reader types)
SLOW_QUERIES = ["s*", "p*", "pl*", "st*"]


def search_off_loop(db: Path) -> dict[str, tuple[float, float]]:
    """Per slow query: (seconds the search took, the event loop's longest gap meanwhile)
    through Engine.asearch's Searcher, with a 10 ms ticker on the loop: the screen's view
    of a search it hands off."""
    from feeds.searcher import Searcher

    async def run() -> dict[str, tuple[float, float]]:
        searcher = Searcher(db)
        out = {}
        try:
            await searcher.search("bitcoin", 10)  # the connection opened
            for query in SLOW_QUERIES:
                gaps = [0.0]

                async def ticker() -> None:
                    last = time.perf_counter()
                    while True:
                        await asyncio.sleep(0.01)
                        now = time.perf_counter()
                        gaps.append(now - last - 0.01)
                        last = now

                tick = asyncio.create_task(ticker())
                await asyncio.sleep(0.05)
                start = time.perf_counter()
                await searcher.search(query, 200)
                took = time.perf_counter() - start
                tick.cancel()
                out[query] = (took, max(gaps))
        finally:
            searcher.close()
        return out

    return asyncio.run(run())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", type=int, default=1000)
    ap.add_argument("--hosts", type=int, default=50)
    ap.add_argument("--items", type=int, default=5_000_000)
    ap.add_argument("--runs", type=int, default=3, help="start-up runs per database")
    ap.add_argument("--quick", action="store_true", help="skip the start-up comparison")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="pw-bench-scale-"))
    try:
        r = poll_cycle(args.feeds, args.hosts, tmp)
        cycle_ratio = r["wall"] / r["interval"]
        print(f"poll cycle: {r['feeds']} feeds on {args.hosts} hosts, {r['ok']} ok, {r['items']:,} items stored "
              f"in {r['wall']:.1f} s (interval {r['interval']:.0f} s -> {cycle_ratio:.3f}x, target <= 0.25x; "
              f"per-host floor {r['floor']:.1f} s); busiest host had {r['peak']} requests in flight "
              f"(per_host {r['per_host']})")

        big = cached_db(args.items)
        small = cached_db(50_000)
        p95_big, per_query = search_p95(big)
        p95_small, _ = search_p95(small)
        slowest = max(per_query, key=per_query.get)
        print(f"history search over {args.items:,} items: p95 {p95_big * 1000:.1f} ms (target < 100 ms; "
              f"50,000 items: {p95_small * 1000:.1f} ms); slowest query {slowest!r} {per_query[slowest] * 1000:.1f} ms")
        off_loop = search_off_loop(big)
        stall = max(gap for _, gap in off_loop.values())
        print(f"slow searches over {args.items:,} items, off the event loop (search ms / the loop's longest "
              f"stall meanwhile ms): " + ", ".join(f"{q!r} {took * 1000:.0f} / {gap * 1000:.1f}"
                                                   for q, (took, gap) in off_loop.items()))
        pages = paging(big)
        print(f"headline list pages over {args.items:,} items (ms, median): "
              + ", ".join(f"{name} {seconds * 1000:.1f}" for name, seconds in pages.items()))
        results = [("scale poll cycle / interval", cycle_ratio, 0.25),
                   ("scale busiest host / per_host", r["peak"] / r["per_host"], 1.0),
                   ("scale search p95 ms", p95_big * 1000, 100.0),
                   ("scale End page ms", pages["End, oldest page (slowest filter)"] * 1000, 50.0),
                   ("scale slow search loop stall ms", stall * 1000, 50.0)]
        if not args.quick:
            from bench.startup import measure, working_copy

            small_copy = working_copy(small, tmp)
            t_small, bare_small = measure(small_copy, args.runs)
            t_big, bare_big = measure(big, args.runs)
            # each against its own bare-app run, so load on the machine cancels out
            ratio = (t_big / bare_big) / (t_small / bare_small)
            print(f"start-up to first full screen: {args.items:,} items {t_big * 1000:.0f} ms "
                  f"(bare {bare_big * 1000:.0f} ms), 50,000 items {t_small * 1000:.0f} ms (bare {bare_small * 1000:.0f} ms)"
                  f" -> {ratio:.2f}x (target <= 1.10x)")
            results.append(("scale start-up 5M / 50k", ratio, 1.10))
        for name, value, target in results:
            print(f"RESULT {name.replace(' ', '_')} value={value:.3f} target={target}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
