"""`policywatch` with no subcommand: the Textual monitor (Textual is imported only here).

--demo runs it offline: feeds.demo serves recorded feeds and a recorded price path from a
loopback server, and the engine reads them through the real pipeline into a temp database."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from tui.commands.common import config_from, db_path, fail


def _log_to_file(level: str, path: Path | None) -> None:
    """The terminal belongs to the app: logs go to a rotating file in the state dir,
    through feeds.logs (which keeps untrusted text inert)."""
    try:
        from feeds.logs import configure
    except ImportError:  # before feeds.logs existed
        target = path or Path("policywatch.log")
        target.parent.mkdir(parents=True, exist_ok=True)
        logging.basicConfig(filename=str(target), level=getattr(logging, level, logging.WARNING))
        return
    configure(level, stderr=False, file=path if path is not None else True)


class Monitor:
    """The feed engine plus the price engine, started and stopped together, sharing the
    store, the HTTP client and the scheduler. (Glue only: if feeds.engine.Engine starts
    prices itself one day, this steps aside.)"""

    def __init__(self, config, database, sink) -> None:
        from feeds.engine import Engine

        self.config = config
        self.sink = sink
        self.engine = Engine(config, database, sink)
        self.prices = None

    async def start(self) -> None:
        await self.engine.start()
        prices = self.config.prices
        if getattr(self.engine, "price_engine", None) is None and (prices.sources or prices.stream != "none"):
            from feeds.prices import PriceEngine

            fetcher = self.engine._ensure_fetcher()
            self.prices = PriceEngine(prices, fetcher.client, self.engine.open(), self.sink,
                                      scheduler=self.engine.scheduler)
            await self.prices.start()

    async def stop(self) -> None:
        if self.prices is not None:
            await self.prices.stop()
        await self.engine.stop()

    def __getattr__(self, name: str):
        return getattr(self.engine, name)


def engine_factory(config, database):
    def make(sink):
        return Monitor(config, database, sink)

    return make


def run(args: argparse.Namespace) -> int:
    from feeds import paths
    from feeds.config import ConfigError

    config = config_from(args)
    level = getattr(args, "log_level", "WARNING") or "WARNING"
    demo = None
    if getattr(args, "demo", False):
        from feeds.demo import Demo

        from feeds.store import Store

        demo = Demo.start()
        config = demo.config(config)
        database = demo.db_path
        store = Store(database)
        try:
            demo.seed_prices(store, config.prices.symbol)
        finally:
            store.close()
        badge = "DEMO"
    else:
        database = db_path(args, config)
        badge = ""
    _log_to_file(level, paths.state_dir() / "demo.log" if demo else None)

    from tui.app import PolicyWatchApp, check_ui  # textual only on this path

    app = PolicyWatchApp(config, database, engine_factory=engine_factory(config, database), badge=badge)
    try:
        check_ui(config, app.available_themes)
    except ConfigError as exc:
        if demo is not None:
            demo.stop()
        fail(f"config error: {exc}")
    try:
        result = app.run()
    finally:
        if demo is not None:
            demo.stop()
    return int(result or 0)
