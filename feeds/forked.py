"""Fetch, parse and classify in forked child processes, for one-shot polls (`fetch --once`).

In one process the event loop does every feed's HTTP (httpx costs about 1.5 ms of CPU a
request), and the GIL keeps that, parsing and classifying on one core however many feeds
there are. Here each child has its own event loop and Fetcher and does all three for the
feeds the parent asks it for; the parent only stores what comes back, so the work spreads
over the cores (bench/reload.py). Children are forked after the classifier is compiled, so
they share it and every import at no cost; forking copies only the calling thread, so the
pool must be started while the process has just one (before the event loop and the store
writer). A long-lived front end, which has threads, does not use this.

Limits hold across the children: each gets its share of `concurrency`, and a host's feeds
are spread over only as many children as its `per_host` allows, each taking an equal part
of it (so the host never sees more than `per_host` requests at once)."""

from __future__ import annotations

import asyncio
import os
import pickle
import signal
import ssl
import struct
import sys
import threading
import zlib
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from feeds.config import FetchConfig
from feeds.fetch import FetchError, Fetcher, FetchResult
from feeds.model import Item
from feeds.parse import ParseError, parse_feed
from feeds.workers import _send_records_as_tuples, classified

_HEADER = struct.Struct("!I")
_READ_LIMIT = 1 << 20


class RemoteError(Exception):
    """An unexpected error inside a child (an engine bug), reported by its type and text."""


async def fetch_parse_classify(fetcher: Fetcher, classifier: Any, url: str, name: str, etag: str | None,
                               last_modified: str | None) -> tuple[FetchResult, tuple[Item, ...] | None]:
    """What a child does for one feed: the FetchResult (its body dropped: the parent needs
    only the headers) and the classified items, or None when not modified."""
    result = await fetcher.get(url, etag=etag, last_modified=last_modified)
    if result.not_modified:
        return result, None
    items = parse_feed(result.body, name, result.content_type, result.url).items
    if classifier is not None and items:
        items = tuple(classified(items, classifier))
    return replace(result, body=b""), items


# ---------------------------------------------------------------- the child's side


