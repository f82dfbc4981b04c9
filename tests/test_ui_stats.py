"""The render loop's timing statistics stay bounded: months of frames in the memory of a minute's."""

from __future__ import annotations

import random
import sys
import tracemalloc

import pytest

from kiosk.app.summary import screen_summary
from kiosk.ui.screen_app import ScreenStats
from kiosk.ui.stats import GROWTH, StreamingHistogram


def _held(stats: ScreenStats) -> int:
    """Bytes the statistics hold: the objects and every count in them."""
    size = sys.getsizeof(stats)
    for histogram in (stats.frame_ms, stats.tap_ms):
        counts = histogram._counts
        size += sys.getsizeof(histogram) + sys.getsizeof(counts) + sum(sys.getsizeof(n) for n in counts)
    return size


def test_ten_million_frames_leave_the_memory_flat() -> None:
    stats = ScreenStats()
    rng = random.Random(1)
    pool = [rng.uniform(2.0, 40.0) for _ in range(1000)]
    for value in pool:
        stats.frame_ms.add(value)
        stats.tap_answered(0, value)
    before = _held(stats)
    add = stats.frame_ms.add
    for i in range(10_000_000):
        add(pool[i % 1000])
    for i in range(100_000):
        stats.tap_answered(i % 3, pool[i % 1000])
    assert stats.frame_ms.count == 10_001_000 and stats.taps_answered == 101_000
    # A list of the frame times (what the loop kept before) would hold over 80 MB by now.
    assert _held(stats) == before, "the statistics grew with the frames"
    assert 2.0 <= stats.percentile(50) <= 40.0 and stats.tap_frames_max == 2


def test_recording_allocates_nothing_that_stays() -> None:
    stats = ScreenStats()
    for i in range(1000):
        stats.frame_ms.add(i * 0.05)
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for i in range(200_000):
            stats.frame_ms.add((i % 1000) * 0.05)
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert after - before < 16 * 1024, f"{after - before} bytes more after 200,000 frames"


def test_percentiles_are_within_one_percent_of_the_exact_ones() -> None:
    rng = random.Random(2)
    values = [rng.lognormvariate(2.0, 0.8) for _ in range(20_000)]
    histogram = StreamingHistogram()
    for value in values:
        histogram.add(value)
    ordered = sorted(values)
    for pct in (0, 1, 50, 90, 99, 99.9, 100):
        exact = ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]
        assert histogram.percentile(pct) == pytest.approx(exact, rel=GROWTH - 1), pct
    assert histogram.percentile(0) == min(values) and histogram.percentile(100) == max(values)
    assert histogram.mean == pytest.approx(sum(values) / len(values))


def test_an_empty_or_odd_histogram_answers_sensibly() -> None:
    histogram = StreamingHistogram()
    assert histogram.percentile(99) == 0.0 and histogram.mean == 0.0
    histogram.add(-1.0)  # a clock step back counts as zero
    histogram.add(5e9)  # beyond the last bucket: counted there, the exact maximum kept
    assert histogram.percentile(0) == 0.0 and histogram.percentile(100) == 5e9
    empty = screen_summary(ScreenStats())
    assert empty.frame_ms_p99 == 0.0 and empty.tap_ms_p99 == 0.0 and empty.taps == 0
