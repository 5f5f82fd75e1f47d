"""`policywatch search QUERY [--limit N] [--json]`: full-text search over the stored items.

Words are ANDed and `word*` matches a prefix (feeds.store.fts_query keeps FTS syntax out
of user input). Exit 0 when something matched, 1 when nothing did (as grep does), 2 for
bad config or usage."""

from __future__ import annotations

import argparse
import sys

from tui.commands.common import config_from, db_path, fail, print_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("query", nargs="+", help="words to find in titles and summaries (word* for a prefix)")
    parser.add_argument("--limit", type=_positive, default=50, metavar="N", help="at most N items (default 50)")
    parser.add_argument("--json", action="store_true", help="one JSON object per item (JSONL)")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value


def open_store(args: argparse.Namespace):
    """The configured database, which must already exist (a search never creates one)."""
    from feeds.store import Store, StoreError

    config = config_from(args)
    path = db_path(args, config)
    if not path.is_file():
        fail(f"no database at {path}: nothing stored yet (run `policywatch watch` or `fetch --once`)", 1)
    try:
        return Store(path)
    except StoreError as exc:
        fail(str(exc), 1)


def describe(item) -> str:
    """Two terminal-safe lines: when, priority, headline and feeds; then the link."""
    from feeds.parse import clean_text

    moment = item.published or item.first_seen
    when = moment.strftime("%Y-%m-%d %H:%M") if moment else "????-??-?? ??:??"
    priority = item.classification.priority if item.classification else "-"
    sources = item.sources or (item.feed,)
    feeds = clean_text(sources[0]) + (f" +{len(sources) - 1}" if len(sources) > 1 else "")
    line = f"{when}  {priority:<6}  {clean_text(item.title)}  ({feeds})"
    return line + (f"\n{'':18}{clean_text(item.link)}" if item.link else "")


def run(args: argparse.Namespace) -> int:
    from tui.commands.watch import item_json

    query = " ".join(args.query)
    with open_store(args) as store:
        items = store.search(query, args.limit)
    for item in items:
        if args.json:
            print_json(item_json(item))
        else:
            print(describe(item))
    sys.stdout.flush()
    if not items and not args.json:
        print(f"policywatch: no stored item matches {query!r}", file=sys.stderr)
    return 0 if items else 1
