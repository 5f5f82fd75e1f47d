"""Alert rules: which new items deserve a toast, the bell or a hook command.

Rules come from `[[alerts.rules]]` in the config. `when` is a tag expression parsed by
feeds.tagexpr (the classifier's own parser, so the two languages never drift apart) over
the item's tags plus `flag`, `high` and `normal`. Only news raises alerts: an item
published (or, undated, first seen) more than `[alerts] max_age_hours` ago raises none,
so a first run, a new feed or a feed back after an outage stays quiet about old stories
in the monitor and in `watch` hooks alike. A hook is an argv list run without a
shell; it gets the item as JSON on stdin, is killed after its timeout, and only ever
logs its trouble: a slow or broken hook never holds up the engine."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import AbstractSet, Iterable

from feeds.config import AlertRuleConfig, AlertsConfig, Config
from feeds.model import Alert, Item
from feeds.store import FUTURE_SLACK
from feeds.tagexpr import Expr, parse

log = logging.getLogger("policywatch.alerts")

STDERR_TAIL = 2000  # characters of a failing hook's stderr kept for the log


def held_names(item: Item) -> frozenset[str]:
    """The names a `when` expression can test on this item."""
    c = item.classification
    if c is None:
        return frozenset()
    names = set(c.tags)
    if c.flag:
        names.add("flag")
    if c.priority in ("high", "normal"):
        names.add(c.priority)
    return frozenset(names)


def news_time(item: Item, now: datetime) -> datetime:
    """When the item was news: its published time, unless it has none or it lies in the
    future (then when the store first saw it), the same time the store orders by."""
    seen = item.first_seen or now
    if item.published is not None and item.published <= seen + FUTURE_SLACK:
        return item.published
    return seen


@dataclass(frozen=True)
class AlertRule:
    name: str
    when: Expr
    feeds: frozenset[str]
    bell: bool
    toast: bool
    hook: tuple[str, ...]
    hook_timeout: float

    @classmethod
    def from_config(cls, rule: AlertRuleConfig) -> "AlertRule":
        return cls(name=rule.name, when=parse(rule.when), feeds=frozenset(rule.feeds), bell=rule.bell,
                   toast=rule.toast, hook=rule.hook, hook_timeout=rule.hook_timeout)

    def applies(self, item: Item, held: AbstractSet[str]) -> bool:
        if self.feeds and not self.feeds.intersection(item.sources or (item.feed,)):
            return False
        return self.when(held)

    def alert(self, item: Item) -> Alert:
        c = item.classification
        return Alert(rule=self.name, title=item.title, link=item.link, matches=self.matched_terms(item),
                     feed=item.feed, priority=c.priority if c else "none", tags=c.tags if c else (),
                     bell=self.bell, toast=self.toast, item=item)

    def matched_terms(self, item: Item) -> tuple[str, ...]:
        """The terms behind the tags this rule tests, in the order they appear; a rule
        on `flag` or `high` alone gets every matched term."""
        matches = item.classification.matches if item.classification else ()
        wanted = self.when.names - {"flag", "high", "normal"}
        chosen = [m for m in matches if m.tag in wanted] or list(matches)
        chosen.sort(key=lambda m: (m.field != "title", m.start))
        return tuple(dict.fromkeys(m.term for m in chosen))


class AlertRules:
    """The compiled rules of one configuration; `max_age` (None: no limit) is how old an
    item may be and still raise alerts."""

    def __init__(self, rules: Iterable[AlertRule] = (), max_age: timedelta | None = None) -> None:
        self.rules = tuple(rules)
        self.max_age = max_age

    @classmethod
    def from_config(cls, config: Config | AlertsConfig) -> "AlertRules":
        alerts = config.alerts if isinstance(config, Config) else config
        max_age = timedelta(hours=alerts.max_age_hours) if alerts.max_age_hours else None
        return cls((AlertRule.from_config(r) for r in alerts.rules), max_age)

    def __bool__(self) -> bool:
        return bool(self.rules)

    def is_news(self, item: Item, now: datetime | None = None) -> bool:
        """Recent enough to alert on (always, without a max_age)."""
        if self.max_age is None:
            return True
        now = now or datetime.now(timezone.utc)
        return news_time(item, now) >= now - self.max_age

    def match(self, item: Item, now: datetime | None = None) -> list[Alert]:
        """One alert per rule the item meets (an unclassified item, or one older than
        max_age, meets none)."""
        if not self.rules or not self.is_news(item, now):
            return []
        held = held_names(item)
        return [rule.alert(item) for rule in self.rules if rule.applies(item, held)]

    def hook_of(self, alert: Alert) -> AlertRule | None:
        for rule in self.rules:
            if rule.name == alert.rule:
                return rule if rule.hook else None
        return None


@dataclass(frozen=True)
class HookResult:
    rule: str
    argv: tuple[str, ...]
    returncode: int | None  # None: never started, or killed at the timeout
    timed_out: bool = False
    error: str | None = None  # why it did not start
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0


async def run_hook(alert: Alert, argv: tuple[str, ...] | list[str], timeout: float) -> HookResult:
    """Run one hook: the alert's item as JSON on stdin, stdout discarded (it must never mix
    with `watch`'s JSONL), stderr kept for the log. Killed, with its children, after
    `timeout` seconds or when the caller is cancelled."""
    argv = tuple(argv)
    payload = (json.dumps(alert.to_json(), ensure_ascii=True) + "\n").encode()
    env = {**os.environ, "POLICYWATCH_ALERT_RULE": alert.rule}
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE, env=env, start_new_session=True)
    except (OSError, ValueError) as exc:
        log.warning("alert %r: hook %s could not start: %s", alert.rule, argv[0], exc)
        return HookResult(alert.rule, argv, None, error=str(exc))
    tail = bytearray()

    async def talk() -> int:
        try:
            proc.stdin.write(payload)
            await proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the hook did not want its stdin: its business
        finally:
            proc.stdin.close()
        while chunk := await proc.stderr.read(4096):
            tail.extend(chunk)
            del tail[:-STDERR_TAIL]
        return await proc.wait()

    try:
        returncode = await asyncio.wait_for(talk(), timeout)
    except asyncio.TimeoutError:
        _kill(proc)
        await proc.wait()
        log.warning("alert %r: hook %s timed out after %gs and was killed", alert.rule, argv[0], timeout)
        return HookResult(alert.rule, argv, None, timed_out=True, stderr=_text(tail))
    except asyncio.CancelledError:
        _kill(proc)
        raise
    stderr = _text(tail)
    if returncode != 0:
        log.warning("alert %r: hook %s exited with %s%s", alert.rule, argv[0], returncode,
                    f": {stderr.strip()[-300:]}" if stderr.strip() else "")
    return HookResult(alert.rule, argv, returncode, stderr=stderr)


def _kill(proc: asyncio.subprocess.Process) -> None:
    """SIGKILL the hook's whole process group (it runs in its own session)."""
    if proc.returncode is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        try:
            proc.kill()
        except ProcessLookupError:
            pass


