"""Feed bytes -> normalized Items.

feedparser reads RSS 0.9x/1.0/2.0, Atom and RDF (and recovers what it can from ill-formed
XML); JSON Feed 1.x is read here. Every text is reduced to plain, single-line text with no
markup, control or escape characters, so nothing downstream (terminal, JSONL, log) can be
driven by a feed. Links are canonicalized and each item gets a stable dedup key."""

from __future__ import annotations

import calendar
import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
import html
from typing import Any, Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from feeds.model import Item

MAX_TITLE = 500
MAX_SUMMARY = 2000


class ParseError(Exception):
    """The response is not a feed we can read at all."""


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    items: tuple[Item, ...]
    title: str | None = None
    format: str = ""  # feedparser's version string, or "json1"
    warning: str | None = None  # a recovered problem (bozo feed that still gave items)


# ---------------------------------------------------------------- text cleaning

# ANSI CSI / OSC / other escape sequences (7-bit and 8-bit introducers), removed whole so no
# fragment is left to be interpreted by a terminal.
_ESCAPES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"          # CSI ... final byte
    r"|(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # OSC ... BEL or ST
    r"|(?:\x1b[PX^_]|[\x90\x98\x9e\x9f])[^\x1b\x9c]*(?:\x1b\\|\x9c)?"  # DCS/SOS/PM/APC
    r"|\x1b[@-Z\\-_]?"                            # any other ESC
)
# C0/C1 controls (tab/newline become spaces first), bidi overrides and isolates, zero-width
# characters and BOMs, and Unicode non-characters.
_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb\ufffe\uffff"
                        "\ud800-\udfff]")  # lone surrogates (JSON "\\ud800"): SQLite and UTF-8 cannot encode them
_SPACE = re.compile(r"\s+")


def _cp1252_table() -> dict[int, str]:
    table = {}
    for code in range(0x80, 0xA0):
        try:
            table[code] = bytes([code]).decode("cp1252")
        except UnicodeDecodeError:
            pass
    return table


# C1 code points in feeds are almost always Windows-1252 punctuation mis-decoded
# ("don\x92t"); map them as feedparser does, before controls are stripped.
_DEMORONIZE = _cp1252_table()
_C1 = re.compile("[\x80-\x9f]")
_SKIPPED_BLOCKS = re.compile(
    r"<(script|style|head|title|iframe|object|noscript|template)\b.*?(?:</\1\s*>|\Z)|<!--.*?(?:-->|\Z)",
    re.IGNORECASE | re.DOTALL)
_BLOCK_TAG = re.compile(
    r"</?(?:p|br|div|li|ul|ol|tr|td|th|h[1-6]|blockquote|pre|hr|table|section|article|header|footer)\b[^>]*>",
    re.IGNORECASE)
_ANY_TAG = re.compile(r"</?[a-zA-Z][^>]*>|<![^>]*>|<\?[^>]*>")


def html_to_text(value: str) -> str:
    """The text of an HTML fragment: scripts, styles and comments dropped with their
    content, block tags become spaces, other tags vanish, entities are unescaped.
    Only tag-shaped '<' sequences are touched, so "a < b" survives."""
    if "<" in value:
        value = _SKIPPED_BLOCKS.sub(" ", value)
        value = _BLOCK_TAG.sub(" ", value)
        value = _ANY_TAG.sub("", value)
    if "&" in value:
        value = html.unescape(value)
    return value


# Anything clean_text has to look at; plain text without it only needs its spaces collapsed.
_NEEDS_WORK = re.compile("[<&\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\ufff9-\uffff"
                         "\ud800-\udfff]")


# What the escape, C1 and invisible-character steps remove (everything _INVISIBLE matches
# but tab, LF and CR, which only become spaces); text without any skips those steps.
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff"
                       "\ufff9-\ufffb\ufffe\uffff\ud800-\udfff]")


