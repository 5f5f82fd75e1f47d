"""`policywatch` with no subcommand: the Textual monitor (Textual is imported only here).

--demo runs it offline: feeds.demo serves recorded feeds and a recorded price path from a
loopback server, and the engine reads them through the real pipeline into a temp database."""

from __future__ import annotations

import argparse
import gc
import threading
from pathlib import Path
from typing import Any

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
    scheduler), which then hands over the same page (bench/startup.py). The read starts
    in a thread now, while Textual is imported: opening the store and its query (~10 ms)
    mostly run in SQLite, which lets go of the GIL. Returns what waits for the page."""
    from feeds.store import Store  # imported here, not in the thread: no two threads importing at once

    result: dict[str, Any] = {}

    def read() -> None:
        if not Path(database).exists():  # nothing stored yet; the engine creates the file
            result["page"] = []
            return
        try:
            with Store(database) as store:
                result["page"] = store.recent(FIRST_PAGE)
        except BaseException as exc:  # handed to the caller of page()
            result["error"] = exc

    thread = threading.Thread(target=read, name="first-page", daemon=True)
    thread.start()

    def page() -> list:
        thread.join()
        if "error" in result:
            raise result["error"]
        return result["page"]

    return page


def run(args: argparse.Namespace) -> int:
    from feeds import paths
    from feeds.config import ConfigError

    config = config_from(args)
    demo_run = getattr(args, "demo", False)
    first_page = None if demo_run else stored_page(db_path(args, config))  # reads while Textual is imported
    from textual.theme import BUILTIN_THEMES

    from tui.app import PolicyWatchApp, check_ui  # textual only on this path
    from tui.collector import IdleCollector

    try:
        check_ui(config, BUILTIN_THEMES)
    except ConfigError as exc:
        fail(f"config error: {exc}")
    level = getattr(args, "log_level", "WARNING") or "WARNING"
    demo = None
    if demo_run:
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
        first_page = stored_page(database)
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
                         reload_config=demo is None, stored_page=first_page,
                         on_first_frame=start_gc, on_engine_started=collector.freeze, collector=collector)
    try:
        result = app.run()
    finally:
        collector.uninstall()
        if demo is not None:
            demo.stop()
    return int(result or 0)
