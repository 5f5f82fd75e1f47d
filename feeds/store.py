"""SQLite storage (stdlib sqlite3, WAL): items and the feeds that carried them, feed state
for polite polling, price ticks, and full-text search.

Ingest is one transaction per feed and returns exactly the items that are new, so the
engine can announce them. The same story from two feeds (same canonical link, or the same
normalized title within 48 hours) is stored once with every source kept."""

from __future__ import annotations

import asyncio
import atexit
import collections
import json
import logging
import re
import sqlite3
import threading
import time
from concurrent.futures import Future
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, TypeVar

from orjson import loads as _orjson_loads

from feeds.model import Classification, FeedState, Item, Match, PriceTick

log = logging.getLogger("policywatch.store")
T = TypeVar("T")

TITLE_WINDOW = timedelta(hours=48)
MIN_TITLE_KEY = 20  # shorter titles ("Update", "Weekly recap") are too generic to merge on
_SEP = "\x1f"

MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema
    """
    CREATE TABLE items (
        id          INTEGER PRIMARY KEY,
        key         TEXT NOT NULL UNIQUE,
        link        TEXT,
        guid        TEXT,
        title       TEXT NOT NULL,
        summary     TEXT NOT NULL DEFAULT '',
        title_key   TEXT NOT NULL,
        published   REAL,
        first_seen  REAL NOT NULL,
        sort_time   REAL NOT NULL,
        feed        TEXT NOT NULL,
        flag        INTEGER NOT NULL DEFAULT 0,
        priority    TEXT NOT NULL DEFAULT 'none',
        tags        TEXT NOT NULL DEFAULT '[]',
        matches     TEXT NOT NULL DEFAULT '[]',
        score       REAL NOT NULL DEFAULT 0,
        rules       TEXT,
        read        INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX items_link ON items(link) WHERE link IS NOT NULL;
    CREATE INDEX items_title ON items(title_key, sort_time);
    CREATE INDEX items_time ON items(sort_time DESC);
    CREATE INDEX items_flag_time ON items(flag, sort_time DESC);
    CREATE INDEX items_priority_time ON items(priority, sort_time DESC);

    CREATE TABLE item_sources (
        item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
        feed    TEXT NOT NULL,
        link    TEXT,
        seen    REAL NOT NULL,
        PRIMARY KEY (item_id, feed)
    ) WITHOUT ROWID;

    CREATE TABLE feed_state (
        feed          TEXT PRIMARY KEY,
        url           TEXT NOT NULL DEFAULT '',
        etag          TEXT,
        last_modified TEXT,
        last_success  REAL,
        last_error    TEXT,
        last_error_at REAL,
        failures      INTEGER NOT NULL DEFAULT 0,
        next_due      REAL,
        gone          INTEGER NOT NULL DEFAULT 0
    );

    CREATE TABLE price_ticks (
        id            INTEGER PRIMARY KEY,
        source        TEXT NOT NULL,
        symbol        TEXT NOT NULL,
        price         TEXT NOT NULL,
        change_24h    TEXT,
        exchange_time REAL,
        received      REAL NOT NULL
    );
    CREATE INDEX price_ticks_symbol_time ON price_ticks(symbol, received);

    CREATE VIRTUAL TABLE items_fts USING fts5(
        title, summary, content='items', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER items_ad AFTER DELETE ON items BEGIN
        INSERT INTO items_fts(items_fts, rowid, title, summary) VALUES ('delete', old.id, old.title, old.summary);
    END;
    CREATE TRIGGER items_au AFTER UPDATE OF title, summary ON items BEGIN
        INSERT INTO items_fts(items_fts, rowid, title, summary) VALUES ('delete', old.id, old.title, old.summary);
        INSERT INTO items_fts(rowid, title, summary) VALUES (new.id, new.title, new.summary);
    END;

    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # 2: what retention pruned, so a feed still carrying an old item does not bring it back as new
    """
    CREATE TABLE pruned (
        key       TEXT PRIMARY KEY,
        link      TEXT,
        pruned_at REAL NOT NULL
    );
    CREATE INDEX pruned_link ON pruned(link) WHERE link IS NOT NULL;
    CREATE INDEX items_first_seen ON items(first_seen, id);
    """,
    # 3: counting a feed's items (feed health, every poll) scanned every source row
    # without it: seconds per feed at millions of items (bench/scale.py)
    """
    CREATE INDEX IF NOT EXISTS item_sources_feed ON item_sources(feed);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
PRUNED_MEMORY = timedelta(days=180)  # how long a pruned item's key keeps it from coming back
RULES_COMPLETE = "rules.complete"  # meta: every stored item is classified under these rules
SEEN_OUT_OF_ORDER = "search.seen_out_of_order"  # meta (older stores): first_seen ran behind id order, by how much unknown
FIRST_SEEN_SKEW = "search.first_seen_skew"  # meta: the most seconds an item's first_seen ran behind an older id's
FUTURE_SLACK = timedelta(hours=1)  # a published time may run this far past first_seen; later ones are clamped


def _ts(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


def _dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, tz=timezone.utc)


def _now() -> datetime:
    return datetime.now(timezone.utc)


class StoreError(Exception):
    """The database cannot be opened or is not ours."""


_TAGS_JSON: dict[tuple[str, ...], str] = {}
# Reading items back (Store._item): few distinct tag sets, and equal matches as one object
# (pages are read again and again, and the headline list compares items it drew before).
_TAGS_READ: dict[str, tuple[str, ...]] = {}
_MATCHES_READ: dict[tuple, Match] = {}


