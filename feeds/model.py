"""Plain records that flow through the engine: items, their classification, feed state,
price ticks, and the events the engine hands to its sink.

They are frozen dataclasses with no behaviour beyond conversion to JSON, so the CLI,
the TUI and the tests can all share them without importing each other."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any


def iso_utc(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z suffix, or None: the one date format of our JSON."""
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Match:
    """One matched rule term: which tag it supports and where it sits in the text."""

    term: str
    tag: str
    field: str  # "title" | "summary"
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Classification:
    tags: tuple[str, ...] = ()
    flag: bool = False
    priority: str = "none"  # "high" | "normal" | "none"
    matches: tuple[Match, ...] = ()
    score: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "flag": self.flag,
            "priority": self.priority,
            "tags": list(self.tags),
            "matches": sorted({m.term for m in self.matches}),
        }


@dataclass(frozen=True, slots=True)
class Item:
    """A normalized news item. `key` identifies the story for deduplication."""

    title: str
    summary: str
    link: str | None
    published: datetime | None
    feed: str
    key: str
    title_key: str
    guid: str | None = None
    id: int | None = None
    first_seen: datetime | None = None
    sources: tuple[str, ...] = ()
    classification: Classification | None = None
    read: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "title": self.title,
            "summary": self.summary,
            "link": self.link,
            "published": iso_utc(self.published),
            "feed": self.feed,
        }
        if self.classification is not None:
            out.update(self.classification.to_json())
        return out


@dataclass(frozen=True, slots=True)
class FeedState:
    """What the store remembers about one feed between polls."""

    feed: str
    url: str = ""
    etag: str | None = None
    last_modified: str | None = None
    last_success: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    failures: int = 0
    next_due: datetime | None = None
    gone: bool = False
    item_count: int = 0

    @property
    def ok(self) -> bool:
        return self.failures == 0 and not self.gone and self.last_success is not None


@dataclass(frozen=True, slots=True)
class PriceTick:
    """One price observation from one source. `price` is a Decimal parsed from the
    source's own text, so what is shown is what the exchange said."""

    source: str
    symbol: str
    price: Decimal
    received: datetime
    change_24h: Decimal | None = None  # percent
    exchange_time: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "symbol": self.symbol,
            "price": str(self.price),
            "change_24h": None if self.change_24h is None else str(self.change_24h),
            "exchange_time": iso_utc(self.exchange_time),
            "received": iso_utc(self.received),
        }


# ---------------------------------------------------------------- engine events


@dataclass(frozen=True, slots=True)
class NewItems:
    """Items the store had not seen before (or, with `initial`, the stored history
    handed over at start-up)."""

    items: tuple[Item, ...]
    feed: str | None = None
    initial: bool = False


@dataclass(frozen=True, slots=True)
class FeedStatus:
    """A feed's state after a poll (or at start-up)."""

    state: FeedState
    fetched: int = 0  # items in the response
    new: int = 0
    not_modified: bool = False
    items: tuple[Item, ...] = field(default=(), repr=False)  # every item parsed this poll


@dataclass(frozen=True, slots=True)
class PriceUpdate:
    """A price tick (or a source's error) for the UI."""

    tick: PriceTick | None
    source: str
    error: str | None = None


# ---------------------------------------------------------------- prices (feeds/prices.py)


@dataclass(frozen=True, slots=True)
class AggregatePrice:
    """The price to show: the median of the fresh ticks, the sources that disagree with it
    by more than the divergence threshold, and how old the newest tick is (`state` is the
    colour: live, stale, dead, or none before any tick arrived)."""

    symbol: str
    price: Decimal | None
    at: datetime
    ticks: tuple[PriceTick, ...] = ()  # the newest tick of every source, fresh or not
    used: tuple[str, ...] = ()  # sources whose tick went into the median
    divergent: tuple[str, ...] = ()
    change_24h: Decimal | None = None  # median of the fresh ticks' 24 h change, percent
    newest: datetime | None = None  # when the newest tick was received
    state: str = "none"  # "live" | "stale" | "dead" | "none"

    @property
    def staleness(self) -> float | None:
        """Seconds since the newest tick arrived."""
        return None if self.newest is None else max(0.0, (self.at - self.newest).total_seconds())

    def to_json(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "price": None if self.price is None else str(self.price),
            "change_24h": None if self.change_24h is None else str(self.change_24h),
            "state": self.state,
            "staleness": None if self.staleness is None else round(self.staleness, 3),
            "newest": iso_utc(self.newest),
            "at": iso_utc(self.at),
            "used": list(self.used),
            "divergent": list(self.divergent),
        }


@dataclass(frozen=True, slots=True)
class PriceHistory:
    """Stored ticks handed over at start-up, oldest first, so a chart has its last 24 h."""

    symbol: str
    ticks: tuple[PriceTick, ...] = field(default=(), repr=False)


@dataclass(frozen=True, slots=True)
class PriceStreamStatus:
    """The websocket stream went up or down (`error` says why it went down)."""

    source: str
    connected: bool
    error: str | None = None


# ---------------------------------------------------------------- alerts and reload (feeds/alerts.py, feeds/reload.py)


@dataclass(frozen=True, slots=True)
class Alert:
    """A new item that met an alert rule: enough to act on without opening the item
    (the headline, the link and the terms that matched, not just a count)."""

    rule: str
    title: str
    link: str | None
    matches: tuple[str, ...]
    feed: str
    priority: str = "none"
    tags: tuple[str, ...] = ()
    bell: bool = False
    toast: bool = True
    item: Item | None = field(default=None, repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        """The item's JSON plus the rule: what a hook gets on stdin."""
        out = self.item.to_json() if self.item is not None else {
            "title": self.title, "link": self.link, "feed": self.feed}
        out.update({"alert": self.rule, "matches": list(self.matches), "priority": self.priority,
                    "tags": list(self.tags)})
        if self.item is not None:
            out["sources"] = list(self.item.sources) or [self.feed]
            out["first_seen"] = iso_utc(self.item.first_seen)
        return out


@dataclass(frozen=True, slots=True)
class AlertRaised:
    """An alert rule fired on a new item; the TUI shows a toast and/or rings the bell as
    the alert says (its hook, if any, already runs in the background)."""

    alert: Alert


@dataclass(frozen=True, slots=True)
class ConfigReloaded:
    """The watched config file changed. `error` (the ConfigError text) means the edit was
    rejected and the running config kept; otherwise `changes` says what was applied and
    `restart_needed` which edited sections only take effect after a restart."""

    path: str
    error: str | None = None
    changes: tuple[str, ...] = ()
    restart_needed: tuple[str, ...] = ()
    reclassified: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None
