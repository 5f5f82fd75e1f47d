"""`policywatch fetch --once [--jsonl]`: poll every feed once and print the items.

Exit 0 if at least one feed succeeded, 1 if all failed, 2 for bad config or usage."""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys

from tui.commands.common import config_from, db_path, fail, print_json

# No screen to keep responsive here: feeds up to ~120 items are parsed in place, so a
# reload of many ordinary feeds never pays for starting the parse processes (about 0.3 s
# of CPU, more than parsing them); large feeds still go to the processes, across the cores.
PARSE_IN_PLACE_BELOW = 65_536


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--once", action="store_true", required=True,
                        help="poll every feed once and exit (the only mode for now)")
    parser.add_argument("--jsonl", action="store_true", help="print one JSON object per item")
    parser.add_argument("--new", action="store_true", help="print only items not stored before")


def run(args: argparse.Namespace) -> int:
    from feeds.engine import Engine, default_classifier
    from feeds.fetch import ssl_context_soon
    from feeds.forked import ForkedFetchers
    from feeds.model import NewItems
    from feeds.parse import clean_text as terminal_safe
    from feeds.store import StoreError

    config = config_from(args)
    if not config.feeds:
        fail("no feeds configured")
    forked = config.fetch.parse_processes > 0
    tls = ssl_context_soon() if forked else None  # loads while the rules compile

    new_keys: set[str] = set()

    def collect_new(event) -> None:
        if isinstance(event, NewItems) and not event.initial:
            new_keys.update(item.key for item in event.items)

    # One poll: the cyclic garbage collector would only rescan the growing heap of parsed
    # items (all acyclic) again and again, about 7% of the CPU of a 50,000-item reload
    # (bench/reload.py); off before the children are forked, so off in them too. It is
    # back on for whatever runs after.
    gc.disable()
    # Fetching, parsing and classifying run in forked children across the cores; this
    # process stores what they send. Forked now, while this process has one thread, so
    # they share the compiled classifier (feeds/forked.py).
    classifier = default_classifier(config)
    children = None
    if forked:
        try:
            children = ForkedFetchers(config.fetch.parse_processes, config.fetch, classifier, tls())
        except OSError as exc:  # cannot fork (process or memory limits): poll in this process
            print(f"policywatch: cannot start fetch processes ({exc.strerror}); fetching in one process",
                  file=sys.stderr)

    async def poll():
        engine = Engine(config, db_path(args, config), collect_new, classifier=classifier,
                        parse_in_place_below=PARSE_IN_PLACE_BELOW,
                        fetch_parse=children.fetch_parse if children else None)
        try:
            return await engine.poll_all()
        finally:
            if children is not None:
                await children.aclose()
            await engine.stop()

    try:
        statuses = asyncio.run(poll())
    except StoreError as exc:
        fail(str(exc))
    finally:
        gc.enable()
        if children is not None:
            children.close()
    ok = 0
    printed: set[str] = set()
    for status in statuses:
        state = status.state
        if state.failures:
            print(f"policywatch: feed {terminal_safe(state.feed)!r} failed: {terminal_safe(state.last_error or '')}",
                  file=sys.stderr)
            continue
        ok += 1
        for item in status.items:
            if item.key in printed or (args.new and item.key not in new_keys):
                continue
            printed.add(item.key)
            if args.jsonl:
                print_json(item.to_json())
        if not args.jsonl:
            note = "not modified" if status.not_modified else f"{status.fetched} items, {status.new} new"
            print(f"{terminal_safe(state.feed)}: {note}")
    sys.stdout.flush()
    return 0 if ok else 1