def _text(data: bytes | bytearray) -> str:
    return bytes(data).decode("utf-8", "replace")


class HookRunner:
    """Runs hooks in the background on the running loop: at most `max_running` at once,
    at most `max_queued` waiting (beyond that they are dropped and logged), all killed on
    close. `results` keeps the last few outcomes for the health view and tests."""

    def __init__(self, max_running: int = 4, max_queued: int = 100) -> None:
        self.max_running = max_running
        self.max_queued = max_queued
        self._slots: asyncio.Semaphore | None = None
        self._tasks: set[asyncio.Task] = set()
        self.results: list[HookResult] = []
        self.dropped = 0

    def submit(self, alert: Alert, argv: tuple[str, ...], timeout: float) -> asyncio.Task | None:
        if len(self._tasks) >= self.max_running + self.max_queued:
            self.dropped += 1
            log.warning("alert %r: %d hooks already waiting; this one is dropped", alert.rule, len(self._tasks))
            return None
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_running)
        task = asyncio.get_running_loop().create_task(self._run(alert, argv, timeout), name=f"hook:{alert.rule}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _run(self, alert: Alert, argv: tuple[str, ...], timeout: float) -> HookResult:
        assert self._slots is not None
        async with self._slots:
            try:
                result = await run_hook(alert, argv, timeout)
            except Exception as exc:  # a hook must never take anything else down
                log.exception("alert %r: hook failed", alert.rule)
                result = HookResult(alert.rule, argv, None, error=str(exc))
        self.results = [*self.results[-49:], result]
        return result

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def wait(self) -> None:
        """Wait for every hook submitted so far (tests, and a graceful stop)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self, grace: float = 1.0) -> None:
        """Give running hooks `grace` seconds, then kill the rest."""
        if not self._tasks:
            return
        tasks = list(self._tasks)
        _, pending = await asyncio.wait(tasks, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            log.warning("%d alert hooks still running at shutdown were killed", len(pending))
            await asyncio.gather(*pending, return_exceptions=True)


def raise_alerts(rules: AlertRules, hooks: HookRunner, items: Iterable[Item],
                 now: datetime | None = None) -> list[Alert]:
    """Match new items against the rules and start the hooks of those that fire; returns
    the alerts for the caller to announce."""
    alerts: list[Alert] = []
    now = now or datetime.now(timezone.utc)
    for item in items:
        for alert in rules.match(item, now):
            alerts.append(alert)
            rule = rules.hook_of(alert)
            if rule is not None:
                hooks.submit(alert, rule.hook, rule.hook_timeout)
    return alerts
