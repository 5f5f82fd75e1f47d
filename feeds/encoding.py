"""HTTP Content-Encoding decoding with a hard cap on the decoded size.

httpx's own decoders expand each network chunk in one call with no output limit, so a
compression bomb is paid for before any size check can run: a 600-byte gzip-inside-gzip
body becomes 256 MB in one call, and a 1.6 KB brotli body becomes 1 GB and blocks the
event loop for seconds. Here every layer is asked for at most `cap + 1` bytes (zlib's
max_length, brotli's output_buffer_limit), so a bomb costs at most the cap."""

from __future__ import annotations

import zlib


class TooLarge(Exception):
    """The decoded body would exceed the cap."""


class _Identity:
    def decode(self, data: bytes) -> bytes:
        return data

    def flush(self) -> bytes:
        return b""


class _Zlib:
    """gzip, or deflate with or without the zlib wrapper (servers send both)."""

    def __init__(self, encoding: str, cap: int) -> None:
        self.cap = cap
        self.total = 0
        self.raw_fallback = encoding == "deflate"
        self.d = zlib.decompressobj(zlib.MAX_WBITS | 16 if encoding in ("gzip", "x-gzip") else zlib.MAX_WBITS)

    def decode(self, data: bytes) -> bytes:
        try:
            out = self.d.decompress(data, self.cap - self.total + 1)
        except zlib.error as exc:
            if not (self.raw_fallback and self.total == 0):
                raise ValueError(f"bad compressed body ({exc})") from None
            self.raw_fallback = False
            self.d = zlib.decompressobj(-zlib.MAX_WBITS)
            try:
                out = self.d.decompress(data, self.cap + 1)
            except zlib.error as exc2:
                raise ValueError(f"bad compressed body ({exc2})") from None
        self.raw_fallback = False
        return self._count(out)

    def flush(self) -> bytes:
        try:
            return self._count(self.d.flush())  # all input was consumed: only the tail is left
        except zlib.error as exc:
            raise ValueError(f"bad compressed body ({exc})") from None

    def _count(self, out: bytes) -> bytes:
        # Output shorter than max_length means all input was consumed; reaching it means
        # there is more than the cap.
        self.total += len(out)
        if self.total > self.cap:
            raise TooLarge
        return out


class _Brotli:
    def __init__(self, cap: int) -> None:
        import brotli  # installed with httpx[brotli]

        self.cap = cap
        self.total = 0
        self.d = brotli.Decompressor()
        self.error = brotli.error

    def decode(self, data: bytes) -> bytes:
        if not data:
            return b""
        try:
            out = self.d.process(data, output_buffer_limit=self.cap - self.total + 1)
        except self.error as exc:
            raise ValueError(f"bad compressed body ({exc})") from None
        self.total += len(out)
        if self.total > self.cap or not self.d.can_accept_more_data():
            raise TooLarge
        return out

    def flush(self) -> bytes:
        return b""


class BoundedDecoder:
    """Decodes a Content-Encoding chain (`gzip`, `br`, `deflate`, `gzip, gzip` ...) from raw
    body chunks; raises TooLarge as soon as any layer would produce more than `cap` bytes,
    and ValueError for a corrupt stream. Unknown codings are passed through, as httpx does."""

    def __init__(self, content_encoding: str | None, cap: int) -> None:
        codings = [c.strip().lower() for c in (content_encoding or "").split(",") if c.strip()]
        self.layers = [self._layer(c, cap) for c in reversed(codings)]  # last applied, first undone
        self.cap = cap
        self.total = 0

    @staticmethod
    def _layer(coding: str, cap: int):
        if coding in ("gzip", "x-gzip", "deflate"):
            return _Zlib(coding, cap)
        if coding == "br":
            return _Brotli(cap)
        return _Identity()

    def decode(self, data: bytes) -> bytes:
        for layer in self.layers:
            data = layer.decode(data)
        return self._count(data)

    def flush(self) -> bytes:
        data = b""
        for layer in self.layers:
            data = (layer.decode(data) if data else b"") + layer.flush()
        return self._count(data)

    def _count(self, data: bytes) -> bytes:
        self.total += len(data)  # also bounds plain (identity) bodies without a Content-Length
        if self.total > self.cap:
            raise TooLarge
        return data
