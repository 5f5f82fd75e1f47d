"""A generated history database of N items for the start-up and scale benchmarks.

Written with plain SQL (executemany into an empty schema made by Store, its indexes built
once at the end, the FTS index rebuilt in one statement), not through ingest: 5 million
items take a few minutes, not hours. Items are classified with the configured rules, so a start-up finds nothing to reclassify, exactly as a
database this version wrote. The file is cached by N and seed (and migrated and reclassified on use when the schema
or the rules changed since).

    /work/venv/bin/python bench/gendb.py --n 50000        # prints the path"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.classify import generate  # noqa: E402  (the classifier bench's realistic headlines)
from feeds.classify import Classifier  # noqa: E402
from feeds.config import load_config  # noqa: E402
from feeds.parse import title_key  # noqa: E402
from feeds.store import Store, classification_json  # noqa: E402

FEEDS = 17
CHUNK = 100_000
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "policywatch-bench"


def feed_names(count: int = FEEDS) -> list[str]:
    return [f"Generated feed {n:02d}" for n in range(count)]


def cached_db(n: int, seed: int = 7, *, verbose: bool = True) -> Path:
    """The path of a generated database of n items (made on first use)."""
    path = CACHE / f"items-{n}-s{seed}.db"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        for stale in CACHE.glob(f"items-{n}-s{seed}-*.db*"):
            stale.unlink()
        partial = path.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        start = time.perf_counter()
        generate_db(partial, n, seed, verbose=verbose)
        partial.rename(path)
        if verbose:
            print(f"generated {n:,} items in {time.perf_counter() - start:.0f} s: {path}", file=sys.stderr)
    bring_up_to_date(path)
    return path


def bring_up_to_date(path: Path) -> None:
    """What the first start after an upgrade or a rules change does, done here untimed:
    migrate the schema, reclassify under the current rules."""
    from feeds.engine import Engine

    engine = Engine(load_config(use_user_file=False), path, lambda event: None)
    try:
        engine.open()  # migrations, then Engine.reclassify_stored (it marks the store up to date)
    finally:
        engine.store.close()


def generate_db(path: Path, n: int, seed: int = 7, *, verbose: bool = False) -> None:
    Store(path).close()  # the real schema, migrations and all
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-200000")
    indexes = db.execute("SELECT name, sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL"
                         " AND tbl_name IN ('items', 'item_sources')").fetchall()
    for name, _ in indexes:
        db.execute(f"DROP INDEX {name}")
    classifier = Classifier.from_config(load_config(use_user_file=False).classifier)
    rules = classifier.fingerprint
    feeds = feed_names()
    rng = random.Random(seed)
    now = time.time()  # the newest item is a minute old when the file is made
    span = max(30.0, n / 3000) * 86400  # about 3,000 items a day: 5M items is ~4.5 years
    db.execute("BEGIN")
    for start in range(0, n, CHUNK):
        count = min(CHUNK, n - start)
        rows, sources = [], []
        for offset, it in enumerate(generate(count, seed * 1_000_003 + start)):
            i = start + offset
            first_seen = now - 60 - span * (1 - i / n)
            published = first_seen - rng.random() * 6 * 3600
            feed = feeds[rng.randrange(len(feeds))]
            title, summary = it["title"], it["summary"]
            c = classification_json(classifier.classify(title, summary))
            link = f"https://gen{feeds.index(feed)}.example/{i:09d}"
            rows.append((i + 1, f"gen{i:09d}", link, None, title, summary, title_key(title), published,
                         first_seen, published, feed, *c, rules, int(first_seen < now - 86400 * 2)))
            sources.append((i + 1, feed, link, first_seen))
        db.executemany("INSERT INTO items(id, key, link, guid, title, summary, title_key, published, first_seen,"
                       " sort_time, feed, flag, priority, tags, matches, score, rules, read)"
                       " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        db.executemany("INSERT INTO item_sources(item_id, feed, link, seen) VALUES (?,?,?,?)", sources)
        if verbose and (start // CHUNK) % 10 == 9:
            print(f"  {start + count:,} rows", file=sys.stderr)
    db.execute("COMMIT")
    for _, sql in indexes:
        db.execute(sql)
    db.execute("INSERT INTO items_fts(items_fts) VALUES ('rebuild')")
    db.execute("INSERT INTO items_fts(items_fts) VALUES ('optimize')")
    db.execute("ANALYZE")
    db.execute("PRAGMA journal_mode=WAL")
    db.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    print(cached_db(args.n, args.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
