"""CPU work off the event loop: parsing and classifying a feed response.

Runs in a process pool across the cores (the GIL would serialize threads), started with
"spawn" so no worker inherits a running app's threads or terminal. Each worker builds the
classifier once from the (picklable) classifier config."""

from __future__ import annotations

import multiprocessing
import os
import threading
import sys
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
import operator
from dataclasses import fields, replace
from typing import Any, Iterable

from feeds.config import ClassifierConfig
from feeds.model import Classification, Item, Match
from feeds.parse import ParsedFeed, parse_feed

_classifier = None


def _exit_with_parent() -> None:
    """In a spawned worker: exit as soon as the parent process dies. A SIGKILLed or
    OOM-killed monitor would otherwise leave its idle workers (and multiprocessing's
    resource tracker) running forever (found by tests/test_crash.py)."""
    parent = multiprocessing.parent_process()
    if parent is None:  # a thread in the main process (parse_processes = 0)
        return

    def wait() -> None:
        parent.join()  # returns when the parent's end of the spawn pipe closes
        os._exit(0)

    threading.Thread(target=wait, name="policywatch-parent-watch", daemon=True).start()


def _send_records_as_tuples() -> None:
    """In a worker: pickle the parsed records as (class, field values). The default
    pickling of a slotted dataclass calls dataclasses.fields() for every object on both
    sides, which cost a quarter of a worker's time and as much again in the parent
    (found by profiling bench/reload.py). The parent simply calls the class."""
    from multiprocessing.reduction import ForkingPickler

    for cls in (Item, Classification, Match, ParsedFeed):
        values = operator.attrgetter(*(f.name for f in fields(cls)))
        ForkingPickler.register(cls, lambda obj, cls=cls, values=values: (cls, values(obj)))


def _init_worker(classifier_config: ClassifierConfig | None) -> None:
    global _classifier
    _exit_with_parent()
    if multiprocessing.parent_process() is not None:
        _send_records_as_tuples()
    _classifier = None
    if classifier_config is not None:
        from feeds.classify import Classifier
        _classifier = Classifier.from_config(classifier_config)


_ITEM_FIELDS = tuple(f.name for f in fields(Item))
_CLASSIFICATION_AT = _ITEM_FIELDS.index("classification")
_item_values = operator.attrgetter(*_ITEM_FIELDS)


def with_classification(item: Item, classification: Classification) -> Item:
    """replace(item, classification=...) at half the cost (it runs for every item)."""
    values = list(_item_values(item))
    values[_CLASSIFICATION_AT] = classification
    return Item(*values)


def classified(items: Iterable[Item], classifier: Any) -> list[Item]:
    """Each item with the classifier's result (no classifier: the items as they are)."""
    if classifier is None:
        return list(items)
    classify = classifier.classify
    return [with_classification(i, classify(i.title, i.summary)) for i in items]


def parse_and_classify(body: bytes, feed: str, content_type: str | None, url: str | None) -> ParsedFeed:
    """parse_feed, then classify every item with the worker's classifier (if any)."""
    parsed = parse_feed(body, feed, content_type, url)
    if _classifier is None:
        return parsed
    return replace(parsed, items=tuple(classified(parsed.items, _classifier)))


def _start_resource_tracker() -> None:
    """Start multiprocessing's resource tracker against the real stderr. It hands
    sys.stderr.fileno() to its process; under Textual sys.stderr is a capture whose
    fileno() is -1, so the TUI's first pool failed ("bad value(s) in fds_to_keep") and
    every large feed with it (found by bench/startup.py)."""
    from multiprocessing import resource_tracker

    captured = sys.stderr
    try:
        sys.stderr = sys.__stderr__
        resource_tracker.ensure_running()
    finally:
        sys.stderr = captured


def make_executor(processes: int, classifier_config: ClassifierConfig | None) -> Executor:
    """A process pool of `processes` workers, or one thread when processes is 0."""
    if processes <= 0:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="policywatch-parse",
                                      initializer=_init_worker, initargs=(classifier_config,))
        return executor
    _start_resource_tracker()
    return ProcessPoolExecutor(max_workers=processes, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker, initargs=(classifier_config,))