def clean_text(value: Any, limit: int | None = None) -> str:
    """Plain single-line text: HTML reduced to text, entities unescaped, escape sequences
    and invisible/control characters removed, whitespace collapsed."""
    if value is None:
        return ""
    text = str(value)
    if limit is not None and len(text) > limit * 8:
        text = text[: limit * 8]  # bound the work on hostile input before parsing
    if _NEEDS_WORK.search(text) is None:
        text = " ".join(text.split())
        if limit is not None and len(text) > limit:
            text = text[: limit - 1].rstrip() + "…"
        return text
    text = html_to_text(text)
    if "&" in text:  # double-escaped entities (&amp;#8217;) are common in feeds
        text = html_to_text(text)
    if _CONTROLS.search(text) is None:
        # Nothing below has work to do but the spaces (tab, CR, LF are spaces too)
        text = " ".join(text.split())
        if limit is not None and len(text) > limit:
            text = text[: limit - 1].rstrip() + "…"
        return text
    text = _ESCAPES.sub("", text)
    if _C1.search(text):
        text = text.translate(_DEMORONIZE)
    text = text.replace("\t", " ").replace("\n", " ").replace("\r", " ")
    text = _INVISIBLE.sub("", text)
    text = _SPACE.sub(" ", text).strip()
    if limit is not None and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


# ---------------------------------------------------------------- links and keys

_TRACKING = re.compile(
    r"^(utm_[a-z_]*|fbclid|gclid|dclid|msclkid|mc_cid|mc_eid|_hsenc|_hsmi|mkt_tok|igshid|"
    r"cmpid|ocid|sr_share|smid|taid|guccounter|guce_referrer|guce_referrer_sig|__twitter_impression|"
    r"yclid|_ga|ncid|cid|src|ref|ref_src|rss|feed|partner)$",
    re.IGNORECASE,
)


# Already canonical: lower-case http(s) host, no port, no query, no fragment.
_SIMPLE_LINK = re.compile(r"^https?://[a-z0-9.-]+[a-z0-9]/[^?#\s%]*$")
# The same with a query that may be nothing but tracking parameters ("?utm_source=rss").
_SIMPLE_TRACKED = re.compile(r"^(https?://[a-z0-9.-]+[a-z0-9]/[^?#\s%]*)\?([^?#\s%+]*)$")


def canonical_link(url: str | None) -> str | None:
    """http(s) links only, with scheme and host lower-cased, default port, fragment and
    tracking parameters dropped. Anything else (javascript:, mailto:, junk) becomes None."""
    if not url:
        return None
    url = clean_text(url)
    if _SIMPLE_LINK.match(url):
        return url
    tracked = _SIMPLE_TRACKED.match(url)
    if tracked and all(not part or _TRACKING.match(part.partition("=")[0])
                       for part in tracked.group(2).split("&")):
        return tracked.group(1)  # what the general path below gives: every parameter dropped
    return _general_link(url)


def _general_link(url: str) -> str | None:
    """canonical_link for any cleaned URL (its fast paths must agree with this)."""
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            return None
        host = parts.hostname.lower().rstrip(".")
        port = parts.port
    except ValueError:
        return None
    netloc = host if port is None or (scheme, port) in (("http", 80), ("https", 443)) else f"{host}:{port}"
    if parts.username:  # never keep credentials in a shown link
        netloc = netloc
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING.match(k)]
    return urlunsplit((scheme, netloc, parts.path or "/", urlencode(query, doseq=True), ""))


_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def title_key(title: str) -> str:
    """A title reduced for "same story" comparison: NFKC, case-folded, punctuation removed."""
    text = unicodedata.normalize("NFKC", title).casefold().replace("&", " and ")
    return _NON_WORD.sub(" ", text).strip()


def dedup_key(feed: str, link: str | None, guid: str | None, tkey: str) -> str:
    if link:
        basis = "link\0" + link
    elif guid:
        basis = "guid\0" + feed + "\0" + guid
    else:
        basis = "title\0" + feed + "\0" + tkey
    return hashlib.sha1(basis.encode("utf-8", "surrogatepass")).hexdigest()


