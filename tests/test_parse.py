"""Parsing: every shared feed parses to feedparser's items with clean text; malformed
feeds give their recoverable items or a clean error; our own fixtures pin the details."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import feedparser
import pytest

from feeds.parse import (ParseError, canonical_link, clean_text, parse_feed, title_key)

DATA = Path(__file__).parent / "data" / "feeds"
TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*(\s[^>]*)?/?>")
ENTITY = re.compile(r"&(#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);")
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200b-\u200f\ufeff]")


def assert_clean(text: str) -> None:
    assert UNSAFE.search(text) is None, repr(text)
    assert TAG.search(text) is None, repr(text)
    assert ENTITY.search(text) is None, repr(text)
    assert text == text.strip() and "  " not in text, repr(text)


def entries_with_content(body: bytes) -> list:
    doc = feedparser.parse(body)
    return [e for e in doc.entries
            if clean_text(e.get("title")) or clean_text(e.get("summary") or (e.get("content") or [{}])[0].get("value"))
            or canonical_link(e.get("link"))]


def shared_files(folder: str) -> list[str]:
    from tests.conftest import SHARED_FIXTURES
    path = SHARED_FIXTURES / folder
    return sorted(p.name for p in path.iterdir()) if path.is_dir() else []


@pytest.mark.parametrize("name", shared_files("feeds") or ["(shared fixtures absent)"])
def test_shared_feed_parses_to_feedparsers_items(shared_fixtures, name):
    body = (shared_fixtures / "feeds" / name).read_bytes()
    parsed = parse_feed(body, name)
    expected = entries_with_content(body)
    assert len(parsed.items) == len(expected) > 0
    for item, entry in zip(parsed.items, expected):
        assert_clean(item.title)
        assert_clean(item.summary)
        assert item.title
        assert item.title == clean_text(entry.get("title")) or not clean_text(entry.get("title"))
        assert item.link is None or item.link.startswith(("http://", "https://"))
        assert item.published is None or item.published.tzinfo is timezone.utc
        assert len(item.key) == 40


@pytest.mark.parametrize("name", shared_files("malformed") or ["(shared fixtures absent)"])
def test_malformed_feed_gives_items_or_a_clean_error(shared_fixtures, name):
    body = (shared_fixtures / "malformed" / name).read_bytes()
    try:
        parsed = parse_feed(body, name)
    except ParseError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert len(parsed.items) == len(entries_with_content(body))
    for item in parsed.items:
        assert_clean(item.title)
        assert_clean(item.summary)
        assert "alert(" not in item.summary and "<script" not in item.title.lower()


def test_legacy_charsets_are_detected(shared_fixtures):
    koi8 = parse_feed((shared_fixtures / "malformed" / "chardet_koi8r.xml").read_bytes(), "k")
    assert "новогоднюю" in koi8.items[0].title
    eucjp = parse_feed((shared_fixtures / "malformed" / "chardet_eucjp.xml").read_bytes(), "j")
    assert "正月" in eucjp.items[0].title


def test_not_a_feed_is_an_error(shared_fixtures):
    with pytest.raises(ParseError, match="not a feed"):
        parse_feed((shared_fixtures / "malformed" / "bloomberg_news_sitemap_not_a_feed.xml").read_bytes(), "b")


def test_rss_item_is_normalized():
    parsed = parse_feed((DATA / "policy.rss").read_bytes(), "wire")
    first, second, _ = parsed.items
    assert first.title == "Labor Department rescinds 2022 guidance discouraging crypto in 401(k) plans"
    assert first.summary == "The agency said plan fiduciaries should take a neutral approach."
    assert first.link == "https://policy.example.org/dol-crypto-401k?id=7"
    assert first.published == datetime(2025, 5, 28, 14, 0, tzinfo=timezone.utc)
    assert first.guid == "dol-2025-05-28"
    assert second.title == "Executive order opens 401(k)s to private equity & crypto"
    assert second.link == "https://policy.example.org/eo-401k"


def test_atom_and_json_feed():
    atom = parse_feed((DATA / "markets.atom").read_bytes(), "markets")
    assert [i.summary for i in atom.items][0] == "Same story, other outlet."
    assert atom.items[1].link == "https://policy.example.org/eo-401k"
    wire = parse_feed((DATA / "wire.json").read_bytes(), "json", "application/feed+json")
    assert wire.format == "json1"
    a, b, c = wire.items
    assert a.title == "Senate bill would let TSP offer a bitcoin fund"
    assert a.summary == "The Thrift Savings Plan bill."
    assert a.published == datetime(2025, 9, 1, 12, tzinfo=timezone.utc)
    assert b.title == "An item with no title but text." and b.link == "https://json.example.com/b"
    assert b.published == datetime(2025, 9, 2, 6, 30, tzinfo=timezone.utc)
    assert c.link is None  # javascript: is never a link


def test_json_that_is_not_a_json_feed_is_an_error():
    with pytest.raises(ParseError, match="not a JSON Feed"):
        parse_feed(b'{"hello": "world"}', "j", "application/json")
    with pytest.raises(ParseError, match="invalid JSON"):
        parse_feed(b'{"version": ', "j", "application/feed+json")


def test_hostile_text_is_neutralized():
    item = parse_feed((DATA / "hostile.rss").read_bytes(), "h").items[0]
    assert_clean(item.title)
    assert_clean(item.summary)
    assert "\x1b" not in item.title and "52;c;" not in item.title
    assert item.title.startswith("[bold red]x[/] [link=https://evil.example]click[/link]")  # literal, not markup
    assert "txet" in item.summary and "zerowidth" in item.summary
    assert "alert" not in item.summary and item.summary.endswith("kept")


@pytest.mark.parametrize("raw, expected", [
    ("HTTPS://Example.COM:443/a/b?utm_source=x&b=2&fbclid=1#frag", "https://example.com/a/b?b=2"),
    ("http://example.com:8080", "http://example.com:8080/"),
    ("ftp://example.com/file", None),
    ("javascript:alert(1)", None),
    ("not a url", None),
    ("", None),
])
def test_canonical_link(raw, expected):
    assert canonical_link(raw) == expected


def test_title_key_ignores_case_and_punctuation():
    assert title_key("SEC Approves Bitcoin ETF!") == title_key("sec approves bitcoin   ETF")
    assert title_key("401(k) “crypto” rule") == "401 k crypto rule"


@pytest.mark.parametrize("body", [b"", b"   \n", b"<html><body>Service unavailable</body></html>",
                                  b"<?xml version='1.0'?><rss><channel><item><title>cut"])
def test_garbage_is_a_parse_error_or_items_never_an_exception(body):
    try:
        parsed = parse_feed(body, "x")
    except ParseError:
        return
    for item in parsed.items:
        assert_clean(item.title)


def _fields(parsed):
    return [(i.title, i.summary, i.link, i.published, i.guid, i.key) for i in parsed.items]


@pytest.mark.parametrize("folder", ["feeds", "malformed"])
def test_fast_path_gives_the_same_items_as_feedparser(shared_fixtures, folder):
    """feedparser stays the reference: wherever the lxml fast path answers, it must agree."""
    from feeds.parse import parse_xml_fast, parse_xml_feed
    answered = 0
    for path in sorted((shared_fixtures / folder).iterdir()):
        body = path.read_bytes()
        fast = parse_xml_fast(body, path.stem)
        if fast is None:
            continue
        answered += 1
        assert _fields(fast) == _fields(parse_xml_feed(body, path.stem)), path.name
    if folder == "feeds":
        assert answered >= 20  # the fast path really serves the common case


def test_fast_path_declines_what_it_cannot_be_sure_of():
    from feeds.parse import parse_xml_fast
    latin1 = '<?xml version="1.0" encoding="iso-8859-1"?><rss version="2.0"><channel><item><title>caf\xe9</title></item></channel></rss>'
    assert parse_xml_fast(latin1.encode("latin-1"), "x") is None
    broken = b'<rss version="2.0"><channel><item><title>cut</title></item>'
    assert parse_xml_fast(broken, "x") is None
    relative = b'<rss version="2.0"><channel><item><title>t</title><link>/a/b</link></item></channel></rss>'
    assert parse_xml_fast(relative, "x") is None
    rdf = (DATA / "policy.rss").read_bytes().replace(b'<rss version="2.0">', b'<rdf:RDF>')
    assert parse_xml_fast(rdf, "x") is None
    assert len(parse_xml_fast((DATA / "policy.rss").read_bytes(), "x").items) == 3
