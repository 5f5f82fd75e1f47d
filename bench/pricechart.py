"""Price chart after a day on a stream: the CPU cost of one price tick in the price pane
holding 24 h of a price streamed ten times a second (864,000 ticks handed over as its
history), against the same pane with no history, in the same process. Target: at most 2x
(the chart is a few dozen columns whatever the history: a tick must not cost by its length).

The real PricePane in a headless Textual app (App.run_test): each tick is `show()` of a new
aggregate price, then a full repaint of the pane, timed by CPU time of this process.

    /work/venv/bin/python bench/pricechart.py [--ticks 200]"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TARGET = 2.0
NOW = datetime(2026, 12, 5, 12, 0, tzinfo=timezone.utc)


def aggregate(price: float, at: datetime):
    from feeds.model import AggregatePrice, PriceTick

    tick = PriceTick("coinbase", "BTC-USD", Decimal(f"{price:.2f}"), at)
    return AggregatePrice(symbol="BTC-USD", price=tick.price, at=at, ticks=(tick,), used=("coinbase",),
                          divergent=(), change_24h=None, newest=at, state="live")


async def tick_cost(history_ticks: int, ticks: int) -> float:
    """Median CPU seconds per tick (show + repaint) with `history_ticks` handed over first."""
    from textual.app import App

    from feeds.model import PriceHistory, PriceTick
    from tui.panes.price import PricePane

    clock = [NOW]

    class One(App):
        def compose(self):
            yield PricePane(id="price", ticking=False, clock=lambda: clock[0])

    start = NOW - timedelta(hours=24)
    history = tuple(PriceTick("coinbase", "BTC-USD", Decimal(f"{97_000 + 800 * math.sin(n / 5000):.2f}"),
                              start + timedelta(seconds=n / 10)) for n in range(history_ticks))
    app = One()
    costs = []
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(PricePane)
        if history:
            pane.history(PriceHistory("BTC-USD", history))
        await pilot.pause()
        for n in range(ticks):
            at = NOW + timedelta(seconds=n / 10)
            clock[0] = at
            began = time.process_time()
            pane.show(aggregate(97_000 + (n % 50), at))
            pane.refresh()
            await pilot.pause()
            costs.append(time.process_time() - began)
    return statistics.median(costs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ticks", type=int, default=200)
    args = ap.parse_args()
    empty = asyncio.run(tick_cost(0, args.ticks))
    day = asyncio.run(tick_cost(24 * 3600 * 10, args.ticks))
    ratio = day / empty
    print(f"price tick, show + repaint: {day * 1000:.2f} ms with a day of streamed history (864,000 ticks), "
          f"{empty * 1000:.2f} ms with none -> ratio {ratio:.2f}x (target <= {TARGET:.0f}x)")
    print(f"RESULT pricechart_day_/_empty value={ratio:.3f} target={TARGET}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