def make_item(feed: str, *, title: Any, summary: Any, link: Any, guid: Any,
              published: datetime | None) -> Item | None:
    title_text = clean_text(title, MAX_TITLE)
    summary_text = clean_text(summary, MAX_SUMMARY)
    guid_text = clean_text(guid, 1000) or None
    link_text = canonical_link(link if isinstance(link, str) else None)
    if link_text is None and guid_text and guid_text.lower().startswith(("http://", "https://")):
        link_text = canonical_link(guid_text)
    if not title_text:
        if not summary_text and not link_text:
            return None
        title_text = clean_text(summary_text, 120) if summary_text else (link_text or "(untitled)")
    tkey = title_key(title_text)
    return Item(title=title_text, summary=summary_text, link=link_text, published=published,
                feed=feed, key=dedup_key(feed, link_text, guid_text, tkey), title_key=tkey,
                guid=guid_text)


# ---------------------------------------------------------------- dates


def _from_struct(value) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=timezone.utc)
    except (OverflowError, ValueError, TypeError, OSError):
        return None


def parse_iso_date(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return _from_struct(_feedparser_date(value))  # RFC 822 and friends
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


# ---------------------------------------------------------------- formats


def _looks_like_json(body: bytes, content_type: str | None) -> bool:
    if content_type and "json" in content_type.lower():
        return True
    head = body[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"{")


def parse_json_feed(body: bytes, feed: str) -> ParsedFeed:
    try:
        doc = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ParseError(f"invalid JSON: {exc}") from None
    if not isinstance(doc, dict) or not str(doc.get("version", "")).startswith("https://jsonfeed.org/version/"):
        raise ParseError("JSON document is not a JSON Feed (no jsonfeed.org version)")
    raw_items = doc.get("items")
    if not isinstance(raw_items, list):
        raise ParseError("JSON Feed has no items array")
    items = []
    for entry in raw_items:
        if not isinstance(entry, dict):
            continue
        summary = entry.get("summary") or entry.get("content_text") or entry.get("content_html")
        item = make_item(
            feed,
            title=entry.get("title") if isinstance(entry.get("title"), str) else None,
            summary=summary if isinstance(summary, str) else None,
            link=entry.get("url") or entry.get("external_url"),
            guid=str(entry["id"]) if entry.get("id") is not None else None,
            published=parse_iso_date(entry.get("date_published")) or parse_iso_date(entry.get("date_modified")),
        )
        if item is not None:
            items.append(item)
    title = doc.get("title")
    return ParsedFeed(tuple(items), clean_text(title) if isinstance(title, str) else None, "json1")


def _entry_summary(entry) -> Any:
    summary = entry.get("summary")
    if summary:
        return summary
    content = entry.get("content")
    if content and isinstance(content, list):
        return content[0].get("value")
    return None


def parse_xml_feed(body: bytes, feed: str, content_type: str | None = None, url: str | None = None) -> ParsedFeed:
    headers = {}
    if content_type:
        headers["content-type"] = content_type
    if url:
        headers["content-location"] = url
    import feedparser  # here, not at the top: the fast path rarely needs it, and it costs 60 ms to import

    try:
        doc = feedparser.parse(body, response_headers=headers, sanitize_html=False,
                               resolve_relative_uris=bool(url))
    except Exception as exc:  # feedparser is meant not to raise; never let it take a feed down
        raise ParseError(f"parser failed: {type(exc).__name__}: {exc}") from None
    entries = doc.get("entries") or []
    problem = doc.get("bozo_exception") if doc.get("bozo") else None
    if not entries:
        if problem is not None:
            raise ParseError(f"not a readable feed: {clean_text(problem, 200)}")
        if not doc.get("version"):
            raise ParseError("not a feed (no RSS, Atom or RDF document found)")
    items = []
    for entry in entries:
        item = make_item(
            feed,
            title=entry.get("title"),
            summary=_entry_summary(entry),
            link=entry.get("link"),
            guid=entry.get("id"),
            published=_from_struct(dict.get(entry, "published_parsed")) or _from_struct(dict.get(entry, "updated_parsed")),
        )
        if item is not None:
            items.append(item)
    if not items and problem is not None:  # e.g. cut off inside its first item: not "ok, empty"
        raise ParseError(f"not a readable feed: {clean_text(problem, 200)}")
    title = doc.get("feed", {}).get("title")
    warning = f"recovered from: {clean_text(problem, 200)}" if problem is not None else None
    return ParsedFeed(tuple(items), clean_text(title) or None, doc.get("version") or "", warning)


# ---------------------------------------------------------------- the fast path
#
# feedparser is the reference, but it is pure Python (~5,000 items/s). Well-formed UTF-8
# RSS 2.0 and Atom 1.0, the bulk of real feeds, are read here with lxml (C) into the same
# raw fields, then through the same make_item; anything unusual (other encodings, RSS
# 0.9x/1.0, Atom 0.3, xhtml content, relative links, DOCTYPEs, C1 character references
# that feedparser "demoronizes") goes to feedparser. A test asserts both paths give the
# same items on every shared fixture.

try:
    from lxml import etree as _etree
except ImportError:  # pragma: no cover - the fast path is optional
    _etree = None

_XML_DECL_ENCODING = re.compile(rb"^\s*<\?xml[^>]*encoding=[\"']([A-Za-z0-9._-]+)[\"']")
_CHARSET = re.compile(r"charset=[\"']?([A-Za-z0-9._-]+)", re.IGNORECASE)
_C1_REFERENCE = re.compile(rb"&#(?:1[2-5][0-9]|x[89][0-9a-fA-F]);")
_UTF8 = {"utf-8", "utf8"}
_ATOM = "{http://www.w3.org/2005/Atom}"
_CONTENT_ENCODED = "{http://purl.org/rss/1.0/modules/content/}encoded"
_DC_DATE = "{http://purl.org/dc/elements/1.1/}date"
_STRICT = None


def _fast_path_applies(body: bytes, content_type: str | None) -> bool:
    """Plain UTF-8 XML whose HTTP charset, if any, agrees: where feedparser's encoding
    rules and lxml's cannot differ."""
    if _etree is None or body.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00", b"\xef\xbb\xbf")):
        return False
    declared = _XML_DECL_ENCODING.match(body[:200])
    if declared and declared.group(1).decode().lower() not in _UTF8:
        return False
    if content_type:
        lowered = content_type.lower()
        charset = _CHARSET.search(content_type)
        if charset and charset.group(1).lower() not in _UTF8:
            return False
        if not any(t in lowered for t in ("xml", "rss", "atom", "rdf")):
            return False  # text/plain, text/html...: feedparser's rules decide
    head = body[:4096]
    return b"<!DOCTYPE" not in head and b"<!ENTITY" not in head and not _C1_REFERENCE.search(body)


def _feedparser_date(text: str):
    """feedparser's date rules (the reference on both paths), imported on first use."""
    from feedparser.datetimes import _parse_date

    return _parse_date(text)


# The RFC 822 form nearly every RSS feed uses ("Sat, 01 Nov 2026 00:07:00 GMT"), read
# directly; feedparser's rules give the same moment for it (a test holds them to it),
# and they still read everything else.
_RFC822 = re.compile(r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{1,2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
                     r" (\d{4}) (\d\d):(\d\d):(\d\d) (GMT|UT|Z|[+-]\d{4})")
_MONTHS = {m: n for n, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}


def _date(text: str | None) -> datetime | None:
    if not text:
        return None
    text = text.strip()
    m = _RFC822.fullmatch(text)
    if m is not None:
        day, month, year, hour, minute, second, zone = m.groups()
        try:
            moment = datetime(int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second),
                              tzinfo=timezone.utc)
            if zone[0] in "+-":
                offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[3:]))
                moment = moment - offset if zone[0] == "+" else moment + offset
            return moment
        except (ValueError, OverflowError):
            pass  # no such day or second, or out of range: feedparser's rules decide
    return _from_struct(_feedparser_date(text))


