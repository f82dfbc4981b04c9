"""The fleet report has the store count each device's outbox window (one row a device): the same window
as :func:`backoffice.alerts.outbox_window` makes from the samples, on both stores."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import backoffice_fixture as fx
import pytest

from backoffice import alerts
from backoffice.ingest import BackofficeStore, Parsed, open_store
from backoffice.reports.fleet import _outbox_windows
from backoffice.settings import AlertSettings
from mqtt_bridge.contract.payloads import MetricsPayload

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BackofficeStore]:
    for url in fx.store_url(request.param, tmp_path):
        opened = open_store(url)
        try:
            yield opened
        finally:
            opened.close()


def test_the_stores_outbox_windows_equal_the_pure_ones(store: BackofficeStore) -> None:
    rng = random.Random(7)
    settings = AlertSettings()
    samples: dict[tuple[str, str], list[alerts.OutboxSample]] = {}
    metrics = []
    for i in range(12):
        key = (f"s{i % 3}", f"d{i}")
        depth, rows = rng.randrange(50), []
        for minute in sorted(rng.sample(range(-50, 5), rng.randrange(0, 12))):  # some before the window
            depth = max(0, depth + rng.choice((-20, 0, 30, 60)) if i % 2 else depth + rng.randrange(0, 80))
            ts = NOW + timedelta(minutes=minute)
            rows.append((ts, depth))
            metrics.append((*key, MetricsPayload(ts=ts, uptime_s=1, outbox_depth=depth, outbox_bytes=1)))
        samples[key] = rows
    rng.shuffle(metrics)  # arrival order is not time order
    store.write(Parsed(metrics=metrics))
    start = NOW - timedelta(minutes=settings.outbox_window_min)
    want = {k: w for k, v in samples.items() if (w := alerts.outbox_window(v, start)) is not None}
    assert len(want) > 6 and any(w.falls for w in want.values()) and any(not w.falls for w in want.values())
    assert _outbox_windows(store.db, NOW, settings, (), ()) == want
    assert _outbox_windows(store.db, NOW, settings, ("s1",), ()) == {
        k: w for k, w in want.items() if k[0] == "s1"
    }
    assert _outbox_windows(store.db, NOW, settings, ("s1",), ("d4",)) == {
        k: w for k, w in want.items() if k == ("s1", "d4")
    }
