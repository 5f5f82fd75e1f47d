"""A chaos HTTP server for tests: one path per way a feed server can misbehave.

Loopback only (127.0.0.1). Every loop in here is bounded in count and in time, and every
handler that waits gives up when the client goes away or the server stops, so a test run
never leaves threads spinning. Large bodies are streamed in small chunks (never held
whole), and compressed bombs are built once per process and cached.

Each fault is a `Fault(path, expect)`: `expect` is a regular expression that the failing
feed's `last_error` must match (None for faults the engine should read successfully), so a
test can check that every feed ends in its own, recognisable state."""

from __future__ import annotations

import email.utils
import functools
import os
import select
import socket
import threading
import time
import zlib
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

HANG_LIMIT = 120.0  # seconds a "hang" handler waits at most, even if nobody stops it
DRIP_INTERVAL = 1.0  # seconds between the bytes of the drip body
HUGE_BYTES = 50_000_000
BOMB_BYTES = 256 * 1024 * 1024  # what each compression bomb expands to
MANY_ITEMS = 20_000
LONG_TITLE = 1_000_000
RETRY_AFTER_503 = 120  # seconds (delta form)
RETRY_AFTER_429 = 150  # seconds (HTTP-date form, from the time of the response)
CHUNK = 64 * 1024


@dataclass(frozen=True)
class Fault:
    path: str
    expect: str | None  # regex for FeedState.last_error; None: the feed must be read fine
    what: str


FAULTS: tuple[Fault, ...] = (
    Fault("/hang", r"^timed out", "accepts the connection, never answers"),
    Fault("/drip", r"^timed out after [\d.]+ s$", "sends a valid feed one byte a second"),
    Fault("/500", r"^HTTP 500 Internal Server Error$", "500"),
    Fault("/503", r"^HTTP 503 Service Unavailable$", f"503 with Retry-After: {RETRY_AFTER_503}"),
    Fault("/429", r"^HTTP 429 Too Many Requests$", "429 with Retry-After as an HTTP date"),
    Fault("/404", r"^HTTP 404 Not Found$", "404"),
    Fault("/410", r"^HTTP 410 Gone$", "410: the feed is gone"),
    Fault("/redirect-loop", r"^more than \d+ redirects$", "two paths redirecting to each other"),
    Fault("/redirect-scheme", r"^unsupported URL scheme", "redirect to file:///etc/passwd"),
    Fault("/html", r"^not a (readable )?feed", "200 with an HTML page"),
    Fault("/truncated", r"^not a readable feed", "XML cut off before its first item ends"),
    Fault("/invalid-utf8", None, "declares UTF-8, carries invalid bytes"),
    Fault("/bomb-gzip", r"^response larger than \d+ bytes$", "gzip: 255 KB expanding to 256 MB"),
    Fault("/bomb-nested", r"^response larger than \d+ bytes$", "gzip inside gzip: 600 bytes to 256 MB"),
    Fault("/bomb-br", r"^response larger than \d+ bytes$", "brotli: 1.6 KB expanding to 1 GB"),
    Fault("/huge", r"^response larger than \d+ bytes \(Content-Length 50000000\)$", "a 50 MB body"),
    Fault("/huge-chunked", r"^response larger than \d+ bytes$", "a 50 MB chunked body, no length"),
    Fault("/bad-gzip", r"^bad compressed body", "says gzip, sends plain text"),
    Fault("/empty", r"^empty response$", "200 with an empty body"),
    Fault("/many", None, f"a valid feed of {MANY_ITEMS} items"),
    Fault("/long-title", None, "one item with a 1 MB title"),
)
FAULT_BY_PATH = {f.path: f for f in FAULTS}

RSS_HEAD = b'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>chaos</title>\n'
RSS_TAIL = b"</channel></rss>\n"


def rss_item(title: str, link: str, guid: str, summary: str = "") -> bytes:
    from xml.sax.saxutils import escape
    return (f"<item><title>{escape(title)}</title><link>{escape(link)}</link>"
            f"<guid isPermaLink=\"false\">{escape(guid)}</guid>"
            f"<description>{escape(summary)}</description>"
            f"<pubDate>Mon, 06 Oct 2025 12:00:00 GMT</pubDate></item>\n").encode("utf-8")


def small_feed(tag: str, count: int = 3) -> bytes:
    return RSS_HEAD + b"".join(
        rss_item(f"{tag} item {i}", f"http://127.0.0.1/{tag}/{i}", f"{tag}-{i}") for i in range(count)) + RSS_TAIL


@functools.cache
def many_items_feed() -> bytes:
    return RSS_HEAD + b"".join(
        rss_item(f"Chaos item {i}", f"http://127.0.0.1/many/{i}", f"many-{i}", f"Item {i} of a long feed.")
        for i in range(MANY_ITEMS)) + RSS_TAIL


