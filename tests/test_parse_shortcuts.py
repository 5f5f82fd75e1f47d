"""The parser's shortcuts for the common case (RFC 822 dates read directly, links whose
query is only tracking parameters, text with no control characters) give exactly what
the general path gives: feedparser's date rules, urllib's link rebuild, every cleaning step."""

from __future__ import annotations

import re

from hypothesis import example, given, settings, strategies as st

from feeds import parse
from feeds.parse import _feedparser_date, _from_struct, _general_link, canonical_link, clean_text

SETTINGS = settings(max_examples=400, deadline=None, derandomize=True)

DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
ZONES = ["GMT", "UT", "Z", "+0000", "-0500", "+0530", "-0930", "+1400", "-1200", "+9999", "-0061"]


@SETTINGS
@given(st.sampled_from(DAYS), st.integers(0, 32), st.sampled_from(MONTHS), st.sampled_from([1, 1969, 1970, 2026, 9999]),
       st.integers(0, 25), st.integers(0, 61), st.integers(0, 61), st.sampled_from(ZONES), st.booleans())
@example("Sat", 1, "Nov", 2026, 0, 7, 0, "GMT", False)
@example("Fri", 31, "Dec", 9999, 23, 59, 59, "-0500", False)  # past year 9999 in UTC
@example("Mon", 1, "Jan", 1, 0, 0, 0, "+0100", False)  # before year 1 in UTC
@example("Sat", 29, "Feb", 2026, 12, 0, 0, "GMT", True)  # no such day
def test_rfc822_dates_read_directly_match_feedparser(day, date, month, year, hour, minute, second, zone, pad):
    text = f"{day}, {date:02d} {month} {year:04d} {hour:02d}:{minute:02d}:{second:02d} {zone}"
    if pad:
        text = f"  {text}\n"
    assert parse._date(text) == _from_struct(_feedparser_date(text.strip())), text


TRACKING = ["utm_source=rss", "utm_medium=feed", "fbclid=x1", "ref=", "rss", "UTM_Campaign=A"]
KEPT = ["id=7", "page=2", "q=a%20b", "x+y=1", "=v", "utm_source2=1", "a=b=c"]


@SETTINGS
@given(st.sampled_from(["http", "https", "HTTPS"]), st.sampled_from(["example.com", "news.example.co.uk", "Ex.com",
                                                                    "example.com:8080", "example.com."]),
       st.sampled_from(["/", "/a/b", "/a/b.html", "//x", "/a;p"]),
       st.lists(st.sampled_from(TRACKING + KEPT + [""]), max_size=4), st.sampled_from(["", "#frag"]))
@example("https", "bench1.example.com", "/1", ["utm_source=rss"], "")
def test_links_with_only_tracking_parameters_match_the_general_path(scheme, host, path, params, fragment):
    url = f"{scheme}://{host}{path}" + ("?" + "&".join(params) if params else "") + fragment
    assert canonical_link(url) == _general_link(clean_text(url)), url


def reference_clean_text(value: str) -> str:
    """clean_text's steps, every one of them always run (no limit)."""
    text = parse.html_to_text(value)
    if "&" in text:
        text = parse.html_to_text(text)
    text = parse._ESCAPES.sub("", text)
    if parse._C1.search(text):
        text = text.translate(parse._DEMORONIZE)
    text = text.replace("\t", " ").replace("\n", " ").replace("\r", " ")
    text = parse._INVISIBLE.sub("", text)
    return parse._SPACE.sub(" ", text).strip()


PIECES = ["<p>", "</p>", "<b>bold</b>", "&amp;", "&amp;#8217;", "&lt;", "&#x1b;[31m", "\x1b[2J", "\t", "\n", "\r",
          " ", "\u00a0", "\u2003", "\u200b", "\u202e", "\x92", "\x85", "\x07", "word", "401(k)", "é", "<!-- c -->",
          "<script>x</script>", "a < b", "\ufeff", "\u3000", "\u2028"]


@SETTINGS
@given(st.lists(st.sampled_from(PIECES), max_size=12))
@example(["<p>", "word", "\n", "&amp;", "</p>"])
def test_clean_text_shortcut_matches_every_step(pieces):
    value = "".join(pieces)
    if re.search("[<&]", value) or parse._NEEDS_WORK.search(value):  # the path this shortcut is on
        assert clean_text(value) == reference_clean_text(value), repr(value)
