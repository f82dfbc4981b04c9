"""The fleet's alert rules are pure: a device's row, its outbox samples, a clock and the settings in, the
alerts out; each rule at and around its threshold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from backoffice import alerts
from backoffice.reports.models import DeviceRow
from backoffice.settings import AlertSettings

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
SETTINGS = AlertSettings()


def _device(**fields: Any) -> DeviceRow:
    base: dict[str, Any] = {
        "store_id": "s1",
        "device_id": "d1",
        "status": "online",
        "online": True,
        "status_at": NOW - timedelta(hours=1),
        "last_seen": NOW,
        "software_version": "0.2.0",
        "models": {},
        "capabilities": (),
        "privacy_mode": "notice",
        "config_hash": None,
        "fps": 10.0,
        "inference_ms": 5.0,
        "dropped_frames": 0,
        "camera_ok": True,
        "health_at": NOW,
        "outbox_depth": 0,
        "outbox_bytes": 0,
        "metrics_at": NOW,
        "metrics_received_at": NOW,
        "clock_drift_s": 0.0,
        "alerts": (),
    }
    base.update(fields)
    if "status" in fields:
        base["online"] = fields["status"] == "online"
    return DeviceRow(**base)


def test_a_healthy_device_raises_nothing() -> None:
    assert alerts.evaluate(_device(), [(NOW, 0)], NOW, SETTINGS) == ()


def test_offline_after_the_threshold_only() -> None:
    at_threshold = _device(status="offline", status_at=NOW - timedelta(minutes=10))
    assert alerts.offline(at_threshold, NOW, SETTINGS) is None
    past = _device(status="stopped", status_at=NOW - timedelta(minutes=10, seconds=6))
    alert = alerts.offline(past, NOW, SETTINGS)
    assert alert is not None and (alert.kind, alert.value, alert.threshold) == ("offline", 10.1, 10.0)
    # Never a status: measured from the last sighting; never seen at all: nothing to say.
    silent = _device(status=None, status_at=None, last_seen=NOW - timedelta(hours=2))
    assert alerts.offline(silent, NOW, SETTINGS) is not None
    assert alerts.offline(_device(status=None, status_at=None, last_seen=None), NOW, SETTINGS) is None


def test_camera_and_clock() -> None:
    assert alerts.camera_lost(_device(camera_ok=None)) is None  # no health event yet
    lost = alerts.camera_lost(_device(camera_ok=False))
    assert lost is not None and lost.since == NOW
    assert alerts.clock_drift(_device(clock_drift_s=-120.0), SETTINGS) is None
    behind = alerts.clock_drift(_device(clock_drift_s=-121.0), SETTINGS)  # a device clock ahead
    assert behind is not None and behind.value == -121.0
    assert alerts.clock_drift(_device(clock_drift_s=None), SETTINGS) is None


def test_outbox_growing_needs_steady_growth_in_the_window() -> None:
    def samples(*depths: int, every_min: float = 10) -> list[tuple[datetime, int]]:
        return [(NOW - timedelta(minutes=every_min * (len(depths) - 1 - i)), d) for i, d in enumerate(depths)]

    device = _device()
    grown = alerts.outbox_growing(device, samples(10, 60, 110), NOW, SETTINGS)
    assert grown is not None and (grown.value, grown.since) == (100, NOW - timedelta(minutes=20))
    assert alerts.outbox_growing(device, samples(10, 60, 109), NOW, SETTINGS) is None  # 99 < 100
    assert alerts.outbox_growing(device, samples(10, 300, 250, 400), NOW, SETTINGS) is None  # it fell once
    assert alerts.outbox_growing(device, samples(10, 500), NOW, SETTINGS) is None  # 2 samples < 3
    # Samples older than the window do not count: the growth inside it is what matters.
    old_and_flat = samples(0, 0, 500, 500, 500, every_min=10)
    assert alerts.outbox_growing(device, old_and_flat, NOW, AlertSettings(outbox_window_min=25)) is None