@functools.cache
def long_title_feed() -> bytes:
    return RSS_HEAD + rss_item("A" * LONG_TITLE, "http://127.0.0.1/long/1", "long-1") + RSS_TAIL


def invalid_utf8_feed() -> bytes:
    # Lone continuation bytes, an overlong encoding and a truncated sequence in a feed that
    # declares UTF-8.
    return (RSS_HEAD + b"<item><title>Bad bytes \x80\xbf here \xc0\xaf and \xe2\x82</title>"
            b"<link>http://127.0.0.1/utf8/1</link><guid>utf8-1</guid></item>\n" + RSS_TAIL)


def truncated_feed() -> bytes:
    return RSS_HEAD + b"<item><title>Cut off mid-wo"


HTML_PAGE = (b"<!DOCTYPE html><html><head><title>Just a moment...</title></head>"
             b"<body><h1>Checking your browser</h1><p>Enable JavaScript and cookies.</p></body></html>")


def _deflate_stream(parts, wbits: int = 31) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
    out = [compressor.compress(p) for p in parts]
    out.append(compressor.flush())
    return b"".join(out)


def _bomb_parts(total: int):
    yield RSS_HEAD
    block = b" " * (1 << 20)
    for _ in range(total // len(block)):
        yield block


@functools.cache
def gzip_bomb() -> bytes:
    return _deflate_stream(_bomb_parts(BOMB_BYTES))


@functools.cache
def nested_gzip_bomb() -> bytes:
    return _deflate_stream([gzip_bomb()])


@functools.cache
def brotli_bomb() -> bytes:
    import brotli
    compressor = brotli.Compressor(quality=5)
    out = [compressor.process(p) for p in _bomb_parts(4 * BOMB_BYTES)]
    out.append(compressor.finish())
    return b"".join(out)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512
    allow_reuse_address = True


class ChaosServer:
    """Serve FAULTS on 127.0.0.1:<free port>. Query strings are ignored when routing, so
    `/500?n=2` is a second feed with the same fault. `hits` records (path, monotonic time)."""

    def __init__(self) -> None:
        self.hits: list[tuple[str, float]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        chaos = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                chaos._handle(self)

            def handle(self):
                try:
                    super().handle()
                except (ConnectionError, socket.timeout):
                    pass  # a client dropping a kept-alive connection

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True, name="chaos-server")
        self._routes: dict[str, Callable[[BaseHTTPRequestHandler], None]] = {
            "/hang": self._hang,
            "/drip": self._drip,
            "/500": lambda h: self._send(h, 500, b"<h1>oops</h1>", "text/html"),
            "/503": lambda h: self._send(h, 503, b"busy", "text/plain", {"Retry-After": str(RETRY_AFTER_503)}),
            "/429": lambda h: self._send(h, 429, b"slow down", "text/plain", {
                "Retry-After": email.utils.formatdate(time.time() + RETRY_AFTER_429, usegmt=True)}),
            "/404": lambda h: self._send(h, 404, b"no such feed", "text/plain"),
            "/410": lambda h: self._send(h, 410, b"gone for good", "text/plain"),
            "/redirect-loop": lambda h: self._redirect(h, "/redirect-loop-b"),
            "/redirect-loop-b": lambda h: self._redirect(h, "/redirect-loop"),
            "/redirect-scheme": lambda h: self._redirect(h, "file:///etc/passwd"),
            "/html": lambda h: self._send(h, 200, HTML_PAGE, "text/html; charset=utf-8"),
            "/truncated": lambda h: self._send(h, 200, truncated_feed()),
            "/invalid-utf8": lambda h: self._send(h, 200, invalid_utf8_feed()),
            "/bomb-gzip": lambda h: self._send(h, 200, gzip_bomb(), headers={"Content-Encoding": "gzip"}),
            "/bomb-nested": lambda h: self._send(h, 200, nested_gzip_bomb(),
                                                 headers={"Content-Encoding": "gzip, gzip"}),
            "/bomb-br": lambda h: self._send(h, 200, brotli_bomb(), headers={"Content-Encoding": "br"}),
            "/huge": self._huge,
            "/huge-chunked": self._huge_chunked,
            "/bad-gzip": lambda h: self._send(h, 200, small_feed("bad-gzip"), headers={"Content-Encoding": "gzip"}),
            "/empty": lambda h: self._send(h, 200, b""),
            "/many": lambda h: self._send(h, 200, many_items_feed()),
            "/long-title": lambda h: self._send(h, 200, long_title_feed()),
        }
        assert set(FAULT_BY_PATH) <= set(self._routes)

    # ------------------------------------------------------------ lifecycle

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    def start(self) -> "ChaosServer":
        # Build the cached bombs before the first request, so no poll waits on them.
        gzip_bomb(), nested_gzip_bomb(), brotli_bomb(), many_items_feed(), long_title_feed()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "ChaosServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def hits_to(self, path: str, since: float = 0.0) -> list[float]:
        """Monotonic times of the requests to exactly `path` (query string included),
        made at or after `since`."""
        with self._lock:
            return [at for p, at in self.hits if p == path and at >= since]

    # ------------------------------------------------------------ handlers

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.hits.append((h.path, time.monotonic()))
        route = self._routes.get(h.path.split("?")[0])
        try:
            if route is None:
                self._send(h, 404, b"unknown chaos path", "text/plain")
            else:
                route(h)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, socket.timeout):
            h.close_connection = True  # the client gave up: exactly what these faults provoke

    def _send(self, h, status: int, body: bytes, content_type: str = "application/rss+xml; charset=utf-8",
              headers: dict[str, str] | None = None) -> None:
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            h.send_header(key, value)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        for start in range(0, len(body), CHUNK):
            h.wfile.write(body[start:start + CHUNK])

    def _redirect(self, h, location: str) -> None:
        h.send_response(302)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()

    def _client_gone(self, h, wait: float) -> bool:
        """Wait up to `wait` seconds; True if the client closed its end meanwhile."""
        readable, _, _ = select.select([h.connection], [], [], wait)
        if not readable:
            return False
        try:
            return h.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _hang(self, h) -> None:
        deadline = time.monotonic() + HANG_LIMIT
        while not self._stop.is_set() and time.monotonic() < deadline:
            if self._client_gone(h, 0.1):
                break
        h.close_connection = True

    def _drip(self, h) -> None:
        body = small_feed("drip")
        h.send_response(200)
        h.send_header("Content-Type", "application/rss+xml; charset=utf-8")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.flush()
        for i in range(len(body)):  # bounded: one byte a second, at most len(body) seconds
            h.wfile.write(body[i:i + 1])
            h.wfile.flush()
            if self._stop.wait(DRIP_INTERVAL):
                break
        h.close_connection = True

    def _huge_body(self, h, framed: bool) -> None:
        block = b"<!--" + b"x" * (CHUNK - 7) + b"-->"
        sent = 0
        while sent < HUGE_BYTES and not self._stop.is_set():  # bounded by HUGE_BYTES
            piece = block[: HUGE_BYTES - sent]
            if framed:
                h.wfile.write(b"%x\r\n" % len(piece) + piece + b"\r\n")
            else:
                h.wfile.write(piece)
            sent += len(piece)
        if framed:
            h.wfile.write(b"0\r\n\r\n")

    def _huge(self, h) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/rss+xml")
        h.send_header("Content-Length", str(HUGE_BYTES))
        h.end_headers()
        self._huge_body(h, framed=False)

    def _huge_chunked(self, h) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/rss+xml")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        self._huge_body(h, framed=True)


