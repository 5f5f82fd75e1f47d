"""What the TUI tests share: a fixed clock, items and price events built the way the
engine builds them, a config that points only at loopback, and a way to read the screen
back as text."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

from feeds.config import Config, load_config
from feeds.model import AggregatePrice, Classification, Item, Match, PriceTick

NOW = datetime(2025, 8, 7, 15, 30, tzinfo=timezone.utc)
HIGH_TITLE = "Trump signs executive order opening 401(k) plans to crypto and private equity"
HOSTILE_TITLE = "Breaking [bold red]x[/] [link=https://evil.example]click[/link] \x1b]52;c;aGFja2Vk\x07 end"


def clock() -> datetime:
    return NOW


def fixed_tz(monkeypatch) -> None:
    """Times on screen are local: make local = UTC so screens are the same everywhere."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


def item(n: int, title: str, priority: str = "none", *, tags: tuple[str, ...] = (),
         matches: tuple[Match, ...] = (), link: str | None = None, feed: str = "SEC press releases",
         minutes_ago: float | None = None, read: bool = False, summary: str | None = None) -> Item:
    when = NOW - timedelta(minutes=7 * n if minutes_ago is None else minutes_ago)
    flag = priority in ("high", "normal")
    return Item(title=title, summary=summary if summary is not None else f"About {title}.",
                link=link if link is not None else f"https://example.com/news/{n}",
                published=when, feed=feed, key=f"key-{n}", title_key=title.lower(), id=n + 1,
                first_seen=when, sources=(feed,), read=read,
                classification=Classification(tags=tags, flag=flag, priority=priority if flag else "none",
                                              matches=matches))


def sample_items(count: int = 30) -> list[Item]:
    """One high item with matches, some flagged ones, the rest plain; newest first."""
    start = HIGH_TITLE.index("401(k)")
    out = [item(0, HIGH_TITLE, "high", tags=("retirement", "crypto", "policy"),
                matches=(Match("401(k)", "retirement", "title", start, start + 6),
                         Match("crypto", "crypto", "title", HIGH_TITLE.index("crypto"), HIGH_TITLE.index("crypto") + 6),
                         Match("executive order", "policy", "title", 12, 27)),
                feed="White House presidential actions")]
    for n in range(1, count):
        if n % 5 == 0:
            out.append(item(n, f"SEC staff statement {n} on crypto custody rules", "normal",
                            tags=("crypto", "policy"), feed="SEC press releases"))
        else:
            out.append(item(n, f"Markets wrap {n}: stocks mixed as yields rise", feed="CoinDesk"))
    return out


def tick(source: str, price: str, seconds_ago: float = 2) -> PriceTick:
    return PriceTick(source=source, symbol="BTC-USD", price=Decimal(price),
                     received=NOW - timedelta(seconds=seconds_ago))


def aggregate(price: str, *, seconds_ago: float = 2, change: str | None = "1.24",
              divergent: tuple[str, ...] = (), sources: tuple[tuple[str, str], ...] | None = None) -> AggregatePrice:
    sources = sources or (("coinbase", price), ("kraken", price), ("bitstamp", price))
    ticks = tuple(tick(s, p, seconds_ago) for s, p in sources)
    return AggregatePrice(symbol="BTC-USD", price=Decimal(price), at=NOW, ticks=ticks,
                          used=tuple(s for s, _ in sources), divergent=divergent,
                          change_24h=None if change is None else Decimal(change),
                          newest=NOW - timedelta(seconds=seconds_ago), state="live")


def offline_config(write_config, extra: str = "", feeds: list[tuple[str, str]] | None = None) -> Config:
    """The shipped defaults with every network address replaced by loopback ones (or none)."""
    feeds = feeds if feeds is not None else [("Loopback policy", "http://127.0.0.1:9/policy.rss")]
    text = "".join(f'[[feeds]]\nname = "{n}"\nurl = "{u}"\ninterval = 600\n\n' for n, u in feeds)
    text += '[prices]\nsources = []\nstream = "none"\n\n' + extra
    path = write_config(text)
    return load_config(path)


def screen_text(app) -> str:
    """The whole screen as plain text, the way a person would read it."""
    lines = app.screen._compositor.render_strips()
    return "\n".join("".join(seg.text for seg in strip) for strip in lines)


def widget_text(widget) -> str:
    """What a line-API widget shows, row by row."""
    return "\n".join("".join(s.text for s in widget.render_line(y)) for y in range(widget.size.height))


DATA = Path(__file__).resolve().parent / "data"
