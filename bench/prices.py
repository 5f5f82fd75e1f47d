"""Price path costs, each as a ratio to a baseline measured in this run:

- strict adapter parsing (Decimal of the JSON text, every field checked) vs a bare
  json.loads of the same response;
- one websocket ticker message (decode, check, PriceTick) vs a bare json.loads;
- the aggregate of five sources vs statistics.median of the five prices alone;
- a flood of stream ticks through the PriceEngine: sink events per tick (the throttle,
  whose target is at most ui_rate = 10 a second) and ticks stored (all of them).

    /work/venv/bin/python bench/prices.py [--seconds 1.0]"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from feeds.config import PriceSourceConfig, PricesConfig  # noqa: E402
from feeds.model import PriceTick, PriceUpdate  # noqa: E402
from feeds.prices import ADAPTERS, PriceEngine, aggregate  # noqa: E402
from feeds.store import Store  # noqa: E402
from feeds.stream import PriceStream  # noqa: E402

DATA = REPO / "tests" / "data" / "prices"
SHARED = REPO.parent / "shared" / "fixtures" / "prices"
CASES = [
    ("coinbase", DATA / "coinbase_spot.json", "BTC-USD"),
    ("kraken", DATA / "kraken_ticker.json", "XBTUSD"),
    ("binance", DATA / "binance_24hr.json", "BTCUSDT"),
    ("coingecko", DATA / "coingecko_simple.json", "bitcoin/usd"),
    ("bitstamp", DATA / "bitstamp_ticker.json", "btcusd"),
    ("kraken", SHARED / "kraken_rest_0_public_Ticker_all_pairs_assetVersion1.json", "XBTUSD"),
]


def per_call(fn, seconds: float) -> float:
    """Seconds per call, timing batches for about `seconds`."""
    n, batch, start = 0, 1, time.perf_counter()
    while True:
        for _ in range(batch):
            fn()
        n += batch
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return elapsed / n
        batch *= 2


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    args = parser.parse_args()
    s = args.seconds

    print("REST adapters: strict parse vs bare json.loads of the same body")
    for kind, path, market in CASES:
        if not path.is_file():
            print(f"  {kind:10} {path.name}: skipped (not found)")
            continue
        body = path.read_bytes()
        adapter = ADAPTERS[kind]
        base = per_call(lambda: json.loads(body), s)
        ours = per_call(lambda: adapter.parse(body, market, "application/json"), s)
        print(f"  {kind:10} {len(body):>7} B  {ours * 1e6:9.1f} us  baseline {base * 1e6:9.1f} us  "
              f"ratio {ours / base:5.2f}")

    print("websocket: one Coinbase ticker message vs bare json.loads")
    line = (DATA / "coinbase_ws.jsonl").read_text(encoding="utf-8").splitlines()[2]
    stream = PriceStream("coinbase", "BTC-USD", lambda t: None)
    base = per_call(lambda: json.loads(line), s)
    ours = per_call(lambda: stream._read(line), s)
    print(f"  {ours * 1e6:.1f} us vs {base * 1e6:.1f} us  ratio {ours / base:.2f}  "
          f"(= {1 / ours:,.0f} messages/s on one core)")

    print("aggregate of 5 sources vs statistics.median of the 5 prices")
    now = datetime.now(timezone.utc)
    ticks = [PriceTick(k, "BTC-USD", Decimal(p), now - timedelta(seconds=i))
             for i, (k, p) in enumerate(zip(ADAPTERS, ["116310.25", "116290.1", "116330.01", "116301", "116302"]))]
    prices = [t.price for t in ticks]
    base = per_call(lambda: statistics.median(prices), s)
    ours = per_call(lambda: aggregate("BTC-USD", ticks, now), s)
    print(f"  {ours * 1e6:.1f} us vs {base * 1e6:.1f} us  ratio {ours / base:.2f}")

    print("throttle: stream ticks, about 1000/s for 2 s, into the engine, events handed to the sink")
    print(f"  {asyncio.run(_burst()):s}")


async def _burst() -> str:
    events: list = []
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.db")
        config = PricesConfig(symbol="BTC-USD", stream="none", sources=(PriceSourceConfig(kind="coinbase"),))
        async with httpx.AsyncClient() as client:  # unused: no REST poll here
            engine = PriceEngine(config, client, store, events.append, stream=False)
        n = 0
        start = time.perf_counter()
        while time.perf_counter() - start < 2.0:
            for _ in range(10):
                n += 1
                engine._stream_tick(PriceTick("coinbase", "BTC-USD", Decimal(116000) + n, datetime.now(timezone.utc)))
            await asyncio.sleep(0.01)
        engine.flush()
        stored = len(store.ticks_since("BTC-USD", datetime.now(timezone.utc) - timedelta(minutes=1)))
        store.close()
    updates = sum(isinstance(e, PriceUpdate) for e in events)
    return (f"{n} ticks -> {updates} sink updates ({updates / n:.3f} per tick, {updates / 2:.1f}/s), "
            f"{stored} ticks stored")


if __name__ == "__main__":
    main()