class PeakRSS:
    """The process's peak resident memory above its level at entry, in MB (Linux).

    Resets the kernel's high-water mark through /proc/self/clear_refs where allowed, so
    the peak is the block's own; otherwise samples RSS every 5 ms in a thread."""

    def __init__(self) -> None:
        self.peak_mb = 0.0
        self._sampler: threading.Thread | None = None
        self._done = threading.Event()
        self._max = 0

    @staticmethod
    def _status(field: str) -> int:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])  # kB
        raise RuntimeError(f"{field} not in /proc/self/status")

    def __enter__(self) -> "PeakRSS":
        self.base = self._status("VmRSS")
        try:
            with open("/proc/self/clear_refs", "w") as refs:
                refs.write("5")
            self.exact = True
        except OSError:
            self.exact = False
            self._max = self.base
            self._sampler = threading.Thread(target=self._sample, daemon=True)
            self._sampler.start()
        return self

    def _sample(self) -> None:
        while not self._done.wait(0.005):
            self._max = max(self._max, self._status("VmRSS"))

    def __exit__(self, *exc) -> None:
        if self.exact:
            peak = self._status("VmHWM")
        else:
            self._done.set()
            self._sampler.join()
            peak = self._max
        self.peak_mb = max(0, peak - self.base) / 1024


def children_peak_mb() -> float:
    """The largest peak resident memory among this process's live child processes (the
    engine's parse workers), in MB; 0 when there are none (Linux)."""
    peak = 0
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/children") as children:
                pids = children.read().split()
        except OSError:
            continue
        for pid in pids:
            try:
                with open(f"/proc/{pid}/status") as status:
                    for line in status:
                        if line.startswith("VmHWM:"):
                            peak = max(peak, int(line.split()[1]))
            except OSError:
                continue
    return peak / 1024
