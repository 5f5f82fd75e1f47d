"""`policywatch classify`: JSONL items on stdin, the same items with flag, priority, tags
and matches added on stdout. A malformed line gets one line on stderr naming it and is
skipped; the exit status is then 1."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, BinaryIO, Iterator, TextIO

from feeds.classify import Classifier
from feeds.config import ConfigError
from tui.commands.common import config_from, fail

BATCH = 512  # output lines written at once


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--spans", action="store_true",
                        help="also add `match_spans` (term, tag, field, start, end) and `score`")


def classifier_from(args: argparse.Namespace) -> Classifier:
    try:
        return Classifier.from_config(config_from(args).classifier)
    except ConfigError as exc:
        fail(f"config error: {exc}")


def item_problem(obj: Any) -> str | None:
    """Why a decoded line is not an item we can classify, or None."""
    if not isinstance(obj, dict):
        return f"expected a JSON object, got {type(obj).__name__}"
    if not isinstance(obj.get("title"), str):
        return 'needs a "title" string'
    if obj.get("summary") is not None and not isinstance(obj["summary"], str):
        return '"summary" must be a string or null'
    return None


class ItemReader:
    """Iterate (line number, line text, object) over the good lines of a JSONL stream;
    each bad line gets one line on `errors` naming it, and is counted in `bad`."""

    def __init__(self, stream: BinaryIO, errors: TextIO, what: str) -> None:
        self.stream = stream
        self.errors = errors
        self.what = what
        self.bad = 0

    def __iter__(self) -> Iterator[tuple[int, str, dict[str, Any]]]:
        loads = json.loads
        for number, raw in enumerate(self.stream, 1):
            try:
                # decoded here rather than by json.loads(bytes), which sniffs the encoding
                # of every line; a BOM is allowed on the first
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                self.skip(number, "not UTF-8 text")
                continue
            try:
                obj = loads(text)
            except ValueError as exc:
                if text.isspace() or not text:
                    continue
                self.skip(number, f"not valid JSON ({getattr(exc, 'msg', exc)} at column {getattr(exc, 'colno', '?')})")
                continue
            if type(obj) is dict and type(obj.get("title")) is str and type(obj.get("summary", "")) in (str, type(None)):
                yield number, text, obj
            else:
                self.skip(number, item_problem(obj) or "not an item")

    def skip(self, number: int, problem: str) -> None:
        self.bad += 1
        self.errors.write(f"policywatch: {self.what}: line {number}: {problem}; skipped\n")


def run(args: argparse.Namespace) -> int:
    classifier = classifier_from(args)
    encode = json.JSONEncoder(ensure_ascii=True, separators=(", ", ": ")).encode
    classify = classifier.classify
    out = sys.stdout
    spans = args.spans
    pending: list[str] = []
    reader = ItemReader(sys.stdin.buffer, sys.stderr, "classify")
    added_keys = {"flag", "priority", "tags", "matches"} | ({"match_spans", "score"} if spans else set())
    for _, text, obj in reader:
        result = classify(obj["title"], obj.get("summary") or "")
        added = result.to_json()
        if spans:
            added["match_spans"] = [{"term": m.term, "tag": m.tag, "field": m.field, "start": m.start, "end": m.end}
                                    for m in result.matches]
            added["score"] = result.score
        if text.isascii() and added_keys.isdisjoint(obj):
            # The input line is kept as it is and the new fields are appended: no need to
            # re-encode what we did not change (ASCII only, so nothing can reach the
            # terminal unescaped; JSON itself forbids raw control characters).
            pending.append(text.rstrip()[:-1] + ", " + encode(added)[1:])
        else:
            obj.update(added)
            pending.append(encode(obj))
        if len(pending) >= BATCH:
            out.write("\n".join(pending) + "\n")
            pending.clear()
    if pending:
        out.write("\n".join(pending) + "\n")
    out.flush()
    return 1 if reader.bad else 0
