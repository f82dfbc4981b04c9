"""Time, passed in: every decision takes a :class:`Clock`, so tests drive it with :class:`ManualClock`."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """A source of time: ``monotonic()`` for durations, ``now()`` for wall-clock (UTC, timezone-aware)."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin; never goes back."""
        ...

    def now(self) -> datetime:
        """The current wall-clock time in UTC."""
        ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        """:func:`time.monotonic`."""
        return time.monotonic()

    def now(self) -> datetime:
        """The current UTC time."""
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to (tests, replays). Both readings advance together."""

    def __init__(self, start: datetime | None = None, monotonic: float = 1000.0) -> None:
        self._wall = start or datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
        self._mono = monotonic

    def monotonic(self) -> float:
        """The manual monotonic reading."""
        return self._mono

    def now(self) -> datetime:
        """The manual wall-clock reading."""
        return self._wall

    def advance(self, seconds: float) -> None:
        """Move both readings forward by ``seconds`` (never back)."""
        if seconds < 0:
            raise ValueError("a clock never goes back")
        self._mono += seconds
        self._wall += timedelta(seconds=seconds)
