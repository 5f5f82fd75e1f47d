"""The websocket price stream: Coinbase Exchange's ticker channel or Kraken's v2 ticker.

It reconnects with exponential backoff, treats a silence longer than `read_timeout` as a
dead connection (both exchanges send heartbeats, so silence is never normal; websockets'
own ping/pong catches a dead TCP peer too), and skips, logs and counts any message it
cannot read instead of stopping. While it is down, the PriceEngine falls back to REST."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Callable

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from feeds.markets import stream_market_for
from feeds.model import PriceTick
from feeds.prices import SourceError, iso_time, one_line, to_decimal

log = logging.getLogger("policywatch.stream")

DEFAULT_URLS = {
    "coinbase": "wss://ws-feed.exchange.coinbase.com",
    "kraken": "wss://ws.kraken.com/v2",
}
MAX_MESSAGE = 1 << 20  # bytes; a ticker message is a few hundred


class StreamError(Exception):
    """The exchange refused or ended the subscription: reconnect after a backoff."""


class MessageError(ValueError):
    """A message we cannot read: skipped and logged, the stream goes on."""


def _decimal(value: Any, where: str, *, positive: bool = False) -> Decimal:
    try:
        return to_decimal(value, where, positive=positive)
    except SourceError as exc:
        raise MessageError(exc.message) from None


def _time(value: Any, where: str) -> datetime:
    try:
        return iso_time(value, where)
    except SourceError as exc:
        raise MessageError(exc.message) from None


# ---------------------------------------------------------------- exchange protocols


class Protocol:
    """One exchange's subscribe message and ticker messages."""

    kind = ""

    def subscribe(self, market: str) -> dict[str, Any]:
        raise NotImplementedError

    def ticks(self, msg: Any, market: str, symbol: str, received: datetime) -> list[PriceTick]:
        """The ticks in one decoded message ([] for acks and heartbeats); MessageError
        for a message that should carry a tick but does not make sense; StreamError when
        the exchange reports an error."""
        raise NotImplementedError


class CoinbaseProtocol(Protocol):
    """Coinbase Exchange: {"type": "ticker", "product_id", "price", "open_24h", "time", ...};
    the heartbeat channel adds a message a second, so silence means a dead connection."""

    kind = "coinbase"

    def subscribe(self, market: str) -> dict[str, Any]:
        return {"type": "subscribe", "product_ids": [market], "channels": ["ticker", "heartbeat"]}

    def ticks(self, msg: Any, market: str, symbol: str, received: datetime) -> list[PriceTick]:
        if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
            raise MessageError("not a Coinbase message (no type)")
        kind = msg["type"]
        if kind == "error":
            raise StreamError("coinbase: " + one_line(str(msg.get("message") or msg.get("reason") or "error")))
        if kind != "ticker" or msg.get("product_id") != market:
            return []  # subscriptions, heartbeat, other products
        price = _decimal(msg.get("price"), "ticker.price", positive=True)
        change = None
        if msg.get("open_24h") not in (None, ""):
            open_24h = _decimal(msg["open_24h"], "ticker.open_24h", positive=True)
            change = ((price - open_24h) / open_24h * 100).quantize(Decimal("0.0001"))
        when = _time(msg["time"], "ticker.time") if msg.get("time") else None
        return [PriceTick(source=self.kind, symbol=symbol, price=price, received=received,
                          change_24h=change, exchange_time=when)]


class KrakenProtocol(Protocol):
    """Kraken v2: {"channel": "ticker", "type": "snapshot"|"update", "data": [{"symbol",
    "last", "change_pct", ...}]}; Kraken sends {"channel": "heartbeat"} every second."""

    kind = "kraken"

    def subscribe(self, market: str) -> dict[str, Any]:
        return {"method": "subscribe", "params": {"channel": "ticker", "symbol": [market]}}

    def ticks(self, msg: Any, market: str, symbol: str, received: datetime) -> list[PriceTick]:
        if not isinstance(msg, dict):
            raise MessageError("not a Kraken v2 message (not an object)")
        if msg.get("method") == "subscribe" and msg.get("success") is False:
            raise StreamError("kraken: " + one_line(str(msg.get("error") or "subscribe failed")))
        if msg.get("channel") != "ticker":
            return []  # heartbeat, status, subscribe acks
        data = msg.get("data")
        if not isinstance(data, list):
            raise MessageError("ticker message without a data list")
        out = []
        for entry in data:
            if not isinstance(entry, dict):
                raise MessageError("ticker data entry is not an object")
            if entry.get("symbol") != market:
                continue
            price = _decimal(entry.get("last"), "ticker.last", positive=True)
            change = None if entry.get("change_pct") is None else _decimal(entry["change_pct"], "ticker.change_pct")
            when = _time(entry["timestamp"], "ticker.timestamp") if entry.get("timestamp") else None
            out.append(PriceTick(source=self.kind, symbol=symbol, price=price, received=received,
                                 change_24h=change, exchange_time=when))
        return out


