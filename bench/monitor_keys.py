"""Keypress cost in the monitor: how long the app takes to handle a key (and repaint)
over a generated 50,000-item database, with and without a price tick stream, against a
bare Textual app moving the cursor of a 200-row DataTable, same process, same run.

Each figure is the median of the per-key times of `--keys` presses driven by Textual's
pilot, which waits until the app has processed the key and the screen has settled (so the
absolute times include the pilot's own settling wait; the ratio is the figure). Targets: a key
in the monitor costs at most 2x the bare DataTable, and a scenario key (which recomputes
every output in Decimal) at most 3x.

    /work/venv/bin/python bench/monitor_keys.py [--items 50000] [--keys 300]"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.gendb import cached_db  # noqa: E402
from feeds.config import load_config  # noqa: E402
from feeds.model import AggregatePrice, PriceTick  # noqa: E402

SIZE = (140, 40)


async def time_keys(app, keys: list[str], before=None, during=None) -> list[float]:
    times: list[float] = []
    async with app.run_test(size=SIZE) as pilot:
        if before is not None:
            await before(app, pilot)
        await pilot.pause()
        for n, key in enumerate(keys):
            if during is not None:
                during(app, n)
            start = time.perf_counter()
            await pilot.press(key)
            times.append(time.perf_counter() - start)
    return times


def bare_app():
    from textual.app import App
    from textual.widgets import DataTable

    class Bare(App):
        def compose(self):
            yield DataTable()

        def on_mount(self):
            table = self.query_one(DataTable)
            table.add_columns("time", "title", "source")
            for n in range(200):
                table.add_row(f"12:{n % 60:02d}", f"Headline number {n} about markets and policy", "Feed")
            table.focus()

    return Bare()


def monitor_app(db: Path):
    from tui.app import PolicyWatchApp
    from tui.commands.app import engine_factory

    base = load_config(use_user_file=False)
    # No network: no feeds, no price sources; only the stored history.
    from dataclasses import replace

    config = replace(base, feeds=(), prices=replace(base.prices, sources=(), stream="none"))
    return PolicyWatchApp(config, db, engine_factory=engine_factory(config, db))


async def wait_loaded(app, pilot) -> None:
    headlines = app.query_one("#headlines")
    while not headlines.items:
        await pilot.pause(0.05)


def ticks(app, n: int) -> None:
    """Twenty aggregate prices per key: a stream much busier than any exchange."""
    now = datetime.now(timezone.utc)
    for k in range(20):
        price = Decimal(116000 + (n * 20 + k) % 500)
        app.sink(AggregatePrice("BTC-USD", price, now, ticks=(PriceTick("coinbase", "BTC-USD", price, now),),
                                used=("coinbase",), newest=now, state="live"))


async def main_async(items: int, keys: int) -> int:
    db = cached_db(items)
    down = ["down"] * keys
    bare = statistics.median(await time_keys(bare_app(), down))
    monitor = statistics.median(await time_keys(monitor_app(db), ["j"] * keys, before=wait_loaded))
    streaming = statistics.median(await time_keys(monitor_app(db), ["j"] * keys, before=wait_loaded, during=ticks))

    async def to_scenario(app, pilot):
        await wait_loaded(app, pilot)
        app.sink(AggregatePrice("BTC-USD", Decimal("116300"), datetime.now(timezone.utc),
                                newest=datetime.now(timezone.utc), used=("coinbase",), state="live"))
        await pilot.pause()
        app.switch_pane("scenario")

    scenario = statistics.median(await time_keys(monitor_app(db), ["plus", "minus"] * (keys // 2), before=to_scenario))
    print(f"items in the database: {items:,}; {keys} keys each, median per key")
    print(f"  bare Textual DataTable, cursor down   {bare * 1000:7.2f} ms  (baseline)")
    print(f"  monitor headlines, j                  {monitor * 1000:7.2f} ms  {monitor / bare:5.2f}x  (target <= 2x)")
    print(f"  monitor headlines, j, 20 ticks a key  {streaming * 1000:7.2f} ms  {streaming / bare:5.2f}x")
    print(f"  monitor scenario, +/- (recompute)     {scenario * 1000:7.2f} ms  {scenario / bare:5.2f}x  (target <= 3x)")
    return 0 if monitor / bare <= 2 and scenario / bare <= 3 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--keys", type=int, default=300)
    args = parser.parse_args()
    return asyncio.run(main_async(args.items, args.keys))


if __name__ == "__main__":
    raise SystemExit(main())
