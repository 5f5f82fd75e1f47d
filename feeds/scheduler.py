"""When to poll: APScheduler's AsyncIOScheduler on the running loop, one job per feed.

Each job is a one-shot date job that the finished poll re-arms with its next due time, so
a slow server never gets a second request stacked behind the first (dolphie's habit),
backoff and Retry-After simply move the next due time, and nothing runs twice at once."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta, timezone
from typing import Any, Awaitable, Callable


def backoff_delay(interval: float, failures: int, max_backoff: float) -> float:
    """Seconds to wait after `failures` consecutive failures: the interval doubled per
    failure, capped at max_backoff (but never shorter than the interval itself)."""
    if failures <= 0:
        return interval
    return min(interval * (2 ** min(failures, 30)), max(max_backoff, interval))


def next_delay(interval: float, failures: int, *, jitter: float, max_backoff: float,
               retry_after: float | None = None, rng: random.Random | None = None) -> float:
    """The delay before the next poll: backoff with +/- jitter, and never sooner than the
    server's Retry-After."""
    base = backoff_delay(interval, failures, max_backoff)
    spread = (rng or random).uniform(-jitter, jitter) if jitter else 0.0
    delay = base * (1 + spread)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return max(delay, 1.0)


async def _quiet_on_cancel(func: Callable[..., Awaitable[Any]], *args: Any) -> None:
    """Run one job. shutdown() cancels the jobs in flight: that is an ordinary end, not a
    crash for APScheduler to log at ERROR with a traceback (found by tests/test_chaos.py)."""
    try:
        await func(*args)
    except asyncio.CancelledError:
        pass


class PollScheduler:
    """Named one-shot jobs on an AsyncIOScheduler bound to the running event loop."""

    def __init__(self) -> None:
        self._made = None

    @property
    def _scheduler(self):
        """Made (and APScheduler imported, ~30 ms) on first use: a one-shot poll
        (`fetch --once`) schedules nothing."""
        if self._made is None:
            from apscheduler.schedulers.asyncio import AsyncIOScheduler

            self._made = AsyncIOScheduler(timezone=timezone.utc,
                                          job_defaults={"max_instances": 1, "coalesce": True,
                                                        "misfire_grace_time": None})
        return self._made

    @property
    def running(self) -> bool:
        return self._made is not None and self._made.running

    def start(self) -> None:
        """Must be called from a coroutine: the scheduler binds to the running loop."""
        if not self._scheduler.running:
            self._scheduler.start()

    def shutdown(self) -> None:
        if self.running:
            self._scheduler.shutdown(wait=False)

    def at(self, job_id: str, when: datetime, func: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Run `func(*args)` at `when` (now if it is past), replacing any pending run."""
        from apscheduler.triggers.date import DateTrigger

        now = datetime.now(timezone.utc)
        if when < now:
            when = now
        self._scheduler.add_job(_quiet_on_cancel, DateTrigger(run_date=when), args=(func, *args), id=job_id,
                                replace_existing=True, name=job_id)

    def after(self, job_id: str, seconds: float, func: Callable[..., Awaitable[Any]], *args: Any) -> None:
        self.at(job_id, datetime.now(timezone.utc) + timedelta(seconds=seconds), func, *args)

    def next_run(self, job_id: str) -> datetime | None:
        job = self._scheduler.get_job(job_id)
        return None if job is None else job.next_run_time

    def cancel(self, job_id: str) -> None:
        if self._scheduler.get_job(job_id) is not None:
            self._scheduler.remove_job(job_id)

    def job_ids(self) -> list[str]:
        return [job.id for job in self._scheduler.get_jobs()]
