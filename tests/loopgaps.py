"""How long the event loop was held up while some work ran: a task that sleeps 10 ms at a
time records each gap between its wake-ups (a free loop gives ~10 ms gaps)."""

from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager
from typing import AsyncIterator


@asynccontextmanager
async def loop_gaps(every: float = 0.01) -> AsyncIterator[list[float]]:
    """The gaps, in seconds, filled in while the block runs."""
    gaps: list[float] = []

    async def ticking() -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(every)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(ticking())
    try:
        yield gaps
    finally:
        ticker.cancel()
