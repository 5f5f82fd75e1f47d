"""`policywatch` with no subcommand: the Textual monitor (Textual is imported only here).

--demo runs it offline: feeds.demo serves recorded feeds and a recorded price path from a
loopback server, and the engine reads them through the real pipeline into a temp database."""

from __future__ import annotations

import argparse
import gc
from pathlib import Path

from tui.commands.common import config_from, db_path, fail


def _log_to_file(level: str, path: Path | None) -> None:
    """The terminal belongs to the app: logs go to a rotating file in the state dir,
    through feeds.logs (which keeps untrusted text inert)."""
    from feeds.logs import configure

    configure(level, stderr=False, file=path if path is not None else True)


def engine_factory(config, database):
    """Engine(config, db, sink): feeds and prices, on the app's own loop."""

    def make(sink):
        from feeds.engine import Engine

        return Engine(config, database, sink)

    return make


FIRST_PAGE = 200  # feeds.engine.INITIAL_ITEMS: the page the engine hands over (tests hold them equal)


def stored_page(database):
    """The newest stored headlines, read before the engine is built: the first screen shows
    them at once instead of waiting ~0.2 s for the engine (rules compile, HTTP client,
    scheduler), which then hands over the same page (bench/startup.py)."""

    def read():
        from feeds.store import Store

        with Store(database) as store:
            return store.recent(FIRST_PAGE)

    return read


def run(args: argparse.Namespace) -> int:
    from feeds import paths
    from feeds.config import ConfigError

    config = config_from(args)
    from textual.theme import BUILTIN_THEMES

    from tui.app import PolicyWatchApp, check_ui  # textual only on this path
    from tui.collector import IdleCollector

    try:
        check_ui(config, BUILTIN_THEMES)
    except ConfigError as exc:
        fail(f"config error: {exc}")
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

    collector = IdleCollector()

    def start_gc() -> None:  # tui.cli paused the GC for the start-up
        collector.install()
        gc.enable()

    # The demo's feeds replace the user's: reloading the user's file would swap them back.
    app = PolicyWatchApp(config, database, engine_factory=engine_factory(config, database), badge=badge,
                         reload_config=demo is None, stored_page=stored_page(database),
                         on_first_frame=start_gc, on_engine_started=collector.freeze, collector=collector)
    try:
        result = app.run()
    finally:
        collector.uninstall()
        if demo is not None:
            demo.stop()
    return int(result or 0)