def _absolute(link: str | None) -> bool:
    return not link or link.strip().lower().startswith(("http://", "https://"))


class _Unusual(Exception):
    """Something feedparser should judge."""


_DESCRIPTIONS = ("description", "{http://purl.org/dc/elements/1.1/}description",
                 "{http://search.yahoo.com/mrss/}description")


# The children an RSS item is read from (the first of each counts, as with findtext),
# gathered in one pass over the item instead of one search per field.
_RSS_FIELDS = {"title": 0, "link": 1, "guid": 2, "pubDate": 3, _DC_DATE: 4}


def _rss_entries(channel) -> Iterable[dict]:
    fields_of = _RSS_FIELDS.get
    for node in channel.iterfind("item"):
        # feedparser's rule, kept for parity: the first description-like element is the
        # summary; a later one becomes content, unless content was already seen, in
        # which case it overwrites the summary (even with an empty dc:description).
        first: list[str | None] = [None, None, None, None, None]
        summary, contents, has_content = None, [], False
        for child in node:
            tag = child.tag
            slot = fields_of(tag)
            if slot is not None:
                if first[slot] is None:
                    first[slot] = child.text or ""
            elif tag == _CONTENT_ENCODED:
                has_content = True
                contents.append((child.text or "").strip())
            elif tag in _DESCRIPTIONS:
                if summary is not None and not has_content:
                    contents.append((child.text or "").strip())
                else:
                    summary = (child.text or "").strip()
        title, link, guid, published, dc_date = first
        if not _absolute(link):
            raise _Unusual
        yield {"title": title,
               "summary": summary or (contents[0] if contents else None),
               "link": link.strip() if link else None,
               "guid": guid.strip() if guid else None,
               "published": _date(published) or _date(dc_date)}


