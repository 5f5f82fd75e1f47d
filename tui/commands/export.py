"""`policywatch export --format csv|jsonl [--since WHEN] [--flagged]`: the stored history,
oldest first, on stdout.

CSV cells that a spreadsheet would run as a formula (starting with = + - @ or a tab) get a
leading apostrophe: headlines are untrusted text (OWASP's advice on CSV injection)."""

from __future__ import annotations

import argparse
import csv
import sys

from tui.commands.since import HELP as SINCE_HELP, parse_since

CSV_FIELDS = ("id", "first_seen", "published", "feed", "sources", "flag", "priority", "tags", "matches",
              "title", "link", "summary")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("csv", "jsonl"), default="jsonl", help="output format (default jsonl)")
    parser.add_argument("--since", type=parse_since, metavar="WHEN", help="only items first seen since WHEN: " + SINCE_HELP)
    parser.add_argument("--flagged", action="store_true", help="only flagged items")


def csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        value = "; ".join(str(v) for v in value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def run(args: argparse.Namespace) -> int:
    from tui.commands.common import print_json
    from tui.commands.search import open_store
    from tui.commands.watch import item_json

    with open_store(args) as store:
        items = store.items_since(args.since, flagged_only=args.flagged)
        if args.format == "jsonl":
            for item in items:
                print_json(item_json(item))
        else:
            writer = csv.writer(sys.stdout, lineterminator="\r\n")
            writer.writerow(CSV_FIELDS)
            for item in items:
                obj = item_json(item)
                obj.setdefault("flag", False)
                obj.setdefault("priority", "none")
                writer.writerow([csv_cell(obj.get(name)) for name in CSV_FIELDS])
    sys.stdout.flush()
    return 0
