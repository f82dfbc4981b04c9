"""Bounded timing statistics for the render loop: a streaming histogram whose memory never grows.

A kiosk runs for months at 60 frames a second, so the loop cannot keep every frame's time. A
:class:`StreamingHistogram` counts durations into fixed, logarithmically spaced buckets (each 1% wider than
the last) between :data:`LOW_MS` and :data:`HIGH_MS`; a percentile is then known to within that 1%, and the
exact count, sum, minimum and maximum are kept beside it. Nothing here imports pygame.
"""

from __future__ import annotations

import math

#: The smallest and largest durations told apart, in ms; anything outside is counted in the end buckets.
LOW_MS = 0.001
HIGH_MS = 1_000_000.0
#: Each bucket is this much wider than the one before: the relative error of a percentile.
GROWTH = 1.01


class StreamingHistogram:
    """Durations in milliseconds, counted into a fixed set of buckets (about 2,100 integers)."""

    __slots__ = ("_counts", "_inv_log_growth", "_last", "_scale", "count", "max", "min", "total")

    def __init__(self) -> None:
        log_growth = math.log(GROWTH)
        self._inv_log_growth = 1.0 / log_growth
        self._scale = 1.0 / LOW_MS
        self._last = math.ceil(math.log(HIGH_MS / LOW_MS) / log_growth) + 1
        self._counts = [0] * (self._last + 1)  # 0: at most LOW_MS; the last: beyond HIGH_MS
        self.count = 0
        self.total = 0.0
        self.min = math.inf
        self.max = -math.inf

    def add(self, ms: float) -> None:
        """Count one duration (negative ones, from a clock step, count as zero)."""
        # Called once a frame: plain comparisons and one logarithm, no calls that allocate.
        if ms <= LOW_MS:
            if ms < 0.0:  # noqa: PLR1730 (once a frame: a comparison, not a call)
                ms = 0.0
            index = 0
        else:
            index = int(math.log(ms * self._scale) * self._inv_log_growth) + 1
            if index >= self._last:  # noqa: PLR1730
                index = self._last
        self._counts[index] += 1
        self.count += 1
        self.total += ms
        if ms < self.min:  # noqa: PLR1730
            self.min = ms
        if ms > self.max:  # noqa: PLR1730
            self.max = ms

    def percentile(self, pct: float) -> float:
        """The ``pct`` percentile (0-100) in ms, within :data:`GROWTH` of the exact one; 0.0 when empty.

        The nearest-rank definition (the value with ``round(pct/100 * (n-1))`` values below it), the one
        the loop used when it kept every frame; clamped to the exact minimum and maximum.
        """
        if self.count == 0:
            return 0.0
        rank = min(self.count - 1, round(max(0.0, min(100.0, pct)) / 100 * (self.count - 1)))
        seen = 0
        for index, n in enumerate(self._counts):
            seen += n
            if seen > rank:
                if index in (0, self._last):
                    return self.min if index == 0 else self.max
                # The geometric middle of the bucket's bounds.
                middle: float = LOW_MS * GROWTH ** (index - 0.5)
                return min(self.max, max(self.min, middle))
        return self.max

    @property
    def mean(self) -> float:
        """The exact mean in ms (0.0 when empty)."""
        return self.total / self.count if self.count else 0.0
