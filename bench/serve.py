"""A threaded loopback HTTP server with a deep listen queue, for benchmarks.

Python's stock http.server queues only 5 connections; dropped connects add 1-3 s retries
that swamp every figure, hence request_queue_size."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Server(ThreadingHTTPServer):
    """ThreadingHTTPServer with a listen queue deep enough for a benchmark's bursts."""

    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True


class QuietHandler(BaseHTTPRequestHandler):
    """Keep-alive HTTP/1.1 without Nagle (headers and body go out at once: no 40 ms
    delayed-ACK stall per request) and without a log line per request."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args) -> None:
        pass


def serve(bodies: dict[str, bytes], host: str = "127.0.0.1") -> tuple[ThreadingHTTPServer, str]:
    """Serve {path: body} on host:<free port>; returns (server, base URL)."""

    class Handler(QuietHandler):
        def do_GET(self):
            body = bodies.get(self.path.split("?")[0])
            if body is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = Server((host, 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://{host}:{server.server_address[1]}"
