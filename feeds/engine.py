"""The engine wires the pipeline: scheduler job -> fetch -> parse (off the loop) ->
classify -> store (off the loop, in the store's one writer thread) -> event to the sink.

It runs on whatever asyncio loop is running (Textual's own, or asyncio.run in the CLI),
hands over the stored state first so nobody waits on the network, and keeps every feed's
trouble to that feed. Reads (pages, search, counts) run on the loop over the store's read
connection; every write goes through one StoreWriter, in order, and an event names only
items already committed."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import BrokenExecutor, Executor
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Awaitable, Callable

from feeds.alerts import AlertRules, HookRunner, raise_alerts
from feeds.config import Config, FeedConfig
from feeds.fetch import FetchError, Fetcher, FetchResult
from feeds.model import AlertRaised, ConfigReloaded, FeedState, FeedStatus, Item, NewItems
from feeds.parse import ParseError, parse_feed
from feeds.scheduler import PollScheduler, next_delay
from feeds.store import RULES_COMPLETE, Store, StoreWriter, WriterClosed
from feeds.workers import classified, make_executor, parse_and_classify

log = logging.getLogger("policywatch.engine")

Sink = Callable[[Any], None]
# (url, feed name, etag, last_modified) -> (FetchResult, classified items or None if not modified)
FetchParse = Callable[[str, str, "str | None", "str | None"], Awaitable[tuple[FetchResult, "tuple[Item, ...] | None"]]]
RECLASSIFY_BATCH = 1000  # stored items reclassified in one writer job (one transaction)
PRUNE_BATCH = 20_000  # old items pruned in one writer job (~0.5 s at 50,000 stored)
INITIAL_ITEMS = 200  # the newest stored page handed over at start; the list pages the rest (200 at a time)
RETENTION_EVERY = 24 * 3600.0  # seconds between prunes of old items ([store] retention_days)
SMALL_RESPONSE = 16_384  # bytes; below this a worker round trip costs more than the parse


def default_classifier(config: Config):
    """The rule classifier from config, or None while feeds.classify is not installed."""
    try:
        from feeds.classify import Classifier
    except ImportError:
        return None
    return Classifier.from_config(config.classifier)


class Engine:
    """Owns the store, the fetcher and the scheduler for one configuration."""

    def __init__(self, config: Config, db_path: str | Path, sink: Sink, *, classifier: Any = ...,
                 parse_executor: Executor | None = None, parse_in_place_below: int = SMALL_RESPONSE,
                 fetch_parse: FetchParse | None = None) -> None:
        self.config = config
        self.db_path = Path(db_path)
        self.sink = sink
        self.classifier = default_classifier(config) if classifier is ... else classifier
        self.store: Store | None = None
        self.writer: StoreWriter | None = None
        self._read_pending: dict[int, bool] = {}  # read marks queued in the writer, not yet committed
        self.fetcher: Fetcher | None = None
        self.scheduler = PollScheduler()
        self._executor = parse_executor
        self._own_executor = parse_executor is None
        self._executor_rules = self.rules_fingerprint  # the rules its workers classify with
        # Responses smaller than this are parsed on the loop. A front end with keys to keep
        # answering wants it small; a one-shot CLI poll can take more (no worker start-up).
        self.parse_in_place_below = parse_in_place_below
        # Fetch, parse and classify one feed: here (the default), or elsewhere, as
        # feeds.forked's child processes do it for a one-shot poll.
        self.fetch_parse: FetchParse = fetch_parse or self._fetch_parse_here
        self._locks: dict[str, asyncio.Lock] = {}
        self._fetching = 0  # fetches in flight: their items will follow (StoreWriter's linger)
        self._stopped = False
        self._pruning: asyncio.Task | None = None  # the rest of a long prune begun at start
        self._searcher = None  # feeds.searcher.Searcher, made on the first asearch()
        self.price_engine: Any = None
        self.alert_rules = AlertRules.from_config(config)
        self.hooks = HookRunner(config.alerts.max_hooks, config.alerts.max_queued)

    # ------------------------------------------------------------ lifecycle

    def open(self) -> Store:
        """Open the store and bring stored classifications up to date with the rules
        (blocking: for synchronous callers; start() does the same without blocking)."""
        if self.store is None:
            self._open_store()
            self.reclassify_stored()
        return self.store

    def _open_store(self) -> Store:
        self.store = Store(self.db_path)
        self.writer = StoreWriter(self.store, more_coming=lambda: self._fetching > 0)
        return self.store

    async def start(self, *, schedule: bool = True, prices: bool = True) -> None:
        """Hand over the stored state, then start polling (unless schedule=False); with
        prices, the price engine too (its stored 24 h first, then its sources)."""
        if self.store is None:
            self._open_store()
            await self.reclassify()
        store = self.store
        # Retention: a batch now, before the first page is handed over (nearly always all
        # of it); the rest of a long history's first prune after the polls have started.
        more_to_prune = await self.prune_old(batches=1) == PRUNE_BATCH
        self._emit(NewItems(tuple(store.recent(INITIAL_ITEMS)), initial=True))
        for feed in self.config.feeds:
            self._emit(FeedStatus(store.feed_state(feed.name, count=False)))
        self._ensure_fetcher()
        if schedule:
            self.scheduler.start()
            self.scheduler.after("store:retention", RETENTION_EVERY, self._retention_job)
            now = datetime.now(timezone.utc)
            for index, feed in enumerate(self.config.feeds):
                state = store.feed_state(feed.name, count=False)
                if state.gone and state.url == feed.url:
                    continue
                # Respect the stored next due time (no burst after a restart); otherwise
                # stagger the first polls a little so hosts are not hit all at once.
                due = state.next_due if state.next_due and state.url == feed.url else now + timedelta(seconds=0.05 * index)
                self.scheduler.at(self._job_id(feed), due, self._scheduled_poll, feed.name)
        if prices and schedule and (self.config.prices.sources or self.config.prices.stream != "none"):
            from feeds.prices import PriceEngine

            self.price_engine = PriceEngine(self.config.prices, self._ensure_fetcher().client,
                                            _PriceStore(store, self.writer), self._emit,
                                            scheduler=self.scheduler, jitter=self.config.fetch.jitter)
            await self.price_engine.start()
        if more_to_prune:
            self._pruning = asyncio.create_task(self.prune_old())

    async def stop(self) -> None:
        self._stopped = True
        if self._pruning is not None:
            self._pruning.cancel()  # (a batch already queued still lands: the writer finishes it)
            await asyncio.gather(self._pruning, return_exceptions=True)
            self._pruning = None
        if self.price_engine is not None:
            await self.price_engine.stop()  # flushes pending ticks to the store
            self.price_engine = None
        self.scheduler.shutdown()
        await self.hooks.aclose()
        if self.fetcher is not None:
            await self.fetcher.aclose()
            self.fetcher = None
        if self._executor is not None and self._own_executor:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        if self._searcher is not None:
            self._searcher.close()
            self._searcher = None
        if self.writer is not None:
            await self.writer.aclose()  # every write queued so far lands before the store closes
            self.writer = None
        if self.store is not None:
            self.store.close()
            self.store = None

    async def __aenter__(self) -> "Engine":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    def _ensure_fetcher(self) -> Fetcher:
        if self.fetcher is None:
            self.fetcher = Fetcher(self.config.fetch)
        return self.fetcher

    def _emit(self, event: Any) -> None:
        try:
            self.sink(event)
        except Exception:  # a broken sink must not stop the pipeline
            log.exception("sink failed on %s", type(event).__name__)

    @staticmethod
    def _job_id(feed: FeedConfig) -> str:
        return f"feed:{feed.name}"

    # ------------------------------------------------------------ classification

    @property
    def rules_fingerprint(self) -> str | None:
        return None if self.classifier is None else self.classifier.fingerprint

    def classify(self, items: list[Item] | tuple[Item, ...]) -> list[Item]:
        return classified(items, self.classifier)

    def reclassify_stored(self) -> int:
        """Classify stored items whose rules fingerprint differs from the current rules
        (in the writer; blocks until done, after the writes queued before it)."""
        if self.classifier is None or self.store is None:
            return 0
        return self.writer.call_sync(self._reclassify)

    async def reclassify(self) -> int:
        """reclassify_stored for the event loop, which goes on meanwhile (a history of
        millions takes minutes): a batch of RECLASSIFY_BATCH items at a time, each its own
        job in the writer, so that the polls' writes go in between instead of waiting for
        the whole history."""
        if self.classifier is None or self.store is None:
            return 0
        fingerprint, changed, after = self.classifier.fingerprint, 0, 0
        while after is not None and not self._stopped:
            done, after = await self.writer.call(self._reclassify_step, fingerprint, after)
            changed += done
        if changed:
            log.info("reclassified %d stored items under rules %s", changed, fingerprint)
        return changed

    def _reclassify_step(self, fingerprint: str, after: int) -> tuple[int, int | None]:
        """In the writer thread: one batch of reclassify's, from the item id `after` on:
        (how many, the id to go on from, or None when done). Rules swapped meanwhile end
        it unmarked: their own reclassification goes through the whole history."""
        if self.classifier is None or self.store is None or self.classifier.fingerprint != fingerprint:
            return 0, None
        if after == 0 and self.store.get_meta(RULES_COMPLETE, writing=True) == fingerprint:
            return 0, None  # nothing stored since under other rules: no scan of the whole history
        batch = next(self.store.unclassified(fingerprint, RECLASSIFY_BATCH, after=after), None)
        if batch is None:
            self.store.set_meta(RULES_COMPLETE, fingerprint)
            return 0, None
        self.writer.bulk()  # stored items to go through: the large page cache
        self.store.set_classifications(
            fingerprint, [(item.id, self.classifier.classify(item.title, item.summary)) for item in batch])
        return len(batch), batch[-1].id

    def _reclassify(self) -> int:
        """In the writer thread: reclassify_stored's work, its batches in one job."""
        if self.classifier is None:
            return 0
        fingerprint, changed, after = self.classifier.fingerprint, 0, 0
        while after is not None and not self._stopped:  # quitting: the next start goes on from there
            done, after = self._reclassify_step(fingerprint, after)
            changed += done
        if changed:
            log.info("reclassified %d stored items under rules %s", changed, fingerprint)
        return changed

    # ------------------------------------------------------------ polling

    async def _scheduled_poll(self, name: str) -> None:
        try:
            feed = self.config.feed(name)
        except KeyError:
            return
        if self._locks.get(name) is not None and self._locks[name].locked():
            return  # a refresh is polling this feed now; it re-arms the schedule when done
        try:
            status = await self.poll_feed(feed)
        except asyncio.CancelledError:
            # stop() cancels the polls in flight: an ordinary end, not an error for
            # APScheduler to log with a traceback.
            return
        if not self._stopped and not status.state.gone and status.state.next_due is not None:
            self.scheduler.at(self._job_id(feed), status.state.next_due, self._scheduled_poll, name)

    async def refresh(self, feed: str | None = None) -> list[FeedStatus]:
        """Poll now (one feed, or all) and re-arm their schedules."""
        feeds = [self.config.feed(feed)] if feed else list(self.config.feeds)
        statuses = await asyncio.gather(*(self.poll_feed(f, force=True) for f in feeds))
        if self.scheduler.running and not self._stopped:
            for f, status in zip(feeds, statuses):
                if not status.state.gone and status.state.next_due is not None:
                    self.scheduler.at(self._job_id(f), status.state.next_due, self._scheduled_poll, f.name)
        return list(statuses)

    async def poll_all(self) -> list[FeedStatus]:
        """Poll every feed once, concurrently (bounded by the fetcher's limits)."""
        self.open()
        return list(await asyncio.gather(*(self.poll_feed(f, force=True) for f in self.config.feeds)))

    async def poll_feed(self, feed: FeedConfig, *, force: bool = False) -> FeedStatus:
        """One poll of one feed. Never raises: trouble becomes the feed's error state."""
        lock = self._locks.setdefault(feed.name, asyncio.Lock())
        if lock.locked() and not force:
            return FeedStatus(self.open().feed_state(feed.name, count=False))
        async with lock:
            status = await self._poll(feed)
        self._emit(status)
        return status

    async def _poll(self, feed: FeedConfig) -> FeedStatus:
        store = self.open()
        # (no count of the feed's items: nothing here uses it, and at 5 million items it
        # walked ~300,000 index entries on the event loop each poll, 35 ms)
        state = store.feed_state(feed.name, count=False)
        if state.url and state.url != feed.url:  # the URL changed: forget what we knew
            state = FeedState(feed=feed.name)
        fetch = self.config.fetch
        now = datetime.now(timezone.utc)
        writer = self.writer
        try:
            self._fetching += 1
            try:
                result, items = await self.fetch_parse(feed.url, feed.name, state.etag, state.last_modified)
            finally:
                self._fetching -= 1
                if not self._fetching:
                    writer.wake()
            if items is None:
                state = self._success(state, feed, now, result.etag, result.last_modified)
                await writer.call(store.save_feed_state, state)
                return FeedStatus(state, not_modified=True)
            # Stored in the writer thread; the loop carries on (keys, other feeds) meanwhile.
            # The rules the items were classified under, now: a reload before the writer
            # stores them must not label old-rules results with the new rules' fingerprint.
            rules = self.rules_fingerprint
            new, state = await writer.call(self._store_poll, store, feed, state, items, now,
                                           result.etag, result.last_modified, rules, weight=max(1, len(items)))
            if new:
                self._emit(NewItems(tuple(new), feed=feed.name))
                self._raise_alerts(new)
            return FeedStatus(state, fetched=len(items), new=len(new), items=tuple(items))
        except WriterClosed:  # the engine stopped while this poll was in flight
            return FeedStatus(state)
        except (FetchError, ParseError) as exc:
            retry_after = getattr(exc, "retry_after", None)
            gone = getattr(exc, "gone", False)
            message = str(exc)
        except Exception as exc:  # an engine bug must still stay inside this one feed
            log.exception("unexpected error polling %s", feed.name)
            retry_after, gone, message = None, False, f"internal error: {type(exc).__name__}: {exc}"
        failures = state.failures + 1
        delay = next_delay(feed.interval, failures, jitter=fetch.jitter, max_backoff=fetch.max_backoff,
                           retry_after=retry_after)
        done = datetime.now(timezone.utc)  # counted from the end of the poll, as on success
        state = replace(state, url=feed.url, failures=failures, last_error=message, last_error_at=now,
                        next_due=done + timedelta(seconds=delay), gone=gone)
        try:
            await writer.call(store.save_feed_state, state)
        except WriterClosed:  # the engine stopped while this poll was in flight
            pass
        log.info("feed %s failed (%d in a row): %s", feed.name, failures, message)
        return FeedStatus(state)

    async def _fetch_parse_here(self, url: str, name: str, etag: str | None,
                                last_modified: str | None) -> tuple[FetchResult, tuple[Item, ...] | None]:
        """The default fetch_parse: HTTP on this loop, parsing off it (see _parse)."""
        result = await self._ensure_fetcher().get(url, etag=etag, last_modified=last_modified)
        if result.not_modified:
            return result, None
        items = (await self._parse(result.body, name, result.content_type, result.url)).items
        if self.classifier is not None and items and items[0].classification is None:
            items = self.classify(items)
        return result, tuple(items)

    def _store_poll(self, store: Store, feed: FeedConfig, state: FeedState, items, now: datetime,
                    etag: str | None, last_modified: str | None, rules: str | None) -> tuple[list[Item], FeedState]:
        """In the writer thread: a successful poll's items and the feed's new state, in one
        transaction (a crash keeps both or neither)."""
        with store.transaction():
            new = store.ingest(feed.name, items, rules=rules, now=now)
            state = self._success(state, feed, now, etag, last_modified)
            store.save_feed_state(state)
        return new, state

    def _success(self, state: FeedState, feed: FeedConfig, now: datetime, etag: str | None,
                 last_modified: str | None) -> FeedState:
        fetch = self.config.fetch
        delay = next_delay(feed.interval, 0, jitter=fetch.jitter, max_backoff=fetch.max_backoff)
        # The next poll is counted from the end of this one: a slow response never leaves
        # a due time in the past (which would re-fire the job while it is still running).
        done = datetime.now(timezone.utc)
        return replace(state, url=feed.url, etag=etag, last_modified=last_modified, last_success=now,
                       failures=0, gone=False, next_due=done + timedelta(seconds=delay))

    async def _parse(self, body: bytes, name: str, content_type: str | None, url: str):
        """Parse and classify off the event loop (in worker processes, across the cores),
        so keys never wait on a large feed. Small responses are parsed in place: shipping
        them to a worker costs more than parsing them."""
        if len(body) < self.parse_in_place_below:
            return parse_feed(body, name, content_type, url)
        if self._executor is None:
            classifier_config = self.config.classifier if self.classifier is not None else None
            self._executor = make_executor(self.config.fetch.parse_processes, classifier_config)
            self._executor_rules = self.rules_fingerprint
        pool_rules = self._executor_rules
        loop = asyncio.get_running_loop()
        try:
            parsed = await loop.run_in_executor(self._executor, parse_and_classify, body, name, content_type, url)
        except BrokenExecutor:  # a worker died (OOM, killed): start a fresh pool next time
            log.warning("parse worker pool broke; restarting it")
            self._executor = None
            raise ParseError("parser process died") from None
        if pool_rules != self.rules_fingerprint and self.classifier is not None:
            # the rules were reloaded while this feed was in a worker started with the old ones
            parsed = replace(parsed, items=tuple(self.classify(parsed.items)))
        return parsed

    def rules_changed(self) -> None:
        """After a classifier swap: parse workers hold the rules they were started with,
        so the pool is retired (a new one starts with the new rules when next needed);
        what is still in the old one is classified again here on return (_parse)."""
        if self._executor is not None and self._own_executor:
            self._executor.shutdown(wait=False)
            self._executor = None

    # ------------------------------------------------------------ alerts, reload, retention

    def _raise_alerts(self, items: list[Item]) -> None:
        """Announce the alerts new items raise; their hooks run in the background."""
        try:
            alerts = raise_alerts(self.alert_rules, self.hooks, items)
        except Exception:  # an alert bug must not lose the poll
            log.exception("alert rules failed")
            return
        for alert in alerts:
            self._emit(AlertRaised(alert))

    async def apply_config(self, config: Config, path: str = "") -> ConfigReloaded:
        """Switch to an edited config without a restart (feeds/reload.py says how)."""
        from feeds.reload import apply_config

        event = await apply_config(self, config, path)
        self._emit(event)
        return event

    def apply_retention(self) -> int:
        """Prune items first seen more than [store] retention_days ago (0 keeps all);
        blocks until the writer has done it."""
        self.open()
        return self.writer.call_sync(self._prune)

    async def prune_old(self, batches: int | None = None) -> int:
        """apply_retention for the event loop, which goes on meanwhile: PRUNE_BATCH items a
        writer job (the polls' writes go in between), up to `batches` jobs; returns how many
        went (a multiple of PRUNE_BATCH when more may be left)."""
        self.open()
        removed = done = 0
        while not self._stopped and (batches is None or done < batches):
            went = await self.writer.call(self._prune, PRUNE_BATCH)
            removed += went
            done += 1
            if went < PRUNE_BATCH:
                break
        return removed

    def _prune(self, limit: int | None = None) -> int:
        """In the writer thread: apply_retention's work (at most `limit` items)."""
        days = self.config.store.retention_days
        if not days:
            return 0
        removed = self.store.prune(datetime.now(timezone.utc) - timedelta(days=days), limit=limit)
        if removed:
            log.info("pruned %d items older than %g days", removed, days)
        return removed

    async def _retention_job(self) -> None:
        try:
            await self.prune_old()
        except Exception:
            log.exception("pruning old items failed")
        if not self._stopped:
            self.scheduler.after("store:retention", RETENTION_EVERY, self._retention_job)

    # ------------------------------------------------------------ queries for front ends

    def recent(self, limit: int = 200, offset: int = 0, *, flagged_only: bool = False, high_only: bool = False,
               before: int | None = None, after: int | None = None, oldest: bool = False) -> list[Item]:
        """Store.recent, with the read marks not yet written shown as read."""
        return self._with_read_marks(self.open().recent(limit, offset, flagged_only=flagged_only, high_only=high_only,
                                                        before=before, after=after, oldest=oldest))

    def count(self, *, flagged_only: bool = False, high_only: bool = False) -> int:
        return self.open().count(flagged_only=flagged_only, high_only=high_only)

    def search(self, query: str, limit: int = 200, *, before: int | None = None) -> list[Item]:
        return self._with_read_marks(self.open().search(query, limit, before=before))

    async def asearch(self, query: str, limit: int = 200, *, before: int | None = None) -> list[Item]:
        """search(), off the event loop (feeds.searcher): a search over millions of items
        that cannot stop early no longer freezes the screen, and starting one interrupts
        the one before. Raises SearchInterrupted when a newer search interrupts it."""
        store = self.open()
        if store.db is store.w:  # ":memory:": one connection, which only this thread may share
            return self.search(query, limit, before=before)
        if self._searcher is None:
            from feeds.searcher import Searcher

            self._searcher = Searcher(self.db_path)
        return self._with_read_marks(await self._searcher.search(query, limit, before=before))

    def mark_read(self, item_id: int, read: bool = True) -> None:
        """Queue the read mark in the writer (the caller never waits); until it is
        committed, pages and searches show it anyway."""
        store = self.open()
        self._read_pending[item_id] = read

        def write() -> None:
            try:
                store.mark_read(item_id, read)
            finally:
                if self._read_pending.get(item_id) is read:
                    self._read_pending.pop(item_id, None)

        self.writer.post(write)

    def _with_read_marks(self, items: list[Item]) -> list[Item]:
        pending = self._read_pending
        if not pending:
            return items
        marked = [(i, pending.get(i.id)) for i in items]  # .get: the writer may commit one meanwhile
        return [i if read is None else replace(i, read=read) for i, read in marked]

    def feed_states(self, *, counts: bool = True) -> list[FeedState]:
        """One state per configured feed, in config order, with the next scheduled poll.
        counts=False leaves out each feed's item count: counting walks the feed's range of
        an index (315 ms for 17 feeds at 5 million items), too much for a screen that asks
        every second."""
        store = self.open()
        stored = {state.feed: state for state in store.feed_states(count=False)}
        out = []
        for feed in self.config.feeds:
            state = stored.get(feed.name) or FeedState(feed=feed.name)
            if counts and feed.name in stored:
                state = replace(state, item_count=store.item_count(feed.name))
            scheduled = self.scheduler.next_run(self._job_id(feed)) if self.scheduler.running else None
            if scheduled is not None and scheduled != state.next_due:  # (replace costs 6 us: 1,000 feeds a second)
                state = replace(state, next_due=scheduled)
            out.append(state)
        return out

    def item_sources(self, item_id: int) -> list[tuple[str, str | None, datetime]]:
        return self.open().item_sources(item_id)


class _PriceStore:
    """The price engine's view of the store: reads on the loop, writes queued in the
    engine's writer (nobody waits for a tick to be stored)."""

    def __init__(self, store: Store, writer: StoreWriter) -> None:
        self.store = store
        self.writer = writer

    def add_ticks(self, ticks) -> None:
        self.writer.post(self.store.add_ticks, list(ticks))

    def downsample_ticks(self, now: datetime | None = None) -> int:
        """Queued; returns 0 at once (the count is only ever logged)."""
        self.writer.post(self.store.downsample_ticks, now)
        return 0

    def ticks_since(self, symbol: str, since: datetime):
        # Called once, at start: after the writes queued before it (ticks, the downsample).
        self.writer.call_sync(lambda: None)
        return self.store.ticks_since(symbol, since)

    def latest_tick(self, symbol: str):
        return self.store.latest_tick(symbol)
