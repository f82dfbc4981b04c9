"""The fleet: every device with its latest state and alerts, and a device's history by hour.

The device list comes from the ``devices`` table (retained status and birth, as the ingest stored them)
joined with ``device_health`` (latest health, metrics and sighting), optionally overridden by what a live
subscription holds (:class:`~backoffice.reports.models.LiveDevice`). Fleet figures are about machines, not
shoppers: plain numbers. The ``outbox_growing`` rule reads the metrics payloads of its window (never older
than ``outbox_window_min``, so retention never touches them); nothing else here reads raw rows.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from backoffice import alerts
from backoffice.db import Database, as_datetime, as_utc
from backoffice.reports.models import (
    Alert,
    DeviceHistory,
    DeviceHour,
    DeviceRow,
    Filters,
    FleetReport,
    Lifecycle,
    LiveDevice,
    cell,
    ratio,
)
from backoffice.reports.query import local_hour, per_hour, sums
from backoffice.rollups import AUDIENCE, HEALTH, OFFERS
from backoffice.settings import AlertSettings, ReportSettings
from mqtt_bridge.contract.payloads import BirthPayload

DeviceKey = tuple[str, str]

_HEALTH_COLUMNS = (
    "last_received_at, health_at, fps, inference_ms, dropped_frames, camera_ok, metrics_at, "
    "metrics_received_at, outbox_depth, outbox_bytes"
)


def _in(column: str, values: Sequence[str]) -> tuple[str, list[Any]]:
    return (f" AND {column} IN ({', '.join('?' * len(values))})", list(values)) if values else ("", [])


def _birth(raw: Any) -> BirthPayload | None:
    if raw is None:
        return None
    if isinstance(raw, str | bytes):
        return _parsed_birth(raw)
    try:
        return BirthPayload.model_validate(raw)
    except ValidationError:
        return None


@functools.lru_cache(maxsize=4096)
def _parsed_birth(raw: str | bytes) -> BirthPayload | None:
    """A stored birth's text parsed once: a birth changes only when its device restarts, and the fleet page
    reads every device's on every request (the model is frozen, so sharing it is safe)."""
    try:
        return BirthPayload.model_validate(json.loads(raw))
    except (ValueError, ValidationError):
        return None


def _latest(*times: datetime | None) -> datetime | None:
    known = [as_utc(t) for t in times if t is not None]
    return max(known) if known else None


