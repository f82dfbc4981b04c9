"""Every report's figures on the fixture store (tests/backoffice_fixture.py) against the values computed by
hand there, on SQLite and on PostgreSQL: cells under k come back suppressed, with no number in them; the
KPI reports give the same figures after retention deleted every raw event (they read only rollups)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import backoffice_fixture as fx
import pytest
from pydantic import BaseModel

from backoffice import reports
from backoffice.ingest import BackofficeStore, open_store
from backoffice.reports.models import Filters, Suppressed, Value
from backoffice.retention import run_retention
from backoffice.settings import AlertSettings, ReportSettings, RetentionSettings

SETTINGS = ReportSettings(k_anonymity=fx.K)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BackofficeStore]:
    for url in fx.store_url(request.param, tmp_path):
        clock = fx.Clock()
        opened = open_store(url, clock=clock)  # the fixture's receipt times
        try:
            fx.fill(opened, clock)
            yield opened
        finally:
            opened.close()


def _filters(**changes: Any) -> Filters:
    return Filters(start=fx.START, end=fx.END, **changes)


def assert_figures(row: BaseModel, expected: Mapping[str, Any]) -> None:
    """Each expected figure equals the row's (cells: a Value with that number)."""
    for name, want in expected.items():
        got = getattr(row, name)
        if isinstance(want, tuple):
            assert len(got) == len(want), name
            for i, (g, w) in enumerate(zip(got, want, strict=True)):
                assert isinstance(g, Value) and g.value == pytest.approx(w), f"{name}[{i}]: {g} != {w}"
        elif isinstance(got, Value | Suppressed):
            assert isinstance(got, Value), f"{name} is suppressed, expected {want}"
            assert got.value == (None if want is None else pytest.approx(want)), (
                f"{name}: {got.value} != {want}"
            )
        else:
            assert got == (None if want is None else pytest.approx(want)), f"{name}: {got} != {want}"


def assert_suppressed(row: BaseModel, *skip: str) -> None:
    """Every cell of the row is suppressed, and the row's JSON holds no number but k."""
    cells = {
        n: getattr(row, n) for n in type(row).model_fields if n not in ("start", "offer_id", "arm", *skip)
    }
    for name, value in cells.items():
        values = value if isinstance(value, tuple) else (value,)
        assert all(isinstance(v, Suppressed) and v.k == fx.K for v in values), f"{name}: {value}"
        assert all(v.text() == f"< {fx.K}" and "value" not in v.model_dump() for v in values)


def test_audience(store: BackofficeStore) -> None:
    report = reports.audience(store.db, _filters(), SETTINGS)
    assert_figures(report.total, fx.AUDIENCE_TOTAL)
    hours = {row.start.hour if row.start else None: row for row in report.by_hour}
    assert sorted(h for h in hours if h is not None) == [10, 11, 22]
    assert_figures(hours[10], fx.AUDIENCE_10)
    assert_figures(hours[22], fx.AUDIENCE_22)
    assert_suppressed(hours[11])  # 3 visits < k: every figure withheld
    # UTC days: one day of 16 visits; Moscow: 11 on 2026-11-02, 5 on 2026-11-03 (22:00 UTC is 01:00 MSK).
    assert [(d.start.date().isoformat(), d.visits) for d in report.by_day if d.start] == [
        ("2026-11-02", Value(value=16))
    ]
    moscow = reports.audience(store.db, _filters(tz=fx.MOSCOW), SETTINGS)
    days = {d.start.date().isoformat(): d for d in moscow.by_day if d.start}
    assert {day: row.visits for day, row in days.items()} == {
        day: Value(value=n) for day, n in fx.AUDIENCE_DAYS_MOSCOW.items()
    }
    assert all(d.start.utcoffset() == timedelta(hours=3) for d in moscow.by_day if d.start)
    assert [h.start.hour for h in moscow.by_hour if h.start] == [13, 14, 1]


