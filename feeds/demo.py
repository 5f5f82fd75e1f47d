"""`policywatch --demo`: the monitor offline, through the real pipeline.

A loopback HTTP server (127.0.0.1, a free port) serves the recordings in demo_data/,
written for this project: RSS/Atom feeds whose items carry dates around an anchor moment,
and a BTC-USD price path quoted in each exchange's own response format. The served dates
are shifted so the anchor is "when the demo started"; items dated after the anchor appear
in the feeds as their moment comes, so new headlines keep arriving for about ten minutes.
The engine polls this server like any other; the database is a temporary file.

No textual here: the TUI only points its engine at `Demo.config(...)`."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import shutil
import tempfile
import threading
import time
from bisect import bisect_right
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs, urlsplit

from feeds.config import Config, FeedConfig, PriceSourceConfig
from feeds.model import PriceTick

DATA = Path(__file__).resolve().parent / "demo_data"
ANCHOR = datetime(2025, 8, 7, 12, 0, tzinfo=timezone.utc)
FEED_INTERVAL = 15.0  # seconds between polls of a demo feed
PRICE_INTERVAL = 3.0

# (feed name, file under demo_data/feeds or None for a feed that is down, content type)
FEEDS: tuple[tuple[str, str | None, str], ...] = (
    ("White House presidential actions", "whitehouse.xml", "application/rss+xml; charset=utf-8"),
    ("Labor Department news releases", "dol.xml", "application/rss+xml; charset=utf-8"),
    ("SEC press releases", "sec.xml", "application/rss+xml; charset=utf-8"),
    ("CoinDesk", "coindesk.xml", "application/rss+xml; charset=utf-8"),
    ("PLANSPONSOR", "plansponsor.atom", "application/atom+xml; charset=utf-8"),
    ("Google News: 401(k) crypto", "googlenews.xml", "application/rss+xml; charset=utf-8"),
    ("Federal Reserve press releases", None, "text/html"),  # answers 503: shows feed health
)

# Each exchange quotes the path with a small fixed offset; bitstamp drifts away for a while
# so the divergence warning shows, then comes back.
OFFSETS = {"coinbase": Decimal("0.00"), "kraken": Decimal("4.10"), "bitstamp": Decimal("-3.20"),
           "binance": Decimal("9.80")}
DIVERGE = ("bitstamp", 150.0, 195.0, Decimal("0.014"))  # source, from, to (seconds), fraction

_ITEM = re.compile(rb"<(item|entry)\b.*?</\1>", re.S)
_RSS_DATE = re.compile(rb"<pubDate>([^<]+)</pubDate>")
_ATOM_DATE = re.compile(rb"<(published|updated)>([^<]+)</\1>")


# ---------------------------------------------------------------- feeds


@dataclass(frozen=True)
class Recording:
    """A feed file cut into its head, its items (with their recorded dates) and its tail."""

    head: bytes
    items: tuple[tuple[datetime, bytes], ...]
    tail: bytes

    @classmethod
    def load(cls, path: Path) -> "Recording":
        body = path.read_bytes()
        matches = list(_ITEM.finditer(body))
        if not matches:
            return cls(body, (), b"")
        items = tuple((_item_date(m.group(0)), m.group(0)) for m in matches)
        return cls(body[:matches[0].start()], items, body[matches[-1].end():])

    def render(self, elapsed: float, shift: timedelta) -> bytes:
        """The feed as it stood `elapsed` seconds after the anchor, dates moved by `shift`."""
        cutoff = ANCHOR + timedelta(seconds=elapsed)
        shown = [(d, text) for d, text in self.items if d <= cutoff]
        shown.sort(key=lambda pair: pair[0], reverse=True)
        parts = [_shift_dates(self.head, shift)]
        parts.extend(_shift_dates(text, shift) for _, text in shown)
        parts.append(self.tail)
        return b"\n".join(parts)

    def reveal_times(self) -> list[float]:
        """Seconds after the anchor at which items appear (the items already there are 0)."""
        return sorted(max(0.0, (d - ANCHOR).total_seconds()) for d, _ in self.items)


def _item_date(text: bytes) -> datetime:
    if m := _RSS_DATE.search(text):
        return parsedate_to_datetime(m.group(1).decode().strip()).astimezone(timezone.utc)
    if m := _ATOM_DATE.search(text):
        return datetime.fromisoformat(m.group(2).decode().strip().replace("Z", "+00:00"))
    return ANCHOR - timedelta(days=1)


def _shift_dates(text: bytes, shift: timedelta) -> bytes:
    def rss(m: re.Match) -> bytes:
        moment = parsedate_to_datetime(m.group(1).decode().strip()) + shift
        return b"<pubDate>" + format_datetime(moment.astimezone(timezone.utc)).encode() + b"</pubDate>"

    def atom(m: re.Match) -> bytes:
        moment = datetime.fromisoformat(m.group(2).decode().strip().replace("Z", "+00:00")) + shift
        stamp = moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ").encode()
        return b"<" + m.group(1) + b">" + stamp + b"</" + m.group(1) + b">"

    text = _RSS_DATE.sub(rss, text)
    return _ATOM_DATE.sub(atom, text) if b"<feed" in text or b"<entry" in text else text


# ---------------------------------------------------------------- prices


class PricePath:
    """The recorded BTC-USD path: 24 h before the anchor, then a live part that loops."""

    def __init__(self, data: Path = DATA) -> None:
        self.history = [(-float(row["minutes_before"]) * 60, Decimal(row["price"]))
                        for row in _csv(data / "btc_24h.csv")]
        self.history.sort()
        self.live = [(float(row["seconds_after"]), Decimal(row["price"])) for row in _csv(data / "btc_live.csv")]
        self.live.sort()
        self.period = self.live[-1][0] + (self.live[1][0] - self.live[0][0])
        self._live_times = [t for t, _ in self.live]

    def price_at(self, elapsed: float) -> Decimal:
        """The path's price `elapsed` seconds after the anchor (step, looping)."""
        if elapsed < 0:
            times = [t for t, _ in self.history]
            return self.history[max(0, bisect_right(times, elapsed) - 1)][1]
        index = bisect_right(self._live_times, elapsed % self.period) - 1
        return self.live[max(0, index)][1]

    def quote(self, source: str, elapsed: float) -> Decimal:
        price = self.price_at(elapsed) + OFFSETS.get(source, Decimal(0))
        name, start, end, fraction = DIVERGE
        if source == name and start <= elapsed % self.period < end:
            price += price * fraction
        return price.quantize(Decimal("0.01"))

    def change_24h(self, elapsed: float) -> Decimal:
        before = self.price_at(elapsed - 86400) if elapsed < 86400 else self.history[0][1]
        return ((self.price_at(elapsed) / before - 1) * 100).quantize(Decimal("0.001"))

    def history_ticks(self, symbol: str, shift: timedelta) -> list[PriceTick]:
        """The 24 h before the anchor as stored ticks, moved to end at the demo's start."""
        return [PriceTick(source="coinbase", symbol=symbol, price=price,
                          received=ANCHOR + shift + timedelta(seconds=seconds))
                for seconds, price in self.history]


