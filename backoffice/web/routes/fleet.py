"""The fleet page (every device, online or not, its versions and health, alerts) and a device's page (its
history by hour). The web application's own live subscription to the retained status and birth overrides
the store's before the alert rules run (``reports.fleet(live=...)``), so a kiosk that connected before the
back office started shows online."""

from __future__ import annotations

from fastapi import APIRouter, Request

from backoffice.reports.models import Alert, DeviceRow, FleetReport
from backoffice.web.access import allow
from backoffice.web.context import services_of
from backoffice.web.i18n import Words
from backoffice.web.page import CellValue, Chart, Column, Link, Page, Series, Table, chart_value
from backoffice.web.render import words
from backoffice.web.routes.common import page_filters, register_page
from backoffice.web.users import EVERYONE

router = APIRouter()


def fleet_report(
    request: Request, stores: tuple[str, ...] = (), devices: tuple[str, ...] = ()
) -> FleetReport:
    """The fleet now, the live link's retained status and birth overriding the store's."""
    services = services_of(request)
    return services.reports.fleet(services.clock(), stores, devices, live=services.link.live_devices())


def alert_text(t: Words, alert: Alert) -> str:
    """An alert's kind in words."""
    return {
        "offline": t.alert_offline,
        "camera_lost": t.alert_camera_lost,
        "clock_drift": t.alert_clock_drift,
        "outbox_growing": t.alert_outbox_growing,
    }[alert.kind]


def alerts_table(t: Words, alerts: tuple[Alert, ...]) -> Table:
    """The alerts raised now."""
    return Table(
        "alerts",
        t.fleet_alerts,
        (
            Column("store_id", t.col_store),
            Column("device_id", t.col_device),
            Column("kind", t.col_alert_kind),
            Column("alert", t.col_alert),
            Column("since", t.col_since, "time"),
            Column("value", t.col_value, "number1"),
            Column("threshold", t.col_threshold, "number1"),
        ),
        tuple(
            (a.store_id, a.device_id, a.kind, alert_text(t, a), a.since, a.value, a.threshold) for a in alerts
        ),
        definition="alerts",
    )


def device_columns(t: Words) -> tuple[Column, ...]:
    """The columns of the fleet's device table."""
    return (
        Column("store_id", t.col_store),
        Column("device_id", t.col_device),
        Column("status", t.col_status),
        Column("online", t.col_online, "bool"),
        Column("lifecycle", t.col_lifecycle),
        Column("lifecycle_at", t.col_lifecycle_at, "time"),
        Column("lifecycle_reason", t.col_lifecycle_reason),
        Column("status_at", t.col_status_at, "time"),
        Column("last_seen", t.col_last_seen, "time"),
        Column("software_version", t.col_software),
        Column("models", t.col_models),
        Column("privacy_mode", t.col_privacy_mode),
        Column("fps", t.col_fps, "number1"),
        Column("inference_ms", t.col_inference_ms, "number1"),
        Column("dropped_frames", t.col_dropped_frames, "int"),
        Column("camera_ok", t.col_camera_ok, "bool"),
        Column("outbox_depth", t.col_outbox_depth, "int"),
        Column("outbox_bytes", t.col_outbox_bytes, "int"),
        Column("clock_drift_s", t.col_clock_drift_s, "number1"),
        Column("alerts", t.col_alerts, "int"),
    )


def device_cells(row: DeviceRow) -> tuple[CellValue | Link, ...]:
    """One device's row of the device table (its id links to its page)."""
    return (
        row.store_id,
        Link(row.device_id, f"/fleet/{row.store_id}/{row.device_id}"),
        row.status,
        row.online,
        row.lifecycle,
        row.lifecycle_at,
        row.lifecycle_reason,
        row.status_at,
        row.last_seen,
        row.software_version,
        " ".join(f"{name}:{version[:12]}" for name, version in sorted(row.models.items())),
        row.privacy_mode,
        row.fps,
        row.inference_ms,
        row.dropped_frames,
        row.camera_ok,
        row.outbox_depth,
        row.outbox_bytes,
        row.clock_drift_s,
        len(row.alerts),
    )


def problems_first(rows: tuple[DeviceRow, ...]) -> tuple[DeviceRow, ...]:
    """The devices with alerts first, then those not online, each group in (store, device) order: what an
    operator must see is on the device table's first page however large the fleet."""
    return tuple(sorted(rows, key=lambda d: (not d.alerts, d.online, d.store_id, d.device_id)))


