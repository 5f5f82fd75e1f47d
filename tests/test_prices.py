"""The REST price adapters, aggregation, the PriceEngine and `policywatch price`.

Every adapter is a contract test: the real recorded response (../shared/fixtures/prices)
or our own documented-format sample (tests/data/prices) is served from a loopback HTTP
server, and the parsed price must equal, digit for digit, the number in the file. A
response we do not recognise must become that source's error, never a price."""

from __future__ import annotations

import asyncio
import json
import logging
import statistics
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from hypothesis import given, strategies as st

from feeds.config import ConfigError, PriceSourceConfig, PricesConfig, load_config
from feeds.markets import market_for
from feeds.model import AggregatePrice, PriceHistory, PriceTick, PriceUpdate
from feeds.prices import ADAPTERS, PriceEngine, PriceSource, aggregate
from feeds.store import Store
from tests.loopback import Route
from tui.cli import main as cli

DATA = Path(__file__).parent / "data" / "prices"
JSON = "application/json; charset=utf-8"
KINDS = ("coinbase", "kraken", "binance", "coingecko", "bitstamp")
# The route each adapter requests for BTC-USD (the loopback server ignores the query).
PATHS = {
    "coinbase": "/v2/prices/BTC-USD/spot",
    "kraken": "/0/public/Ticker",
    "binance": "/api/v3/ticker/24hr",
    "coingecko": "/api/v3/simple/price",
    "bitstamp": "/api/v2/ticker/btcusd/",
}
OWN = {
    "coinbase": ("coinbase_spot.json", "116310.25"),
    "kraken": ("kraken_ticker.json", "116290.10000"),
    "binance": ("binance_24hr.json", "116330.01000000"),
    "coingecko": ("coingecko_simple.json", "116301"),
    "bitstamp": ("bitstamp_ticker.json", "116302"),
}
NOW = datetime(2025, 8, 7, 17, 0, tzinfo=timezone.utc)


def config_for(base: str, kinds=KINDS, *, symbol: str = "BTC-USD", markets: dict[str, str] | None = None,
               **kw) -> PricesConfig:
    markets = markets or {}
    return PricesConfig(symbol=symbol, stream="none", **kw,
                        sources=tuple(PriceSourceConfig(kind=k, url=base, market=markets.get(k)) for k in kinds))


def serve_own(server, kinds=KINDS) -> None:
    for kind in kinds:
        server.add(PATHS[kind], Route.file(DATA / OWN[kind][0], content_type=JSON))


async def poll(config: PricesConfig, store: Store | None = None, events: list | None = None):
    async with httpx.AsyncClient(timeout=5) as client:
        engine = PriceEngine(config, client, store, (events if events is not None else []).append, stream=False)
        updates, agg = await engine.poll_once()
    return {u.source: u for u in updates}, agg, engine


def text_of(path: Path):
    """The file's JSON with every number kept as its text: the independent expectation."""
    return json.loads(path.read_text(encoding="utf-8"), parse_float=str, parse_int=str)


# ---------------------------------------------------------------- URLs and symbols


def test_default_urls_are_the_documented_ones_for_btc_usd():
    urls = {k: PriceSource(PriceSourceConfig(kind=k), "BTC-USD").url for k in KINDS}
    assert urls == {
        "coinbase": "https://api.coinbase.com/v2/prices/BTC-USD/spot",
        "kraken": "https://api.kraken.com/0/public/Ticker?pair=XBTUSD",
        "binance": "https://api.binance.com/api/v3/ticker/24hr?symbol=BTCUSDT",
        "coingecko": "https://api.coingecko.com/api/v3/simple/price?ids=bitcoin&vs_currencies=usd&include_24hr_change=true",
        "bitstamp": "https://www.bitstamp.net/api/v2/ticker/btcusd/",
    }


def test_symbols_map_per_exchange_for_btc_and_eth():
    assert [market_for(k, "BTC-USD") for k in KINDS] == ["BTC-USD", "XBTUSD", "BTCUSDT", "bitcoin/usd", "btcusd"]
    assert [market_for(k, "ETH-USD") for k in KINDS] == ["ETH-USD", "ETHUSD", "ETHUSDT", "ethereum/usd", "ethusd"]