def _atom_text(node) -> str | None:
    if node is None:
        return None
    if node.get("type") == "xhtml" or len(node):
        raise _Unusual
    return node.text


def _atom_entries(root) -> Iterable[dict]:
    for node in root.iterfind(_ATOM + "entry"):
        link = None
        for candidate in node.iterfind(_ATOM + "link"):
            if candidate.get("rel", "alternate") == "alternate":
                link = candidate.get("href")
                break
        if not _absolute(link) or root.get("{http://www.w3.org/XML/1998/namespace}base") or node.get(
                "{http://www.w3.org/XML/1998/namespace}base"):
            raise _Unusual
        content = node.find(_ATOM + "content")
        summary = _atom_text(node.find(_ATOM + "summary"))
        if not summary and content is not None:
            summary = _atom_text(content)
        guid = node.findtext(_ATOM + "id")
        yield {"title": _atom_text(node.find(_ATOM + "title")), "summary": summary,
               "link": link.strip() if link else None, "guid": guid.strip() if guid else None,
               "published": _date(node.findtext(_ATOM + "published")) or _date(node.findtext(_ATOM + "updated"))}


def parse_xml_fast(body: bytes, feed: str) -> ParsedFeed | None:
    """The same items as parse_xml_feed, or None when the fast path does not apply."""
    global _STRICT
    if not _fast_path_applies(body, None):
        return None
    if _STRICT is None:
        _STRICT = _etree.XMLParser(recover=False, resolve_entities=False, no_network=True)
    try:
        root = _etree.fromstring(body, parser=_STRICT)
        if root.tag == "rss" and root.find("channel") is not None:
            channel = root.find("channel")
            entries, title = list(_rss_entries(channel)), channel.findtext("title")
        elif root.tag == _ATOM + "feed":
            entries, title = list(_atom_entries(root)), root.findtext(_ATOM + "title")
        else:
            return None
    except (_etree.XMLSyntaxError, ValueError, _Unusual):
        return None
    items = [item for entry in entries if (item := make_item(feed, **entry)) is not None]
    if not items:
        return None  # let feedparser judge empty documents
    return ParsedFeed(tuple(items), clean_text(title) or None, "fast")


def parse_feed(body: bytes, feed: str, content_type: str | None = None, url: str | None = None) -> ParsedFeed:
    """Parse any supported feed. Raises ParseError when nothing can be recovered."""
    if not body or not body.strip():
        raise ParseError("empty response")
    if _looks_like_json(body, content_type):
        return parse_json_feed(body, feed)
    if _fast_path_applies(body, content_type):
        fast = parse_xml_fast(body, feed)
        if fast is not None:
            return fast
    return parse_xml_feed(body, feed, content_type, url)


def unique(items: Iterable[Item]) -> list[Item]:
    """Items with the first of each dedup key kept, in order."""
    seen: set[str] = set()
    out = []
    for item in items:
        if item.key not in seen:
            seen.add(item.key)
            out.append(item)
    return out