def test_audience_filters_and_suppression(store: BackofficeStore) -> None:
    s2 = reports.audience(store.db, _filters(stores=("s2",)), SETTINGS)
    assert_figures(s2.total, fx.AUDIENCE_22)  # exactly k visits: shown
    d2 = reports.audience(store.db, _filters(devices=("d2",)), SETTINGS)
    assert_suppressed(d2.total)  # 2 visits
    assert d2.total.model_dump_json().count("value") == 0
    # k = 1 switches suppression off: d2's 2 visits appear.
    assert reports.audience(
        store.db, _filters(devices=("d2",)), ReportSettings(k_anonymity=1)
    ).total.visits == Value(value=2)
    # A range holding only 11:00: 3 visits, suppressed in total too.
    only_11 = Filters(start=fx.H11, end=fx.H11 + timedelta(hours=1))
    assert_suppressed(reports.audience(store.db, only_11, SETTINGS).total)
    # Nothing in the range: zero visits is shown (nobody to protect), means undefined.
    empty = reports.audience(store.db, Filters(start=fx.END, end=fx.END + timedelta(days=1)), SETTINGS)
    assert empty.by_hour == () and empty.total.visits == Value(value=0)
    assert empty.total.dwell_s_mean == Value(value=None)


def test_offers_funnel_and_arms(store: BackofficeStore) -> None:
    report = reports.offers(store.db, _filters(), SETTINGS)
    assert_figures(report.total, fx.FUNNEL_TOTAL)
    per_offer = {row.offer_id: row for row in report.per_offer}
    assert sorted(per_offer) == ["o1", "o2"]
    assert_figures(per_offer["o1"], fx.FUNNEL_O1)
    assert_suppressed(per_offer["o2"])  # 3 showings to a visit
    arms = {(row.offer_id, row.arm): row for row in report.per_arm}
    assert sorted(arms, key=str) == sorted(
        [("o1", None), ("o1", "o1|a"), ("o1", "o1|b"), ("o2", None)], key=str
    )
    assert_figures(arms[("o1", "o1|a")], fx.ARM_A)
    assert_figures(arms[("o1", None)], fx.ARM_O1_RULES)
    assert_suppressed(arms[("o1", "o1|b")])
    assert_suppressed(arms[("o2", None)])


def test_mood_uplift(store: BackofficeStore) -> None:
    report = reports.mood(store.db, _filters(), SETTINGS)
    assert_figures(report.total, fx.MOOD_TOTAL)
    per_offer = {row.offer_id: row for row in report.per_offer}
    assert_figures(per_offer["o1"], fx.MOOD_O1)
    assert_suppressed(per_offer["o2"])  # 3 pairs


def test_frustration(store: BackofficeStore) -> None:
    report = reports.frustration(store.db, _filters(), SETTINGS)
    assert_figures(report.total, fx.FRUSTRATION_TOTAL)
    hours = {row.start.hour: row for row in report.by_hour if row.start}
    assert_suppressed(hours[10])  # 4 visits read: d2's frustrated visit without a valence is left out
    assert_suppressed(hours[11])
    assert_figures(hours[22], fx.FRUSTRATION_22)
    (day,) = report.by_day
    assert_figures(day, fx.FRUSTRATION_TOTAL)
    per_offer = {row.offer_id: row for row in report.per_offer}
    assert [row.offer_id for row in report.per_offer] == ["o1", "o2"]  # most frustrations first, then id
    assert_figures(per_offer["o1"], fx.FRUSTRATION_O1)
    assert per_offer["o1"].share_of_frustrated == Suppressed(k=fx.K)  # of 3 frustrated visits
    assert_suppressed(per_offer["o2"])


def test_feedback(store: BackofficeStore) -> None:
    report = reports.feedback(store.db, _filters(), SETTINGS)
    assert_figures(report.total, fx.FEEDBACK_TOTAL)
    moscow = reports.feedback(store.db, _filters(tz=fx.MOSCOW), SETTINGS)
    days = {d.start.date().isoformat(): d for d in moscow.by_day if d.start}
    assert_figures(days["2026-11-02"], fx.FEEDBACK_MOSCOW_DAY1)
    day2 = days["2026-11-03"]
    assert all(
        isinstance(c, Suppressed) for c in (day2.csat_responses, day2.csat_mean, *day2.csat_distribution)
    )
    assert day2.nps_responses == Value(value=0) and day2.nps == Value(value=None)


def test_staff_kpis(store: BackofficeStore) -> None:
    report = reports.staff_kpis(store.db, _filters())
    assert_figures(report.total, fx.STAFF_TOTAL)
    per_store = {row.store_id: row for row in report.per_store}
    assert_figures(per_store["s1"], fx.STAFF_S1)
    assert_figures(per_store["s2"], fx.STAFF_S2)
    assert [(h.start.hour, h.raised) for h in report.by_hour if h.start] == [(10, 2), (22, 1)]


