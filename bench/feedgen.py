"""Realistic generated feeds for benchmarks: RSS 2.0 with HTML summaries, dates, guids."""

from __future__ import annotations

import random
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone
from xml.sax.saxutils import escape

WORDS = ("SEC Labor Department 401(k) bitcoin crypto pension retirement plan rule guidance executive order "
         "Treasury stablecoin ETF fiduciary private equity alternative assets market price rally slips "
         "lawmakers bill Senate House approves proposes delays state treasurer fund investors savers").split()


def headline(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 14))).capitalize()


def rss(feed_no: int, items: int, seed: int = 0) -> bytes:
    rng = random.Random(seed * 100_003 + feed_no)
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    parts = [f'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">'
             f"<channel><title>Bench feed {feed_no}</title><link>https://bench{feed_no}.example.com/</link>"
             f"<description>generated</description>"]
    for n in range(items):
        title = escape(headline(rng))
        summary = escape(f"<p>{headline(rng)}. <a href='https://x.example/{n}'>{headline(rng)}</a> &amp; more.</p>")
        when = format_datetime(start + timedelta(minutes=n * 7 + feed_no), usegmt=True)
        parts.append(f"<item><title>{title}</title><link>https://bench{feed_no}.example.com/{n}?utm_source=rss</link>"
                     f"<guid isPermaLink='false'>b{feed_no}-{n}</guid><pubDate>{when}</pubDate>"
                     f"<dc:creator>Reporter {n % 7}</dc:creator><description>{summary}</description></item>")
    parts.append("</channel></rss>")
    return "".join(parts).encode("utf-8")
