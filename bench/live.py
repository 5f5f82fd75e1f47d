"""Live loopback sources for benchmarks: feeds that keep publishing, and a Coinbase-style
websocket ticker.

RollingFeeds serves N RSS feeds whose item window moves on every `step` seconds (a few new
items per feed each time), with an ETag so an unchanged feed answers 304, the way real
feeds behave under polling. Ticker pushes Coinbase Exchange ticker messages at a fixed
rate to every subscriber."""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from xml.sax.saxutils import escape

from bench.feedgen import headline
from bench.serve import QuietHandler, Server

START = datetime(2026, 1, 1, tzinfo=timezone.utc)


class _Server(Server):
    def handle_error(self, request, client_address) -> None:
        pass  # a client that hung up (the app quitting) is not news


def window_rss(feed_no: int, first: int, count: int) -> bytes:
    """Items first..first+count-1 of feed feed_no, newest first: the newest dated now (news),
    the rest seven hours apart (a backlog, too old to alert on)."""
    now = datetime.now(timezone.utc)
    parts = [f'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel><title>Live feed {feed_no}</title>'
             f"<link>https://live{feed_no}.example.com/</link><description>generated</description>"]
    last = first + count - 1
    for n in range(last, first - 1, -1):
        rng = random.Random(feed_no * 1_000_003 + n)
        when = format_datetime(now - timedelta(hours=7 * (last - n)), usegmt=True)
        parts.append(f"<item><title>{escape(headline(rng))} ({feed_no}.{n})</title>"
                     f"<link>https://live{feed_no}.example.com/{n}</link><guid>live-{feed_no}-{n}</guid>"
                     f"<pubDate>{when}</pubDate><description>{escape(headline(rng))}. {escape(headline(rng))}."
                     f"</description></item>")
    parts.append("</channel></rss>")
    return "".join(parts).encode()


class RollingFeeds:
    """feeds RSS feeds at /live/<n>.xml; every `step` seconds each shows `fresh` new items."""

    def __init__(self, feeds: int, *, items: int = 30, fresh: int = 3, step: float = 5.0,
                 spot: bytes | None = None) -> None:
        self.feeds, self.items, self.fresh, self.step = feeds, items, fresh, step
        self.started = time.monotonic()
        self.requests = 0
        self.not_modified = 0
        rolling = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                rolling.requests += 1
                path = self.path.split("?")[0]
                if spot is not None and path.startswith("/v2/prices/"):
                    return self._send(200, spot, "application/json", None)
                if not (path.startswith("/live/") and path.endswith(".xml")):
                    return self._send(404, b"", "text/plain", None)
                feed_no = int(path[len("/live/"):-4])
                generation = int((time.monotonic() - rolling.started) / rolling.step)
                etag = f'"{feed_no}-{generation}"'
                if self.headers.get("If-None-Match") == etag:
                    rolling.not_modified += 1
                    return self._send(304, b"", "application/rss+xml", etag)
                body = window_rss(feed_no, generation * rolling.fresh, rolling.items)
                return self._send(200, body, "application/rss+xml; charset=utf-8", etag)

            def _send(self, status: int, body: bytes, content_type: str, etag: str | None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                if etag:
                    self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body:
                    self.wfile.write(body)

        self.server = _Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def urls(self) -> list[str]:
        return [f"{self.base}/live/{n}.xml" for n in range(self.feeds)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Ticker:
    """A websocket server on loopback sending Coinbase ticker messages `rate` times a second."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.sent = 0
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self.port = 0
        threading.Thread(target=self._run, daemon=True).start()
        self._ready.wait(10)
        self.url = f"ws://127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._main())

    async def _main(self) -> None:
        from websockets.asyncio.server import serve

        self._stop = asyncio.Event()
        async with serve(self._handler, "127.0.0.1", 0) as server:
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            await self._stop.wait()

    async def _handler(self, ws) -> None:
        from websockets.exceptions import ConnectionClosed

        price = 97_000.0
        rng = random.Random(3)
        try:
            await ws.recv()  # the subscribe message
            while True:
                price *= 1 + rng.uniform(-0.0005, 0.0005)
                msg = {"type": "ticker", "product_id": "BTC-USD", "price": f"{price:.2f}", "open_24h": "95000.00",
                       "time": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")}
                await ws.send(json.dumps(msg))
                self.sent += 1
                await asyncio.sleep(1 / self.rate)
        except ConnectionClosed:
            return

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)
