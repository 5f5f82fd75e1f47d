"""An RSS feed dated relative to now, for tests about how recent news must be to alert:
the recorded feeds in tests/data are all months old by the time the tests run."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from xml.sax.saxutils import escape

# Both classify as high priority under the shipped rules (retirement + crypto/alternatives policy).
FRESH_HIGH = ("Executive Order: Democratizing Access to Alternative Assets for 401(k) Investors",
              "The order directs the Labor Department to revisit fiduciary guidance on private equity "
              "and cryptocurrency in 401(k) plans.")
OLD_HIGH = ("Labor Department rescinds 2022 guidance on crypto in 401(k) plans",
            "The department withdrew its compliance release on cryptocurrency in retirement plans.")
PLAIN = ("Weekly unemployment insurance claims", "Initial claims for the week.")


def rss(entries: list[tuple[str, str, str, datetime | None]], title: str = "Loopback desk") -> bytes:
    """RSS 2.0 with one <item> per (title, summary, link, published); None leaves out pubDate."""
    items = []
    for head, summary, link, published in entries:
        date = f"<pubDate>{format_datetime(published, usegmt=True)}</pubDate>" if published else ""
        items.append(f"<item><title>{escape(head)}</title><link>{escape(link)}</link><guid>{escape(link)}</guid>"
                     f"{date}<description>{escape(summary)}</description></item>")
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel><title>{escape(title)}</title>'
            f"<link>https://example.com/</link><description>test</description>{''.join(items)}</channel></rss>"
            ).encode()


def fresh_and_old(now: datetime | None = None) -> bytes:
    """A high item published 10 minutes ago, a high one two days ago, a plain one just now."""
    now = now or datetime.now(timezone.utc)
    return rss([(*FRESH_HIGH, "https://example.com/policy/eo-401k", now - timedelta(minutes=10)),
                (*OLD_HIGH, "https://example.com/policy/dol-rescinds", now - timedelta(days=2)),
                (*PLAIN, "https://example.com/policy/claims", now)])