def test_base_url_override_keeps_a_path_prefix():
    source = PriceSource(PriceSourceConfig(kind="kraken", url="http://proxy.example:8080/kraken/"), "ETH-USD")
    assert source.url == "http://proxy.example:8080/kraken/0/public/Ticker?pair=ETHUSD"


# ---------------------------------------------------------------- contract tests, real recordings


def _kraken_last(doc, key):
    return doc["result"][key]["c"][0]


SHARED_CASES = [
    # (kind, recorded file, symbol, market override, expected text from the file, 24h change text)
    ("coinbase", "coinbase_v2_prices_BTC-USD_spot_docs_format.json", "BTC-USD", None,
     lambda d: d["data"]["amount"], None),
    ("kraken", "kraken_rest_0_public_Ticker_all_pairs_assetVersion1.json", "BTC-USD", None,
     lambda d: _kraken_last(d, "BTC/USD"), None),
    ("kraken", "kraken_rest_0_public_Ticker_all_pairs_assetVersion1.json", "ETH-USD", None,
     lambda d: _kraken_last(d, "ETH/USD"), None),
    ("kraken", "kraken_rest_0_public_Ticker_XBTUSDT.json", "BTC-USDT", None,
     lambda d: _kraken_last(d, "XBTUSDT"), None),
    ("binance", "binance_api_v3_ticker_24hr_BNBBTC_docs_example.json", "BNB-BTC", None,
     lambda d: d["lastPrice"], lambda d: d["priceChangePercent"]),
    ("coingecko", "coingecko_simple_price_bitcoin_usd.json", "BTC-USD", None,
     lambda d: d["bitcoin"]["usd"], None),
    ("coingecko", "coingecko_simple_price_bitcoin_binancecoin_avalanche-2_usd.json", "BTC-USD", None,
     lambda d: d["bitcoin"]["usd"], None),
    ("coingecko", "coingecko_simple_price_bitcoin_ethereum_eur.json", "ETH-EUR", None,
     lambda d: d["ethereum"]["eur"], None),
    ("coingecko", "coingecko_simple_price_bitcoin_binancecoin_avalanche-2_usd.json", "BNB-USD", "binancecoin/usd",
     lambda d: d["binancecoin"]["usd"], None),
    ("bitstamp", "bitstamp_api_v2_ticker_btcusd_docs_format.json", "BTC-USD", None,
     lambda d: d["last"], lambda d: d["percent_change_24"]),
]


@pytest.mark.shared
@pytest.mark.parametrize("kind,name,symbol,market,expected,change", SHARED_CASES,
                         ids=[f"{c[0]}-{c[2]}-{c[1][:30]}" for c in SHARED_CASES])
async def test_recorded_response_parses_to_the_price_in_the_file(server, shared_fixtures, kind, name, symbol,
                                                                 market, expected, change):
    path = shared_fixtures / "prices" / name
    adapter = ADAPTERS[kind]
    wanted_market = market or adapter.market(symbol)
    route = adapter.path(wanted_market).split("?")[0]
    server.add(route, Route.file(path, content_type=JSON))
    updates, agg, _ = await poll(config_for(server.base, [kind], symbol=symbol,
                                            markets={kind: market} if market else None))
    tick = updates[kind].tick
    assert updates[kind].error is None
    doc = text_of(path)
    assert str(tick.price) == expected(doc)  # every digit as the exchange wrote it
    assert tick.price == Decimal(expected(doc))
    assert tick.symbol == symbol and tick.source == kind
    assert (None if tick.change_24h is None else str(tick.change_24h)) == (change(doc) if change else None)
    assert agg.price == tick.price and agg.used == (kind,)
    # The request asked for the mapped market, at the exchange's documented path.
    assert server.hits[-1].path == adapter.path(wanted_market)


