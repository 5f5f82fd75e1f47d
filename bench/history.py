"""History at scale: `search`, `export` and retention on a generated database, each as a
ratio to a plain-SQL baseline measured in the same run on the same file.

    /work/venv/bin/python bench/history.py [--n 100000] [--seed 7]

- search: Store.search (FTS5, ranked by time, limit 50) against a LIKE scan answering the
  same question;
- export: Store.items_since over every item (rows turned into Items, in pages) against
  one raw `SELECT ... ORDER BY first_seen, id` fetch;
- prune: Store.prune of the older half (with its tombstones) against a bare DELETE of the
  same rows on a copy;
- ingest after pruning: a 500-item poll with the tombstone check against the same poll on
  a store that never pruned."""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from feeds.parse import make_item  # noqa: E402
from feeds.store import Store  # noqa: E402

ACTORS = ["SEC", "Labor Department", "Treasury", "IRS", "CFTC", "House panel", "Senate", "The White House"]
ACTIONS = ["approves", "proposes", "delays", "rejects", "finalizes rule on", "issues guidance on", "weighs limits on"]
SUBJECTS = ["bitcoin ETFs", "crypto in 401(k) plans", "private equity in retirement accounts", "stablecoin reserves",
            "digital-asset custody", "IRA contribution limits", "pension fund bitcoin buys", "tokenized Treasuries"]
WORDS = "market investors analysts fund plan sponsors fiduciary rule comment period agency court filing".split()
QUERIES = ["crypto 401", "tokenized treasuries", "guidance", "pension bitcoin", "zebra"]


def items(rng: random.Random, n: int, feed: str, start: int):
    for i in range(start, start + n):
        title = f"{rng.choice(ACTORS)} {rng.choice(ACTIONS)} {rng.choice(SUBJECTS)} ({i})"
        summary = " ".join(rng.choice(WORDS) for _ in range(30))
        yield make_item(feed, title=title, summary=summary, link=f"https://bench.example/{feed}/{i}",
                        guid=None, published=None)


def timed(fn, repeat: int = 5) -> float:
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="pw-bench-history-"))
    try:
        db = tmp / "history.sqlite"
        now = datetime.now(timezone.utc)
        store = Store(db)
        t = time.perf_counter()
        batch = 500
        for start in range(0, args.n, batch):
            seen = now - timedelta(days=365 * (1 - start / args.n))
            store.ingest(f"feed{start // batch % 20}", list(items(rng, batch, "f", start)), now=seen)
        print(f"built {args.n:,} items in {time.perf_counter() - t:.1f} s")

        cols = "id, title, link, first_seen"
        for q in QUERIES:
            words = q.split()
            like = " AND ".join("(title || ' ' || summary) LIKE ?" for _ in words)
            fts = timed(lambda: store.search(q, 50))
            scan = timed(lambda: store.db.execute(
                f"SELECT {cols} FROM items WHERE {like} ORDER BY sort_time DESC LIMIT 50",
                [f"%{w}%" for w in words]).fetchall())
            print(f"search {q!r:24} FTS {fts * 1000:7.2f} ms   LIKE scan {scan * 1000:7.2f} ms   ratio {fts / scan:5.3f}")

        export = timed(lambda: sum(1 for _ in store.items_since(None)), repeat=3)
        raw = timed(lambda: store.db.execute("SELECT * FROM items ORDER BY first_seen, id").fetchall(), repeat=3)
        print(f"export {args.n:,} items: items_since {export:.2f} s ({args.n / export:,.0f} items/s)   "
              f"raw SELECT {raw:.2f} s   ratio {export / raw:.2f}")
        store.close()

        copy = tmp / "copy.sqlite"
        shutil.copy(db, copy)
        cutoff = now - timedelta(days=182)
        with Store(db) as pruning:
            t = time.perf_counter()
            removed = pruning.prune(cutoff, now=now)
            prune = time.perf_counter() - t
        bare = sqlite3.connect(copy)
        bare.execute("PRAGMA foreign_keys=ON")
        t = time.perf_counter()
        with bare:
            bare.execute("DELETE FROM items WHERE first_seen < ?", (cutoff.timestamp(),))
        delete = time.perf_counter() - t
        bare.close()
        print(f"prune {removed:,} items: Store.prune {prune:.2f} s   bare DELETE {delete:.2f} s   ratio {prune / delete:.2f}")

        polls = [list(items(rng, 500, "new", args.n + 1000 * k)) for k in range(5)]
        with Store(db) as pruned, Store(copy) as plain:
            plain.db.execute("DELETE FROM pruned")
            first, second = iter(polls), iter(polls)
            with_check = timed(lambda: pruned.ingest("again", next(first), now=now))
            without = timed(lambda: plain.ingest("again", next(second), now=now))
        print(f"500-item poll after pruning: {with_check * 1000:.1f} ms   never pruned {without * 1000:.1f} ms   "
              f"ratio {with_check / without:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