def _device_rows(
    db: Database, stores: Sequence[str], devices: Sequence[str], live: Mapping[DeviceKey, LiveDevice]
) -> list[DeviceRow]:
    store_sql, store_params = _in("store_id", stores)
    device_sql, device_params = _in("device_id", devices)
    filters, params = store_sql + device_sql, store_params + device_params
    table: dict[DeviceKey, tuple[Any, ...]] = {
        (str(r[0]), str(r[1])): r[2:]
        for r in db.query(
            "SELECT store_id, device_id, status, status_at, birth, last_seen FROM devices "  # noqa: S608
            f"WHERE 1 = 1{filters}",
            params,
        )
    }
    health: dict[DeviceKey, tuple[Any, ...]] = {
        (str(r[0]), str(r[1])): r[2:]
        for r in db.query(
            f"SELECT store_id, device_id, {_HEALTH_COLUMNS} FROM device_health WHERE 1 = 1{filters}",  # noqa: S608
            params,
        )
    }
    lifecycle: dict[DeviceKey, tuple[Any, ...]] = {
        (str(r[0]), str(r[1])): r[2:]
        for r in db.query(
            "SELECT store_id, device_id, fleet_state, fleet_reason, notice_at, decommissioned_at "  # noqa: S608
            f"FROM device_lifecycle WHERE 1 = 1{filters}",
            params,
        )
    }
    wanted = {key for key in live if (not stores or key[0] in stores) and (not devices or key[1] in devices)}
    rows = []
    for key in sorted(table.keys() | health.keys() | lifecycle.keys() | wanted):
        status, status_at, birth_raw, last_seen = table.get(key, (None, None, None, None))
        h = health.get(key, (None,) * 10)
        received, health_at, fps, inference_ms, dropped, camera_ok, metrics_at, metrics_received = h[:8]
        outbox_depth, outbox_bytes = h[8:]
        birth = _birth(birth_raw)
        seen = _latest(as_datetime(last_seen), as_datetime(received))
        status_time = as_datetime(status_at)
        now_live = live.get(key)
        if now_live is not None:
            if now_live.status is not None:
                status = now_live.status.state
                status_time = now_live.status.ts or now_live.status_received_at
            birth = now_live.birth or birth
            seen = _latest(seen, now_live.status_received_at)
        stage, stage_at, stage_reason = _lifecycle(lifecycle.get(key))
        metrics_time, metrics_recv = as_datetime(metrics_at), as_datetime(metrics_received)
        drift = (
            (metrics_recv - metrics_time).total_seconds()
            if metrics_time is not None and metrics_recv is not None
            else None
        )
        rows.append(
            DeviceRow(
                store_id=key[0],
                device_id=key[1],
                status=status,
                online=status == "online" and stage not in ("revoked", "decommissioned"),
                status_at=status_time,
                last_seen=seen,
                software_version=birth.software_version if birth else None,
                models=dict(birth.models) if birth else {},
                capabilities=tuple(birth.capabilities) if birth else (),
                privacy_mode=birth.privacy_mode if birth else None,
                config_hash=birth.config_hash if birth else None,
                fps=fps,
                inference_ms=inference_ms,
                dropped_frames=None if dropped is None else int(dropped),
                camera_ok=None if camera_ok is None else bool(camera_ok),
                health_at=as_datetime(health_at),
                outbox_depth=None if outbox_depth is None else int(outbox_depth),
                outbox_bytes=None if outbox_bytes is None else int(outbox_bytes),
                metrics_at=metrics_time,
                metrics_received_at=metrics_recv,
                clock_drift_s=drift,
                lifecycle=stage,
                lifecycle_at=stage_at,
                lifecycle_reason=stage_reason,
                alerts=(),
            )
        )
    return rows


def _epoch_time(value: Any) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(float(value), UTC)


def _lifecycle(row: tuple[Any, ...] | None) -> tuple[Lifecycle | None, datetime | None, str | None]:
    """A device's place in the fleet from its ``device_lifecycle`` row: revoked (the fleet's word) before
    decommissioned (the device's own), before active."""
    if row is None:
        return None, None, None
    state, reason, notice_at, decommissioned_at = row
    if state == "revoked":
        return "revoked", _epoch_time(notice_at), str(reason or "") or None
    if decommissioned_at is not None:
        return "decommissioned", _epoch_time(decommissioned_at), None
    if state == "active":
        return "active", _epoch_time(notice_at), None
    return None, None, None


def _ts(value: Any) -> datetime:
    """A metrics ts as stored (ISO text on SQLite, ``datetime`` on PostgreSQL), aware."""
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _outbox_windows(
    db: Database, now: datetime, settings: AlertSettings, stores: Sequence[str], devices: Sequence[str]
) -> dict[DeviceKey, alerts.OutboxWindow]:
    """Each device's :class:`~backoffice.alerts.OutboxWindow` over the metrics payloads of the window
    (of the stores and devices asked), read as plain rows (the ts index) and reduced here: the same
    window as :func:`backoffice.alerts.outbox_window` makes, without a model per payload."""
    start = as_utc(now) - timedelta(minutes=settings.outbox_window_min)
    store_sql, store_params = _in("store_id", stores)
    device_sql, device_params = _in("device_id", devices)
    samples: dict[DeviceKey, list[tuple[datetime, int]]] = {}
    for store_id, device_id, ts, depth in db.query(
        "SELECT store_id, device_id, ts, outbox_depth FROM metrics "  # noqa: S608
        f"WHERE ts >= ? AND outbox_depth IS NOT NULL{store_sql}{device_sql}",
        [start, *store_params, *device_params],
    ):
        samples.setdefault((store_id, device_id), []).append((_ts(ts), depth))
    windows: dict[DeviceKey, alerts.OutboxWindow] = {}
    for (store_id, device_id), rows in samples.items():
        rows.sort()
        falls, previous = 0, rows[0][1]
        for _at, depth in rows:
            falls += depth < previous
            previous = depth
        windows[(str(store_id), str(device_id))] = alerts.OutboxWindow(
            samples=len(rows), falls=falls, first_at=as_utc(rows[0][0]), growth=int(rows[-1][1] - rows[0][1])
        )
    return windows