WRONG_SHAPE_CASES = [
    # A real response of another endpoint (or another pair) served where the ticker should be.
    ("binance", "binance_api_v3_ticker_price_BTCUSDT.json", "BTC-USD", "no response.lastPrice"),
    ("binance", "binance_api_v3_ticker_24hr_BNBBTC_docs_example.json", "BTC-USD", "symbol is 'BNBBTC'"),
    ("binance", "binance_api_v3_avgPrice_BTCUSDT.json", "BTC-USD", "no response.symbol"),
    ("kraken", "kraken_rest_0_public_Ticker_XBTUSDT.json", "BTC-USD", "no pair XBTUSD"),
    ("coingecko", "coingecko_coins_bitcoin_asset_data.json", "BTC-USD", "no response.bitcoin"),
    ("coingecko", "coingecko_simple_price_bitcoin_ethereum_eur.json", "BTC-USD", "no bitcoin.usd"),
    ("coingecko", "coingecko_coins_markets_trimmed_2026-08.json", "BTC-USD", "unrecognised response format"),
    ("coinbase", "coinbase_advanced_market_product_BTC-USD.json", "BTC-USD", "no response.data"),
    ("coinbase", "coinbase_v2_prices_BTC-USD_spot_docs_format.json", "ETH-USD", "data.base is 'BTC'"),
    ("bitstamp", "coinbase_v2_prices_BTC-USD_spot_docs_format.json", "BTC-USD", "no response.last"),
    ("kraken", "kraken_ws_v2_ticker_snapshot_BTC-USD.json", "BTC-USD", "no response.error"),
]


@pytest.mark.shared
@pytest.mark.parametrize("kind,name,symbol,problem", WRONG_SHAPE_CASES,
                         ids=[f"{c[0]}-{c[1][:34]}-{c[2]}" for c in WRONG_SHAPE_CASES])
async def test_a_format_we_do_not_recognise_is_the_sources_error_never_a_price(server, shared_fixtures, kind,
                                                                              name, symbol, problem):
    adapter = ADAPTERS[kind]
    server.add(adapter.path(adapter.market(symbol)).split("?")[0],
               Route.file(shared_fixtures / "prices" / name, content_type=JSON))
    updates, agg, _ = await poll(config_for(server.base, [kind], symbol=symbol))
    assert updates[kind].tick is None
    assert problem in updates[kind].error
    assert agg.price is None and agg.state == "none"


# ---------------------------------------------------------------- contract tests, our own samples


async def test_all_five_own_samples_parse_and_aggregate_to_the_hand_computed_median(server, tmp_path):
    serve_own(server)
    store = Store(tmp_path / "pw.db")
    events: list = []
    updates, agg, _ = await poll(config_for(server.base), store, events)
    for kind in KINDS:
        assert str(updates[kind].tick.price) == OWN[kind][1], kind
    assert str(updates["binance"].tick.change_24h) == "0.712"
    assert updates["binance"].tick.exchange_time == datetime(2025, 8, 7, 17, 6, 40, 123000, tzinfo=timezone.utc)
    assert str(updates["coingecko"].tick.change_24h) == "0.6912345678901234"  # Decimal of the JSON text
    assert updates["bitstamp"].tick.exchange_time == datetime.fromtimestamp(1754586400, tz=timezone.utc)
    # kraken 116290.1 < coingecko 116301 < bitstamp 116302 < coinbase 116310.25 < binance 116330.01
    assert agg.price == Decimal("116302")
    assert agg.divergent == () and agg.state == "live" and len(agg.used) == 5
    # median of the 24h changes given: binance 0.712, coingecko 0.6912..., bitstamp 0.71 -> 0.71
    assert agg.change_24h == Decimal("0.71")
    # the ticks are stored, and the sink got every source's update and the aggregate
    stored = store.ticks_since("BTC-USD", datetime.now(timezone.utc) - timedelta(minutes=5))
    assert sorted((t.source, str(t.price)) for t in stored) == sorted((k, OWN[k][1]) for k in KINDS)
    assert {e.source for e in events if isinstance(e, PriceUpdate)} == set(KINDS)
    assert isinstance(events[-1], AggregatePrice) and events[-1].price == Decimal("116302")
    store.close()


