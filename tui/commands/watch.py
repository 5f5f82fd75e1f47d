"""`policywatch watch`: headless monitoring for servers, cron and pipes.

Runs the engine with its scheduler until SIGTERM or SIGINT and prints each new flagged
item (every new item with --all) as one JSON line, flushed at once. A line is printed only
after the store committed the item, so whatever a reader saw survives a crash. Per-feed
errors and config reloads go to stderr, one line each; stdout stays clean JSONL."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from typing import Any

from tui.commands.common import config_from, db_path, fail
from tui.commands.since import HELP as SINCE_HELP, parse_since


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--all", action="store_true", help="print every new item, not only flagged ones")
    parser.add_argument("--since", type=parse_since, metavar="WHEN",
                        help="first replay the stored items first seen since WHEN: " + SINCE_HELP)
    parser.add_argument("--no-reload", action="store_true",
                        help="ignore edits to the config file (by default they apply while running)")


def item_json(item) -> dict[str, Any]:
    """The fetch JSONL fields plus what a history consumer needs: the stored id, when it
    was first seen and every feed that carried it."""
    from feeds.model import iso_utc

    out = item.to_json()
    out["id"] = item.id
    out["first_seen"] = iso_utc(item.first_seen)
    out["sources"] = list(item.sources) or [item.feed]
    return out


class Printer:
    """The engine's sink: JSONL of the chosen items on stdout, trouble on stderr."""

    def __init__(self, every_item: bool, stop: asyncio.Event) -> None:
        self.every_item = every_item
        self.stop = stop
        self.live = False  # set once start-up is over: earlier FeedStatus events are stored state
        self.printed = 0
        self._reported: dict[str, Any] = {}

    def wanted(self, item) -> bool:
        return self.every_item or (item.classification is not None and item.classification.flag)

    def item(self, item) -> None:
        if not self.wanted(item):
            return
        line = json_line(item_json(item))
        try:
            sys.stdout.write(line)
            sys.stdout.flush()
        except (BrokenPipeError, ValueError):  # the reader went away (`watch | head -1`)
            _silence_stdout()
            self.stop.set()
            return
        self.printed += 1

    def __call__(self, event) -> None:
        from feeds.model import ConfigReloaded, FeedStatus, NewItems
        from feeds.parse import clean_text

        if isinstance(event, NewItems):
            if not event.initial:
                for item in event.items:
                    self.item(item)
        elif isinstance(event, FeedStatus) and self.live:
            state = event.state
            if state.failures and self._reported.get(state.feed) != state.last_error_at:
                self._reported[state.feed] = state.last_error_at
                say(f"feed {clean_text(state.feed)!r} failed: {clean_text(state.last_error or '')}")
            elif not state.failures and self._reported.pop(state.feed, None) is not None:
                say(f"feed {clean_text(state.feed)!r} is answering again")
        elif isinstance(event, ConfigReloaded):
            if event.error:
                say(f"config error, keeping the running config: {event.error}")
            else:
                say(f"config reloaded: {'; '.join(event.changes) or 'nothing the monitor uses changed'}"
                    + (f" (restart to apply: {', '.join(event.restart_needed)})" if event.restart_needed else ""))


def json_line(obj: dict[str, Any]) -> str:
    import json

    return json.dumps(obj, ensure_ascii=True, separators=(", ", ": ")) + "\n"


def say(message: str) -> None:
    print(f"policywatch: {message}", file=sys.stderr, flush=True)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot raise again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


async def _watch(args: argparse.Namespace, config) -> int:
    from feeds.engine import Engine
    from feeds.reload import ConfigWatcher

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    printer = Printer(args.all, stop)
    engine = Engine(config, db_path(args, config), printer)
    watcher = None
    try:
        store = engine.open()
        if args.since is not None:
            for item in store.items_since(args.since, flagged_only=not args.all):
                printer.item(item)
                if stop.is_set():
                    break
        if not stop.is_set():
            await engine.start()
            printer.live = True
            if not args.no_reload:
                watcher = ConfigWatcher(engine).start()
            await stop.wait()
    finally:
        if watcher is not None:
            await watcher.stop()
        await _cancel_polls()
        await engine.stop()
    return 0


async def _cancel_polls() -> None:
    """Stop polls in flight before the store closes under them (hooks get their grace
    period from Engine.stop)."""
    current = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not current and not t.get_name().startswith("hook:")]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def run(args: argparse.Namespace) -> int:
    from feeds.store import StoreError

    config = config_from(args)
    if not config.feeds:
        fail("no feeds configured")
    try:
        return asyncio.run(_watch(args, config))
    except StoreError as exc:
        fail(str(exc))