def _match(term: str, tag: str, field: str, start: int, end: int) -> Match:
    key = (term, tag, field, start, end)
    match = _MATCHES_READ.get(key)
    if match is None:
        if len(_MATCHES_READ) > 50_000:
            _MATCHES_READ.clear()
        match = _MATCHES_READ[key] = Match(term, tag, field, start, end)
    return match


def _json_loads(text: str) -> Any:
    """The classification columns' JSON (written by classification_json): orjson reads it
    about 3x faster than the stdlib, which stays the judge of anything orjson refuses."""
    try:
        return _orjson_loads(text)
    except ValueError:
        return json.loads(text)


_json_str = json.encoder.encode_basestring_ascii  # what json.dumps does with a str


def classification_json(c: Classification) -> tuple[int, str, str, str, float]:
    """The stored columns of a classification. The JSON is exactly json.dumps's, built
    without its per-call overhead (a third of ingest's Python time at 50,000 items)."""
    key = c.tags if type(c.tags) is tuple else tuple(c.tags)
    tags = _TAGS_JSON.get(key)
    if tags is None:
        if len(_TAGS_JSON) > 4096:
            _TAGS_JSON.clear()
        tags = _TAGS_JSON[key] = json.dumps(list(key))
    if c.matches:
        matches = "[" + ", ".join(
            f"[{_json_str(m.term)}, {_json_str(m.tag)}, {_json_str(m.field)}, {json.dumps(m.start)}, {json.dumps(m.end)}]"
            if type(m.start) is not int or type(m.end) is not int else
            f"[{_json_str(m.term)}, {_json_str(m.tag)}, {_json_str(m.field)}, {m.start}, {m.end}]"
            for m in c.matches) + "]"
    else:
        matches = "[]"
    return int(c.flag), c.priority, tags, matches, c.score