FAILURES = {
    "429": (Route(body=b'{"message":"slow down"}', status=429, headers={"Retry-After": "120"}, content_type=JSON),
            "HTTP 429"),
    "500": (Route(body=b"oops", status=500, content_type="text/plain"), "HTTP 500"),
    "invalid-json": (Route(body=b'{"data":{"amount":"116310.25","base":"BT', content_type=JSON), "invalid JSON"),
    "html-page": (Route.file(DATA / "error_page.html", content_type="text/html"), "HTML/XML page instead of JSON"),
    "empty": (Route(body=b"", content_type=JSON), "empty response"),
    "nan": (Route(body=b'{"data":{"amount":"NaN","base":"BTC","currency":"USD"}}', content_type=JSON),
            "not a finite number"),
    "zero": (Route(body=b'{"data":{"amount":"0","base":"BTC","currency":"USD"}}', content_type=JSON),
             "not positive"),
    "number-as-list": (Route(body=b'{"data":{"amount":[1],"base":"BTC","currency":"USD"}}', content_type=JSON),
                       "data.amount is list"),
}


@pytest.mark.parametrize("failure", list(FAILURES))
async def test_a_failing_source_is_its_own_error_and_the_aggregate_comes_from_the_others(server, failure):
    serve_own(server, [k for k in KINDS if k != "coinbase"])
    route, message = FAILURES[failure]
    server.add(PATHS["coinbase"], route)
    updates, agg, engine = await poll(config_for(server.base))
    assert updates["coinbase"].tick is None and message in updates["coinbase"].error
    assert all(updates[k].tick is not None for k in KINDS if k != "coinbase")
    # without coinbase: 116290.1, 116301, 116302, 116330.01 -> (116301 + 116302) / 2
    assert agg.price == Decimal("116301.5")
    assert "coinbase" not in agg.used and len(agg.used) == 4
    assert engine.states["coinbase"].failures == 1


async def test_exchange_error_bodies_become_the_error_text(server):
    server.add(PATHS["kraken"], Route.file(DATA / "kraken_error.json", content_type=JSON))
    server.add(PATHS["binance"], Route(body=b'{"code":-1121,"msg":"Invalid symbol."}', content_type=JSON))
    server.add(PATHS["coingecko"], Route(
        body=b'{"status":{"error_code":429,"error_message":"You\'ve exceeded the Rate Limit.\\u001b[31m"}}',
        content_type=JSON))
    updates, agg, _ = await poll(config_for(server.base, ["kraken", "binance", "coingecko"]))
    assert updates["kraken"].error == "kraken: EQuery:Unknown asset pair"
    assert updates["binance"].error == "binance: Invalid symbol."
    # an escape sequence in an API string never reaches the terminal
    assert updates["coingecko"].error == "coingecko: You've exceeded the Rate Limit. [31m"
    assert agg.price is None


async def test_retry_after_and_exponential_backoff_set_the_next_poll(server):
    server.add(PATHS["coinbase"], Route(body=b"", status=429, headers={"Retry-After": "120"}))
    server.add(PATHS["kraken"], Route(body=b"down", status=503))
    config = config_for(server.base, ["coinbase", "kraken"], interval=10, max_backoff=35)
    async with httpx.AsyncClient(timeout=5) as client:
        engine = PriceEngine(config, client, None, lambda e: None, stream=False)
        delays = {"coinbase": [], "kraken": []}
        for _ in range(3):
            before = datetime.now(timezone.utc)
            await engine.poll_once()
            for kind in delays:
                delays[kind].append((engine.states[kind].next_due - before).total_seconds())
        # Retry-After (120 s) wins over the backoff (20, 35, 35 s)
        assert all(119 <= d <= 121 for d in delays["coinbase"])
        # interval doubled per failure, capped at max_backoff
        assert [round(d) for d in delays["kraken"]] == [20, 35, 35]
        assert engine.states["kraken"].failures == 3
        server.add(PATHS["kraken"], Route.file(DATA / "kraken_ticker.json", content_type=JSON))
        before = datetime.now(timezone.utc)
        await engine.poll_once()
        assert engine.states["kraken"].failures == 0 and engine.states["kraken"].last_error is None
        assert round((engine.states["kraken"].next_due - before).total_seconds()) == 10


