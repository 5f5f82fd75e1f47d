"""The BTC price: one REST adapter per exchange, the aggregate across them, and the
PriceEngine that polls them on the pipeline's scheduler.

Every adapter parses its exchange's documented response strictly: a shape we do not
recognise (an upstream change, an HTML error page, a different pair than we asked for)
becomes that source's error, never a price. Prices stay Decimal from the JSON text
(`parse_float=Decimal`), so what is shown is exactly what the exchange said."""

from __future__ import annotations

import asyncio
import json
import logging
import statistics
import time
import unicodedata
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Callable, Iterable

import httpx

from feeds.config import FetchConfig, PriceSourceConfig, PricesConfig
from feeds.fetch import FetchError, Fetcher
from feeds.markets import kraken_names, market_for
from feeds.model import AggregatePrice, PriceHistory, PriceStreamStatus, PriceTick, PriceUpdate
from feeds.scheduler import PollScheduler, next_delay

if TYPE_CHECKING:
    from feeds.store import Store
    from feeds.stream import PriceStream

log = logging.getLogger("policywatch.prices")

Sink = Callable[[Any], None]
HUNDRED = Decimal(100)


class SourceError(Exception):
    """A source gave no usable price: one line for the user, and the server's Retry-After."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


def one_line(text: str, limit: int = 200) -> str:
    """Untrusted text (an API's error message) as one printable line: control and
    format characters (escape codes, bidi overrides) become spaces."""
    cleaned = "".join(" " if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") else ch for ch in text)
    cleaned = " ".join(cleaned.split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "\u2026"


# ---------------------------------------------------------------- reading JSON strictly


def _unrecognised(detail: str) -> SourceError:
    return SourceError(f"unrecognised response format: {detail}")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def decode_json(body: bytes, content_type: str | None = None) -> dict[str, Any]:
    """A JSON object with every non-integer number as the Decimal of its text."""
    try:
        doc = json.loads(body, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError):
        head = body.lstrip()[:15].lower()
        if head.startswith((b"<!doctype", b"<html", b"<?xml", b"<")):
            raise SourceError(f"an HTML/XML page instead of JSON ({content_type or 'no content type'})") from None
        if not body.strip():
            raise SourceError("an empty response instead of JSON") from None
        raise SourceError(f"invalid JSON ({content_type or 'no content type'})") from None
    if not isinstance(doc, dict):
        raise _unrecognised(f"a JSON {type(doc).__name__} instead of an object")
    return doc


def _get(obj: Any, key: str, where: str) -> Any:
    if not isinstance(obj, dict):
        raise _unrecognised(f"{where} is not an object")
    if key not in obj:
        raise _unrecognised(f"no {where}.{key}")
    return obj[key]


def to_decimal(value: Any, where: str, *, positive: bool = False) -> Decimal:
    """A number from JSON (string, Decimal or integer) as an exact, finite Decimal."""
    if isinstance(value, bool) or not isinstance(value, (str, Decimal, int)):
        raise _unrecognised(f"{where} is {type(value).__name__}, not a number")
    try:
        number = Decimal(value.strip()) if isinstance(value, str) else Decimal(value)
    except InvalidOperation:
        raise _unrecognised(f"{where} is not a number ({one_line(str(value), 40)!r})") from None
    if not number.is_finite():
        raise _unrecognised(f"{where} is not a finite number")
    if positive and number <= 0:
        raise _unrecognised(f"{where} is not positive ({number})")
    return number


def _optional_decimal(obj: dict[str, Any], key: str, where: str) -> Decimal | None:
    value = obj.get(key)
    if value is None or value == "":
        return None
    return to_decimal(value, f"{where}.{key}")


def epoch_time(value: Any, where: str, *, millis: bool = False) -> datetime:
    seconds = to_decimal(value, where, positive=True)
    if millis:
        seconds /= 1000
    try:
        return datetime.fromtimestamp(float(seconds), tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise _unrecognised(f"{where} is not a time ({seconds})") from None


def iso_time(value: Any, where: str) -> datetime:
    if not isinstance(value, str):
        raise _unrecognised(f"{where} is not a time string")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _unrecognised(f"{where} is not an ISO time ({one_line(value, 40)!r})") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@dataclass(frozen=True, slots=True)
class Quote:
    """What an adapter reads from one response, before it becomes a PriceTick."""

    price: Decimal
    change_24h: Decimal | None = None
    exchange_time: datetime | None = None


# ---------------------------------------------------------------- adapters


class Adapter:
    """One exchange's REST ticker: its market names, its URL, its response format."""

    kind = ""
    default_base = ""

    def market(self, symbol: str) -> str:
        return market_for(self.kind, symbol)

    def path(self, market: str) -> str:
        raise NotImplementedError

    def read(self, doc: dict[str, Any], market: str) -> Quote:
        raise NotImplementedError

    def parse(self, body: bytes, market: str, content_type: str | None = None) -> Quote:
        return self.read(decode_json(body, content_type), market)


class Coinbase(Adapter):
    """GET /v2/prices/BTC-USD/spot -> {"data": {"amount": "...", "base": "BTC", "currency": "USD"}}"""

    kind = "coinbase"
    default_base = "https://api.coinbase.com"

    def path(self, market: str) -> str:
        return f"/v2/prices/{market}/spot"

    def read(self, doc: dict[str, Any], market: str) -> Quote:
        errors = doc.get("errors")
        if errors:
            messages = [e.get("message") or e.get("id") for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []
            raise SourceError("coinbase: " + one_line("; ".join(str(m) for m in messages if m) or str(errors)))
        data = _get(doc, "data", "response")
        base, _, quote = market.partition("-")
        for key, want in (("base", base), ("currency", quote)):
            if key in data and data[key] != want:
                raise _unrecognised(f"data.{key} is {one_line(str(data[key]), 20)!r}, expected {want!r}")
        return Quote(price=to_decimal(_get(data, "amount", "data"), "data.amount", positive=True))


class Kraken(Adapter):
    """GET /0/public/Ticker?pair=XBTUSD -> {"error": [], "result": {"XXBTZUSD": {"c": ["last", "vol"], ...}}}"""

    kind = "kraken"
    default_base = "https://api.kraken.com"

    def path(self, market: str) -> str:
        return f"/0/public/Ticker?pair={market}"

    def read(self, doc: dict[str, Any], market: str) -> Quote:
        errors = _get(doc, "error", "response")
        if not isinstance(errors, list):
            raise _unrecognised("error is not a list")
        if errors:
            raise SourceError("kraken: " + one_line("; ".join(str(e) for e in errors)))
        result = _get(doc, "result", "response")
        if not isinstance(result, dict):
            raise _unrecognised("result is not an object")
        names = kraken_names(market)
        found = [key for key in result if key in names]
        if not found:
            shown = ", ".join(sorted(result)[:3]) or "nothing"
            raise _unrecognised(f"no pair {market} in result (got {one_line(shown, 60)})")
        ticker = result[found[0]]
        last = _get(ticker, "c", f"result.{found[0]}")
        if not isinstance(last, list) or not last:
            raise _unrecognised(f"result.{found[0]}.c is not [price, volume]")
        return Quote(price=to_decimal(last[0], f"result.{found[0]}.c[0]", positive=True))


class Binance(Adapter):
    """GET /api/v3/ticker/24hr?symbol=BTCUSDT -> {"symbol", "lastPrice", "priceChangePercent", "closeTime", ...}

    Binance has no USD book; BTC-USD maps to the USDT pair, as the design says."""

    kind = "binance"
    default_base = "https://api.binance.com"

    def path(self, market: str) -> str:
        return f"/api/v3/ticker/24hr?symbol={market}"

    def read(self, doc: dict[str, Any], market: str) -> Quote:
        if "code" in doc and "msg" in doc and "lastPrice" not in doc:
            raise SourceError("binance: " + one_line(str(doc["msg"])))
        got = _get(doc, "symbol", "response")
        if got != market:
            raise _unrecognised(f"symbol is {one_line(str(got), 20)!r}, expected {market!r}")
        close = doc.get("closeTime")
        return Quote(
            price=to_decimal(_get(doc, "lastPrice", "response"), "lastPrice", positive=True),
            change_24h=_optional_decimal(doc, "priceChangePercent", "response"),
            exchange_time=None if close is None else epoch_time(close, "closeTime", millis=True),
        )


class CoinGecko(Adapter):
    """GET /api/v3/simple/price?ids=bitcoin&vs_currencies=usd&include_24hr_change=true
    -> {"bitcoin": {"usd": 116300, "usd_24h_change": 0.71}}"""

    kind = "coingecko"
    default_base = "https://api.coingecko.com"

    def path(self, market: str) -> str:
        coin, _, vs = market.partition("/")
        return f"/api/v3/simple/price?ids={coin}&vs_currencies={vs}&include_24hr_change=true"

    def read(self, doc: dict[str, Any], market: str) -> Quote:
        status = doc.get("status")
        if isinstance(status, dict) and ("error_message" in status or "error_code" in status):
            raise SourceError("coingecko: " + one_line(str(status.get("error_message") or status.get("error_code"))))
        if "error" in doc and not isinstance(doc.get("error"), dict):
            raise SourceError("coingecko: " + one_line(str(doc["error"])))
        coin, _, vs = market.partition("/")
        prices = _get(doc, coin, "response")
        updated = prices.get("last_updated_at") if isinstance(prices, dict) else None
        return Quote(
            price=to_decimal(_get(prices, vs, coin), f"{coin}.{vs}", positive=True),
            change_24h=_optional_decimal(prices, f"{vs}_24h_change", coin),
            exchange_time=None if updated is None else epoch_time(updated, f"{coin}.last_updated_at"),
        )


class Bitstamp(Adapter):
    """GET /api/v2/ticker/btcusd/ -> {"last": "...", "timestamp": "<epoch s>", "percent_change_24": "...", ...}"""

    kind = "bitstamp"
    default_base = "https://www.bitstamp.net"

    def path(self, market: str) -> str:
        return f"/api/v2/ticker/{market}/"

    def read(self, doc: dict[str, Any], market: str) -> Quote:
        if doc.get("status") == "error" or ("code" in doc and "last" not in doc):
            raise SourceError("bitstamp: " + one_line(str(doc.get("reason") or doc.get("message") or doc.get("code"))))
        stamp = doc.get("timestamp")
        return Quote(
            price=to_decimal(_get(doc, "last", "response"), "last", positive=True),
            change_24h=_optional_decimal(doc, "percent_change_24", "response"),
            exchange_time=None if stamp is None else epoch_time(stamp, "timestamp"),
        )


ADAPTERS: dict[str, Adapter] = {a.kind: a for a in (Coinbase(), Kraken(), Binance(), CoinGecko(), Bitstamp())}


class PriceSource:
    """One configured source: its adapter, market and URL."""

    def __init__(self, config: PriceSourceConfig, symbol: str) -> None:
        self.config = config
        self.adapter = ADAPTERS[config.kind]
        self.name = config.kind
        self.symbol = symbol
        self.market = config.market or self.adapter.market(symbol)
        base = (config.url or self.adapter.default_base).rstrip("/")
        self.url = base + self.adapter.path(self.market)

    async def fetch(self, fetcher: Fetcher) -> PriceTick:
        """One request; a PriceTick or SourceError."""
        try:
            result = await fetcher.get(self.url)
        except FetchError as exc:
            raise SourceError(one_line(exc.message), retry_after=exc.retry_after) from None
        received = datetime.now(timezone.utc)
        quote = self.adapter.parse(result.body, self.market, result.content_type)
        return PriceTick(source=self.name, symbol=self.symbol, price=quote.price, received=received,
                         change_24h=quote.change_24h, exchange_time=quote.exchange_time)


# ---------------------------------------------------------------- aggregation


def latest_per_source(ticks: Iterable[PriceTick]) -> dict[str, PriceTick]:
    latest: dict[str, PriceTick] = {}
    for tick in ticks:
        have = latest.get(tick.source)
        if have is None or tick.received >= have.received:
            latest[tick.source] = tick
    return latest


def divergence_percent(price: Decimal, median: Decimal) -> Decimal:
    return abs(price - median) / median * HUNDRED


def aggregate(symbol: str, ticks: Iterable[PriceTick], now: datetime, *, max_age: float = 60.0,
              divergence: float | Decimal = 1, stale_after: float = 30.0,
              dead_after: float = 120.0) -> AggregatePrice:
    """The median of every source's newest tick that is at most `max_age` seconds old.

    If no tick is fresh, the median of the newest ticks is still given (the state says
    how old it is) rather than no price at all. A source more than `divergence` percent
    from the median is listed as divergent; it stays in the median, which it cannot drag."""
    latest = latest_per_source(t for t in ticks if t.symbol == symbol)
    if not latest:
        return AggregatePrice(symbol=symbol, price=None, at=now)
    ordered = tuple(sorted(latest.values(), key=lambda t: t.source))
    cutoff = now - timedelta(seconds=max_age)
    fresh = [t for t in ordered if t.received >= cutoff] or list(ordered)
    median = statistics.median(t.price for t in fresh)
    limit = Decimal(str(divergence))
    divergent = tuple(t.source for t in fresh if divergence_percent(t.price, median) > limit)
    changes = [t.change_24h for t in fresh if t.change_24h is not None]
    newest = max(t.received for t in ordered)
    age = (now - newest).total_seconds()
    state = "live" if age <= stale_after else "stale" if age <= dead_after else "dead"
    return AggregatePrice(symbol=symbol, price=median, at=now, ticks=ordered,
                          used=tuple(t.source for t in fresh), divergent=divergent,
                          change_24h=statistics.median(changes) if changes else None,
                          newest=newest, state=state)


# ---------------------------------------------------------------- the engine


@dataclass(frozen=True, slots=True)
class SourceState:
    """What the engine remembers about one source between polls."""

    source: str
    url: str
    failures: int = 0
    last_error: str | None = None
    last_ok: datetime | None = None
    next_due: datetime | None = None


class PriceEngine:
    """Polls every configured source on the pipeline's scheduler (each poll re-armed when
    the previous one finished, with backoff and Retry-After), follows the websocket
    stream when one is configured (REST polling of that exchange resumes while the stream
    is down), stores the ticks and hands PriceUpdate / AggregatePrice events to the sink,
    coalesced to at most `ui_rate` flushes a second."""

    DOWNSAMPLE_EVERY = 600.0  # seconds
    HISTORY = timedelta(hours=24)

    def __init__(self, config: PricesConfig, client: httpx.AsyncClient, store: "Store | None", sink: Sink, *,
                 scheduler: PollScheduler | None = None, jitter: float = 0.0, stream: bool = True) -> None:
        self.config = config
        self.store = store
        self.sink = sink
        self.jitter = jitter
        self.sources = [PriceSource(s, config.symbol) for s in config.sources]
        self.fetcher = Fetcher(
            FetchConfig(connect_timeout=min(config.timeout, 10.0), read_timeout=config.timeout,
                        total_timeout=config.timeout, max_bytes=2_000_000,
                        # one request per source at a time (its lock); sources behind one
                        # proxy or the demo's loopback server must not queue behind each other
                        concurrency=max(1, len(self.sources)), per_host=max(1, len(self.sources))),
            client=client)
        self._own_scheduler = scheduler is None
        self.scheduler = scheduler or PollScheduler()
        self.states = {s.name: SourceState(s.name, s.url) for s in self.sources}
        self.latest: dict[str, PriceTick] = {}
        self._pending: dict[Any, Any] = {}
        self._unstored: list[PriceTick] = []
        self._flush_handle: asyncio.TimerHandle | None = None
        self._last_flush = float("-inf")
        self._locks: dict[str, asyncio.Lock] = {}
        self._stopped = False
        self._stream_task: asyncio.Task | None = None
        self.stream: PriceStream | None = None
        if stream and config.stream != "none":
            from feeds.stream import PriceStream  # stream imports this module
            self.stream = PriceStream(config.stream, config.symbol, self._stream_tick, url=config.stream_url,
                                      read_timeout=config.stream_timeout, max_backoff=min(config.max_backoff, 60.0),
                                      on_state=self._stream_state)

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Hand over the stored history, then poll on the scheduler and open the stream."""
        self._stopped = False
        now = datetime.now(timezone.utc)
        if self.store is not None:
            self.downsample(now)
            history = self.store.ticks_since(self.config.symbol, now - self.HISTORY)
            self._emit(PriceHistory(self.config.symbol, tuple(history)))
            configured = {s.name for s in self.sources} | ({self.stream.source} if self.stream else set())
            self.latest.update({k: t for k, t in latest_per_source(history).items() if k in configured})
            self._emit(self.aggregate(now))
        self.scheduler.start()
        for index, source in enumerate(self.sources):
            self.scheduler.at(self._job_id(source.name), now + timedelta(seconds=0.05 * index),
                              self._scheduled_poll, source.name)
        if self.store is not None:
            self.scheduler.after("price:downsample", self.DOWNSAMPLE_EVERY, self._scheduled_downsample)
        if self.stream is not None:
            self._stream_task = asyncio.create_task(self.stream.run(), name="policywatch-price-stream")

    async def stop(self) -> None:
        self._stopped = True
        if self._stream_task is not None:
            self._stream_task.cancel()
            try:
                await self._stream_task
            except (asyncio.CancelledError, Exception):
                pass
            self._stream_task = None
        if self._own_scheduler:
            self.scheduler.shutdown()
        elif self.scheduler.running:
            for source in self.sources:
                self.scheduler.cancel(self._job_id(source.name))
            self.scheduler.cancel("price:downsample")
        self.flush()

    async def __aenter__(self) -> "PriceEngine":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    @staticmethod
    def _job_id(name: str) -> str:
        return f"price:{name}"

    # ------------------------------------------------------------ polling

    async def poll_once(self) -> tuple[list[PriceUpdate], AggregatePrice]:
        """Poll every source now (the CLI's --once): each source's tick or error, and the
        aggregate. The ticks are stored and the events handed to the sink."""
        updates = list(await asyncio.gather(*(self.poll_source(s) for s in self.sources)))
        self.flush()
        return updates, self.aggregate()

    async def poll_source(self, source: PriceSource) -> PriceUpdate:
        """One request to one source. Never raises: trouble becomes the source's error."""
        lock = self._locks.setdefault(source.name, asyncio.Lock())
        async with lock:
            state = self.states[source.name]
            interval = source.config.interval or self.config.interval
            tick: PriceTick | None = None
            error, retry_after = "", None
            try:
                tick = await source.fetch(self.fetcher)
            except SourceError as exc:
                error, retry_after = exc.message, exc.retry_after
            except Exception as exc:  # an adapter bug must stay inside this one source
                log.exception("unexpected error polling price source %s", source.name)
                error = f"internal error: {type(exc).__name__}"
            # The next poll counts from the end of this one, so a slow source is never
            # asked again before it answered (and a due time in the past never exists).
            now = datetime.now(timezone.utc)
            if tick is not None:
                self.states[source.name] = replace(
                    state, failures=0, last_error=None, last_ok=tick.received,
                    next_due=now + timedelta(seconds=next_delay(interval, 0, jitter=self.jitter,
                                                                max_backoff=self.config.max_backoff)))
                update = PriceUpdate(tick=tick, source=source.name)
                self._take(tick, update)
                return update
            failures = state.failures + 1
            delay = next_delay(interval, failures, jitter=self.jitter, max_backoff=self.config.max_backoff,
                               retry_after=retry_after)
            self.states[source.name] = replace(state, failures=failures, last_error=error,
                                               next_due=now + timedelta(seconds=delay))
            log.info("price source %s failed (%d in a row, next try in %.0f s): %s",
                     source.name, failures, delay, error)
            update = PriceUpdate(tick=None, source=source.name, error=error)
            self._offer(("update", source.name), update)
            return update

    def stream_covers(self, name: str, now: datetime | None = None) -> bool:
        """True while the stream delivers this source's ticks, so REST may rest."""
        if self.stream is None or self.stream.source != name or not self.stream.connected:
            return False
        tick = self.latest.get(name)
        now = now or datetime.now(timezone.utc)
        return tick is not None and (now - tick.received).total_seconds() < self.config.interval

    async def _scheduled_poll(self, name: str) -> None:
        source = next((s for s in self.sources if s.name == name), None)
        if source is None or self._stopped:
            return
        if self.stream_covers(name):
            due = datetime.now(timezone.utc) + timedelta(seconds=self.config.interval)
        else:
            await self.poll_source(source)
            due = self.states[name].next_due or datetime.now(timezone.utc)
        if not self._stopped:
            self.scheduler.at(self._job_id(name), due, self._scheduled_poll, name)

    async def _scheduled_downsample(self) -> None:
        if self._stopped:
            return
        self.downsample()
        self.scheduler.after("price:downsample", self.DOWNSAMPLE_EVERY, self._scheduled_downsample)

    def downsample(self, now: datetime | None = None) -> None:
        if self.store is None:
            return
        self._store_pending()
        try:
            removed = self.store.downsample_ticks(now or datetime.now(timezone.utc))
            log.debug("downsampled price ticks: %d removed", removed)
        except Exception:
            log.exception("downsampling price ticks failed")

    # ------------------------------------------------------------ the stream

    def _stream_tick(self, tick: PriceTick) -> None:
        self._take(tick, PriceUpdate(tick=tick, source=tick.source))

    def _stream_state(self, connected: bool, error: str | None) -> None:
        if self.stream is None:
            return
        self._emit(PriceStreamStatus(self.stream.source, connected, error))
        if not connected and not self._stopped and self.scheduler.running:
            # Fall back to REST for this exchange right away rather than at its next slot.
            if any(s.name == self.stream.source for s in self.sources):
                self.scheduler.at(self._job_id(self.stream.source), datetime.now(timezone.utc),
                                  self._scheduled_poll, self.stream.source)

    # ------------------------------------------------------------ events, throttled

    def aggregate(self, now: datetime | None = None) -> AggregatePrice:
        c = self.config
        return aggregate(c.symbol, self.latest.values(), now or datetime.now(timezone.utc), max_age=c.max_age,
                         divergence=c.divergence, stale_after=c.stale_after, dead_after=c.dead_after)

    def _take(self, tick: PriceTick, update: PriceUpdate) -> None:
        have = self.latest.get(tick.source)
        if have is None or tick.received >= have.received:
            self.latest[tick.source] = tick
        self._unstored.append(tick)
        self._offer(("update", tick.source), update)

    def _offer(self, key: Any, event: Any) -> None:
        """Keep the newest event per key; flush at most ui_rate times a second."""
        self._pending[key] = event
        if self._flush_handle is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        wait = self._last_flush + 1.0 / self.config.ui_rate - time.monotonic()
        if wait <= 0:
            self.flush()
        else:
            self._flush_handle = loop.call_later(wait, self.flush)

    def flush(self) -> None:
        """Store the ticks received since the last flush and hand the events over."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        self._last_flush = time.monotonic()
        self._store_pending()
        events, self._pending = list(self._pending.values()), {}
        if not events:
            return
        for event in events:
            self._emit(event)
        self._emit(self.aggregate())

    def _store_pending(self) -> None:
        ticks, self._unstored = self._unstored, []
        if ticks and self.store is not None:
            try:
                self.store.add_ticks(ticks)
            except Exception:  # a full disk must not stop the price
                log.exception("storing %d price ticks failed", len(ticks))

    def _emit(self, event: Any) -> None:
        try:
            self.sink(event)
        except Exception:  # a broken sink must not stop the prices
            log.exception("sink failed on %s", type(event).__name__)