def _csv(path: Path) -> list[dict[str, str]]:
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    return list(csv.DictReader(lines))


def exchange_body(source: str, path: PricePath, elapsed: float, now: datetime) -> dict:
    """The response each exchange's REST API gives, in its own documented shape."""
    price = path.quote(source, elapsed)
    change = path.change_24h(elapsed)
    if source == "coinbase":
        return {"data": {"amount": f"{price}", "base": "BTC", "currency": "USD"}}
    if source == "kraken":
        return {"error": [], "result": {"XXBTZUSD": {
            "a": [f"{price + Decimal('0.1')}", "1", "1.000"], "b": [f"{price}", "2", "2.000"],
            "c": [f"{price}", "0.00150000"], "v": ["1021.5", "2960.1"], "p": [f"{price}", f"{price}"],
            "t": [14301, 40120], "l": [f"{price * Decimal('0.99'):.1f}", f"{price * Decimal('0.985'):.1f}"],
            "h": [f"{price * Decimal('1.01'):.1f}", f"{price * Decimal('1.015'):.1f}"], "o": f"{price:.1f}"}}}
    if source == "binance":
        millis = int(now.timestamp() * 1000)
        return {"symbol": "BTCUSDT", "priceChange": f"{price * change / 100:.2f}",
                "priceChangePercent": f"{change}", "lastPrice": f"{price}", "openTime": millis - 86_400_000,
                "closeTime": millis, "count": 1843221}
    if source == "bitstamp":
        return {"last": f"{price}", "timestamp": str(int(now.timestamp())), "percent_change_24": f"{change:.2f}",
                "open": f"{price / (1 + change / 100):.2f}", "volume": "1712.3"}
    raise KeyError(source)


