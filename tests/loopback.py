"""A real HTTP server on 127.0.0.1 for tests: each path is a Route that says what to send.

Threaded with a deep listen queue, so concurrent fetches are not dropped and retried."""

from __future__ import annotations

import gzip
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable


@dataclass
class Route:
    body: bytes | Callable[[], bytes] = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/rss+xml; charset=utf-8"
    etag: str | None = None              # enables If-None-Match -> 304
    last_modified: str | None = None     # enables If-Modified-Since -> 304
    delay: float = 0.0                   # seconds before answering
    drip: float | None = None            # seconds between single bytes of the body
    gzip: bool = False
    redirect: str | None = None          # Location for 3xx

    @classmethod
    def file(cls, path: Path | str, **kw) -> "Route":
        return cls(body=Path(path).read_bytes(), **kw)


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    at: float


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512
    allow_reuse_address = True


class LoopbackServer:
    """Serve routes on 127.0.0.1:<free port>; records every request in `hits`."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: list[Hit] = []
        self.active: dict[str, int] = {}
        self.max_active = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                server._handle(self)

            def do_HEAD(self):
                server._handle(self)

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base + (path if path.startswith("/") else "/" + path)

    def add(self, path: str, route: Route) -> str:
        self.routes[path] = route
        return self.url(path)

    def requests_to(self, path: str) -> list[Hit]:
        return [h for h in self.hits if h.path == path]

    def start(self) -> "LoopbackServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path
        with self._lock:
            self.hits.append(Hit(path, {k.lower(): v for k, v in h.headers.items()}, time.monotonic()))
            self.active[path] = self.active.get(path, 0) + 1
            self.max_active = max(self.max_active, sum(self.active.values()))
        try:
            self._respond(h, self.routes.get(path) or self.routes.get(path.split("?")[0]))
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            with self._lock:
                self.active[path] -= 1

    def _respond(self, h: BaseHTTPRequestHandler, route: Route | None) -> None:
        if route is None:
            h.send_response(404)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        if route.delay:
            time.sleep(route.delay)
        if route.redirect is not None:
            h.send_response(route.status if 300 <= route.status < 400 else 302)
            h.send_header("Location", route.redirect)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        if route.status == 200 and (
            (route.etag and h.headers.get("If-None-Match") == route.etag)
            or (route.last_modified and h.headers.get("If-Modified-Since") == route.last_modified)
        ):
            h.send_response(304)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        body = route.body() if callable(route.body) else route.body
        if route.gzip:
            body = gzip.compress(body)
        h.send_response(route.status)
        h.send_header("Content-Type", route.content_type)
        if route.gzip:
            h.send_header("Content-Encoding", "gzip")
        if route.etag:
            h.send_header("ETag", route.etag)
        if route.last_modified:
            h.send_header("Last-Modified", route.last_modified)
        for k, v in route.headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if h.command == "HEAD":
            return
        if route.drip:
            for i in range(len(body)):
                h.wfile.write(body[i:i + 1])
                h.wfile.flush()
                time.sleep(route.drip)
        else:
            h.wfile.write(body)