def _child_main(requests: int, responses: int, config: FetchConfig, classifier: Any,
                ssl_context: ssl.SSLContext | None) -> None:
    """Serve requests until the parent closes the request pipe; never returns."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    code = 0
    try:
        _send_records_as_tuples()
        asyncio.run(_serve(requests, responses, config, classifier, ssl_context))
    except BaseException:  # nothing may escape into the parent's code after fork
        code = 1
    finally:
        os._exit(code)


async def _serve(requests: int, responses: int, config: FetchConfig, classifier: Any,
                 ssl_context: ssl.SSLContext | None) -> None:
    from multiprocessing.reduction import ForkingPickler

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=_READ_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(requests, "rb", 0))
    out = os.fdopen(responses, "wb", 0)
    tasks: set[asyncio.Task] = set()

    def send(message: Any) -> None:
        data = ForkingPickler.dumps(message)
        # The whole message in blocking writes (no task can interleave a half-written one);
        # the parent's transport reads promptly and never blocks on us. A raw write may
        # take only part of a large message: write the rest.
        view = memoryview(_HEADER.pack(len(data)) + bytes(data))
        while view:
            view = view[out.write(view):]

    async def one(request_id: int, url: str, name: str, etag: str | None, last_modified: str | None) -> None:
        try:
            result, items = await fetch_parse_classify(fetcher, classifier, url, name, etag, last_modified)
            message = (request_id, "ok", (result, items))
        except FetchError as exc:
            message = (request_id, "fetch", (exc.message, exc.status, exc.retry_after, exc.gone))
        except ParseError as exc:
            message = (request_id, "parse", str(exc))
        except Exception as exc:
            message = (request_id, "internal", f"{type(exc).__name__}: {exc}")
        send(message)

    async with Fetcher(config, ssl_context=ssl_context) as fetcher:
        while True:
            try:
                header = await reader.readexactly(_HEADER.size)
                request = pickle.loads(await reader.readexactly(_HEADER.unpack(header)[0]))
            except asyncio.IncompleteReadError:
                break  # the parent is done (or gone)
            task = asyncio.create_task(one(*request))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)


# ---------------------------------------------------------------- the parent's side


class _Child:
    def __init__(self, pid: int, requests: int, responses: int) -> None:
        self.pid = pid
        self.requests = requests  # our end of its request pipe
        self.responses = responses  # our end of its response pipe
        self.pending: dict[int, asyncio.Future] = {}
        self.connected: asyncio.Task | None = None  # sets up `sender` and the reader task
        self.sender: asyncio.WriteTransport | None = None
        self.reader_task: asyncio.Task | None = None


class ForkedFetchers:
    """`processes` children, forked now, that fetch, parse and classify feeds on request.

    Use `fetch_parse` from the event loop (it has the signature Engine accepts as
    `fetch_parse`); when done, `aclose()` on the loop, and `close()` after the loop ended
    (it kills and reaps whatever an interrupted run left)."""

    def __init__(self, processes: int, config: FetchConfig, classifier: Any,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        if threading.active_count() != 1:
            raise RuntimeError("ForkedFetchers must be started while the process has one thread")
        if processes < 1:
            raise ValueError("processes must be at least 1")
        # Every host's feeds go to `spread` children, each allowed per_host // spread at once.
        self.spread = min(processes, config.per_host)
        child_config = replace(config, concurrency=max(1, config.concurrency // processes),
                               per_host=max(1, config.per_host // self.spread))
        self._children: list[_Child] = []
        self._next_id = 0
        self._host_turn: dict[str, int] = {}
        for stream in (sys.stdout, sys.stderr):  # a child must not flush the parent's buffers
            stream.flush()
        try:
            for _ in range(processes):
                self._fork(child_config, classifier, ssl_context)
        except OSError:  # out of processes or memory: end the children made so far
            self.close()
            raise

    def _fork(self, child_config: FetchConfig, classifier: Any, ssl_context: ssl.SSLContext | None) -> None:
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            for fd in (req_r, req_w, resp_r, resp_w):
                os.close(fd)
            raise
        if pid == 0:
            for child in self._children:  # the siblings' pipe ends are not this child's
                os.close(child.requests)
                os.close(child.responses)
            os.close(req_w)
            os.close(resp_r)
            _child_main(req_r, resp_w, child_config, classifier, ssl_context)
        os.close(req_r)
        os.close(resp_w)
        self._children.append(_Child(pid, req_w, resp_r))

    def _child_for(self, url: str) -> _Child:
        """Spread one host's feeds over `spread` children, starting at one chosen by the
        host's name (so different hosts start on different children)."""
        host = (urlsplit(url).hostname or "").lower()
        turn = self._host_turn.get(host, 0)
        self._host_turn[host] = turn + 1
        first = zlib.crc32(host.encode())
        return self._children[(first + turn % self.spread) % len(self._children)]

    async def fetch_parse(self, url: str, name: str, etag: str | None,
                          last_modified: str | None) -> tuple[FetchResult, tuple[Item, ...] | None]:
        """What fetch_parse_classify gives, computed in a child. Raises FetchError,
        ParseError or RemoteError as the child met them."""
        child = self._child_for(url)
        loop = asyncio.get_running_loop()
        if child.connected is None:
            child.connected = loop.create_task(self._connect(child))
        await child.connected
        if child.sender is None or child.sender.is_closing():
            raise FetchError("fetch process exited")
        self._next_id += 1
        request_id = self._next_id
        future = child.pending[request_id] = loop.create_future()
        data = pickle.dumps((request_id, url, name, etag, last_modified))
        # Buffered by the transport, never blocking the loop: a child blocked writing a
        # large response to us while we blocked writing to it would be a deadlock.
        child.sender.write(_HEADER.pack(len(data)) + data)
        kind, payload = await future
        if kind == "ok":
            return payload
        if kind == "fetch":
            message, status, retry_after, gone = payload
            raise FetchError(message, status=status, retry_after=retry_after, gone=gone)
        if kind == "parse":
            raise ParseError(payload)
        if kind == "gone":
            raise FetchError(payload)
        raise RemoteError(payload)

    async def _connect(self, child: _Child) -> None:
        loop = asyncio.get_running_loop()
        child.sender, _ = await loop.connect_write_pipe(asyncio.Protocol, os.fdopen(child.requests, "wb", 0))
        reader = asyncio.StreamReader(limit=_READ_LIMIT)
        transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader),
                                                    os.fdopen(child.responses, "rb", 0))
        child.reader_task = loop.create_task(self._read(child, reader, transport))

    async def _read(self, child: _Child, reader: asyncio.StreamReader, transport: asyncio.ReadTransport) -> None:
        try:
            while True:
                header = await reader.readexactly(_HEADER.size)
                request_id, kind, payload = pickle.loads(await reader.readexactly(_HEADER.unpack(header)[0]))
                future = child.pending.pop(request_id, None)
                if future is not None and not future.done():
                    future.set_result((kind, payload))
        except asyncio.IncompleteReadError:  # the child exited
            for future in child.pending.values():
                if not future.done():
                    future.set_result(("gone", "fetch process exited"))
            child.pending.clear()
        finally:
            transport.close()

    async def aclose(self) -> None:
        """On the loop, when every poll is done: close the request pipes (a child exits
        once it has answered everything it was asked), wait for the children's last
        words and reap them. A child still working (an interrupted poll) is killed."""
        readers = []
        for child in self._children:
            if child.connected is not None and not child.connected.done():
                child.connected.cancel()
            if child.sender is not None:
                child.sender.close()
            if child.reader_task is not None:
                readers.append(child.reader_task)
            if child.pending:  # asked and not answered (a cancelled poll's entries stay)
                _kill(child.pid)
        await asyncio.gather(*readers, return_exceptions=True)
        self.close()

    def close(self) -> None:
        """Off the loop (or after it ended): end and reap every child left."""
        for child in self._children:
            if child.sender is None:  # never connected: the descriptors are still ours
                for fd in (child.requests, child.responses):
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            elif not child.sender.is_closing() or child.pending:
                _kill(child.pid)
        for child in self._children:
            try:
                os.waitpid(child.pid, 0)
            except ChildProcessError:
                pass
        self._children.clear()


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
