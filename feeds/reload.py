"""Config hot reload: notice edits to the user's config file and apply them to a running
engine, or report why they were rejected and keep the running config.

The file is polled (its mtime, size and inode every couple of seconds) rather than
watched with inotify: it works the same on every platform and filesystem, needs no
dependency, and a config file changes rarely enough that two seconds is immediate."""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from feeds import paths
from feeds.alerts import AlertRules
from feeds.config import Config, ConfigError, load_config
from feeds.model import ConfigReloaded

if TYPE_CHECKING:
    from feeds.engine import Engine

log = logging.getLogger("policywatch.reload")

DEFAULT_INTERVAL = 2.0
SETTLE = 0.2  # seconds a changed file must stay unchanged before it is read (editors write in steps)


def watched_path(config: Config) -> Path:
    """The user file the config came from, or (when there was none) the XDG file a user
    would create, so creating it is noticed too."""
    return config.user_file if config.user_file is not None else paths.config_dir() / "config.toml"


async def apply_config(engine: "Engine", config: Config, path: str = "") -> ConfigReloaded:
    """Make `config` the engine's: reschedule added, removed and changed feeds, swap the
    classifier (reclassifying the stored items) and the alert rules. Everything that can
    fail is built before anything is changed, so a failure leaves the engine as it was.
    Rewriting the history (reclassifying, pruning) is awaited, not waited for: it runs in
    the writer thread while the event loop goes on (keys, prices, polls)."""
    old = engine.config
    classifier = engine.classifier
    classifier_changed = config.classifier != old.classifier
    if classifier_changed:
        from feeds.engine import default_classifier

        classifier = default_classifier(config)
    rules = AlertRules.from_config(config)

    changes: list[str] = []
    old_feeds = {f.name: f for f in old.feeds}
    new_feeds = {f.name: f for f in config.feeds}
    removed = [name for name in old_feeds if name not in new_feeds]
    added = [f for name, f in new_feeds.items() if name not in old_feeds]
    changed = [f for name, f in new_feeds.items() if name in old_feeds and old_feeds[name] != f]

    engine.config = config
    scheduling = engine.scheduler.running and not engine._stopped
    for name in removed:
        engine.scheduler.cancel(engine._job_id(old_feeds[name]))
        changes.append(f"removed feed {name!r}")
    now = datetime.now(timezone.utc)
    for index, feed in enumerate(added):
        if scheduling:
            engine.scheduler.at(engine._job_id(feed), now + timedelta(seconds=0.05 * index),
                                engine._scheduled_poll, feed.name)
        changes.append(f"added feed {feed.name!r}")
    for feed in changed:
        if scheduling:
            state = engine.open().feed_state(feed.name, count=False)
            if feed.url != old_feeds[feed.name].url or state.last_success is None:
                due = now  # a new address: poll it now
            else:
                due = state.last_success + timedelta(seconds=feed.interval)
            engine.scheduler.at(engine._job_id(feed), due, engine._scheduled_poll, feed.name)
        changes.append(f"changed feed {feed.name!r}")

    reclassified = 0
    if classifier_changed:
        engine.classifier = classifier
        engine.rules_changed()
        if engine.store is not None:
            reclassified = await engine.reclassify()
        changes.append(f"classifier rules ({reclassified} stored items reclassified)")
    if config.alerts != old.alerts:
        engine.alert_rules = rules
        engine.hooks.max_queued = config.alerts.max_queued
        changes.append(f"alert rules ({len(rules.rules)})")
    if config.store.retention_days != old.store.retention_days:
        changes.append(f"retention ({config.store.retention_days:g} days)")
        if engine.store is not None:
            await engine.prune_old()

    restart = [name for name in ("fetch", "prices", "scenario", "ui")
               if getattr(config, name) != getattr(old, name)]
    if config.store.path != old.store.path:
        restart.append("store.path")
    if config.alerts.max_hooks != old.alerts.max_hooks:
        restart.append("alerts.max_hooks")
    return ConfigReloaded(path=path or str(config.user_file or ""), changes=tuple(changes),
                          restart_needed=tuple(restart), reclassified=reclassified)


@dataclass(frozen=True)
class _Signature:
    mtime_ns: int
    size: int
    inode: int


def _signature(path: Path) -> _Signature | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return _Signature(st.st_mtime_ns, st.st_size, st.st_ino)


class ConfigWatcher:
    """Polls one config file and applies its changes to an engine.

    `start()` runs the polling as a task on the running loop; `check()` is one poll
    (what the task does every `interval` seconds), handy for tests and a manual reload."""

    def __init__(self, engine: "Engine", path: Path | str | None = None, *, interval: float = DEFAULT_INTERVAL,
                 loader: Callable[[Path], Config] | None = None) -> None:
        self.engine = engine
        self.path = Path(path) if path is not None else watched_path(engine.config)
        self.interval = interval
        self.loader = loader or (lambda p: load_config(p))
        self._seen = _signature(self.path)
        self._task: asyncio.Task | None = None

    def start(self) -> "ConfigWatcher":
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="policywatch-config-watch")
        return self

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception:  # the watcher must outlive any surprise in one reload
                log.exception("config reload failed")

    async def check(self) -> ConfigReloaded | None:
        """Reload if the file changed since the last look; returns the event emitted."""
        current = _signature(self.path)
        if current == self._seen:
            return None
        for _ in range(10):  # wait for the writer to finish
            await asyncio.sleep(SETTLE)
            settled = _signature(self.path)
            if settled == current:
                break
            current = settled
        self._seen = current
        return await self.reload()

    async def reload(self) -> ConfigReloaded:
        """Load the file now: apply it if valid, otherwise report and keep the running config."""
        try:
            config = self.loader(self.path)
        except ConfigError as exc:
            event = ConfigReloaded(path=str(self.path), error=str(exc))
            log.warning("config not reloaded, keeping the running config: %s", exc)
            self.engine._emit(event)
            return event
        event = await self.engine.apply_config(config, path=str(self.path))
        log.info("config reloaded from %s: %s", self.path, "; ".join(event.changes) or "no change")
        return event
