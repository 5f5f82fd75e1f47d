"""The websocket price stream against a real websocket server on 127.0.0.1 that replays
recorded exchange messages, drops the connection, goes silent, or sends garbage."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Awaitable, Callable

import httpx
import pytest
from websockets.asyncio.server import ServerConnection, serve

from feeds.config import PriceSourceConfig, PricesConfig
from feeds.model import PriceStreamStatus, PriceTick, PriceUpdate
from feeds.prices import PriceEngine
from feeds.store import Store
from feeds.stream import PriceStream
from tests.loopback import Route

DATA = Path(__file__).parent / "data" / "prices"
Script = Callable[[ServerConnection, "WsServer"], Awaitable[None]]


class WsServer:
    """websockets.serve on 127.0.0.1: connection n runs scripts[n] (the last one repeats)."""

    def __init__(self, *scripts: Script) -> None:
        self.scripts = scripts
        self.connections = 0
        self.received: list[str] = []

    async def _handler(self, ws: ServerConnection) -> None:
        script = self.scripts[min(self.connections, len(self.scripts) - 1)]
        self.connections += 1
        await script(ws, self)

    async def __aenter__(self) -> "WsServer":
        self.server = await serve(self._handler, "127.0.0.1", 0)
        self.url = f"ws://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.close()
        await asyncio.wait_for(self.server.wait_closed(), 5)


def replay(lines: list[str | bytes], *, then: str = "drop", pause: float = 0.0) -> Script:
    """Wait for the subscribe message, send the lines, then drop / close / hold / go silent."""

    async def script(ws: ServerConnection, server: WsServer) -> None:
        server.received.append(await ws.recv())
        for line in lines:
            await ws.send(line)
            if pause:
                await asyncio.sleep(pause)
        if then == "drop":  # the TCP connection dies without a close frame
            ws.transport.abort()
        elif then == "close":
            await ws.close()
        else:  # "silent": keep the connection open and say nothing until the client leaves
            await ws.wait_closed()

    return script


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


class Run:
    """A PriceStream running as a task, collecting its ticks and state changes."""

    def __init__(self, kind: str, symbol: str, url: str, **kw) -> None:
        self.ticks: list[PriceTick] = []
        self.states: list[tuple[bool, str | None]] = []
        kw.setdefault("min_backoff", 0.05)
        self.stream = PriceStream(kind, symbol, self.ticks.append, url=url,
                                  on_state=lambda up, err: self.states.append((up, err)), **kw)

    async def __aenter__(self) -> "Run":
        self.task = asyncio.create_task(self.stream.run())
        return self

    async def __aexit__(self, *exc) -> None:
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task


def lines_of(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def prices_in(lines: list[str], product: str) -> list[str]:
    """The ticker prices for one product, as the text in the file."""
    out = []
    for line in lines:
        msg = json.loads(line, parse_float=str, parse_int=str)
        if msg.get("type") == "ticker" and msg.get("product_id") == product:
            out.append(msg["price"])
    return out


GARBAGE: list[str | bytes] = [
    "this is not JSON",
    b"\x00\x01 a binary frame",
    '{"type":"ticker","product_id":"SKL-USD","price":"abc"}',
    '[1, 2, 3]',
    '{"type":"ticker","product_id":"SKL-USD","price":"-0.5"}',
    '{"type":"ticker","product_id":"SKL-USD","price":"0.31","open_24h":"0.3","time":"yesterday"}',
]


@pytest.mark.shared
async def test_recorded_coinbase_session_replays_then_reconnects_then_skips_garbage(shared_fixtures, caplog):
    recorded = lines_of(shared_fixtures / "prices" / "coinbase_exchange_ws_ticker_messages.jsonl")
    expected = prices_in(recorded, "SKL-USD")
    assert len(expected) == 53
    second = recorded[:40]
    async with WsServer(replay(recorded, then="drop"), replay(GARBAGE + second, then="silent")) as server:
        with caplog.at_level(logging.WARNING, logger="policywatch.stream"):
            async with Run("coinbase", "SKL-USD", server.url, read_timeout=5) as run:
                await until(lambda: len(run.ticks) == len(expected) + len(prices_in(second, "SKL-USD")))
                await asyncio.sleep(0.1)
    stream = run.stream
    # every SKL-USD ticker of the recording, digit for digit, and nothing of other products
    assert [str(t.price) for t in run.ticks] == expected + prices_in(second, "SKL-USD")
    assert {t.source for t in run.ticks} == {"coinbase"} and {t.symbol for t in run.ticks} == {"SKL-USD"}
    # the dropped connection was noticed and the stream reconnected
    assert server.connections == 2 == stream.connects
    assert [up for up, _ in run.states] == [True, False, True]
    # the garbage was skipped, logged, and the stream went on
    assert stream.skipped == len(GARBAGE)
    assert caplog.text.count("skipped a message") == len(GARBAGE)
    assert "not JSON" in caplog.text and "a binary frame" in caplog.text and "not positive" in caplog.text
    # it subscribed to the ticker (and heartbeats) of the one product it follows
    assert [json.loads(m) for m in server.received] == [
        {"type": "subscribe", "product_ids": ["SKL-USD"], "channels": ["ticker", "heartbeat"]}] * 2


async def test_own_coinbase_session_gives_btc_ticks_with_change_and_time():
    async with WsServer(replay(lines_of(DATA / "coinbase_ws.jsonl"), then="silent")) as server:
        async with Run("coinbase", "BTC-USD", server.url) as run:
            await until(lambda: len(run.ticks) == 3)
    assert [str(t.price) for t in run.ticks] == ["116310.25", "116311.02", "116309.5"]  # ETH-USD ignored
    # (116310.25 - 115480) / 115480 = 0.718955...% -> 0.7190
    assert str(run.ticks[0].change_24h) == "0.7190"
    assert run.ticks[0].exchange_time == datetime(2025, 8, 7, 17, 6, 40, 120001, tzinfo=timezone.utc)
    assert run.stream.skipped == 0


async def test_kraken_v2_ticker_snapshot_and_updates():
    async with WsServer(replay(lines_of(DATA / "kraken_v2_ws.jsonl"), then="silent")) as server:
        async with Run("kraken", "BTC-USD", server.url) as run:
            await until(lambda: len(run.ticks) == 2)
    assert [str(t.price) for t in run.ticks] == ["116290.10", "116295.10"]  # the JSON text, not a float
    assert [str(t.change_24h) for t in run.ticks] == ["0.42", "0.43"]
    assert json.loads(server.received[0]) == {"method": "subscribe",
                                              "params": {"channel": "ticker", "symbol": ["BTC/USD"]}}
    assert run.stream.skipped == 0


@pytest.mark.shared
async def test_recorded_kraken_v2_snapshot(shared_fixtures):
    raw = (shared_fixtures / "prices" / "kraken_ws_v2_ticker_snapshot_BTC-USD.json").read_text(encoding="utf-8")
    async with WsServer(replay([raw], then="silent")) as server:
        async with Run("kraken", "BTC-USD", server.url) as run:
            await until(lambda: len(run.ticks) == 1)
    tick = run.ticks[0]
    assert str(tick.price) == "105899.40" and str(tick.change_24h) == "0.24"
    assert tick.exchange_time == datetime(2022, 12, 25, 9, 30, 59, 123456, tzinfo=timezone.utc)


async def test_a_silent_connection_is_detected_as_dead_and_replaced():
    tick_line = lines_of(DATA / "coinbase_ws.jsonl")[2]
    async with WsServer(replay([tick_line], then="silent")) as server:
        async with Run("coinbase", "BTC-USD", server.url, read_timeout=0.3) as run:
            await until(lambda: server.connections >= 2, timeout=3)
            await until(lambda: len(run.ticks) >= 2, timeout=3)
    assert run.states[:2] == [(True, None), (False, "no message for 0.3 s")]
    assert run.stream.connects >= 2


async def test_heartbeats_keep_a_quiet_connection_alive():
    lines = lines_of(DATA / "coinbase_ws.jsonl")
    heartbeat = lines[1]
    async with WsServer(replay([lines[2]] + [heartbeat] * 12, pause=0.1, then="silent")) as server:
        async with Run("coinbase", "BTC-USD", server.url, read_timeout=0.4) as run:
            await asyncio.sleep(1.3)
    assert server.connections == 1 and run.states == [(True, None)]


async def test_backoff_grows_while_connections_fail_and_resets_after_a_tick():
    stream = PriceStream("coinbase", "BTC-USD", lambda t: None, url="ws://127.0.0.1:9", min_backoff=0.05,
                         max_backoff=0.4)
    for failures, nominal in [(0, 0.05), (1, 0.05), (2, 0.1), (3, 0.2), (4, 0.4), (5, 0.4), (50, 0.4)]:
        stream.failures = failures
        for _ in range(20):
            assert nominal * 0.8 - 1e-9 <= stream.backoff() <= nominal * 1.2 + 1e-9

    # a server that accepts and hangs up at once is not hammered
    async def hang_up(ws, server):
        await ws.close()

    async with WsServer(hang_up) as server:
        async with Run("coinbase", "BTC-USD", server.url, min_backoff=0.1, max_backoff=10) as run:
            await asyncio.sleep(1.2)
    # 0.1 + 0.2 + 0.4 (+-20%) fit in 1.2 s, 0.8 more does not
    assert 3 <= server.connections <= 5 and run.stream.failures >= 3
    assert run.states == []

    # a refused port: no handshake at all, same backoff
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with Run("coinbase", "BTC-USD", f"ws://127.0.0.1:{port}", min_backoff=0.05, max_backoff=10) as run:
        await asyncio.sleep(0.6)
    assert run.stream.connects == 0 and 3 <= run.stream.failures <= 5
    assert "ConnectionRefused" in (run.stream.last_error or "") or "Errno" in (run.stream.last_error or "")

    # one good session resets the count
    lines = lines_of(DATA / "coinbase_ws.jsonl")
    async with WsServer(hang_up, replay(lines, then="silent")) as server:
        async with Run("coinbase", "BTC-USD", server.url) as run:
            await until(lambda: len(run.ticks) == 3)
    assert run.stream.failures == 0


async def test_an_exchange_error_message_ends_the_session_with_that_error():
    error = '{"type":"error","message":"Failed to subscribe","reason":"BTC-XYZ is not a valid product"}'
    async with WsServer(replay([error], then="silent")) as server:
        async with Run("coinbase", "BTC-USD", server.url, min_backoff=5) as run:
            await until(lambda: run.stream.last_error is not None)
    assert run.stream.last_error == "coinbase: Failed to subscribe"
    assert server.connections == 1 and run.ticks == []


# ---------------------------------------------------------------- with the engine


def _ticker(i: int) -> str:
    return json.dumps({"type": "ticker", "product_id": "BTC-USD", "price": f"{Decimal('116000.00') + Decimal(i) / 100}",
                       "open_24h": "115480", "time": "2025-08-07T17:06:40.000000Z"})


async def test_engine_throttles_stream_ticks_stores_them_all_and_falls_back_to_rest(server, tmp_path):
    """A burst of 300 ticks reaches the sink as at most ~10 updates a second (the newest
    one last), every tick is stored, REST rests while the stream delivers, and REST
    polling of that exchange resumes as soon as the stream goes down."""
    burst = [_ticker(i) for i in range(300)]
    trickle = [_ticker(300 + i) for i in range(25)]  # one every 0.1 s for 2.5 s

    async def session(ws, srv):
        srv.received.append(await ws.recv())
        for line in burst:
            await ws.send(line)
        srv.burst_sent = time.monotonic()
        for line in trickle:
            await ws.send(line)
            await asyncio.sleep(0.1)
        srv.down_at = time.monotonic()
        await ws.close()

    async def refuse(ws, srv):
        await ws.close()

    server.add("/v2/prices/BTC-USD/spot", Route.file(DATA / "coinbase_spot.json", content_type="application/json"))
    store = Store(tmp_path / "pw.db")
    events: list[tuple[float, object]] = []
    async with WsServer(session, refuse) as ws_server:
        config = PricesConfig(symbol="BTC-USD", interval=1, stream="coinbase", stream_url=ws_server.url,
                              stream_timeout=2, sources=(PriceSourceConfig(kind="coinbase", url=server.base),))
        async with httpx.AsyncClient(timeout=5) as client:
            engine = PriceEngine(config, client, store, lambda e: events.append((time.monotonic(), e)))
            started = time.monotonic()
            await engine.start()
            await until(lambda: hasattr(ws_server, "down_at"), timeout=10)
            await until(lambda: any(isinstance(e, PriceStreamStatus) and not e.connected for _, e in events))
            await asyncio.sleep(1.5)
            await engine.stop()

    statuses = [(t, e) for t, e in events if isinstance(e, PriceStreamStatus)]
    up_at = next(t for t, e in statuses if e.connected)
    down_seen = next(t for t, e in statuses if not e.connected)
    stream_updates = [(t, e) for t, e in events if isinstance(e, PriceUpdate) and e.tick is not None
                      and e.tick.price != Decimal("116310.25")]
    # throttled: never more than ~10 a second, however fast the ticks came
    span = stream_updates[-1][0] - stream_updates[0][0]
    assert len(stream_updates) <= span * 10 + 2, (len(stream_updates), span)
    assert len(stream_updates) < 100
    times = [t for t, _ in stream_updates]
    assert all(b - a >= 0.09 for a, b in zip(times, times[1:]))
    # coalesced, not lost: the newest tick is the last one handed over
    assert stream_updates[-1][1].tick.price == Decimal("116003.24")
    # every tick is stored
    stored = store.ticks_since("BTC-USD", datetime.now(timezone.utc) - timedelta(minutes=5))
    assert sum(1 for t in stored if t.price != Decimal("116310.25")) == 325
    # REST rested while the stream delivered, and took over once it was down
    rest = [h.at for h in server.requests_to("/v2/prices/BTC-USD/spot")]
    assert not [t for t in rest if up_at + 0.2 < t < ws_server.down_at]
    assert [t for t in rest if t >= down_seen], "no REST poll after the stream went down"
    assert min(t for t in rest if t >= down_seen) - down_seen < 0.5
    assert started < up_at
    store.close()