EXCHANGE_PATHS = {
    "/v2/prices/BTC-USD/spot": "coinbase",
    "/0/public/Ticker": "kraken",
    "/api/v3/ticker/24hr": "binance",
    "/api/v2/ticker/btcusd/": "bitstamp",
}


# ---------------------------------------------------------------- the server


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class Demo:
    """The loopback server and the temporary database of one demo run."""

    def __init__(self, *, speed: float = 1.0, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.speed = speed
        self.clock = clock
        self.wall = wall
        self.started = clock()
        self.shift = wall() - ANCHOR
        self.recordings = {file: Recording.load(DATA / "feeds" / file) for _, file, _ in FEEDS if file}
        self.path = PricePath()
        self.tmp = Path(tempfile.mkdtemp(prefix="policywatch-demo-"))
        self.db_path = self.tmp / "demo.db"
        self.requests: list[str] = []
        demo = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                demo._answer(self)

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="policywatch-demo", daemon=True)

    @classmethod
    def start(cls, **kw) -> "Demo":
        demo = cls(**kw)
        demo.thread.start()
        return demo

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def elapsed(self) -> float:
        return (self.clock() - self.started) * self.speed

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def config(self, base: Config) -> Config:
        """The user's config with every network address replaced by this server's."""
        feeds = tuple(FeedConfig(name=name, url=f"{self.base}/feeds/{file or 'federalreserve.xml'}",
                                 interval=FEED_INTERVAL) for name, file, _ in FEEDS)
        sources = tuple(PriceSourceConfig(kind=kind, url=self.base) for kind in OFFSETS)
        prices = replace(base.prices, sources=sources, interval=PRICE_INTERVAL, stream="none", stream_url=None)
        fetch = replace(base.fetch, per_host=max(base.fetch.per_host, 4), jitter=min(base.fetch.jitter, 0.1))
        return replace(base, feeds=feeds, prices=prices, fetch=fetch)

    def seed_prices(self, store, symbol: str = "BTC-USD") -> int:
        """Put the recorded 24 h into the demo's store, so the chart has a day at once."""
        ticks = self.path.history_ticks(symbol, self.shift)
        store.add_ticks(ticks)
        return len(ticks)

    # ------------------------------------------------------------ requests

    def _answer(self, h: BaseHTTPRequestHandler) -> None:
        url = urlsplit(h.path)
        self.requests.append(url.path)
        elapsed = self.elapsed()
        try:
            if url.path.startswith("/feeds/"):
                name = url.path.removeprefix("/feeds/")
                recording = self.recordings.get(name)
                if recording is None:
                    return self._send(h, 503, b"<html><body>Service Unavailable (demo)</body></html>",
                                      "text/html", {"Retry-After": "60"})
                content_type = next(ct for _, f, ct in FEEDS if f == name)
                body = recording.render(elapsed, self.shift)
                etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
                if h.headers.get("If-None-Match") == etag:
                    return self._send(h, 304, b"", content_type, {"ETag": etag})
                return self._send(h, 200, body, content_type, {"ETag": etag})
            source = EXCHANGE_PATHS.get(url.path)
            if source is not None:
                query = parse_qs(url.query)
                if source == "kraken" and query.get("pair") != ["XBTUSD"]:
                    return self._json(h, 200, {"error": ["EQuery:Unknown asset pair"]})
                if source == "binance" and query.get("symbol") != ["BTCUSDT"]:
                    return self._json(h, 400, {"code": -1121, "msg": "Invalid symbol."})
                return self._json(h, 200, exchange_body(source, self.path, elapsed, self.wall()))
            return self._send(h, 404, b"not found", "text/plain")
        except (BrokenPipeError, ConnectionResetError):
            return None

    def _json(self, h: BaseHTTPRequestHandler, status: int, doc: dict) -> None:
        self._send(h, status, json.dumps(doc).encode(), "application/json")

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str,
              headers: dict[str, str] | None = None) -> None:
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            h.send_header(key, value)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if body:
            h.wfile.write(body)
