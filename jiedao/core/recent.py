"""A per-process memo of recent look-ups, for the few rows every request of a busy endpoint
reads and an administrator rarely changes (an Open311 client's key, the service catalogue,
a street's communities).

Each value is kept for ``seconds``; after that it is read again. A change made in this
process can ``forget`` it at once; other server processes see it when their copy expires —
the README's intake section names the delay. Values must be treated as read-only.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable


class Recent[K: Hashable, V]:
    instances: list[Recent] = []

    def __init__(self, seconds: float, *, size: int = 1024):
        self.seconds = seconds
        self.size = size
        self._values: dict[K, tuple[float, V]] = {}
        self._lock = threading.Lock()
        self._generation = 0  # bumped by forget: a load that overlapped one is not kept
        Recent.instances.append(self)

    @classmethod
    def forget_all(cls) -> None:
        """Drop every memo of this process (tests do so between tests)."""
        for memo in cls.instances:
            memo.forget()

    def get(self, key: K, load: Callable[[], V]) -> V:
        now = time.monotonic()
        hit = self._values.get(key)
        if hit is not None and now - hit[0] < self.seconds:
            return hit[1]
        generation = self._generation
        value = load()
        with self._lock:
            if generation != self._generation:
                return value  # forgotten while it was read: it may predate the change
            if len(self._values) >= self.size:
                self._values.clear()
            self._values[key] = (now, value)
        return value

    def forget(self) -> None:
        with self._lock:
            self._values.clear()
            self._generation += 1
