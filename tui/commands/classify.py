"""`policywatch classify`: JSONL items on stdin, the same items with flag, priority, tags
and matches added on stdout. A malformed line gets one line on stderr naming it and is
skipped; the exit status is then 1."""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from itertools import chain, islice
from operator import attrgetter
from typing import Any, Callable, Iterable, Iterator, TextIO

try:  # a declared dependency; the stdlib parser does the same, only slower
    from orjson import loads as fast_loads
except ImportError:  # pragma: no cover
    fast_loads = None

from feeds.classify import Classifier
from feeds.config import ConfigError
from feeds.model import Classification
from tui.commands.common import config_from, fail

BATCH = 2048  # output lines written at once
CHUNK = 1 << 20  # input bytes per job for a worker process; smaller inputs are classified in-process


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--spans", action="store_true",
                        help="also add `match_spans` (term, tag, field, start, end) and `score`")
    parser.add_argument("--jobs", type=int, default=0, metavar="N",
                        help=f"processes that classify a large input (over {CHUNK >> 20} MiB) at once "
                             "(default: one per CPU)")


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

    def __init__(self, stream: Iterable[bytes], errors: TextIO, what: str,
                 fast_loads: Callable[[bytes], Any] | None = None, first_line: int = 1) -> None:
        self.stream = stream
        self.first_line = first_line
        self.errors = errors
        self.what = what
        self.fast_loads = fast_loads
        self.bad = 0

    def __iter__(self) -> Iterator[tuple[int, bytes | str, dict[str, Any]]]:
        fast_loads = self.fast_loads
        for number, raw in enumerate(self.stream, self.first_line):
            if fast_loads is not None and raw.isascii():
                try:
                    obj = fast_loads(raw)
                except ValueError:
                    pass
                else:
                    if type(obj) is dict and type(obj.get("title")) is str and type(obj.get("summary", "")) in _SUMMARY_TYPES:
                        yield number, raw, obj
                        continue
            parsed = self.parse(number, raw)
            if parsed is not None:
                yield number, *parsed

    def parse(self, number: int, raw: bytes) -> tuple[str, dict[str, Any]] | None:
        """(text, object) for a line that is an item, by the stdlib parser; else None,
        after naming the problem (blank lines are skipped silently)."""
        try:
            # decoded here rather than by json.loads(bytes), which sniffs the encoding
            # of every line; a BOM is allowed on the first
            text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            self.skip(number, "not UTF-8 text")
            return None
        try:
            obj = json.loads(text)
        except ValueError as exc:
            if not (text.isspace() or not text):
                self.skip(number, f"not valid JSON ({getattr(exc, 'msg', exc)} at column {getattr(exc, 'colno', '?')})")
            return None
        if type(obj) is dict and type(obj.get("title")) is str and type(obj.get("summary", "")) in _SUMMARY_TYPES:
            return text, obj
        self.skip(number, item_problem(obj) or "not an item")
        return None

    def skip(self, number: int, problem: str) -> None:
        self.bad += 1
        self.errors.write(f"policywatch: {self.what}: line {number}: {problem}; skipped\n")


_SUMMARY_TYPES = (str, type(None))
_term = attrgetter("term")


