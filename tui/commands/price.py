"""`policywatch price [--once] [--json] [--symbol BTC-USD]`: the aggregated price.

--once polls every configured source once, stores the ticks (so `policywatch scenario`
can use the latest price) and prints the aggregate and each source's price or error.
Without --once it follows the prices (REST polling and the websocket stream) and prints
a line per update until interrupted.

Exit 0 if at least one source answered, 1 if none did, 2 for bad config or usage."""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import replace
from decimal import Decimal
from typing import Any

from tui.commands.common import config_from, db_path, fail, print_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--once", action="store_true", help="poll every source once and exit")
    parser.add_argument("--json", action="store_true",
                        help="one JSON object (with --once), else one JSON line per update")
    parser.add_argument("--symbol", metavar="BASE-QUOTE", help="e.g. ETH-USD (default from config: BTC-USD)")


def run(args: argparse.Namespace) -> int:
    from feeds.markets import SymbolError, market_for, split_symbol
    from feeds.store import Store, StoreError

    config = config_from(args)
    prices = config.prices
    if args.symbol:
        try:
            split_symbol(args.symbol)
            for source in prices.sources:
                if source.market is None:
                    market_for(source.kind, args.symbol)
        except SymbolError as exc:
            fail(f"--symbol: {exc}")
        # A market override names one symbol's market; it does not carry over to another symbol.
        prices = replace(prices, symbol=args.symbol,
                         sources=tuple(replace(s, market=None) for s in prices.sources))
    if not prices.sources:
        fail("no price sources configured ([[prices.sources]])")
    try:
        store = Store(db_path(args, config))
    except StoreError as exc:
        fail(str(exc))
    try:
        if args.once:
            return _once(config, prices, store, args.json)
        return _follow(config, prices, store, args.json)
    finally:
        store.close()


def _once(config, prices, store, as_json: bool) -> int:
    from feeds.fetch import Fetcher
    from feeds.prices import PriceEngine

    async def poll():
        async with Fetcher(config.fetch) as fetcher:
            engine = PriceEngine(prices, fetcher.client, store, lambda event: None, stream=False)
            return await engine.poll_once()

    updates, agg = asyncio.run(poll())
    answered = sum(1 for u in updates if u.tick is not None)
    divergent = set(agg.divergent)
    rows: list[dict[str, Any]] = []
    for update in updates:
        if update.tick is not None:
            rows.append({**update.tick.to_json(), "ok": True, "divergent": update.source in divergent})
        else:
            rows.append({"source": update.source, "ok": False, "error": update.error})
    if as_json:
        print_json({**agg.to_json(), "answered": answered, "sources": rows})
    else:
        _table(agg, rows, prices.divergence)
    sys.stdout.flush()
    return 0 if answered else 1


def _number(value: str | None) -> str:
    """A Decimal's text with thousands separators and every digit the source gave."""
    return "-" if value is None else format(Decimal(value), ",")


def _table(agg, rows: list[dict[str, Any]], divergence: float) -> None:
    if agg.price is None:
        print(f"{agg.symbol}: no price (no source answered)")
    else:
        change = "" if agg.change_24h is None else f"  24h {agg.change_24h:+.2f}%"
        print(f"{agg.symbol} {_number(str(agg.price))}{change}  "
              f"(median of {len(agg.used)} source{'s' * (len(agg.used) != 1)}; {agg.state})")
        if agg.divergent:
            print(f"divergent (more than {divergence:g}% from the median): {', '.join(agg.divergent)}")
    width = max(len(r["source"]) for r in rows)
    for r in rows:
        if not r["ok"]:
            print(f"  {r['source']:<{width}}  error: {r['error']}")
            continue
        change = "" if r["change_24h"] is None else f"  {Decimal(r['change_24h']):+.2f}%"
        flag = "  DIVERGENT" if r["divergent"] else ""
        when = f"  at {r['exchange_time']}" if r["exchange_time"] else ""
        print(f"  {r['source']:<{width}}  {_number(r['price']):>16}{change}{when}{flag}")


def _follow(config, prices, store, as_json: bool) -> int:
    from feeds.fetch import Fetcher
    from feeds.model import AggregatePrice, PriceStreamStatus, PriceUpdate
    from feeds.prices import PriceEngine

    def show(event) -> None:
        if as_json:
            if isinstance(event, AggregatePrice):
                print_json({"event": "aggregate", **event.to_json()})
            elif isinstance(event, PriceUpdate):
                print_json({"event": "source", "source": event.source, "error": event.error,
                            **({} if event.tick is None else event.tick.to_json())})
            elif isinstance(event, PriceStreamStatus):
                print_json({"event": "stream", "source": event.source, "connected": event.connected,
                            "error": event.error})
        elif isinstance(event, AggregatePrice) and event.price is not None:
            print(f"{event.symbol} {_number(str(event.price))}  {event.state}  "
                  f"[{', '.join(event.used)}]" + (f"  divergent: {', '.join(event.divergent)}" if event.divergent else ""))
        elif isinstance(event, PriceUpdate) and event.error:
            print(f"policywatch: {event.source}: {event.error}", file=sys.stderr)
        sys.stdout.flush()

    async def follow():
        async with Fetcher(config.fetch) as fetcher:
            engine = PriceEngine(prices, fetcher.client, store, show)
            await engine.start()
            try:
                await asyncio.Event().wait()
            finally:
                await engine.stop()

    asyncio.run(follow())
    return 0