PROTOCOLS: dict[str, Protocol] = {p.kind: p for p in (CoinbaseProtocol(), KrakenProtocol())}


# ---------------------------------------------------------------- the stream


class PriceStream:
    """Follows one exchange's ticker for one symbol until cancelled.

    `on_tick(tick)` gets every tick; `on_state(connected, error)` hears when the stream
    starts delivering ticks and when it goes down."""

    def __init__(self, kind: str, symbol: str, on_tick: Callable[[PriceTick], None], *,
                 url: str | None = None, market: str | None = None, read_timeout: float = 30.0,
                 open_timeout: float = 10.0, min_backoff: float = 1.0, max_backoff: float = 60.0,
                 ping_interval: float | None = 20.0,
                 on_state: Callable[[bool, str | None], None] | None = None) -> None:
        self.protocol = PROTOCOLS[kind]
        self.source = kind
        self.symbol = symbol
        self.market = market or stream_market_for(kind, symbol)
        self.url = url or DEFAULT_URLS[kind]
        self.on_tick = on_tick
        self.on_state = on_state
        self.read_timeout = read_timeout
        self.open_timeout = open_timeout
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.ping_interval = ping_interval
        self.connected = False  # delivering ticks on the current connection
        self.connects = 0  # successful websocket handshakes
        self.ticks = 0
        self.skipped = 0  # messages we could not read
        self.last_error: str | None = None
        self.failures = 0  # consecutive connections that ended without a tick

    def backoff(self) -> float:
        """min_backoff doubled per consecutive failure, capped, with +/-20% jitter so
        many clients do not reconnect in step."""
        if self.failures <= 0:
            return self.min_backoff
        delay = min(self.min_backoff * 2 ** min(self.failures - 1, 30), self.max_backoff)
        return delay * random.uniform(0.8, 1.2)

    async def run(self) -> None:
        """Connect, subscribe and read; after any failure wait and reconnect. Runs until
        cancelled."""
        while True:
            error = await self._session()
            self.last_error = error
            if self.connected:
                self.connected = False
                self._state(False, error)
            delay = self.backoff()
            log.info("%s stream down (%s); reconnecting in %.1f s", self.source, error, delay)
            await asyncio.sleep(delay)

    async def _session(self) -> str:
        """One connection, from handshake to its end. Returns why it ended."""
        got_tick = False
        try:
            async with connect(self.url, open_timeout=self.open_timeout, ping_interval=self.ping_interval,
                               ping_timeout=self.ping_interval, max_size=MAX_MESSAGE, close_timeout=2,
                               user_agent_header="policywatch") as ws:
                self.connects += 1
                await ws.send(json.dumps(self.protocol.subscribe(self.market)))
                while True:
                    try:
                        async with asyncio.timeout(self.read_timeout):
                            raw = await ws.recv()
                    except TimeoutError:
                        return f"no message for {self.read_timeout:g} s"
                    ticks = self._read(raw)
                    if not ticks:
                        continue
                    if not got_tick:
                        got_tick = True
                        self.failures = 0
                        self.connected = True
                        self._state(True, None)
                    for tick in ticks:
                        self.ticks += 1
                        try:
                            self.on_tick(tick)
                        except Exception:  # the receiver's bug must not drop the connection
                            log.exception("%s stream: tick callback failed", self.source)
        except ConnectionClosed as exc:
            return f"connection closed ({exc.rcvd.code if exc.rcvd else 'no close frame'})"
        except StreamError as exc:
            return str(exc)
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            return one_line(f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # whatever else: log it, back off, try again
            log.exception("%s stream: unexpected error", self.source)
            return one_line(f"internal error: {type(exc).__name__}: {exc}")
        finally:
            if not got_tick:
                self.failures += 1

    def _read(self, raw: str | bytes) -> list[PriceTick]:
        """The ticks in one frame; anything unreadable is skipped and logged."""
        received = datetime.now(timezone.utc)
        try:
            if isinstance(raw, bytes):
                raise MessageError("a binary frame")
            try:
                msg = json.loads(raw, parse_float=Decimal)
            except ValueError:
                raise MessageError("not JSON") from None
            return self.protocol.ticks(msg, self.market, self.symbol, received)
        except MessageError as exc:
            self.skipped += 1
            log.warning("%s stream: skipped a message: %s: %r", self.source, exc, raw[:120])
            return []

    def _state(self, connected: bool, error: str | None) -> None:
        if self.on_state is None:
            return
        try:
            self.on_state(connected, error)
        except Exception:
            log.exception("stream state callback failed")
