"""Group commit: many threads' writes stored by one of them in one transaction.

Intake is the busiest write of the office's system (hotline peaks, an Open311 client catching
up). Each intake on its own is one short transaction whose fixed costs — BEGIN, the audit
chain's head lock and seal, COMMIT, the task that sends the SMS — outweigh the rows it writes,
and on SQLite every transaction also queues for the single writer lock. ``GroupCommit`` lets
the request threads of a process that arrive while a transaction is running share the next
one: the first thread to arrive becomes the *leader*, takes everything queued (up to
``max_batch``), stores it with ``store(items)`` in one transaction and hands each waiting
thread its own result; the threads that arrived meanwhile form the next batch. Nobody waits
for a timer: under light load every batch holds one item and nothing changes.

The leader serves batches until its own item is stored, then passes the lead to the oldest
waiting thread, so no request waits behind an endless stream of others. If a batch fails, each
of its items is stored again on its own, so one bad item fails only its own request.

Callers use it only outside a transaction of their own (``submit`` asserts so): inside one,
the write must commit or roll back with the caller's other writes, and is done inline.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from django.db import connection


class _Slot[Item, Result]:
    __slots__ = ("item", "result", "error", "done", "wake", "lead")

    def __init__(self, item: Item):
        self.item = item
        self.result: Result | None = None
        self.error: BaseException | None = None
        self.done = False
        self.lead = False
        self.wake = threading.Event()

    def outcome(self) -> Result:
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]


class GroupCommit[Item, Result]:
    """``submit(item)`` returns ``store([item, …])``'s result for that item."""

    def __init__(self, store: Callable[[Sequence[Item]], Sequence[Result]], *, max_batch: int = 64):
        self.store = store
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: list[_Slot[Item, Result]] = []
        self._leading = False
        self.batches = 0  # for tests and the bench: how many transactions were used
        self.items = 0

    def submit(self, item: Item) -> Result:
        assert not connection.in_atomic_block, "group commit runs outside the caller's transaction"
        slot: _Slot[Item, Result] = _Slot(item)
        with self._lock:
            self._queue.append(slot)
            slot.lead = not self._leading
            self._leading = True
        if not slot.lead:
            slot.wake.wait()
            if not slot.lead:  # stored by a leader
                return slot.outcome()
        self._lead(slot)
        return slot.outcome()

    def _lead(self, mine: _Slot[Item, Result]) -> None:
        try:
            while not mine.done:
                with self._lock:
                    batch = self._queue[: self.max_batch]
                    del self._queue[: len(batch)]
                self._run(batch)
        finally:
            with self._lock:
                if self._queue:
                    successor = self._queue[0]
                    successor.lead = True
                    successor.wake.set()
                else:
                    self._leading = False

    def _run(self, batch: list[_Slot[Item, Result]]) -> None:
        try:
            results = self.store([slot.item for slot in batch])
        except BaseException as exc:  # noqa: BLE001 — handed to the waiting request
            if len(batch) == 1:
                self._finish(batch[0], None, exc)
                return
            for slot in batch:  # find the culprit: each on its own
                try:
                    (result,) = self.store([slot.item])
                except BaseException as single:  # noqa: BLE001
                    self._finish(slot, None, single)
                else:
                    self._finish(slot, result, None)
            return
        self.batches += 1
        self.items += len(batch)
        for slot, result in zip(batch, results, strict=True):
            self._finish(slot, result, None)

    @staticmethod
    def _finish(slot: _Slot[Item, Result], result: Result | None, error: BaseException | None) -> None:
        slot.result, slot.error, slot.done = result, error, True
        if not slot.lead:
            slot.wake.set()