async def test_scheduled_polls_never_overlap_a_slow_source(server):
    """The next poll is scheduled after the previous one finished: a source slower than
    the interval is never asked twice at once."""
    server.add(PATHS["coinbase"], Route.file(DATA / "coinbase_spot.json", content_type=JSON, delay=1.2))
    config = config_for(server.base, ["coinbase"], interval=1)
    events: list = []
    async with httpx.AsyncClient(timeout=5) as client:
        engine = PriceEngine(config, client, None, events.append, stream=False)
        await engine.start()
        await asyncio.sleep(4.0)
        await engine.stop()
    hits = server.requests_to(PATHS["coinbase"])
    assert len(hits) >= 2
    assert server.max_active == 1
    gaps = [b.at - a.at for a, b in zip(hits, hits[1:])]
    assert all(gap >= 2.1 for gap in gaps), gaps  # 1.2 s answer + 1 s interval
    assert any(isinstance(e, PriceUpdate) and e.tick is not None for e in events)


# ---------------------------------------------------------------- aggregation, hand-computed


def tick(source: str, price: str, age: float = 0.0, *, change: str | None = None, symbol: str = "BTC-USD"):
    return PriceTick(source=source, symbol=symbol, price=Decimal(price), received=NOW - timedelta(seconds=age),
                     change_24h=None if change is None else Decimal(change))


def test_median_of_three_and_the_divergent_source():
    agg = aggregate("BTC-USD", [tick("a", "100"), tick("b", "101"), tick("c", "102.5")], NOW)
    assert agg.price == Decimal("101")
    # a: 1/101 = 0.990% (not divergent); c: 1.5/101 = 1.485% (divergent)
    assert agg.divergent == ("c",)


def test_median_of_an_even_count_is_the_mean_of_the_middle_two():
    agg = aggregate("BTC-USD", [tick("a", "100"), tick("b", "102")], NOW)
    assert agg.price == Decimal("101") and agg.divergent == ()  # each 0.990% away
    agg = aggregate("BTC-USD", [tick("a", "116290.1"), tick("b", "116301"), tick("c", "116302"),
                                tick("d", "116330.01")], NOW)
    assert agg.price == Decimal("116301.5")


def test_exactly_one_percent_is_not_divergent_and_the_threshold_is_configurable():
    ticks = [tick("a", "99"), tick("b", "100"), tick("c", "101")]
    assert aggregate("BTC-USD", ticks, NOW).divergent == ()
    assert aggregate("BTC-USD", ticks, NOW, divergence=Decimal("0.99")).divergent == ("a", "c")


def test_a_far_outlier_cannot_drag_the_median():
    agg = aggregate("BTC-USD", [tick("a", "116300"), tick("b", "116310"), tick("c", "1.16")], NOW)
    assert agg.price == Decimal("116300") and agg.divergent == ("c",)


def test_stale_ticks_stay_out_of_the_median_and_staleness_is_the_newest_age():
    ticks = [tick("a", "100", 5), tick("b", "102", 12), tick("c", "500", 61)]
    agg = aggregate("BTC-USD", ticks, NOW, max_age=60)
    assert agg.price == Decimal("101") and agg.used == ("a", "b")
    assert agg.staleness == 5.0 and agg.state == "live"
    assert agg.divergent == ()  # c is stale, not divergent
    assert [t.source for t in agg.ticks] == ["a", "b", "c"]  # still shown


@pytest.mark.parametrize("age,state", [(0, "live"), (30, "live"), (30.5, "stale"), (120, "stale"), (121, "dead")])
def test_state_follows_the_age_of_the_newest_tick(age, state):
    agg = aggregate("BTC-USD", [tick("a", "100", age), tick("b", "101", age + 500)], NOW,
                    max_age=60, stale_after=30, dead_after=120)
    assert agg.state == state and agg.staleness == age
    # with nothing fresh the newest ticks are still the price, flagged by the state
    assert agg.price == (Decimal("100") if age <= 60 else Decimal("100.5"))


