"""Full garbage collections at moments the reader is not typing.

CPython's cyclic GC walks every tracked object in a full (generation 2) collection. The
running app holds 100,000-200,000 of them (Textual keeps several caches per rendered row),
and under a busy ingest a full collection came every few seconds and held the event loop
for 40-110 ms, the slowest key presses of bench/responsiveness.py. The young generations
still collect as CPython decides (a few ms each); full collections wait for a second
without a key press, and happen anyway once ten times as many were due, so a reader who
never pauses still gets the memory back. The start-up's objects (modules, styles, the
rules) are frozen out of every collection once the app is up."""

from __future__ import annotations

import gc
import time
from typing import Callable


class IdleCollector:
    """Owns the process's GC thresholds while installed; the app reports key presses
    (`input`) and calls `tick` about once a second."""

    def __init__(self, *, idle_after: float = 1.0, young: int = 10_000, due: int = 10, overdue: int = 100,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.idle_after = idle_after  # seconds without input before a due collection runs
        self.young = young            # allocations between young collections (CPython: 700)
        self.due = due                # young-generation collections that make a full one due
        self.overdue = overdue        # ... and that make it run even while the reader types
        self.clock = clock
        self.last_input = float("-inf")
        self.collections = 0
        self._saved: tuple[int, int, int] | None = None

    def install(self) -> "IdleCollector":
        """Freeze what exists now and stop CPython's own full collections."""
        if self._saved is None:
            self._saved = gc.get_threshold()
            gc.freeze()
            gc.set_threshold(self.young, self._saved[1], 1 << 30)  # generation 2: only from tick()
        return self

    def uninstall(self) -> None:
        """CPython's own thresholds back, nothing frozen (the process may go on: tests)."""
        if self._saved is not None:
            gc.set_threshold(*self._saved)
            gc.unfreeze()
            self._saved = None

    def freeze(self) -> None:
        """Objects built since install that live as long as the app (the engine's)."""
        gc.freeze()

    def input(self) -> None:
        self.last_input = self.clock()

    def pending(self) -> int:
        """Young-generation collections since the last full one."""
        return gc.get_count()[2]

    def tick(self) -> bool:
        """Run a full collection if one is due and the reader is idle (or it is overdue)."""
        if self._saved is None or not gc.isenabled():
            return False
        pending = self.pending()
        idle = self.clock() - self.last_input >= self.idle_after
        if pending >= self.overdue or (pending >= self.due and idle):
            gc.collect()
            self.collections += 1
            return True
        return False
