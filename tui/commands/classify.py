"""`policywatch classify`: JSONL items on stdin, the same items with flag, priority, tags
and matches added on stdout. A malformed line gets one line on stderr naming it and is
skipped; the exit status is then 1."""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import signal
import stat
import sys
import tempfile
import traceback
from operator import attrgetter
from typing import Any, BinaryIO, Callable, Iterable, Iterator, TextIO

try:  # a declared dependency; the stdlib parser does the same, only slower
    from orjson import loads as fast_loads
except ImportError:  # pragma: no cover
    fast_loads = None

from feeds.classify import Classifier
from feeds.config import ConfigError
from feeds.model import Classification
from tui.commands.common import config_from, fail

BATCH = 2048  # output lines written at once
CHUNK = 1 << 20  # bytes read at once from a file classified in parts
PARALLEL = 4 << 20  # a regular file on stdin at least this large is classified in parts, at once


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--spans", action="store_true",
                        help="also add `match_spans` (term, tag, field, start, end) and `score`")
    parser.add_argument("--jobs", type=int, default=0, metavar="N",
                        help=f"processes that classify a large file on stdin (over {PARALLEL >> 20} MiB) "
                             "at once (default: one per CPU)")


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


def _write_labeled(labeler: Labeler, reader: ItemReader, out: BinaryIO) -> None:
    pending: list[bytes] = []
    for line in labeler.lines(reader):
        pending.append(line)
        if len(pending) >= BATCH:
            out.write(b"\n".join(pending) + b"\n")
            pending.clear()
    if pending:
        out.write(b"\n".join(pending) + b"\n")
    out.flush()


def _file_lines(fd: int, start: int, end: int) -> Iterator[bytes]:
    """The lines of bytes start:end of file `fd` (which start and end on line
    boundaries), split as iterating the file would split them; by pread, so processes
    sharing the file's offset do not disturb each other."""
    rest = b""
    while start < end:
        block = os.pread(fd, min(CHUNK, end - start), start)
        if not block:
            break
        start += len(block)
        lines = io.BytesIO(rest + block).readlines()
        rest = lines.pop() if not lines[-1].endswith(b"\n") else b""
        yield from lines
    if rest:
        yield rest


def _parts(fd: int, start: int, end: int, count: int) -> list[tuple[int, int]]:
    """(start, end) of `count` parts of about equal size, each of whole lines."""
    bounds = [start]
    for i in range(1, count):
        at = max(bounds[-1], start + (end - start) * i // count)
        while at < end:  # to the start of the next line
            block = os.pread(fd, 65536, at)
            newline = block.find(b"\n")
            if newline >= 0:
                at += newline + 1
                break
            at += len(block) or end
        bounds.append(min(at, end))
    bounds.append(end)
    return list(zip(bounds, bounds[1:]))


def _line_number(fd: int, start: int, at: int) -> int:
    """The number of the line that starts at `at`, counting from the one at `start`."""
    return 1 + sum(os.pread(fd, min(CHUNK, at - pos), pos).count(b"\n") for pos in range(start, at, CHUNK))


def _run_parallel(labeler: Labeler, fd: int, start: int, end: int, jobs: int) -> int:
    """Classify a regular file in `jobs` parts at once: forked processes (which start
    with the compiled rules) each write theirs to a temporary file; this process does the
    first part, then copies the others out in order."""
    out = sys.stdout.buffer
    parts = _parts(fd, start, end, jobs)
    sys.stdout.flush()
    sys.stderr.flush()
    children: list[tuple[int, Any, Any]] = []
    try:
        for lo, hi in parts[1:]:
            part_out, part_err = tempfile.TemporaryFile(), tempfile.TemporaryFile("w+")
            pid = os.fork()
            if pid == 0:  # the child: its part, then out without running the parent's exit code
                code = 2
                try:
                    reader = ItemReader(_file_lines(fd, lo, hi), part_err, "classify", fast_loads,
                                        _line_number(fd, start, lo))
                    _write_labeled(labeler, reader, part_out)
                    part_err.flush()
                    code = 1 if reader.bad else 0
                except BaseException:
                    traceback.print_exc(file=part_err)
                    part_err.flush()
                finally:
                    os._exit(code)
            children.append((pid, part_out, part_err))
        lo, hi = parts[0]
        reader = ItemReader(_file_lines(fd, lo, hi), sys.stderr, "classify", fast_loads)
        _write_labeled(labeler, reader, out)
        status = 1 if reader.bad else 0
        while children:
            pid, part_out, part_err = children[0]
            code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
            children.pop(0)
            part_out.seek(0)
            shutil.copyfileobj(part_out, out, CHUNK)
            out.flush()
            part_err.seek(0)
            sys.stderr.write(part_err.read())
            if code not in (0, 1):
                fail(f"a classifying process failed (exit status {code})")
            status = max(status, code)
        return status
    finally:
        for pid, _, _ in children:  # only after an error here: stop the others
            try:
                os.kill(pid, signal.SIGTERM)
                os.waitpid(pid, 0)
            except OSError:
                pass


def run(args: argparse.Namespace) -> int:
    labeler = Labeler(classifier_from(args), args.spans)
    stdin = sys.stdin.buffer
    jobs = args.jobs or os.cpu_count() or 1
    if jobs > 1:
        try:
            fd = stdin.fileno()
            info = os.fstat(fd)
            start = stdin.tell()  # where reading would start (0 but for a caller who read some)
        except (OSError, ValueError, AttributeError):  # a pipe, a terminal, a closed or odd stdin
            info = None
        # a large regular file (as with `< items.jsonl`): in parts, at once
        if info is not None and stat.S_ISREG(info.st_mode) and info.st_size - start >= PARALLEL:
            return _run_parallel(labeler, fd, start, info.st_size, jobs)
    reader = ItemReader(stdin, sys.stderr, "classify", fast_loads)
    _write_labeled(labeler, reader, sys.stdout.buffer)
    return 1 if reader.bad else 0