def test_no_ticks_means_no_price_and_only_the_newest_tick_of_a_source_counts():
    assert aggregate("BTC-USD", [], NOW).price is None
    assert aggregate("BTC-USD", [], NOW).state == "none"
    agg = aggregate("BTC-USD", [tick("a", "90", 3), tick("a", "100", 1), tick("b", "102"),
                                tick("x", "5", symbol="ETH-USD")], NOW)
    assert agg.price == Decimal("101") and agg.used == ("a", "b")


def test_change_24h_is_the_median_of_the_fresh_changes():
    agg = aggregate("BTC-USD", [tick("a", "100", change="0.5"), tick("b", "100", change="0.9"),
                                tick("c", "100"), tick("d", "100", 90, change="-7")], NOW)
    assert agg.change_24h == Decimal("0.7")


@given(st.lists(st.decimals(min_value=Decimal("0.01"), max_value=Decimal("1e7"), places=2), min_size=1, max_size=9))
def test_median_lies_between_the_lowest_and_highest_price(prices):
    ticks = [tick(f"s{i}", str(p)) for i, p in enumerate(prices)]
    agg = aggregate("BTC-USD", ticks, NOW)
    assert min(prices) <= agg.price <= max(prices)
    assert agg.price == statistics.median(prices)
    for t in ticks:
        assert (t.source in agg.divergent) == (abs(t.price - agg.price) * 100 > agg.price)


# ---------------------------------------------------------------- storage and history


def _triangle(seconds: float) -> Decimal:
    """100000 rising 1 USD a second for 90 minutes, then falling: a known shape."""
    rise = 90 * 60
    return Decimal(100000 + (seconds if seconds <= rise else 2 * rise - seconds)).quantize(Decimal("0.01"))