class Labeler:
    """Turns input lines into output lines: each item with the classifier's fields added."""

    def __init__(self, classifier: Classifier, spans: bool) -> None:
        self.classify = classifier.classify
        self.spans = spans
        self.encode = json.JSONEncoder(ensure_ascii=True, separators=(", ", ": ")).encode
        self.added_keys = {"flag", "priority", "tags", "matches"} | ({"match_spans", "score"} if spans else set())
        # the added fields, encoded, by what they hold: most items share a few hundred labelings
        self.encoded: dict[tuple, bytes] = {}

    def lines(self, reader: ItemReader) -> Iterator[bytes]:
        """The output line for each item `reader` reads. ItemReader's own loop, inlined
        for the common case (an ASCII line that orjson reads as an item, no added field
        already in it, no spans): it runs once per line."""
        classify, label, encoded, added_keys = self.classify, self.label, self.encoded, self.added_keys
        fast_loads = None if self.spans else reader.fast_loads
        for number, raw in enumerate(reader.stream, reader.first_line):
            if fast_loads is not None and raw.isascii():
                try:
                    obj = fast_loads(raw)
                except ValueError:
                    obj = None
                if type(obj) is dict:
                    title = obj.get("title")
                    summary = obj.get("summary")
                    if type(title) is str and type(summary) in _SUMMARY_TYPES and added_keys.isdisjoint(obj):
                        result = classify(title, summary)
                        key = (result.flag, result.priority, result.tags, *map(_term, result.matches))
                        suffix = encoded.get(key)
                        if suffix is None:
                            suffix = self.encode_labels(key, result)
                        # The input line is kept as it is and the new fields are appended:
                        # no need to re-encode what we did not change (ASCII only, so
                        # nothing can reach the terminal unescaped; JSON itself forbids
                        # raw control characters).
                        yield raw.rstrip()[:-1] + suffix
                        continue
            parsed = reader.parse(number, raw)
            if parsed is not None:
                yield label(*parsed)

    def encode_labels(self, key: tuple, result: Classification) -> bytes:
        if len(self.encoded) > 10_000:
            self.encoded.clear()
        suffix = self.encoded[key] = b", " + self.encode(result.to_json())[1:].encode()
        return suffix

    def label(self, text: str, obj: dict[str, Any]) -> bytes:
        """The output line for one item, the general way."""
        result = self.classify(obj["title"], obj.get("summary") or "")
        added = result.to_json()
        if self.spans:
            added["match_spans"] = [{"term": m.term, "tag": m.tag, "field": m.field, "start": m.start,
                                     "end": m.end} for m in result.matches]
            added["score"] = result.score
        if text.isascii() and self.added_keys.isdisjoint(obj):
            return (text.rstrip()[:-1] + ", " + self.encode(added)[1:]).encode()
        obj.update(added)
        return self.encode(obj).encode()


# Set in the parent before the worker processes fork, so they inherit the compiled rules.
_labeler: Labeler | None = None


def _label_chunk(job: tuple[int, bytes]) -> tuple[bytes, str, int]:
    """In a worker process: (output, error lines, bad line count) for a chunk of input
    lines that starts at line number `job[0]`."""
    first, data = job
    errors = io.StringIO()
    reader = ItemReader(io.BytesIO(data), errors, "classify", fast_loads, first)
    out = b"".join(line + b"\n" for line in _labeler.lines(reader))
    return out, errors.getvalue(), reader.bad


def run(args: argparse.Namespace) -> int:
    global _labeler
    labeler = Labeler(classifier_from(args), args.spans)
    stdin, out = sys.stdin.buffer, sys.stdout.buffer
    jobs = args.jobs or os.cpu_count() or 1
    first = stdin.read(CHUNK) if jobs > 1 else b""
    if len(first) < CHUNK:  # a small input (or one process asked for): classified here
        reader = ItemReader(chain(io.BytesIO(first), stdin), sys.stderr, "classify", fast_loads)
        pending: list[bytes] = []
        for line in labeler.lines(reader):
            pending.append(line)
            if len(pending) >= BATCH:
                out.write(b"\n".join(pending) + b"\n")
                pending.clear()
        if pending:
            out.write(b"\n".join(pending) + b"\n")
        out.flush()
        return 1 if reader.bad else 0

    # A large input: chunks of whole lines classified in worker processes (forked, so
    # they start with the compiled rules), written out in input order.
    def chunks() -> Iterator[tuple[int, bytes]]:
        number, data = 1, first
        while data:
            data += stdin.readline()  # up to the end of the line the block cut
            yield number, data
            number += data.count(b"\n")
            data = stdin.read(CHUNK)

    import multiprocessing  # here: it costs start-up time that small inputs need not pay

    _labeler = labeler
    bad = 0
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        for chunk_out, errors, chunk_bad in pool.imap(_label_chunk, chunks()):
            out.write(chunk_out)
            if errors:
                sys.stderr.write(errors)
            bad += chunk_bad
    out.flush()
    return 1 if bad else 0
