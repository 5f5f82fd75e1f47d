"""What each exchange calls a symbol: BTC-USD is XBTUSD at Kraken, BTCUSDT at Binance,
bitcoin/usd at CoinGecko, btcusd at Bitstamp, BTC/USD on Kraken's websocket.

Pure and import-light, so loading the config (which checks that every source can quote
the symbol) does not pull in the network stack."""

from __future__ import annotations

import re

_SYMBOL = re.compile(r"([A-Z0-9]{2,10})-([A-Z]{3,5})\Z")

# CoinGecko names coins by id, not ticker. Other coins work with `market = "<id>/<vs>"`.
COINGECKO_IDS = {"BTC": "bitcoin", "ETH": "ethereum"}
# Kraken's REST names bitcoin XBT; old pairs answer as X<base>Z<quote> (XXBTZUSD).
KRAKEN_NAMES = {"BTC": "XBT"}
KRAKEN_FIAT = frozenset({"USD", "EUR", "GBP", "JPY", "CAD", "CHF", "AUD"})
_KRAKEN_QUOTES = sorted(KRAKEN_FIAT | {"USDT", "USDC", "XBT", "ETH"}, key=lambda q: (-len(q), q))

REST_KINDS = ("coinbase", "kraken", "binance", "coingecko", "bitstamp")
STREAM_KINDS = ("coinbase", "kraken")


class SymbolError(ValueError):
    """A symbol that a source cannot map to its own market name."""


def split_symbol(symbol: str) -> tuple[str, str]:
    """"BTC-USD" -> ("BTC", "USD")."""
    m = _SYMBOL.match(symbol)
    if not m:
        raise SymbolError(f"{symbol!r} is not a symbol like BTC-USD")
    return m.group(1), m.group(2)


def market_for(kind: str, symbol: str) -> str:
    """The REST market name of `symbol` at exchange `kind`."""
    base, quote = split_symbol(symbol)
    if kind == "coinbase":
        return symbol
    if kind == "kraken":
        return KRAKEN_NAMES.get(base, base) + quote
    if kind == "binance":  # no USD book at Binance: the USDT pair stands in, as the design says
        return base + ("USDT" if quote == "USD" else quote)
    if kind == "coingecko":
        if base not in COINGECKO_IDS:
            raise SymbolError(f"coingecko has no known id for {base} (set market = \"<id>/{quote.lower()}\")")
        return f"{COINGECKO_IDS[base]}/{quote.lower()}"
    if kind == "bitstamp":
        return (base + quote).lower()
    raise SymbolError(f"unknown price source {kind!r}")


def stream_market_for(kind: str, symbol: str) -> str:
    """The websocket product name: BTC-USD at Coinbase Exchange, BTC/USD at Kraken v2."""
    base, quote = split_symbol(symbol)
    if kind == "coinbase":
        return symbol
    if kind == "kraken":
        return f"{base}/{quote}"
    raise SymbolError(f"no websocket stream for {kind!r}")


def kraken_names(market: str) -> set[str]:
    """The keys Kraken's REST Ticker may answer a pair under: as asked, the legacy
    X<base>Z<quote> form (XXBTZUSD), and the BASE/QUOTE form of assetVersion=1 (BTC/USD)."""
    names = {market}
    for quote in _KRAKEN_QUOTES:
        if market.endswith(quote) and len(market) > len(quote):
            base = market[: -len(quote)]
            plain = {v: k for k, v in KRAKEN_NAMES.items()}.get(base, base)
            names.update({f"{base}/{quote}", f"{plain}/{quote}"})
            if quote in KRAKEN_FIAT and len(base) == 3:
                names.add(f"X{base}Z{quote}")
            break
    return names