def test_fleet_and_alerts(store: BackofficeStore) -> None:
    report = reports.fleet(store.db, fx.NOW, AlertSettings())
    devices = {(d.store_id, d.device_id): d for d in report.devices}
    assert sorted(devices) == [("s1", "d1"), ("s1", "d2"), ("s2", "d3")]
    d1, d2, d3 = devices[("s1", "d1")], devices[("s1", "d2")], devices[("s2", "d3")]
    assert (d1.online, d1.status, d1.software_version, d1.privacy_mode) == (True, "online", "0.2.0", "notice")
    assert (d1.fps, d1.inference_ms, d1.dropped_frames, d1.camera_ok) == (12, 7, 5, True)
    assert (d1.outbox_depth, d1.clock_drift_s, d1.alerts) == (2, 1.0, ())
    assert d1.models == {"blazeface": "1", "emotion": "vgg28"}
    assert (d2.online, d2.status, d2.privacy_mode, d2.software_version, d2.camera_ok) == (
        False,
        "offline",
        None,
        "0.1.0",
        False,
    )
    assert (d3.status, d3.software_version, d3.outbox_depth, d3.clock_drift_s) == (None, None, 150, 300.0)
    assert d3.last_seen == fx.H22 + timedelta(minutes=5)
    assert {(a.store_id, a.device_id, a.kind): a.value for a in report.alerts} == fx.FLEET_ALERTS
    assert {a.kind for a in d2.alerts} == {"offline", "camera_lost"}
    # Filters, and thresholds from the settings.
    only_s2 = reports.fleet(store.db, fx.NOW, AlertSettings(clock_drift_s=600), stores=["s2"])
    assert [d.device_id for d in only_s2.devices] == ["d3"]
    assert [a.kind for a in only_s2.alerts] == ["outbox_growing"]


def test_fleet_live_status_overrides_the_table(store: BackofficeStore) -> None:
    from backoffice.reports.models import LiveDevice
    from mqtt_bridge.contract.payloads import StatusPayload

    live = {
        ("s1", "d2"): LiveDevice(status=StatusPayload(state="online", ts=fx.NOW), status_received_at=fx.NOW),
        ("s3", "d9"): LiveDevice(status=StatusPayload(state="offline", ts=fx.H10), status_received_at=fx.H10),
    }
    report = reports.fleet(store.db, fx.NOW, AlertSettings(), live=live)
    devices = {(d.store_id, d.device_id): d for d in report.devices}
    assert devices[("s1", "d2")].online and not any(a.kind == "offline" for a in devices[("s1", "d2")].alerts)
    assert [a.kind for a in devices[("s3", "d9")].alerts] == ["offline"]  # a device only live knows


def test_device_history(store: BackofficeStore) -> None:
    history = reports.device_history(store.db, "s1", "d1", _filters(), SETTINGS)
    assert history.device is not None and history.device.software_version == "0.2.0"
    hours = {h.start.hour: h for h in history.hours}
    assert sorted(hours) == [10, 11]
    assert_figures(hours[10], fx.DEVICE_D1_H10)
    assert isinstance(hours[11].visits, Suppressed) and isinstance(hours[11].offers_shown, Suppressed)
    assert reports.device_history(store.db, "s9", "d9", _filters(), SETTINGS).device is None


def _kpis(store: BackofficeStore) -> list[str]:
    f, fm = _filters(), _filters(tz=fx.MOSCOW)
    db = store.db
    return [
        reports.audience(db, f, SETTINGS).model_dump_json(),
        reports.audience(db, fm, SETTINGS).model_dump_json(),
        reports.offers(db, f, SETTINGS).model_dump_json(),
        reports.mood(db, f, SETTINGS).model_dump_json(),
        reports.frustration(db, fm, SETTINGS).model_dump_json(),
        reports.feedback(db, fm, SETTINGS).model_dump_json(),
        reports.staff_kpis(db, f).model_dump_json(),
        reports.device_history(db, "s1", "d1", f, SETTINGS).model_dump_json(),
    ]


def test_kpi_reports_read_only_rollups(store: BackofficeStore) -> None:
    before = _kpis(store)
    deleted = run_retention(store.db, fx.NOW + timedelta(days=1), RetentionSettings(raw_days=0.5))
    assert deleted.events > 50 and deleted.metrics == 5 and deleted.staff_calls == 3
    assert store.db.scalar("SELECT count(*) FROM events") == 0
    assert store.db.scalar("SELECT count(*) FROM staff_calls") == 0
    assert _kpis(store) == before