def build_fleet(request: Request) -> Page:
    """The fleet page."""
    t = words(request)
    filters = page_filters(request)
    report = fleet_report(
        request, (filters.store,) if filters.store else (), (filters.device,) if filters.device else ()
    )
    rows = problems_first(report.devices)
    labels = tuple(f"{d.store_id}/{d.device_id}" for d in rows)
    online = sum(d.online for d in rows)
    return Page(
        "fleet",
        t.fleet_title,
        "fleet",
        tables=(
            Table(
                "devices",
                t.fleet_devices,
                device_columns(t),
                tuple(device_cells(d) for d in rows),
                "fleet",
                page_size=services_of(request).settings.fleet_rows,
            ),
            alerts_table(t, report.alerts),
        ),
        charts=(
            Chart(
                "status",
                t.chart_fleet_status,
                "bar",
                (t.status_online, t.status_not_online, t.fleet_alerts),
                (
                    Series(
                        t.col_devices, (float(online), float(len(rows) - online), float(len(report.alerts)))
                    ),
                ),
            ),
            Chart(
                "fps",
                t.chart_fps,
                "bar",
                labels,
                (Series(t.col_fps, tuple(chart_value(d.fps) for d in rows)),),
            ),
            Chart(
                "outbox",
                t.chart_outbox,
                "bar",
                labels,
                (Series(t.col_outbox_depth, tuple(chart_value(d.outbox_depth) for d in rows)),),
            ),
        ),
        notes=(t.fleet_note_live if services_of(request).link.connected else t.fleet_note_no_live,),
        filters=filters.as_query(),
    )


def build_device(request: Request) -> Page:
    """A device's page: what it is now, its alerts, and its hours in the range."""
    t = words(request)
    store_id = str(request.path_params["store"])
    device_id = str(request.path_params["device"])
    filters = page_filters(request)
    services = services_of(request)
    history = services.reports.device_history(store_id, device_id, filters.report_filters())
    report = fleet_report(request, (store_id,), (device_id,))
    now_row = next(iter(report.devices), None)
    hours = history.hours
    labels = tuple(h.start.astimezone(filters.zone).strftime("%m-%d %H:00") for h in hours)
    summary: tuple[tuple[CellValue | Link, ...], ...] = ()
    if now_row is not None:
        summary = tuple(
            (c.label, value) for c, value in zip(device_columns(t), device_cells(now_row), strict=True)
        )
    return Page(
        "device",
        f"{t.device_title} {store_id}/{device_id}",
        "device",
        tables=(
            Table(
                "now",
                t.device_now,
                (Column("field", t.col_field), Column("value", t.col_value)),
                summary,
                "fleet",
            ),
            alerts_table(t, report.alerts),
            Table(
                "hours",
                t.device_hours,
                (
                    Column("start", t.col_hour, "hour"),
                    Column("health_samples", t.col_health_samples, "int"),
                    Column("fps_mean", t.col_fps, "number1"),
                    Column("inference_ms_mean", t.col_inference_ms, "number1"),
                    Column("dropped_frames_max", t.col_dropped_frames, "int"),
                    Column("camera_lost_samples", t.col_camera_lost_samples, "int"),
                    Column("metrics_samples", t.col_metrics_samples, "int"),
                    Column("outbox_depth_max", t.col_outbox_depth_max, "int"),
                    Column("outbox_depth_mean", t.col_outbox_depth_mean, "number1"),
                    Column("visits", t.col_visits, "int"),
                    Column("watchers", t.col_watchers, "int"),
                    Column("offers_shown", t.col_offers_shown, "int"),
                ),
                tuple(
                    (
                        h.start,
                        h.health_samples,
                        h.fps_mean,
                        h.inference_ms_mean,
                        h.dropped_frames_max,
                        h.camera_lost_samples,
                        h.metrics_samples,
                        h.outbox_depth_max,
                        h.outbox_depth_mean,
                        h.visits,
                        h.watchers,
                        h.offers_shown,
                    )
                    for h in hours
                ),
                "device",
            ),
        ),
        charts=(
            Chart(
                "health",
                t.chart_device_health,
                "line",
                labels,
                (
                    Series(t.col_fps, tuple(chart_value(h.fps_mean) for h in hours)),
                    Series(t.col_inference_ms, tuple(chart_value(h.inference_ms_mean) for h in hours)),
                ),
            ),
            Chart(
                "audience",
                t.chart_device_audience,
                "bar",
                labels,
                (
                    Series(t.col_visits, tuple(chart_value(h.visits) for h in hours)),
                    Series(t.col_watchers, tuple(chart_value(h.watchers) for h in hours)),
                ),
            ),
            Chart(
                "outbox",
                t.chart_outbox,
                "line",
                labels,
                (Series(t.col_outbox_depth_max, tuple(chart_value(h.outbox_depth_max) for h in hours)),),
            ),
        ),
        filters=filters.as_query(),
    )


register_page(router, "/fleet", "fleet", allow(*EVERYONE), build_fleet)
register_page(router, "/fleet/{store}/{device}", "device", allow(*EVERYONE), build_device)
