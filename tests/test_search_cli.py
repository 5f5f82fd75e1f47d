"""History: `policywatch search` and `policywatch export` over a real database filled by the
real `fetch` command from a loopback server, and retention (Store.prune, [store]
retention_days applied by the engine)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from feeds.config import ConfigError, load_config
from feeds.engine import Engine
from feeds.model import NewItems
from feeds.parse import parse_feed
from feeds.store import Store
from tests.loopback import Route

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data" / "feeds"


def cli(*args: str, stdin: str | None = None):
    return subprocess.run([sys.executable, "-m", "tui", *args], cwd=REPO, capture_output=True, text=True,
                          input=stdin, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)


@pytest.fixture
def history(server, write_config, tmp_path):
    """A database holding policy.rss and history.rss, fetched by the real command."""
    feeds = {"policy": server.add("/policy.rss", Route.file(DATA / "policy.rss")),
             "history": server.add("/history.rss", Route.file(DATA / "history.rss"))}
    config = write_config("".join(f'[[feeds]]\nname = "{n}"\nurl = "{u}"\n' for n, u in feeds.items()))
    db = tmp_path / "db.sqlite"
    filled = cli("fetch", "--once", "--config", str(config), "--db", str(db))
    assert filled.returncode == 0, filled.stderr
    return ["--config", str(config), "--db", str(db)]


def titles(path: str) -> list[str]:
    return [i.title for i in parse_feed((DATA / path).read_bytes(), "x").items]


def test_search_finds_words_in_titles_and_summaries(history):
    out = cli("search", "crypto", "--json", *history)
    assert out.returncode == 0, out.stderr
    found = [json.loads(line) for line in out.stdout.splitlines()]
    stored = [i for path in ("policy.rss", "history.rss") for i in parse_feed((DATA / path).read_bytes(), "x").items]
    expected = [i.title for i in stored if re.search(r"\bcrypto\b", f"{i.title} {i.summary}", re.I)]
    assert len(expected) >= 3  # in titles and in a summary only
    assert sorted(o["title"] for o in found) == sorted(expected)
    assert all(o["id"] and o["sources"] and "flag" in o for o in found)
    # Words are ANDed; a prefix with *.
    both = cli("search", "Labor", "rescinds", "--json", *history)
    assert [json.loads(line)["title"] for line in both.stdout.splitlines()] == [titles("policy.rss")[0]]
    prefix = cli("search", "tokeni*", "--json", *history)
    assert [json.loads(line)["title"] for line in prefix.stdout.splitlines()] == ["Pension funds eye tokenized treasuries"]


def test_search_text_output_limit_and_no_match(history):
    out = cli("search", "401", *history)
    assert out.returncode == 0
    lines = out.stdout.splitlines()
    assert any("Executive order opens 401(k)s to private equity & crypto  (policy)" in line for line in lines)
    assert any(line.strip() == "https://policy.example.org/eo-401k" for line in lines)
    limited = cli("search", "401", "--limit", "1", "--json", *history)
    assert len(limited.stdout.splitlines()) == 1
    none = cli("search", "zebra", *history)
    assert none.returncode == 1 and none.stdout == "" and none.stderr == "policywatch: no stored item matches 'zebra'\n"
    # FTS syntax in the query is taken as words, never as an FTS expression.
    hostile = cli("search", '"', "OR", "NEAR(", "*", "--json", *history)
    assert hostile.returncode == 1 and "Traceback" not in hostile.stderr
    bad = cli("search", "x", "--limit", "0", *history)
    assert bad.returncode == 2


def test_search_without_a_database_says_so(write_config, tmp_path):
    out = cli("search", "crypto", "--db", str(tmp_path / "none.sqlite"))
    assert out.returncode == 1 and "no database at" in out.stderr and out.stderr.count("\n") == 1
    assert not (tmp_path / "none.sqlite").exists()


def test_export_jsonl_oldest_first_flagged_and_since(history):
    out = cli("export", "--format", "jsonl", *history)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert sorted(r["title"] for r in rows) == sorted(titles("policy.rss") + titles("history.rss"))
    seen = [(r["first_seen"], r["id"]) for r in rows]
    assert seen == sorted(seen)
    flagged = [json.loads(line) for line in cli("export", "--flagged", *history).stdout.splitlines()]
    assert flagged and all(r["flag"] for r in flagged) and len(flagged) < len(rows)
    assert {r["title"] for r in flagged} == {r["title"] for r in rows if r["flag"]}
    assert cli("export", "--since", "2999-01-01", *history).stdout == ""
    assert len(cli("export", "--since", "1h", *history).stdout.splitlines()) == len(rows)


def test_export_csv_is_parseable_and_defuses_formulas(history):
    out = cli("export", "--format", "csv", *history)
    assert out.returncode == 0, out.stderr
    table = list(csv.DictReader(io.StringIO(out.stdout, newline="")))
    assert list(table[0]) == ["id", "first_seen", "published", "feed", "sources", "flag", "priority", "tags",
                              "matches", "title", "link", "summary"]
    by_link = {r["link"]: r for r in table}
    formula = by_link["https://history.example.org/formula"]
    assert formula["title"] == "'" + titles("history.rss")[1] and formula["title"].startswith("'=HYPERLINK(")
    assert '"quote"' in formula["summary"]
    eo = by_link["https://policy.example.org/eo-401k"]
    assert eo["title"] == "Executive order opens 401(k)s to private equity & crypto"
    assert eo["flag"] == "true" and eo["priority"] == "high" and "crypto" in eo["tags"].split("; ")
    assert eo["published"] == "2025-08-07T21:30:00Z" and eo["sources"] == "policy"
    assert all(not r[k].startswith(("=", "+", "-", "@")) for r in table for k in r)


# ---------------------------------------------------------------- retention


def _items(feed: str, path: str):
    return parse_feed((DATA / path).read_bytes(), feed).items


def test_prune_removes_old_items_with_their_sources_and_search_entries(tmp_path):
    now = datetime(2025, 9, 1, tzinfo=timezone.utc)
    with Store(tmp_path / "db.sqlite") as store:
        old = store.ingest("policy", _items("policy", "policy.rss"), now=now - timedelta(days=40))
        recent = store.ingest("history", _items("history", "history.rss"), now=now - timedelta(days=2))
        assert old and recent and store.search("Labor")
        removed = store.prune(now - timedelta(days=30), now=now)
        assert removed == len(old)
        assert {i.title for i in store.recent()} == {i.title for i in recent}
        assert all(store.get(i.id) is None and store.item_sources(i.id) == [] for i in old)
        assert [i.title for i in store.search("rescinds")] == []
        assert [i.title for i in store.search("tokenized")] == ["Pension funds eye tokenized treasuries"]
        # A feed still carrying a pruned item does not bring it back as new.
        assert store.ingest("policy", _items("policy", "policy.rss"), now=now) == []
        assert store.ingest("mirror", _items("mirror", "policy.rss"), now=now) == []  # same links, other feed
        assert store.count() == len(recent)


async def test_engine_applies_retention_at_start(write_config, tmp_path):
    db = tmp_path / "db.sqlite"
    now = datetime.now(timezone.utc)
    with Store(db) as store:
        store.ingest("policy", _items("policy", "policy.rss"), now=now - timedelta(days=10))
        kept = store.ingest("history", _items("history", "history.rss"), now=now - timedelta(hours=1))
    config = load_config(write_config("[store]\nretention_days = 7\n[[feeds]]\nname = 'x'\nurl = 'http://127.0.0.1:9/'\n"))
    assert config.store.retention_days == 7
    events: list = []
    engine = Engine(config, db, events.append)
    await engine.start(schedule=False)
    try:
        [initial] = [e for e in events if isinstance(e, NewItems)]
        assert {i.title for i in initial.items} == {i.title for i in kept}
        assert engine.apply_retention() == 0  # nothing left to prune
    finally:
        await engine.stop()
    # 0 keeps everything.
    with Store(db) as store:
        store.ingest("policy2", _items("policy2", "hostile.rss"), now=now - timedelta(days=3000))
    forever = load_config(write_config("[[feeds]]\nname = 'x'\nurl = 'http://127.0.0.1:9/'\n", "forever.toml"))
    assert forever.store.retention_days == 0
    engine = Engine(forever, db, lambda e: None)
    await engine.start(schedule=False)
    try:
        assert engine.apply_retention() == 0 and engine.count() > len(kept)
    finally:
        await engine.stop()


def test_prune_takes_at_most_a_batch_oldest_first(tmp_path):
    now = datetime(2025, 9, 1, tzinfo=timezone.utc)
    with Store(tmp_path / "db.sqlite") as store:
        old = store.ingest("policy", _items("policy", "policy.rss"), now=now - timedelta(days=40))
        older = store.ingest("history", _items("history", "history.rss"), now=now - timedelta(days=50))
        assert len(old) >= 2 and len(older) >= 2
        assert store.prune(now - timedelta(days=30), now=now, limit=len(older)) == len(older)
        assert {i.title for i in store.recent()} == {i.title for i in old}  # the older ones went first
        assert store.prune(now - timedelta(days=30), now=now, limit=1) == 1
        assert store.prune(now - timedelta(days=30), now=now) == len(old) - 1
        assert store.count() == 0
        assert store.ingest("history", _items("history", "history.rss"), now=now) == []  # remembered as pruned


async def test_a_long_prune_at_start_goes_on_behind_the_first_batch(write_config, tmp_path, monkeypatch):
    """A first prune of a long history (retention_days newly set) takes a batch before the
    engine hands over its first page and starts polling, and the rest after, a batch per
    writer job between the polls' writes, instead of holding the start for as long as it
    takes (about a minute at millions of items)."""
    import feeds.engine

    monkeypatch.setattr(feeds.engine, "PRUNE_BATCH", 3)
    db = tmp_path / "db.sqlite"
    now = datetime.now(timezone.utc)
    with Store(db) as store:
        old = store.ingest("policy", _items("policy", "policy.rss"), now=now - timedelta(days=10))
        old += store.ingest("history", _items("history", "history.rss"), now=now - timedelta(days=9))
        assert len(old) >= 6
    config = load_config(write_config("[store]\nretention_days = 7\n[[feeds]]\nname = 'x'\nurl = 'http://127.0.0.1:9/'\n"))
    batches: list[int] = []
    prune = Store.prune
    monkeypatch.setattr(Store, "prune", lambda self, *a, **k: batches.append(k.get("limit")) or prune(self, *a, **k))
    engine = Engine(config, db, lambda event: None)
    await engine.start(schedule=False)
    try:
        assert batches == [3]  # before the hand-over: one batch
        deadline = asyncio.get_running_loop().time() + 10
        while engine.count() and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        assert engine.count() == 0
        assert batches == [3] * (len(old) // 3 + 1)  # the rest a batch a job, until one came back short
    finally:
        await engine.stop()


def test_negative_retention_is_a_config_error(write_config):
    with pytest.raises(ConfigError, match=r"store.retention_days: must not be negative"):
        load_config(write_config("[store]\nretention_days = -1\n"))