def fleet(
    db: Database,
    now: datetime,
    settings: AlertSettings,
    *,
    stores: Sequence[str] = (),
    devices: Sequence[str] = (),
    live: Mapping[DeviceKey, LiveDevice] | None = None,
) -> FleetReport:
    """Every device the ``devices`` table, ``device_health`` or ``live`` knows (of ``stores``/``devices``,
    empty: all), its state now and the alerts raised at ``now``. ``live``, keyed by (store, device),
    overrides the stored status and birth (and adds devices only it knows) before the rules run."""
    rows = _device_rows(db, stores, devices, live or {})
    windows = _outbox_windows(db, now, settings, stores, devices)
    out: list[DeviceRow] = []
    raised: list[Alert] = []
    for row in rows:
        found = alerts.evaluate(row, windows.get((row.store_id, row.device_id)), now, settings)
        raised.extend(found)
        # Most devices raise nothing: their row (built with no alerts) is kept as it is, not copied.
        out.append(row.model_copy(update={"alerts": found}) if found else row)
    return FleetReport(generated_at=now, devices=tuple(out), alerts=tuple(raised))


def device_history(
    db: Database,
    store_id: str,
    device_id: str,
    filters: Filters,
    settings: ReportSettings,
    *,
    live: Mapping[DeviceKey, LiveDevice] | None = None,
) -> DeviceHistory:
    """One device: its row of :func:`fleet` (without alerts) and its hours in ``filters``' range (the
    filters' stores and devices are ignored). Audience cells are suppressed under k visits; showings under
    k showings to a visit."""
    k = settings.k_anonymity
    key = (store_id, device_id)
    rows = _device_rows(db, [store_id], [device_id], {key: live[key]} if live and key in live else {})
    health = per_hour(sums(db, HEALTH, filters, ("hour",), device=key))
    audience = per_hour(sums(db, AUDIENCE, filters, ("hour",), columns=("visits", "watchers"), device=key))
    shown = per_hour(sums(db, OFFERS, filters, ("hour",), columns=("shown", "shown_to_visits"), device=key))
    hours = []
    for hour in sorted(health.keys() | audience.keys() | shown.keys()):
        h, a, o = health.get(hour, {}), audience.get(hour, {}), shown.get(hour, {})
        visits, showings = int(a.get("visits", 0)), int(o.get("shown_to_visits", 0))
        health_n, metrics_n = int(h.get("health_n", 0)), int(h.get("metrics_n", 0))
        dropped, depth_max = h.get("dropped_frames_max"), h.get("outbox_depth_max")
        hours.append(
            DeviceHour(
                start=local_hour(hour, filters),
                health_samples=health_n,
                fps_mean=ratio(h.get("fps_sum", 0.0), health_n),
                inference_ms_mean=ratio(h.get("inference_ms_sum", 0.0), health_n),
                dropped_frames_max=int(dropped) if health_n and dropped is not None else None,
                camera_lost_samples=int(h.get("camera_lost_n", 0)),
                metrics_samples=metrics_n,
                outbox_depth_max=int(depth_max) if metrics_n and depth_max is not None else None,
                outbox_depth_mean=ratio(h.get("outbox_depth_sum", 0.0), metrics_n),
                visits=cell(visits, visits, k),
                watchers=cell(a.get("watchers", 0), visits, k),
                offers_shown=cell(o.get("shown", 0), showings, k),
            )
        )
    return DeviceHistory(
        store_id=store_id, device_id=device_id, device=rows[0] if rows else None, hours=tuple(hours)
    )
