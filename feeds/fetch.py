"""HTTP for feeds: one shared httpx.AsyncClient with timeouts, a streaming size cap, a
redirect cap, conditional GET, bounded concurrency overall and per host.

Everything that can go wrong ends as a FetchError carrying what the scheduler needs to
back off politely (Retry-After, "gone")."""

from __future__ import annotations

import asyncio
import email.utils
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

import httpx

from feeds.config import FetchConfig
from feeds.encoding import BoundedDecoder, TooLarge


class FetchError(Exception):
    """A failed fetch: a one-line reason, and the server's wish about when to retry."""

    def __init__(self, message: str, *, status: int | None = None,
                 retry_after: float | None = None, gone: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.gone = gone


@dataclass(frozen=True, slots=True)
class FetchResult:
    status: int  # 200 (or other 2xx) with a body, or 304 not modified
    body: bytes
    url: str  # after redirects
    content_type: str | None
    etag: str | None
    last_modified: str | None

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds from now: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


def ssl_context_soon() -> Callable[[], ssl.SSLContext]:
    """Start making the TLS context httpx would make (loading the CA bundle takes 25-45 ms,
    with the GIL released) in a thread; the returned function waits for it. A one-shot
    poll overlaps it with compiling the rules instead of paying it in every child.

    certifi is imported and asked for its bundle's path here first: in the thread that
    import (~2 ms alone) took 30-70 ms, each of its many file-system calls giving up the
    GIL to the rules compiling on the main thread and waiting out a switch interval to
    get it back, and the poll waited for it (bench/reload.py: `fetch --once` ~60 ms sooner)."""
    import certifi

    certifi.where()
    made: list[ssl.SSLContext] = []
    worker = threading.Thread(target=lambda: made.append(httpx.create_ssl_context(trust_env=True)),
                              name="policywatch-tls", daemon=True)
    worker.start()

    def wait() -> ssl.SSLContext:
        worker.join()
        return made[0] if made else httpx.create_ssl_context(trust_env=True)  # the thread failed: here

    return wait


class Fetcher:
    """Owns the shared client and the concurrency limits. Use as an async context manager."""

    def __init__(self, config: FetchConfig, *, client: httpx.AsyncClient | None = None,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.config = config
        self._own_client = client is None
        self.client = client or httpx.AsyncClient(
            verify=ssl_context or True,  # True: httpx makes one (CA bundle, SSL_CERT_FILE/DIR)
            timeout=httpx.Timeout(config.read_timeout, connect=config.connect_timeout),
            follow_redirects=True,
            max_redirects=config.max_redirects,
            headers={"User-Agent": config.user_agent,
                     "Accept": "application/rss+xml, application/atom+xml, application/feed+json, "
                               "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"},
            limits=httpx.Limits(max_connections=config.concurrency * 2,
                                max_keepalive_connections=config.concurrency),
            trust_env=True,  # proxies from the environment, as httpx does
        )
        self._all = asyncio.Semaphore(config.concurrency)
        self._hosts: dict[str, asyncio.Semaphore] = {}

    async def __aenter__(self) -> "Fetcher":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._own_client:
            await self.client.aclose()

    def _host_limit(self, url: str) -> asyncio.Semaphore:
        host = (urlsplit(url).hostname or "").lower()
        sem = self._hosts.get(host)
        if sem is None:
            sem = self._hosts[host] = asyncio.Semaphore(self.config.per_host)
        return sem

    async def get(self, url: str, *, etag: str | None = None, last_modified: str | None = None) -> FetchResult:
        """GET one feed. Raises FetchError on any failure."""
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        async with self._host_limit(url), self._all:
            try:
                async with asyncio.timeout(self.config.total_timeout):
                    return await self._get(url, headers)
            except TimeoutError:
                raise FetchError(f"timed out after {self.config.total_timeout:g} s") from None
            except httpx.TooManyRedirects:
                raise FetchError(f"more than {self.config.max_redirects} redirects") from None
            except httpx.UnsupportedProtocol as exc:
                raise FetchError(f"unsupported URL scheme ({exc})") from None
            except httpx.TimeoutException as exc:
                raise FetchError(f"timed out ({type(exc).__name__})") from None
            except httpx.DecodingError as exc:
                raise FetchError(f"bad compressed body ({exc})") from None
            except httpx.HTTPError as exc:
                raise FetchError(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from None

    async def _get(self, url: str, headers: dict[str, str]) -> FetchResult:
        async with self.client.stream("GET", url, headers=headers) as response:
            status = response.status_code
            if status == 304:
                return FetchResult(304, b"", str(response.url), None,
                                   response.headers.get("etag") or headers.get("If-None-Match"),
                                   response.headers.get("last-modified") or headers.get("If-Modified-Since"))
            if status >= 400 or status < 200 or status >= 300:
                raise FetchError(
                    f"HTTP {status} {response.reason_phrase}".rstrip(),
                    status=status,
                    retry_after=parse_retry_after(response.headers.get("retry-after"))
                    if status in (429, 503) else None,
                    gone=status == 410,
                )
            declared = response.headers.get("content-length")
            cap = self.config.max_bytes
            if declared and declared.isdigit() and int(declared) > cap and not response.headers.get("content-encoding"):
                raise FetchError(f"response larger than {cap} bytes (Content-Length {declared})")
            chunks: list[bytes] = []
            # Decode ourselves with the cap applied inside the decompressor: httpx's decoders
            # would expand a compression bomb whole before any check (feeds/encoding.py).
            decoder = BoundedDecoder(response.headers.get("content-encoding"), cap)
            try:
                async for raw in response.aiter_raw():
                    chunks.append(decoder.decode(raw))
                chunks.append(decoder.flush())
            except TooLarge:
                raise FetchError(f"response larger than {cap} bytes") from None
            except ValueError as exc:
                raise FetchError(str(exc)) from None
            return FetchResult(status, b"".join(chunks), str(response.url),
                               response.headers.get("content-type"),
                               response.headers.get("etag"), response.headers.get("last-modified"))
