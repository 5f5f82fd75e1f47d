"""`policywatch classify`: JSONL items on stdin, the same items with flag, priority, tags
and matches added on stdout. A malformed line gets one line on stderr naming it and is
skipped; the exit status is then 1."""

from __future__ import annotations

import argparse
import json
import sys
from operator import attrgetter
from typing import Any, BinaryIO, Callable, Iterator, TextIO

try:  # a declared dependency; the stdlib parser does the same, only slower
    from orjson import loads as fast_loads
except ImportError:  # pragma: no cover
    fast_loads = None

from feeds.classify import Classifier
from feeds.config import ConfigError
from tui.commands.common import config_from, fail

BATCH = 2048  # output lines written at once


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
    """Iterate (line number, line, object) over the good lines of a JSONL stream; each
    bad line gets one line on `errors` naming it, and is counted in `bad`.

    `line` is the raw bytes for an ASCII line that `fast_loads` (orjson, when asked for)
    parsed into an item, else the decoded text. Whatever orjson rejects or reads
    differently from the stdlib (NaN, huge numbers, lone surrogates, anything not an
    item) goes to the stdlib parser, which decides every error message; the stdlib's is
    also the object callers get unless they ask for the fast one."""

    def __init__(self, stream: BinaryIO, errors: TextIO, what: str, fast_loads: Callable[[bytes], Any] | None = None) -> None:
        self.stream = stream
        self.errors = errors
        self.what = what
        self.fast_loads = fast_loads
        self.bad = 0

    def __iter__(self) -> Iterator[tuple[int, bytes | str, dict[str, Any]]]:
        loads = json.loads
        fast_loads = self.fast_loads
        for number, raw in enumerate(self.stream, 1):
            if fast_loads is not None and raw.isascii():
                try:
                    obj = fast_loads(raw)
                except ValueError:
                    pass
                else:
                    if type(obj) is dict and type(obj.get("title")) is str and type(obj.get("summary", "")) in _SUMMARY_TYPES:
                        yield number, raw, obj
                        continue
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
            if type(obj) is dict and type(obj.get("title")) is str and type(obj.get("summary", "")) in _SUMMARY_TYPES:
                yield number, text, obj
            else:
                self.skip(number, item_problem(obj) or "not an item")

    def skip(self, number: int, problem: str) -> None:
        self.bad += 1
        self.errors.write(f"policywatch: {self.what}: line {number}: {problem}; skipped\n")


_SUMMARY_TYPES = (str, type(None))
_term = attrgetter("term")


def run(args: argparse.Namespace) -> int:
    classifier = classifier_from(args)
    encode = json.JSONEncoder(ensure_ascii=True, separators=(", ", ": ")).encode
    classify = classifier.classify
    out = sys.stdout.buffer
    spans = args.spans
    pending: list[bytes] = []
    reader = ItemReader(sys.stdin.buffer, sys.stderr, "classify", fast_loads)
    added_keys = {"flag", "priority", "tags", "matches"} | ({"match_spans", "score"} if spans else set())
    # the added fields, encoded, by what they hold: most items share a few hundred labelings
    encoded: dict[tuple, bytes] = {}
    for _, line, obj in reader:
        result = classify(obj["title"], obj.get("summary") or "")
        if spans:
            added = result.to_json()
            added["match_spans"] = [{"term": m.term, "tag": m.tag, "field": m.field, "start": m.start, "end": m.end}
                                    for m in result.matches]
            added["score"] = result.score
            suffix = encode(added)[1:].encode()
        else:
            key = (result.flag, result.priority, result.tags, tuple(map(_term, result.matches)))
            suffix = encoded.get(key)
            if suffix is None:
                if len(encoded) > 10_000:
                    encoded.clear()
                added = result.to_json()
                suffix = encoded[key] = encode(added)[1:].encode()
        if added_keys.isdisjoint(obj) and (type(line) is bytes or line.isascii()):
            # The input line is kept as it is and the new fields are appended: no need to
            # re-encode what we did not change (ASCII only, so nothing can reach the
            # terminal unescaped; JSON itself forbids raw control characters).
            kept = line.rstrip()[:-1]
            pending.append((kept if type(kept) is bytes else kept.encode()) + b", " + suffix)
        else:
            if type(line) is bytes:  # orjson's object: the stdlib's may differ (huge numbers)
                obj = json.loads(line)
            obj.update(added if spans else result.to_json())
            pending.append(encode(obj).encode())
        if len(pending) >= BATCH:
            out.write(b"\n".join(pending) + b"\n")
            pending.clear()
    if pending:
        out.write(b"\n".join(pending) + b"\n")
    out.flush()
    return 1 if reader.bad else 0