class Store:
    """One SQLite file with two connections: `w` for every write (and the reads a write
    transaction makes), `db` for the reads front ends make. Each connection is for one
    thread at a time: the engine gives `w` to its StoreWriter thread and reads `db` on
    the event loop; a CLI command uses both from its one thread."""

    # SQLite's page cache per connection, in KiB. The write connection keeps SQLite's own
    # default (2 MB) while polls write a few items each: a bigger cache would only fill
    # with the pages of items written once (the soak's growth). It grows to BULK_CACHE_KB
    # while StoreWriter works through large batches, whose index and search pages are
    # touched again by every batch (50 feeds of 1,000 items: 5.0-5.2 s against 5.1-5.9 s
    # with 2 MB), and reads keep it: a search walks the index of every item.
    CACHE_KB = 2_000
    BULK_CACHE_KB = 32_768

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.db: sqlite3.Connection | None = None
        self.w: sqlite3.Connection | None = None
        try:
            if str(path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self.w = self._connect(path)
            # Checkpoint the WAL into the database every 40 MB instead of every 4 MB: each
            # checkpoint rewrites (and syncs) every page touched since the last, and the
            # index and search pages are touched by every ingest (a fifth of the cost of
            # storing 50,000 items went to checkpoints).
            self.w.execute("PRAGMA wal_autocheckpoint=10000")
            self._migrate()
            # Reads get their own connection: under WAL they never wait for the writer,
            # and a read on the event loop never sees a half-done write transaction.
            # (":memory:" is one database per connection, so it keeps a single one.)
            self.db = self.w if str(path) == ":memory:" else self._connect(path)
            self.bulk_cache(False)
        except sqlite3.DatabaseError as exc:
            self._close_connections()
            raise StoreError(f"{path}: cannot open database: {exc}") from None
        except OSError as exc:
            self._close_connections()
            raise StoreError(f"{path}: {exc.strerror or exc}") from None

    @classmethod
    def reader(cls, path: str | Path) -> "Store":
        """A store that only reads, on a connection of its own (usable from another
        thread); the database must exist already (a Store opened it). Reads only."""
        store = cls.__new__(cls)
        store.path, store.w = Path(path), None
        try:
            store.db = cls._connect(path)  # (the read connection's 32 MB: searches walk the index of every item)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path}: cannot open database: {exc}") from None
        return store

    @staticmethod
    def _connect(path: str | Path) -> sqlite3.Connection:
        db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA busy_timeout=5000")
        db.execute(f"PRAGMA cache_size={-Store.BULK_CACHE_KB}")
        db.execute("PRAGMA temp_store=MEMORY")
        return db

    def bulk_cache(self, bulk: bool) -> None:
        """Give the write connection the large page cache, or shrink it back to the
        small one (SQLite frees the pages beyond it at once). A ":memory:" store, whose
        one connection also reads, keeps the large one."""
        if self.db is self.w:
            return
        self.w.execute(f"PRAGMA cache_size={-(self.BULK_CACHE_KB if bulk else self.CACHE_KB)}")

    # ------------------------------------------------------------ lifecycle

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._close_connections()

    def _close_connections(self) -> None:
        for db in {id(c): c for c in (self.db, self.w) if c is not None}.values():
            db.close()

    def _migrate(self) -> None:
        version = self.w.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.path}: database schema {version} is newer than this policywatch ({SCHEMA_VERSION})")
        for number in range(version, SCHEMA_VERSION):
            with self.transaction():
                for statement in _statements(MIGRATIONS[number]):
                    self.w.execute(statement)
                self.w.execute(f"PRAGMA user_version={number + 1}")

    def transaction(self):
        return _Transaction(self.w)

    # ------------------------------------------------------------ items

    def ingest(self, feed: str, items: Iterable[Item], *, rules: str | None = None,
               now: datetime | None = None) -> list[Item]:
        """Store a feed's items; return the ones not seen before (from any feed).

        Items carrying a classification are stored with it under the `rules` fingerprint.
        One transaction with set-based lookups and inserts: a 1,000-item feed costs a
        handful of statements, not thousands."""
        now = now or _now()
        now_ts = now.timestamp()
        late = now + FUTURE_SLACK
        window = TITLE_WINDOW.total_seconds()
        batch: list[Item] = []
        keys: set[str] = set()
        for item in items:
            if item.key not in keys:
                keys.add(item.key)
                batch.append(item)
        if not batch:
            return []
        with self.transaction():
            # Every lookup is one statement and one SQLite step whatever the batch size
            # (values go in as one JSON array, pairs come back as one JSON value): SQLite
            # gives up the GIL at every step, and while another thread of the process is
            # busy, each step then waits to win it back.
            newest, last_id, any_pruned, skew_seen, complete = self.w.execute(
                "SELECT (SELECT max(first_seen) FROM items), (SELECT coalesce(max(id), 0) FROM items),"
                " EXISTS (SELECT 1 FROM pruned), (SELECT value FROM meta WHERE key=?),"
                " (SELECT value FROM meta WHERE key=?)", (FIRST_SEEN_SKEW, RULES_COMPLETE)).fetchone()
            if any_pruned:
                batch = self._not_pruned(batch)
                if not batch:
                    return []
            by_key = self._pairs("SELECT json_group_array(json_array(key, id)) FROM items"
                                 " WHERE key IN (SELECT value FROM json_each(?))", [i.key for i in batch])
            by_link = self._pairs("SELECT json_group_array(json_array(link, id)) FROM items"
                                  " WHERE link IN (SELECT value FROM json_each(?))",
                                  list({i.link for i in batch if i.link and i.key not in by_key}))
            titles: dict[str, list[tuple[float, int]]] = {}
            title_keys = list({i.title_key for i in batch if len(i.title_key) >= MIN_TITLE_KEY and i.key not in by_key
                               and not (i.link and i.link in by_link)})
            for tkey, sort_time, item_id in self._rows(
                    "SELECT title_key, sort_time, id FROM items WHERE title_key IN (SELECT value FROM json_each(?))",
                    title_keys):
                titles.setdefault(tkey, []).append((sort_time, item_id))

            known: list[tuple[int, str]] = []  # (stored item id, this feed's link) for stories already stored
            fresh: list[tuple[Item, float]] = []
            for item in batch:
                published = item.published
                sort_time = published.timestamp() if published and published <= late else now_ts
                existing = by_key.get(item.key) or (by_link.get(item.link) if item.link else None)
                if existing is None and len(item.title_key) >= MIN_TITLE_KEY:
                    candidates = titles.get(item.title_key)
                    if candidates:
                        moment = (published or now).timestamp()
                        existing = next((i for t, i in candidates if abs(t - moment) <= window), None)
                if existing is not None:
                    if existing > 0:  # -1: the same story earlier in this very batch
                        known.append((existing, item.link))
                    continue
                fresh.append((item, sort_time))
                by_key[item.key] = -1
                if item.link:
                    by_link[item.link] = -1
                titles.setdefault(item.title_key, []).append((sort_time, -1))

            rows = []
            unclassified = classification_json(Classification())
            for item, sort_time in fresh:
                c = item.classification
                flag, priority, tags, matches, score = classification_json(c) if c is not None else unclassified
                rows.append((item.key, item.link, item.guid, item.title, item.summary, item.title_key,
                             _ts(item.published), now_ts, sort_time, feed, flag, priority, tags, matches, score,
                             rules if item.classification else None))
            # Polls that overlap store with the time each began, so a later id can carry an
            # earlier first_seen (and a clock set back, a much earlier one): search allows for
            # the largest such skew seen.
            if newest is not None and now_ts < newest:
                skew = newest - now_ts
                if skew > float(skew_seen or 0):
                    self.w.execute("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET"
                                    " value=excluded.value", (FIRST_SEEN_SKEW, repr(skew)))
            if complete is not None and any(row[-1] != complete for row in rows):
                self.w.execute("DELETE FROM meta WHERE key=?", (RULES_COMPLETE,))
            self.w.executemany(
                "INSERT INTO items(key, link, guid, title, summary, title_key, published, first_seen, sort_time,"
                " feed, flag, priority, tags, matches, score, rules) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
            # New rows take ids above the old maximum; index them for search in one statement
            # (a per-row trigger costs several times more).
            self.w.execute("INSERT INTO items_fts(rowid, title, summary) SELECT id, title, summary FROM items"
                            " WHERE id > ?", (last_id,))
            ids = json.loads(self.w.execute("SELECT json_group_object(key, id) FROM items WHERE id > ?",
                                            (last_id,)).fetchone()[0])
            self.w.execute(
                "INSERT OR IGNORE INTO item_sources(item_id, feed, link, seen)"
                " SELECT value->>0, ?, value->>1, ? FROM json_each(?)",
                (feed, now_ts, json.dumps([(item_id, link) for item_id, link in known]
                                          + [(ids[item.key], item.link) for item, _ in fresh], ensure_ascii=False)))
        sources = (feed,)
        # Item(...) directly: dataclasses.replace costs twice as much per item
        return [Item(item.title, item.summary, item.link, item.published, feed, item.key, item.title_key, item.guid,
                     ids[item.key], now, sources, item.classification, item.read) for item, _ in fresh]

    def _pairs(self, sql: str, values: list) -> dict:
        """{a: b} from a writer query that takes its values as one JSON array and returns
        [[a, b], ...] as one JSON value: one SQLite step, whatever the count."""
        if not values:
            return {}
        found = self.w.execute(sql, (json.dumps(values, ensure_ascii=False),)).fetchone()[0]
        return dict(json.loads(found)) if found else {}

    def _rows(self, sql: str, values: list) -> list[tuple]:
        """A writer query that takes its values as one JSON array (few rows expected)."""
        if not values:
            return []
        return self.w.execute(sql, (json.dumps(values, ensure_ascii=False),)).fetchall()

    def _lookup(self, sql: str, values: list) -> list[tuple]:
        """Run an `IN ({})` query on the read connection over values in chunks below
        SQLite's variable limit."""
        out: list[tuple] = []
        for start in range(0, len(values), 500):
            chunk = values[start:start + 500]
            out.extend(self.db.execute(sql.format(",".join("?" * len(chunk))), chunk).fetchall())
        return out

    # Store._item reads these by position: keep the two in step (tests read every field back).
    _ITEM_COLUMNS = ", ".join(f"items.{c}" for c in (
        "id", "key", "link", "guid", "title", "summary", "title_key", "published", "first_seen", "feed",
        "flag", "priority", "tags", "matches", "score", "rules", "read")) + (
        ", (SELECT group_concat(feed, char(31)) FROM item_sources s WHERE s.item_id = items.id) AS sources")

    @staticmethod
    def _item(row: sqlite3.Row) -> Item:
        """An Item from a row of _ITEM_COLUMNS, read by position: a Row's look-up by name
        compares the name with each column's. Every page the list shows, every search and
        the first screen come through here (bench/startup.py, responsiveness.py)."""
        classification = None
        if row[15] is not None:  # rules: classified
            tags = _TAGS_READ.get(row[12])
            if tags is None:
                if len(_TAGS_READ) > 4096:
                    _TAGS_READ.clear()
                tags = _TAGS_READ[row[12]] = tuple(_json_loads(row[12]))
            classification = Classification(
                tags=tags, flag=bool(row[10]), priority=row[11],
                matches=tuple([_match(*m) for m in _json_loads(row[13])]), score=row[14],
            )
        sources = row[17]
        return Item(title=row[4], summary=row[5], link=row[2], published=_dt(row[7]),
                    feed=row[9], key=row[1], title_key=row[6], guid=row[3], id=row[0],
                    first_seen=_dt(row[8]), sources=tuple(sources.split(_SEP)) if sources else (),
                    classification=classification, read=bool(row[16]))

    def recent(self, limit: int = 200, offset: int = 0, *, flagged_only: bool = False, high_only: bool = False,
               before: int | None = None, after: int | None = None, oldest: bool = False) -> list[Item]:
        """Newest first, a page at a time: the newest page; the page just older than the
        item with id `before`, or just newer than `after`; or the oldest page. A page next
        to an item costs the same wherever it lies (one index look-up; an OFFSET walk reads
        every row it skips: a page 2.5 million rows down took a second), so a list can
        start at the oldest end and page from wherever the reader is."""
        where = ["priority = 'high'"] if high_only else ["flag = 1"] if flagged_only else []
        args: list[object] = []
        if before is not None:
            where.append("(sort_time, id) < (SELECT sort_time, id FROM items WHERE id = ?)")
            args.append(before)
        if after is not None:
            where.append("(sort_time, id) > (SELECT sort_time, id FROM items WHERE id = ?)")
            args.append(after)
        backwards = after is not None or oldest  # read from the older end, then turn round
        order = "ASC" if backwards else "DESC"
        rows = self.db.execute(
            f"SELECT {self._ITEM_COLUMNS} FROM items {'WHERE ' + ' AND '.join(where) if where else ''}"
            f" ORDER BY sort_time {order}, id {order} LIMIT ? OFFSET ?",
            (*args, limit, offset),
        ).fetchall()
        if backwards:
            rows.reverse()
        return [self._item(r) for r in rows]

    def count(self, *, flagged_only: bool = False, high_only: bool = False) -> int:
        where = "WHERE priority = 'high'" if high_only else "WHERE flag = 1" if flagged_only else ""
        return self.db.execute(f"SELECT count(*) FROM items {where}").fetchone()[0]

    def get(self, item_id: int) -> Item | None:
        row = self.db.execute(f"SELECT {self._ITEM_COLUMNS} FROM items WHERE id=?", (item_id,)).fetchone()
        return None if row is None else self._item(row)

    def item_sources(self, item_id: int) -> list[tuple[str, str | None, datetime]]:
        rows = self.db.execute("SELECT feed, link, seen FROM item_sources WHERE item_id=? ORDER BY seen, feed",
                               (item_id,)).fetchall()
        return [(r[0], r[1], _dt(r[2])) for r in rows]

    def mark_read(self, item_id: int, read: bool = True) -> None:
        with self.transaction():
            self.w.execute("UPDATE items SET read=? WHERE id=?", (int(read), item_id))

    def search(self, query: str, limit: int = 200, *, before: int | None = None) -> list[Item]:
        """Full-text search over titles and summaries; words are ANDed, `word*` is a prefix.
        Newest first (sort_time, then id); with `before`, the matches just older than the
        item with that id (the next page of a result list that ends there).

        Sorting every match by time cost seconds at millions of items (bench/scale.py).
        Instead matches are read newest id first, a page at a time (FTS5 walks its index
        backwards and stops early), until no older id can beat the results: an item's time
        is at most FUTURE_SLACK past its first_seen, and no first_seen runs more than the
        recorded skew past a newer id's. (A store that only knows it was out of order, from
        before the skew was recorded, has every match sorted.)"""
        match = fts_query(query)
        if not match or limit <= 0:
            return []
        bound = (float("inf"), 0)  # results are older than this (sort_time, id)
        if before is not None:
            row = self.db.execute("SELECT sort_time, id FROM items WHERE id = ?", (before,)).fetchone()
            if row is None:
                return []
            bound = tuple(row)
        skew = self.get_meta(FIRST_SEEN_SKEW)
        if skew is None and self.get_meta(SEEN_OUT_OF_ORDER) is not None:
            older = "" if before is None else " AND (items.sort_time, items.id) < (?, ?)"
            rows = self.db.execute(
                f"SELECT {self._ITEM_COLUMNS} FROM items_fts JOIN items ON items.id = items_fts.rowid "
                f"WHERE items_fts MATCH ?{older} ORDER BY items.sort_time DESC, items.id DESC LIMIT ?",
                (match, *(bound if before is not None else ()), limit),
            ).fetchall()
            return [self._item(r) for r in rows]
        best: list[tuple[float, int]] = []  # (sort_time, id), newest first, at most `limit`
        below, page, slack = None, max(2 * limit, 100), FUTURE_SLACK.total_seconds() + float(skew or 0)
        while True:
            rows = self.db.execute(
                "SELECT items.sort_time, items.id FROM items_fts JOIN items ON items.id = items_fts.rowid "
                "WHERE items_fts MATCH ? AND items_fts.rowid < ? ORDER BY items_fts.rowid DESC LIMIT ?",
                (match, below if below is not None else 1 << 62, page)).fetchall()
            best = sorted(best + [t for t in map(tuple, rows) if t < bound], reverse=True)[:limit]
            if len(rows) < page:
                break
            below = rows[-1][1]
            if len(best) == limit:
                # every unread match has an id below `below`: first seen no later than the
                # item just below it plus the skew, so timed no later than that plus the slack
                seen = self.db.execute("SELECT first_seen FROM items WHERE id < ? ORDER BY id DESC LIMIT 1",
                                       (below,)).fetchone()
                if seen is None or seen[0] + slack <= best[-1][0]:
                    break
            page = min(page * 4, 20_000)
        found = {r["id"]: r for r in self._lookup(f"SELECT {self._ITEM_COLUMNS} FROM items WHERE items.id IN ({{}})",
                                                 [item_id for _, item_id in best])}
        return [self._item(found[item_id]) for _, item_id in best]

    # ------------------------------------------------------------ classification

    def unclassified(self, rules: str, batch: int = 1000, *, after: int = 0) -> Iterator[list[Item]]:
        """Batches of items classified under other rules (or none) than `rules`, from the
        item id `after` on. Read on the write connection: reclassification runs where its
        writes go (the writer)."""
        last = after
        while True:
            rows = self.w.execute(
                f"SELECT {self._ITEM_COLUMNS} FROM items WHERE id > ? AND (rules IS NULL OR rules != ?) "
                "ORDER BY id LIMIT ?", (last, rules, batch)).fetchall()
            if not rows:
                return
            last = rows[-1]["id"]
            yield [self._item(r) for r in rows]

    def set_classifications(self, rules: str, pairs: Iterable[tuple[int, Classification]]) -> None:
        with self.transaction():
            self.w.executemany(
                "UPDATE items SET flag=?, priority=?, tags=?, matches=?, score=?, rules=? WHERE id=?",
                [(*classification_json(c), rules, item_id) for item_id, c in pairs],
            )

    # ------------------------------------------------------------ feed state

    def feed_state(self, feed: str, *, count: bool = True) -> FeedState:
        """The feed's stored state; count=False leaves item_count 0 (start-up needs no
        counts, and at millions of items they cost seconds)."""
        row = self.db.execute("SELECT * FROM feed_state WHERE feed=?", (feed,)).fetchone()
        if row is None:  # never polled (or its state not yet written): its items still count
            return FeedState(feed=feed, item_count=self.item_count(feed) if count else 0)
        return self._state(row, count)

    def feed_states(self, *, count: bool = True) -> list[FeedState]:
        """Every stored feed state, in one query (count=False: item_count left 0)."""
        return [self._state(r, count) for r in self.db.execute("SELECT * FROM feed_state ORDER BY feed").fetchall()]

    def item_count(self, feed: str) -> int:
        """How many stored items the feed carried: a walk of its range of an index."""
        return self.db.execute("SELECT count(*) FROM item_sources WHERE feed=?", (feed,)).fetchone()[0]

    def _state(self, row: sqlite3.Row, count: bool = True) -> FeedState:
        count = self.item_count(row["feed"]) if count else 0
        return FeedState(feed=row["feed"], url=row["url"], etag=row["etag"], last_modified=row["last_modified"],
                         last_success=_dt(row["last_success"]), last_error=row["last_error"],
                         last_error_at=_dt(row["last_error_at"]), failures=row["failures"],
                         next_due=_dt(row["next_due"]), gone=bool(row["gone"]), item_count=count)

    def save_feed_state(self, s: FeedState) -> None:
        with self.transaction():
            self.w.execute(
                "INSERT INTO feed_state(feed, url, etag, last_modified, last_success, last_error, last_error_at,"
                " failures, next_due, gone) VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT(feed) DO UPDATE SET"
                " url=excluded.url, etag=excluded.etag, last_modified=excluded.last_modified,"
                " last_success=excluded.last_success, last_error=excluded.last_error,"
                " last_error_at=excluded.last_error_at, failures=excluded.failures,"
                " next_due=excluded.next_due, gone=excluded.gone",
                (s.feed, s.url, s.etag, s.last_modified, _ts(s.last_success), s.last_error, _ts(s.last_error_at),
                 s.failures, _ts(s.next_due), int(s.gone)),
            )

    # ------------------------------------------------------------ meta

    def get_meta(self, key: str, *, writing: bool = False) -> str | None:
        """writing=True reads on the write connection (from the writer's thread)."""
        return self._meta(self.w if writing else self.db, key)

    @staticmethod
    def _meta(db: sqlite3.Connection, key: str) -> str | None:
        row = db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction():
            self.w.execute("INSERT INTO meta(key, value) VALUES (?,?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                            (key, value))

    # ------------------------------------------------------------ price ticks

    def add_ticks(self, ticks: Iterable[PriceTick]) -> None:
        with self.transaction():
            self.w.executemany(
                "INSERT INTO price_ticks(source, symbol, price, change_24h, exchange_time, received) VALUES (?,?,?,?,?,?)",
                [(t.source, t.symbol, str(t.price), None if t.change_24h is None else str(t.change_24h),
                  _ts(t.exchange_time), t.received.timestamp()) for t in ticks],
            )

    @staticmethod
    def _tick(row: sqlite3.Row) -> PriceTick:
        return PriceTick(source=row["source"], symbol=row["symbol"], price=Decimal(row["price"]),
                         received=_dt(row["received"]),
                         change_24h=None if row["change_24h"] is None else Decimal(row["change_24h"]),
                         exchange_time=_dt(row["exchange_time"]))

    def latest_tick(self, symbol: str) -> PriceTick | None:
        row = self.db.execute("SELECT * FROM price_ticks WHERE symbol=? ORDER BY received DESC, id DESC LIMIT 1",
                              (symbol,)).fetchone()
        return None if row is None else self._tick(row)

    def ticks_since(self, symbol: str, since: datetime) -> list[PriceTick]:
        rows = self.db.execute("SELECT * FROM price_ticks WHERE symbol=? AND received >= ? ORDER BY received, id",
                               (symbol, since.timestamp())).fetchall()
        return [self._tick(r) for r in rows]

    def downsample_ticks(self, now: datetime | None = None, *, full: timedelta = timedelta(hours=1),
                         bucket: timedelta = timedelta(minutes=1), keep: timedelta = timedelta(days=7)) -> int:
        """Every tick for the last `full`; older ones thinned to the last tick per source and
        `bucket`; nothing older than `keep`. Returns how many rows were removed."""
        now = now or _now()
        cutoff = (now - full).timestamp()
        width = bucket.total_seconds()
        with self.transaction():
            removed = self.w.execute("DELETE FROM price_ticks WHERE received < ?",
                                      ((now - keep).timestamp(),)).rowcount
            removed += self.w.execute(
                "DELETE FROM price_ticks WHERE received < ? AND id NOT IN ("
                " SELECT max(id) FROM price_ticks WHERE received < ?"
                " GROUP BY source, symbol, CAST(received / ? AS INTEGER))",
                (cutoff, cutoff, width),
            ).rowcount
        return removed

    # ------------------------------------------------------------ history and retention

    def items_since(self, since: datetime | None = None, *, flagged_only: bool = False,
                    batch: int = 500) -> Iterator[Item]:
        """Items first seen at or after `since` (all when None), oldest first, read a page
        at a time so an export of a large history stays small in memory."""
        last = (since.timestamp() if since else float("-inf"), -1)
        flag = " AND flag = 1" if flagged_only else ""
        while True:
            rows = self.db.execute(
                f"SELECT {self._ITEM_COLUMNS} FROM items WHERE (first_seen > ? OR (first_seen = ? AND id > ?)){flag} "
                "ORDER BY first_seen, id LIMIT ?", (last[0], last[0], last[1], batch)).fetchall()
            if not rows:
                return
            last = (rows[-1]["first_seen"], rows[-1]["id"])
            yield from (self._item(r) for r in rows)

    def prune(self, older_than: datetime, *, now: datetime | None = None, limit: int | None = None) -> int:
        """Delete items first seen before `older_than` (their sources and search entries
        go with them), at most `limit` of them, the oldest first, and remember their keys
        for PRUNED_MEMORY, so that a feed still carrying one does not bring it back as
        new. Returns how many items went."""
        now = now or _now()
        cutoff = older_than.timestamp()
        which, args = ("first_seen < ?", (cutoff,)) if limit is None else (
            "id IN (SELECT id FROM items WHERE first_seen < ? ORDER BY first_seen, id LIMIT ?)", (cutoff, limit))
        with self.transaction():
            self.w.execute("INSERT OR REPLACE INTO pruned(key, link, pruned_at) "
                            f"SELECT key, link, ? FROM items WHERE {which}", (now.timestamp(), *args))
            removed = self.w.execute(f"DELETE FROM items WHERE {which}", args).rowcount
            self.w.execute("DELETE FROM pruned WHERE pruned_at < ?",
                            ((now - max(PRUNED_MEMORY, now - older_than)).timestamp(),))
        return removed

    def _not_pruned(self, items: list[Item]) -> list[Item]:
        """Drop items that retention already pruned (by key, or by link from another feed)."""
        keys = {r[0] for r in self._rows("SELECT key FROM pruned WHERE key IN (SELECT value FROM json_each(?))",
                                         [i.key for i in items])}
        links = {r[0] for r in self._rows("SELECT link FROM pruned WHERE link IN (SELECT value FROM json_each(?))",
                                          list({i.link for i in items if i.link}))}
        return [i for i in items if i.key not in keys and not (i.link and i.link in links)]


class WriterClosed(StoreError):
    """A write came after the writer was closed (the engine is stopping)."""


class _Job:
    __slots__ = ("fn", "args", "kwargs", "future", "weight", "queued")

    def __init__(self, fn: Callable[..., Any], args: tuple, kwargs: dict, weight: int) -> None:
        self.fn, self.args, self.kwargs, self.weight = fn, args, kwargs, weight
        self.future: Future = Future()
        self.queued = time.monotonic()


class StoreWriter:
    """The one thread that writes to a store.

    Every write the engine makes runs here, one at a time in the order submitted, on the
    store's write connection, so storing a 20,000-item feed never holds up the event
    loop (keys, other feeds) and no two writes interleave. The loop awaits a write whose
    result it needs (`call`) or just queues one nobody waits for (`post`: price ticks,
    read marks). `close` runs everything already queued, then ends the thread.

    Group commit: writes submitted with a weight (a feed's items) that queue up behind
    each other while the writer is busy run in one transaction, each in its own
    savepoint, up to GROUP_WEIGHT items; every commit also rewrites the index and search
    pages it touched, so one commit for five 1,000-item feeds costs much less than five.
    Their results are handed back only after that commit.

    Linger: given `more_coming` (true while the engine has fetches in flight), a weighted
    write waits up to LINGER seconds for the writes those fetches will bring, so that a
    burst of polls (a reload of 100 feeds, a start-up) shares a few commits instead of
    one each: each commit also appends every page it touched to the WAL (40 MB of WAL for
    100 small feeds committed one by one, 7 MB in groups of 20), which closing the store
    then syncs and copies back. The engine calls `wake()` when its last fetch is done;
    a write nobody weighted (a feed state, a read mark, a caller blocking) ends the wait."""

    GROUP_WEIGHT = 10_000
    LINGER = 0.1
    # A batch of at least this many items gives the store its large page cache; it shrinks
    # back BULK_LINGER seconds after the last such batch (at once if the writer is idle
    # then, else before its next batch: polls that never pause must not keep it large).
    BULK_WEIGHT = 1_000
    BULK_LINGER = 1.0

    def __init__(self, store: Store, more_coming: Callable[[], bool] | None = None) -> None:
        self.store = store
        self._more_coming = more_coming
        self._jobs: collections.deque[_Job] = collections.deque()
        self._ready = threading.Condition()
        self._closed = False
        self._bulk = False
        self._bulk_until = 0.0  # time.monotonic() at which the large cache is given back
        self._thread = threading.Thread(target=self._work, name="policywatch-store", daemon=True)
        self._thread.start()
        atexit.register(self.close)  # a caller that never closed still gets its writes stored

    def submit(self, fn: Callable[..., T], *args: Any, weight: int = 0, **kwargs: Any) -> "Future[T]":
        """Queue fn(*args, **kwargs); weight > 0 lets it share a commit with its neighbours."""
        job = _Job(fn, args, kwargs, weight)
        with self._ready:
            if self._closed:
                raise WriterClosed(f"{self.store.path}: the store is closing")
            self._jobs.append(job)
            self._ready.notify()
        return job.future

    def _work(self) -> None:
        while True:
            with self._ready:
                while not self._jobs and not self._closed:
                    if not self._bulk:
                        self._ready.wait()
                        continue
                    left = self._bulk_until - time.monotonic()
                    if left <= 0:
                        break  # idle, the large cache's time is up
                    self._ready.wait(left)
                if not self._jobs:
                    if self._closed:
                        return  # closed and drained
                    batch = None
                else:
                    if self._more_coming is not None and self._jobs[0].weight:
                        self._linger()
                    batch = [self._jobs.popleft()]
                    weight = batch[0].weight
                    while weight and self._jobs and self._jobs[0].weight and weight < self.GROUP_WEIGHT:
                        job = self._jobs.popleft()
                        weight += job.weight
                        batch.append(job)
            if batch is None:
                self._set_bulk(False)
                continue
            bulk = weight >= self.BULK_WEIGHT
            if bulk:
                self.bulk()
            elif self._bulk and time.monotonic() >= self._bulk_until:
                self._set_bulk(False)
            if len(batch) == 1:
                self._run(batch[0])
            else:
                self._run_group(batch)
            if bulk:
                self.bulk()  # the linger counts from the end of the batch

    def _linger(self) -> None:
        """Holding _ready, with a weighted job first in the queue: wait for its neighbours
        while more are coming, up to LINGER seconds after it was queued."""
        deadline = self._jobs[0].queued + self.LINGER
        while not self._closed and self._more_coming():
            weight = 0
            for job in self._jobs:
                if not job.weight:
                    return  # someone may be waiting on it
                weight += job.weight
            left = deadline - time.monotonic()
            if weight >= self.GROUP_WEIGHT or left <= 0:
                return
            self._ready.wait(left)

    def wake(self) -> None:
        """More writes are no longer coming (the engine's fetches are done): a lingering
        group commits now."""
        with self._ready:
            self._ready.notify()

    def bulk(self) -> None:
        """In the writer: the large page cache for the next BULK_LINGER seconds (a job
        that walks much of the history, reclassifying it, asks for it itself)."""
        if threading.current_thread() is not self._thread:
            return
        self._bulk_until = time.monotonic() + self.BULK_LINGER
        if not self._bulk:
            self._set_bulk(True)

    def _set_bulk(self, bulk: bool) -> None:
        self._bulk = bulk
        try:
            self.store.bulk_cache(bulk)
        except sqlite3.Error as exc:  # only the cache's size: the writes go on
            log.warning("%s: cannot resize the page cache: %s", self.store.path, exc)

    @staticmethod
    def _run(job: _Job) -> None:
        if not job.future.set_running_or_notify_cancel():
            return
        try:
            result = job.fn(*job.args, **job.kwargs)
        except BaseException as exc:
            job.future.set_exception(exc)
        else:
            job.future.set_result(result)

    def _run_group(self, batch: list[_Job]) -> None:
        """One transaction, a savepoint per job (a failing job rolls back alone); the
        results are released once the whole group is committed."""
        db = self.store.w
        done: list[tuple[_Job, Any]] = []
        batch = [job for job in batch if job.future.set_running_or_notify_cancel()]
        try:
            with self.store.transaction():
                for job in batch:
                    db.execute("SAVEPOINT job")
                    try:
                        result = job.fn(*job.args, **job.kwargs)
                    except BaseException as exc:
                        db.execute("ROLLBACK TO job")
                        db.execute("RELEASE job")
                        job.future.set_exception(exc)
                    else:
                        db.execute("RELEASE job")
                        done.append((job, result))
        except BaseException as exc:  # the commit failed: nothing of the group is stored
            for job, _ in done:
                job.future.set_exception(exc)
            return
        for job, result in done:
            job.future.set_result(result)

    async def call(self, fn: Callable[..., T], *args: Any, weight: int = 0, **kwargs: Any) -> T:
        """Run fn in the writer and wait for it without blocking the loop. A caller that
        is cancelled meanwhile does not cancel the write: once queued, it happens."""
        done = asyncio.wrap_future(self.submit(fn, *args, weight=weight, **kwargs))
        try:
            return await asyncio.shield(done)
        except asyncio.CancelledError:
            done.add_done_callback(_log_failure)
            raise

    def call_sync(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run fn in the writer and block until it is done (after every write queued
        before it): for synchronous callers such as a config reload."""
        if threading.current_thread() is self._thread:
            return fn(*args, **kwargs)
        return self.submit(fn, *args, **kwargs).result()

    def post(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Queue a write nobody waits for; a failure is logged, not lost silently."""
        try:
            self.submit(fn, *args, **kwargs).add_done_callback(_log_failure)
        except WriterClosed:
            log.warning("store closing: %s dropped", getattr(fn, "__name__", fn))

    async def aclose(self) -> None:
        """Finish every queued write, then end the thread."""
        if self._closed:
            return
        try:
            await self.call(_nothing)
        finally:
            self.close()

    def close(self) -> None:
        """Finish every queued write (blocking), then end the thread."""
        with self._ready:
            self._closed = True
            self._ready.notify()
        if threading.current_thread() is not self._thread:
            self._thread.join()
        atexit.unregister(self.close)


def _nothing() -> None:
    return None


def _log_failure(future: Any) -> None:
    if future.cancelled():
        return
    exc = future.exception()
    if exc is not None:
        log.error("store write failed", exc_info=exc)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on error; nests as a no-op."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.outer = False

    def __enter__(self):
        if not self.db.in_transaction:
            self.db.execute("BEGIN IMMEDIATE")
            self.outer = True
        return self.db

    def __exit__(self, exc_type, exc, tb):
        if not self.outer:
            return False
        if exc_type is None:
            self.db.execute("COMMIT")
        else:
            self.db.execute("ROLLBACK")
        return False


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (triggers contain inner semicolons)."""
    out, buf = [], []
    for line in script.strip().splitlines():
        buf.append(line)
        text = "\n".join(buf).strip()
        if text.endswith(";") and sqlite3.complete_statement(text):
            out.append(text)
            buf = []
    if "\n".join(buf).strip():
        out.append("\n".join(buf))
    return out


_FTS_TOKEN = re.compile(r"[\w]+\*?", re.UNICODE)


def fts_query(query: str) -> str:
    """User text -> a safe FTS5 query: each word quoted (no FTS syntax injection), ANDed;
    a trailing * keeps prefix search."""
    terms = []
    for token in _FTS_TOKEN.findall(query):
        prefix = token.endswith("*")
        word = token.rstrip("*")
        if word:
            terms.append(f'"{word}"' + ("*" if prefix else ""))
    return " ".join(terms)
