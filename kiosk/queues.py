"""A bounded queue where the newest wins: when full, the oldest item is dropped and the drop counted."""

from __future__ import annotations

import threading
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class DropOldestQueue(Generic[T]):
    """Thread-safe, at most ``size`` items; :meth:`put` never blocks (it drops the oldest instead)."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self._items: deque[T] = deque()
        self._size = size
        self._cond = threading.Condition()
        self.dropped = 0

    def put(self, item: T) -> None:
        """Add an item, dropping the oldest when full."""
        with self._cond:
            if len(self._items) >= self._size:
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            self._cond.notify()

    def get(self, timeout: float) -> T | None:
        """The oldest item, or None after ``timeout`` seconds (0: do not wait)."""
        with self._cond:
            if not self._items and timeout > 0:
                self._cond.wait(timeout)
            return self._items.popleft() if self._items else None

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)
