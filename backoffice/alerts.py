"""The fleet's alert rules: pure functions of a device's state, its recent outbox depths, a clock (``now``)
and :class:`backoffice.settings.AlertSettings`. :func:`backoffice.reports.fleet.fleet` runs them.

- ``offline``: the retained status is not ``online`` (``offline``, the last will: the connection was lost;
  ``stopped``: a clean exit), or no status was ever received, for longer than ``offline_after_min``
  (since the status's time, or, without one, since the device was last seen).
- ``camera_lost``: the latest health event says ``camera_ok`` false.
- ``clock_drift``: the latest metrics payload's ``ts`` and the time the back office received it differ by
  more than ``clock_drift_s``.
- ``outbox_growing``: over the last ``outbox_window_min`` minutes (by the payloads' ``ts``) at least
  ``outbox_min_samples`` metrics payloads, the depth never fell from one to the next, and it grew by at
  least ``outbox_growth_events``.

None of them is raised for a device taken out of the fleet on purpose: revoked (the fleet's notice) or
decommissioned (it cleared its retained status and birth).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

from backoffice.db import as_utc
from backoffice.reports.models import Alert, DeviceRow
from backoffice.settings import AlertSettings

#: One outbox sample: the metrics payload's ts and its outbox depth.
OutboxSample = tuple[datetime, int]


@dataclass(frozen=True)
class OutboxWindow:
    """What ``outbox_growing`` reads of a device's samples in the window, oldest first: how many, how
    often the depth fell from one to the next, the first one's ts, and the growth (last depth minus
    first). :func:`outbox_window` makes it from samples; the fleet report has the store compute it."""

    samples: int
    falls: int
    first_at: datetime
    growth: int


def outbox_window(samples: Sequence[OutboxSample], start: datetime) -> OutboxWindow | None:
    """The :class:`OutboxWindow` of the samples from ``start`` on; None when there is none."""
    window = sorted((as_utc(ts), depth) for ts, depth in samples if as_utc(ts) >= as_utc(start))
    if not window:
        return None
    depths = [depth for _ts, depth in window]
    return OutboxWindow(
        samples=len(window),
        falls=sum(b < a for a, b in pairwise(depths)),
        first_at=window[0][0],
        growth=depths[-1] - depths[0],
    )


def offline(device: DeviceRow, now: datetime, settings: AlertSettings) -> Alert | None:
    """``offline`` when the device has not been online for longer than ``offline_after_min`` (never for one
    revoked or decommissioned)."""
    if device.online or device.out_of_service:
        return None
    since = device.status_at if device.status is not None else device.last_seen
    if since is None:
        return None
    minutes = (as_utc(now) - as_utc(since)).total_seconds() / 60
    if minutes <= settings.offline_after_min:
        return None
    return Alert(
        store_id=device.store_id,
        device_id=device.device_id,
        kind="offline",
        since=since,
        value=round(minutes, 1),
        threshold=settings.offline_after_min,
    )


def camera_lost(device: DeviceRow) -> Alert | None:
    """``camera_lost`` when the latest health event says the camera delivers no frames."""
    if device.camera_ok is not False:
        return None
    return Alert(
        store_id=device.store_id,
        device_id=device.device_id,
        kind="camera_lost",
        since=device.health_at,
        value=1,
        threshold=1,
    )


def clock_drift(device: DeviceRow, settings: AlertSettings) -> Alert | None:
    """``clock_drift`` when the latest metrics payload's ts is off its receipt by more than the setting."""
    if device.clock_drift_s is None or abs(device.clock_drift_s) <= settings.clock_drift_s:
        return None
    return Alert(
        store_id=device.store_id,
        device_id=device.device_id,
        kind="clock_drift",
        since=device.metrics_received_at,
        value=round(device.clock_drift_s, 1),
        threshold=settings.clock_drift_s,
    )


def outbox_growing(
    device: DeviceRow,
    samples: Sequence[OutboxSample] | OutboxWindow | None,
    now: datetime,
    settings: AlertSettings,
) -> Alert | None:
    """``outbox_growing`` when the outbox depth only grew over the window, by at least the setting.
    ``samples``: the device's samples, or their :class:`OutboxWindow` already made (None: none)."""
    start = as_utc(now) - timedelta(minutes=settings.outbox_window_min)
    window = (
        samples if isinstance(samples, OutboxWindow) or samples is None else outbox_window(samples, start)
    )
    if window is None or window.samples < settings.outbox_min_samples:
        return None
    if window.falls or window.growth < settings.outbox_growth_events:
        return None
    return Alert(
        store_id=device.store_id,
        device_id=device.device_id,
        kind="outbox_growing",
        since=window.first_at,
        value=window.growth,
        threshold=settings.outbox_growth_events,
    )


def evaluate(
    device: DeviceRow,
    samples: Sequence[OutboxSample] | OutboxWindow | None,
    now: datetime,
    settings: AlertSettings,
) -> tuple[Alert, ...]:
    """Every alert ``device`` raises at ``now``, in the order offline, camera, clock, outbox; none for a
    device taken out of the fleet on purpose (revoked or decommissioned: nobody is to bring it back)."""
    if device.out_of_service:
        return ()
    found = (
        offline(device, now, settings),
        camera_lost(device),
        clock_drift(device, settings),
        outbox_growing(device, samples, now, settings),
    )
    return tuple(a for a in found if a is not None)