def test_downsampling_keeps_every_recent_tick_and_the_shape_of_older_ones(tmp_path):
    store = Store(tmp_path / "pw.db")
    start = NOW - timedelta(hours=3)
    original = [PriceTick(source=src, symbol="BTC-USD", price=_triangle(s) + offset,
                          received=start + timedelta(seconds=s))
                for s in range(0, 3 * 3600, 5) for src, offset in (("coinbase", 0), ("kraken", 3))]
    store.add_ticks(original)
    store.downsample_ticks(NOW)
    kept = store.ticks_since("BTC-USD", start - timedelta(seconds=1))
    cutoff = NOW - timedelta(hours=1)
    recent_orig = [t for t in original if t.received >= cutoff]
    assert [t for t in kept if t.received >= cutoff] == recent_orig  # last hour: every tick
    old = [t for t in kept if t.received < cutoff]
    for source in ("coinbase", "kraken"):
        series = [t for t in old if t.source == source]
        minutes = [int(t.received.timestamp() // 60) for t in series]
        assert len(minutes) == len(set(minutes)) == 120  # one a minute for the two older hours
        for t in series:  # each kept tick is a real one, not an invention
            assert t in original
        prices = [t.price for t in series]
        peak = prices.index(max(prices))
        # the shape: rising to the peak at 90 min (within one minute), falling after it
        assert abs((series[peak].received - start).total_seconds() - 90 * 60) <= 60
        assert prices[: peak + 1] == sorted(prices[: peak + 1])
        assert prices[peak:] == sorted(prices[peak:], reverse=True)
        assert max(prices) >= max(t.price for t in original if t.source == source) - 60
    store.close()


async def test_start_hands_over_24h_of_history_and_the_last_known_prices(tmp_path, server):
    store = Store(tmp_path / "pw.db")
    now = datetime.now(timezone.utc)
    store.add_ticks([
        PriceTick("coinbase", "BTC-USD", Decimal("100000"), now - timedelta(hours=30)),  # too old for the chart
        PriceTick("coinbase", "BTC-USD", Decimal("110000"), now - timedelta(hours=5)),
        PriceTick("kraken", "BTC-USD", Decimal("111000"), now - timedelta(minutes=10)),
        PriceTick("retired", "BTC-USD", Decimal("1"), now - timedelta(minutes=9)),  # no longer configured
    ])
    server.add(PATHS["coinbase"], Route(body=b"", status=500))
    server.add(PATHS["kraken"], Route(body=b"", status=500))
    events: list = []
    async with httpx.AsyncClient(timeout=5) as client:
        engine = PriceEngine(config_for(server.base, ["coinbase", "kraken"]), client, store, events.append,
                             stream=False)
        await engine.start()
        await engine.stop()
    history = next(e for e in events if isinstance(e, PriceHistory))
    assert [str(t.price) for t in history.ticks] == ["110000", "111000", "1"]
    first_agg = next(e for e in events if isinstance(e, AggregatePrice))
    assert first_agg.price == Decimal("110500") and first_agg.state == "dead"  # honest: old prices
    store.close()


# ---------------------------------------------------------------- config


def test_price_config_defaults_list_all_five_sources():
    prices = load_config(use_user_file=False).prices
    assert [s.kind for s in prices.sources] == list(KINDS)
    assert prices.symbol == "BTC-USD" and prices.stream == "coinbase" and prices.divergence == 1


@pytest.mark.parametrize("text,key,problem", [
    ('[prices]\nsurprise = 1\n', "prices.surprise", "unknown key"),
    ('[prices]\nsymbol = "btcusd"\n', "prices.symbol", "must look like BTC-USD"),
    ('[prices]\nstream = "binance"\n', "prices.stream", "must be one of coinbase, kraken, none"),
    ('[prices]\nstream_url = "https://x"\n', "prices.stream_url", "ws or wss URL"),
    ('[prices]\nstale_after = 60\ndead_after = 30\n', "prices.dead_after", "must not be below stale_after"),
    ('[prices]\ninterval = 0\n', "prices.interval", "must be positive"),
    ('[[prices.sources]]\nkind = "ftx"\n', "prices.sources[0].kind", "must be one of"),
    ('[[prices.sources]]\nkind = "kraken"\n[[prices.sources]]\nkind = "kraken"\n', "prices.sources[1].kind",
     "duplicate"),
    ('[[prices.sources]]\nkind = "kraken"\nurl = "ftp://x"\n', "prices.sources[0].url", "http or https"),
    ('[[prices.sources]]\nkind = "kraken"\nmarket = "XBTUSD&x=1"\n', "prices.sources[0].market", "plain market"),
    ('[[prices.sources]]\nkind = "kraken"\nspeed = 3\n', "prices.sources[0].speed", "unknown key"),
    ('[prices]\nsymbol = "SOL-USD"\n[[prices.sources]]\nkind = "coingecko"\n', "prices.sources[0].kind",
     "cannot quote SOL-USD"),
])
def test_bad_price_config_names_file_key_and_problem(write_config, text, key, problem):
    path = write_config(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.key == key and problem in caught.value.problem
    assert caught.value.file == str(path)


def test_a_coingecko_market_override_quotes_any_coin(write_config):
    path = write_config('[prices]\nsymbol = "SOL-USD"\n[[prices.sources]]\nkind = "coingecko"\nmarket = "solana/usd"\n')
    source = load_config(path).prices.sources[0]
    assert PriceSource(source, "SOL-USD").url.endswith("/api/v3/simple/price?ids=solana&vs_currencies=usd"
                                                       "&include_24hr_change=true")


# ---------------------------------------------------------------- the command


def _user_config(write_config, base: str, kinds=KINDS) -> Path:
    sources = "".join(f'[[prices.sources]]\nkind = "{k}"\nurl = "{base}"\n' for k in kinds)
    return write_config(f'[prices]\nstream = "none"\n{sources}')


def test_price_once_json_gives_the_aggregate_and_each_source_and_stores_the_ticks(server, write_config, tmp_path,
                                                                                  capsys):
    serve_own(server, [k for k in KINDS if k != "kraken"])
    server.add(PATHS["kraken"], Route(body=b"", status=500))
    db = tmp_path / "pw.db"
    code = cli(["price", "--config", str(_user_config(write_config, server.base)), "--db", str(db),
                "--once", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    # without kraken: 116301, 116302, 116310.25, 116330.01 -> (116302 + 116310.25) / 2
    assert out["price"] == "116306.125" and out["symbol"] == "BTC-USD" and out["answered"] == 4
    rows = {r["source"]: r for r in out["sources"]}
    assert rows["kraken"] == {"source": "kraken", "ok": False, "error": "HTTP 500 Internal Server Error"}
    assert rows["coinbase"]["price"] == "116310.25" and rows["coinbase"]["ok"] is True
    assert rows["bitstamp"]["exchange_time"] == "2025-08-07T17:06:40Z"
    with Store(db) as store:
        assert store.latest_tick("BTC-USD") is not None
        assert len(store.ticks_since("BTC-USD", datetime.now(timezone.utc) - timedelta(minutes=5))) == 4


def test_price_once_exits_1_when_no_source_answered(server, write_config, tmp_path, capsys):
    for kind in KINDS:
        server.add(PATHS[kind], Route(body=b"", status=503, headers={"Retry-After": "30"}))
    code = cli(["price", "--config", str(_user_config(write_config, server.base)), "--db", str(tmp_path / "pw.db"),
                "--once", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1
    assert out["price"] is None and out["answered"] == 0
    assert all(r["error"] == "HTTP 503 Service Unavailable" for r in out["sources"])


def test_price_once_table_shows_every_digit_and_the_errors(server, write_config, tmp_path, capsys):
    serve_own(server, ["coinbase", "bitstamp"])
    server.add(PATHS["binance"], Route(body=b'{"symbol":"BTCUSDT","lastPrice":"130000.5"}', content_type=JSON))
    server.add(PATHS["kraken"], Route.file(DATA / "error_page.html", content_type="text/html"))
    code = cli(["price", "--config", str(_user_config(write_config, server.base,
                                                         ["coinbase", "kraken", "binance", "bitstamp"])),
                "--db", str(tmp_path / "pw.db"), "--once"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.splitlines()[0].startswith("BTC-USD 116,310.25")  # median of 116302, 116310.25, 130000.5
    assert "divergent (more than 1% from the median): binance" in out
    assert "130,000.5" in out and "DIVERGENT" in out
    assert "kraken" in out and "error: an HTML/XML page instead of JSON (text/html)" in out


def test_price_bad_config_is_one_line_and_exit_2(write_config, capsys):
    path = write_config('[prices]\nstream = "carrier pigeon"\n')
    with pytest.raises(SystemExit) as caught:
        cli(["price", "--config", str(path), "--once"])
    assert caught.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "prices.stream" in err


def test_price_symbol_option_quotes_eth(server, write_config, tmp_path, capsys):
    server.add("/v2/prices/ETH-USD/spot", Route(body=b'{"data":{"amount":"3851.12","base":"ETH","currency":"USD"}}',
                                                content_type=JSON))
    code = cli(["price", "--config", str(_user_config(write_config, server.base, ["coinbase"])),
                "--db", str(tmp_path / "pw.db"), "--once", "--json", "--symbol", "ETH-USD"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["symbol"] == "ETH-USD" and out["price"] == "3851.12"
    with Store(tmp_path / "pw.db") as store:
        assert store.latest_tick("ETH-USD").price == Decimal("3851.12")


def test_sink_errors_are_logged_and_polling_goes_on(server, caplog):
    serve_own(server, ["bitstamp"])

    def broken(event):
        raise RuntimeError("sink bug")

    async def go():
        async with httpx.AsyncClient(timeout=5) as client:
            engine = PriceEngine(config_for(server.base, ["bitstamp"]), client, None, broken, stream=False)
            return await engine.poll_once()

    with caplog.at_level(logging.ERROR, logger="policywatch.prices"):
        updates, agg = asyncio.run(go())
    assert agg.price == Decimal("116302")
    assert "sink failed" in caplog.text
