"""How long the event loop was held up while some work ran: a task that sleeps 10 ms at a
time records each gap between its wake-ups (a free loop gives ~10 ms gaps).

The objects alive when the block starts are frozen out of the cyclic GC for its length
(as the app freezes its start-up objects, tui.collector): late in a full test run the heap
holds every earlier test's leftovers. A CI run saw one 0.19 s gap during a slowed search
that 15 runs on their own never came near (10-13 ms at most); a full collection over that
heap is the likely cause, and it belongs to the test run, not to the work measured."""

from __future__ import annotations

import asyncio
import gc
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

    gc.collect()
    gc.freeze()
    ticker = asyncio.create_task(ticking())
    try:
        yield gaps
    finally:
        ticker.cancel()
        gc.unfreeze()
