"""Fuzzing with hypothesis: real feeds (../shared/fixtures and tests/data/feeds) mutated by
byte flips, truncations and insertions never raise out of parse_feed except as ParseError,
and what comes out is still clean; mutated config files never escape load_config except as
ConfigError, and through the real CLI give one line on stderr and exit 2, no traceback.

Example counts are kept modest so the suite stays fast on two cores; the seeds are real
documents, so most examples stay close to what servers and users really produce."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from feeds.config import ConfigError, load_config
from feeds.parse import MAX_SUMMARY, MAX_TITLE, ParseError, parse_feed

REPO = Path(__file__).resolve().parent.parent
OWN_FEEDS = Path(__file__).parent / "data" / "feeds"
FEED_SUFFIXES = {".xml", ".rss", ".atom", ".rdf", ".json"}
FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# Bytes that matter to XML, JSON, encodings and terminals.
TOKENS = [b"<", b">", b"&", b"&#0;", b"&#x1b;", b"&amp;", b"]]>", b"<![CDATA[", b"<!DOCTYPE x [<!ENTITY a 'b'>]>",
          b"<!ENTITY", b"&a;", b'"', b"'", b"{", b"}", b"[", b"]", b":", b",", b"\\u0000", b"\\ud800",
          b"\x00", b"\x1b[31m", b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf", b"\xc0\xaf", b"\x80", b"\xe2\x80\xae",
          b"<?xml version='1.0' encoding='utf-16'?>", b"<?xml version='1.0' encoding='bogus'?>",
          b"</item>", b"<item>", b"<entry>", b"</channel>", b"<title>", b"</title>", b"<link>", b"href=",
          b'"version": "https://jsonfeed.org/version/1.1"', b'"items": [', b"null", b"1e999", b"-1"]


def feed_files(shared: Path | None) -> list[Path]:
    roots = [OWN_FEEDS] + ([shared / "feeds", shared / "malformed"] if shared else [])
    return sorted(p for root in roots for p in root.iterdir() if p.suffix.lower() in FEED_SUFFIXES)


def mutations():
    """A list of edits: ("flip", position, mask), ("cut", position), ("insert", position, bytes)."""
    position = st.floats(min_value=0, max_value=1, allow_nan=False)  # relative, so any length fits
    edit = st.one_of(
        st.tuples(st.just("flip"), position, st.integers(1, 255)),
        st.tuples(st.just("cut"), position),
        st.tuples(st.just("insert"), position, st.one_of(st.sampled_from(TOKENS), st.binary(min_size=1, max_size=16))),
    )
    return st.lists(edit, min_size=1, max_size=6)


def mutate(data: bytes, edits) -> bytes:
    body = bytearray(data)
    for edit in edits:
        at = int(edit[1] * len(body))
        if edit[0] == "flip" and body:
            at = min(at, len(body) - 1)
            body[at] ^= edit[2]
        elif edit[0] == "cut":
            del body[at:]
        elif edit[0] == "insert":
            body[at:at] = edit[2]
    return bytes(body)


# What must never reach a terminal, a JSON line or the store: C0/C1 controls (ESC, NUL, the
# 8-bit CSI), bidi overrides and isolates, zero-width characters, line separators, and lone
# surrogates (which SQLite and UTF-8 output cannot even encode).
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff]")


def check_clean(parsed) -> None:
    for item in parsed.items:
        assert isinstance(item.title, str) and 0 < len(item.title) <= MAX_TITLE
        assert isinstance(item.summary, str) and len(item.summary) <= MAX_SUMMARY
        for text in (item.title, item.summary):
            assert not UNSAFE.search(text), repr(text)
        assert item.link is None or item.link.startswith(("http://", "https://"))
        item.title.encode("utf-8")  # no lone surrogates


@pytest.fixture
def feed_corpus(request) -> list[Path]:
    try:
        shared = request.getfixturevalue("shared_fixtures")
    except pytest.skip.Exception:
        shared = None  # still fuzz our own feeds without the shared folder
    files = feed_files(shared)
    assert files
    return files


@FUZZ
@given(data=st.data())
def test_mutated_feeds_only_ever_raise_parse_error(feed_corpus, data):
    path = data.draw(st.sampled_from(feed_corpus), label="seed")
    body = mutate(path.read_bytes(), data.draw(mutations(), label="edits"))
    content_type = data.draw(st.sampled_from([None, "application/rss+xml; charset=utf-8", "text/xml",
                                              "application/feed+json", "text/html; charset=latin-1"]),
                             label="content_type")
    try:
        parsed = parse_feed(body, "fuzz", content_type, "http://127.0.0.1/feed")
    except ParseError as exc:
        assert str(exc) and str(exc).isprintable()
        return
    check_clean(parsed)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_only_ever_raise_parse_error(body):
    try:
        check_clean(parse_feed(body, "fuzz"))
    except ParseError:
        pass


# Any code point, with the troublesome ones drawn often: lone surrogates, controls, format
# characters (bidi, zero-width) and separators. JSON can carry them all as \u escapes.
# (st.text never yields surrogates, so the strings are joined from a list.)
ANY_TEXT = st.lists(st.one_of(st.characters(categories=["Cs"]),
                              st.characters(categories=["Cc", "Cf", "Zl", "Zp", "Zs"]),
                              st.characters(codec=None)), max_size=40).map("".join)


@settings(max_examples=80, deadline=None, derandomize=True)
@given(st.lists(st.fixed_dictionaries({"id": ANY_TEXT, "title": ANY_TEXT, "summary": ANY_TEXT,
                                        "url": st.one_of(ANY_TEXT, st.just("http://e.test/a"))}), max_size=4))
def test_json_feed_items_with_any_text_come_out_clean(items):
    body = json.dumps({"version": "https://jsonfeed.org/version/1.1", "items": items}).encode("ascii")
    check_clean(parse_feed(body, "fuzz", "application/feed+json"))


def test_the_unmutated_corpus_parses(feed_corpus):
    """The seeds themselves are mostly readable, so the mutations start from real feeds."""
    readable = 0
    for path in feed_corpus:
        try:
            check_clean(parse_feed(path.read_bytes(), "seed"))
            readable += 1
        except ParseError:
            pass
    assert readable >= len(feed_corpus) // 2


# ---------------------------------------------------------------- config files

SEED_CONFIGS = [
    # every table a user might set, with valid values
    '''[fetch]
connect_timeout = 5
total_timeout = 30
max_bytes = 2_000_000
jitter = 0.2
user_agent = "me"

[store]
path = "/tmp/pw.db"
retention_days = 30

[[feeds]]
name = "SEC"
url = "https://www.sec.gov/news/pressreleases.rss"
interval = 300

[[feeds]]
name = "Fed"
url = "https://www.federalreserve.gov/feeds/press_all.xml"

[prices]
symbol = "BTC-USD"
interval = 15
stream = "kraken"

[[prices.sources]]
kind = "kraken"
url = "https://api.kraken.com"

[[prices.sources]]
kind = "coingecko"

[scenario]
pool = "ira"
allocation = 2.5
split = "BTC=80,ETH=20"

[ui]
theme = "nord"
bell = false
toast_seconds = 3
''',
    '''[classifier]
flag = "policy and (retirement or crypto)"

[scenario.pools]
mine = 1.5e9

[alerts]
max_hooks = 2

[[alerts.rules]]
name = "high"
when = "high"
bell = true
''',
    "",
]
CONFIG_TOKENS = ["[", "]", "[[", "]]", "=", '"', "'", "\n", "\\", "\\u0000", "\\u001b[31m", "#", ",", "{", "}",
                 "[[feeds]]", "[fetch]", "[prices]", "[[prices.sources]]", "[scenario.pools]", "[classifier]",
                 "-1", "0", "1e999", "nan", "inf", "-inf", "true", "1979-05-27T07:32:00Z", "0x10",
                 "99999999999999999999",
                 '"ftp://x"', '"javascript:alert(1)"', '"http://"', '""', "[]", "{}", "\x00", "\x1b", "\ud800",
                 'url = "http://127.0.0.1/"', 'name = "x"', 'kind = "nope"', 'interval = "10"',
                 'split = "BTC=150"', 'when = "flag and ("', 'terms = [1, 2]', "\u202e"]


def config_mutations():
    position = st.floats(min_value=0, max_value=1, allow_nan=False)
    edit = st.one_of(
        st.tuples(st.just("flip"), position, st.integers(1, 127)),
        st.tuples(st.just("cut"), position),
        st.tuples(st.just("insert"), position, st.one_of(st.sampled_from(CONFIG_TOKENS), st.text(max_size=8))),
    )
    return st.lists(edit, min_size=1, max_size=5)


def mutate_text(text: str, edits) -> str:
    chars = list(text)
    for edit in edits:
        at = int(edit[1] * len(chars))
        if edit[0] == "flip" and chars:
            at = min(at, len(chars) - 1)
            chars[at] = chr((ord(chars[at]) ^ edit[2]) % 0x110000)
        elif edit[0] == "cut":
            del chars[at:]
        elif edit[0] == "insert":
            chars[at:at] = list(edit[2])
    return "".join(chars)


def write_mutated(path: Path, text: str, raw_bytes: bytes | None = None) -> None:
    path.write_bytes(raw_bytes if raw_bytes is not None else text.encode("utf-8", "surrogatepass"))


def test_seed_configs_are_valid(write_config):
    for text in SEED_CONFIGS:
        load_config(write_config(text))


@settings(max_examples=200, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.sampled_from(SEED_CONFIGS), edits=config_mutations(), garbage=st.none() | st.binary(max_size=8))
@example(seed=SEED_CONFIGS[0], edits=[("insert", 0.0, "\x00")], garbage=b"\xff\xfe")
def test_mutated_configs_only_ever_raise_config_error(tmp_path, seed, edits, garbage):
    path = tmp_path / "fuzz.toml"
    text = mutate_text(seed, edits)
    write_mutated(path, text, None if garbage is None else text.encode("utf-8", "surrogatepass") + garbage)
    try:
        load_config(path)
    except ConfigError as exc:
        assert exc.file == str(path), (exc.file, str(exc))  # the defaults are valid: blame the user's file
        assert str(exc).isprintable(), repr(str(exc))  # one line, nothing that drives a terminal


def _cli_config_error(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tui", "--config", str(path), "fetch", "--once"], cwd=REPO,
                          env=dict(os.environ), capture_output=True, timeout=60)


# A handful through the real command, each a kind of damage load_config must reject.
CLI_CASES = {
    "broken-toml": SEED_CONFIGS[0].replace("[[feeds]]", "[[feeds]", 1),
    "nul-byte": SEED_CONFIGS[0][:200] + "\x00" + SEED_CONFIGS[0][200:],
    "cut-mid-string": SEED_CONFIGS[0][: SEED_CONFIGS[0].index("sec.gov") + 3],
    "infinite": SEED_CONFIGS[0].replace("total_timeout = 30", "total_timeout = inf"),
    "escape-in-key": SEED_CONFIGS[0].replace("[store]\n", '[store]\n"\\u001b]52;c;eA==\\u0007\\u001b[2J" = 1\n'),
    "hostile-feed": SEED_CONFIGS[1] + '\n[[feeds]]\nname = "\\u202eevil\\u001b[31m"\nurl = "javascript:alert(1)"\n',
    "bad-utf8": None,
}
BLAMES_THE_DEFAULTS: set[str] = set()  # every mutated user file is named in its own error


def test_an_unknown_key_with_dots_is_blamed_on_the_users_file(write_config):
    path = write_config('[fetch]\n"a.b" = 1\n')
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert raised.value.file == str(path)


@pytest.mark.parametrize("case", CLI_CASES)
def test_mutated_config_through_the_cli_is_one_line_and_exit_2(tmp_path, case):
    path = tmp_path / "fuzz.toml"
    text = CLI_CASES[case]
    write_mutated(path, text or "", None if text is not None else SEED_CONFIGS[0].encode() + b"\xff\xfe\x80")
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    done = _cli_config_error(path)
    assert done.returncode == 2, done
    assert done.stdout == b""
    err = done.stderr.decode("utf-8")
    assert err.count("\n") == 1 and err.startswith("policywatch: config error: "), err
    assert str(path) in err or case in BLAMES_THE_DEFAULTS, err
    assert "Traceback" not in err
    assert err.rstrip("\n").isprintable(), repr(err)  # nothing that drives the terminal
    assert raised.value.problem.split(" ")[0] in err
