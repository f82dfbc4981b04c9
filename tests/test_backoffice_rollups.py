"""The rollups equal a recount of the events in the store, whatever the batches they arrived in and however
often they were redelivered (hypothesis), on SQLite and PostgreSQL: checked against a recount written here
with plain loops, and against ``rollups.rebuild`` from the raw rows. Also: a partial rebuild keeps the hours
retention emptied; the rollup write is in the events' transaction."""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import backoffice_fixture as fx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backoffice import rollups
from backoffice.ingest import BackofficeStore, Parsed, migrate_store, open_store
from backoffice.retention import run_retention
from backoffice.settings import RetentionSettings
from mqtt_bridge.contract.events import (
    ConsentChanged,
    Event,
    Feedback,
    Health,
    OfferEnded,
    OfferRedeemed,
    OfferShown,
    OfferTapped,
    StaffCall,
    StaffCallAcknowledged,
    ValenceMix,
    VisitEnded,
    VisitStarted,
)
from mqtt_bridge.contract.payloads import MetricsPayload

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BackofficeStore]:
    for url in fx.store_url(request.param, tmp_path):
        opened = open_store(url)
        try:
            yield opened
        finally:
            opened.close()


# --- events ------------------------------------------------------------------------------------------------

seconds = st.sampled_from([0.0, 0.5, 1.0, 2.5, 4.0, 10.0])
mixes = st.builds(ValenceMix, negative_s=seconds, neutral_s=seconds, positive_s=seconds)
offer_ids = st.sampled_from(["o1", "o2"])
arms = st.sampled_from([None, "o1|x", "o2|y"])
visit_refs = st.sampled_from([None, "v1", "v2"])


@st.composite
def events(draw: st.DrawFn, stores: tuple[str, str], call_ids: list[str]) -> Event:
    store = draw(st.sampled_from(stores))
    common: dict[str, Any] = {
        "store_id": store,
        "device_id": draw(st.sampled_from(["d1", "d2"])),
        "ts": T0 + timedelta(minutes=draw(st.integers(0, 150))),
        "schema_version": draw(st.sampled_from([1, 2])),
    }
    kind = draw(st.integers(0, 11))
    if kind == 0:
        return VisitStarted(**common, visit_ref="v1")
    if kind == 1:
        return VisitEnded(
            **common,
            visit_ref="v1",
            dwell_s=draw(seconds),
            attention_s=draw(seconds),
            watcher=draw(st.booleans()),
            glance=draw(st.booleans()),
            valence=draw(mixes),
            frustrated=draw(st.booleans()),
            frustrated_after=draw(st.none() | offer_ids),
        )
    if kind == 2:
        return OfferShown(
            **common,
            offer_id=draw(offer_ids),
            visit_ref=draw(visit_refs),
            reason="bandit",
            language="ru",
            arm=draw(arms),
        )
    if kind == 3:
        return OfferTapped(**common, offer_id=draw(offer_ids), arm=draw(arms))
    if kind == 4:
        return OfferEnded(
            **common,
            offer_id=draw(offer_ids),
            arm=draw(arms),
            shown_s=draw(seconds),
            attended=draw(st.booleans()),
            valence_before=draw(mixes),
            valence_during=draw(mixes),
        )
    if kind == 5:
        return OfferRedeemed(**common, offer_id=draw(offer_ids), code="ABCD-EFGH-JKLM-NPQR")
    if kind == 6:
        return Feedback(**common, kind="csat", score=draw(st.integers(0, 10)))
    if kind == 7:
        return Feedback(**common, kind="nps", score=draw(st.integers(0, 10)))
    if kind == 8:
        return Health(
            **common,
            fps=draw(seconds),
            inference_ms=draw(seconds),
            dropped_frames=draw(st.integers(0, 50)),
            camera_ok=draw(st.booleans()),
        )
    if kind == 9:
        return ConsentChanged(**common, state=draw(st.sampled_from(["opted_in", "opted_out"])), mode="notice")
    if kind == 10:
        call_id = f"{store}-{len(call_ids)}"
        call_ids.append(call_id)
        return StaffCall(
            **common,
            call_id=call_id,
            reason=draw(st.sampled_from(["negative_valence", "shopper_request"])),
            zone="z",
        )
    target = draw(st.sampled_from(call_ids)) if call_ids else f"{store}-none"
    return StaffCallAcknowledged(**common, call_id=target, response_s=draw(seconds))


@st.composite
def deliveries(
    draw: st.DrawFn, stores: tuple[str, str]
) -> tuple[list[Event], list[tuple[str, str, MetricsPayload]], list[Parsed]]:
    """Unique events and metrics, then the batches they arrive in: random cuts, whole batches redelivered,
    single events sent twice within a batch."""
    call_ids: list[str] = []
    unique = draw(st.lists(events(stores, call_ids), min_size=1, max_size=60))
    metrics = [
        (
            draw(st.sampled_from(stores)),
            "d1",
            MetricsPayload(ts=T0 + timedelta(minutes=m), uptime_s=1, outbox_depth=d, outbox_bytes=d),
        )
        for m, d in draw(
            st.lists(
                st.tuples(st.integers(0, 150), st.integers(0, 500)), max_size=6, unique_by=lambda x: x[0]
            )
        )
    ]
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(unique) - 1)), max_size=6)))
    batches: list[Parsed] = []
    for start, end in zip([0, *cuts], [*cuts, len(unique)], strict=True):
        chunk = unique[start:end]
        if chunk and draw(st.booleans()):
            chunk = [*chunk, draw(st.sampled_from(chunk))]  # the same event twice in one batch
        batches.append(Parsed(events=chunk))
    batches.append(Parsed(metrics=metrics))
    for _ in range(draw(st.integers(0, 3))):  # redeliveries of whole batches, in any order
        batches.insert(draw(st.integers(0, len(batches))), draw(st.sampled_from(batches)))
    return unique, metrics, batches


# --- a recount written with plain loops -----------------------------------------------------------------


def _hour(ts: datetime) -> int:
    return int(ts.timestamp()) // 3600 * 3600


def recount(
    unique: list[Event], metrics: list[tuple[str, str, MetricsPayload]], batches: list[Parsed]
) -> dict[str, dict[tuple[Any, ...], dict[str, float]]]:
    """A few columns of each table, counted here independently of backoffice.rollups. A kiosk's
    acknowledgement counts when its call had arrived before it (or earlier in its batch)."""
    out: dict[str, dict[tuple[Any, ...], dict[str, float]]] = defaultdict(lambda: defaultdict(Counter))
    calls: dict[str, StaffCall] = {}
    acked: set[str] = set()
    seen: set[str] = set()
    for batch in batches:
        for e in batch.events:
            if e.event_id in seen:
                continue
            seen.add(e.event_id)
            if isinstance(e, StaffCall):
                calls.setdefault(e.call_id, e)
            elif isinstance(e, StaffCallAcknowledged) and e.call_id in calls:
                acked.add(e.call_id)
    for e in unique:
        key = (e.store_id, e.device_id, _hour(e.ts))
        if isinstance(e, VisitEnded):
            row = out["audience_hourly"][key]
            row["visits"] += 1
            row["watchers"] += e.watcher
            row["dwell_s"] += e.dwell_s
            row["valence_positive_s"] += e.valence.positive_s
            row["frustrated"] += e.frustrated
            row["visits_v2"] += e.schema_version == 2
            read = e.valence.negative_s + e.valence.neutral_s + e.valence.positive_s > 0
            row["visits_v2_read"] += e.schema_version == 2 and read
            row["frustrated_read"] += e.schema_version == 2 and read and e.frustrated
            if e.frustrated_after:
                out["offer_hourly"][(*key, e.frustrated_after, "")]["frustrated_after"] += 1
        elif isinstance(e, OfferShown):
            row = out["offer_hourly"][(*key, e.offer_id, e.arm or "")]
            row["shown"] += 1
            row["shown_to_visits"] += e.visit_ref is not None
        elif isinstance(e, OfferTapped):
            out["offer_hourly"][(*key, e.offer_id, e.arm or "")]["tapped"] += 1
        elif isinstance(e, OfferEnded):
            row = out["offer_hourly"][(*key, e.offer_id, e.arm or "")]
            row["ended"] += 1
            row["attended"] += e.attended
            both = (
                e.valence_before.positive_s + e.valence_before.neutral_s + e.valence_before.negative_s > 0
                and (
                    e.valence_during.positive_s + e.valence_during.neutral_s + e.valence_during.negative_s > 0
                )
            )
            row["mood_pairs"] += both
            row["during_positive_s"] += e.valence_during.positive_s if both else 0
        elif isinstance(e, OfferRedeemed):
            out["offer_hourly"][(*key, e.offer_id, "")]["redeemed"] += 1
        elif isinstance(e, Feedback) and e.kind == "csat":
            out["feedback_hourly"][key]["csat_n" if 1 <= e.score <= 5 else "csat_invalid"] += 1
        elif isinstance(e, Feedback):
            out["feedback_hourly"][key]["nps_promoters" if e.score >= 9 else "nps_n_other"] += 1
        elif isinstance(e, Health):
            row = out["health_hourly"][key]
            row["health_n"] += 1
            row["camera_lost_n"] += not e.camera_ok
            row["dropped_frames_max"] = max(row.get("dropped_frames_max", 0), e.dropped_frames)
    for store_id, device_id, payload in metrics:
        row = out["health_hourly"][(store_id, device_id, _hour(payload.ts))]
        row["metrics_n"] += 1
        row["outbox_depth_max"] = max(row.get("outbox_depth_max", 0), payload.outbox_depth)
    for call in calls.values():
        out["staff_call_hourly"][(call.store_id, call.device_id)][f"raised_{call.reason}"] += 1
        out["staff_call_hourly"][(call.store_id, call.device_id)]["device_acks"] += call.call_id in acked
    return out


def _table(
    store: BackofficeStore, table: rollups.RollupTable, stores: tuple[str, str]
) -> dict[tuple[Any, ...], dict[str, float]]:
    columns = table.keys + table.columns
    rows = store.db.query(
        f"SELECT {', '.join(columns)} FROM {table.name} WHERE store_id IN (?, ?)",
        list(stores),
    )
    out = {}
    for row in rows:
        key = tuple(row[: len(table.keys)])
        out[key] = {
            c: round(float(v), 6) for c, v in zip(table.columns, row[len(table.keys) :], strict=True) if v
        }
    return out


def _snapshot(store: BackofficeStore, stores: tuple[str, str]) -> dict[str, Any]:
    return {t.name: _table(store, t, stores) for t in rollups.TABLES}


def _check_against_recount(
    snapshot: dict[str, Any], expected: dict[str, dict[tuple[Any, ...], dict[str, float]]]
) -> None:
    for table in ("audience_hourly", "offer_hourly", "feedback_hourly", "health_hourly"):
        for key, want in expected[table].items():
            got = snapshot[table].get(key, {})
            for column, value in want.items():
                if column == "nps_n_other":
                    assert got.get("nps_n", 0) - got.get("nps_promoters", 0) == value, (table, key)
                else:
                    assert got.get(column, 0) == pytest.approx(value), (table, key, column, got)
    # Staff calls count in the hour they were received: compare per device.
    per_device: dict[tuple[Any, ...], Counter[str]] = defaultdict(Counter)
    for key, values in snapshot["staff_call_hourly"].items():
        per_device[key[:2]].update({c: int(v) for c, v in values.items()})
    for key, want in expected["staff_call_hourly"].items():
        for column, value in want.items():
            assert per_device[key][column] == value, (key, column)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_rollups_equal_a_recount_under_any_batches_and_redeliveries(
    store: BackofficeStore, data: st.DataObject
) -> None:
    prefix = uuid.uuid4().hex[:8]
    stores = (f"{prefix}a", f"{prefix}b")
    unique, metrics, batches = data.draw(deliveries(stores))
    for parsed in batches:
        store.write(parsed)
    # Every row of every table, against the rollups' own pure function over the unique events...
    expected = rollups.event_deltas(unique).merge(rollups.metrics_deltas(metrics)).as_plain()
    snapshot = _snapshot(store, stores)
    for table in rollups.TABLES[:-1]:  # staff calls: by receipt hour, below
        want = {
            k: {c: round(v, 6) for c, v in vals.items() if v}
            for k, vals in expected.get(table.name, {}).items()
        }
        assert snapshot[table.name] == {k: v for k, v in want.items() if v}, table.name
    # ... against an independent recount ...
    _check_against_recount(snapshot, recount(unique, metrics, batches))
    # ... and against a rebuild from the raw rows, which must change nothing.
    rollups.rebuild(store.db)
    assert _snapshot(store, stores) == snapshot


def test_a_partial_rebuild_keeps_the_hours_retention_emptied(store: BackofficeStore) -> None:
    old = T0 - timedelta(days=100)
    store.write(
        Parsed(
            events=[
                VisitEnded(
                    store_id="s1",
                    device_id="d1",
                    visit_ref="v",
                    ts=old,
                    dwell_s=1,
                    attention_s=1,
                    watcher=True,
                    glance=False,
                ),
                VisitEnded(
                    store_id="s1",
                    device_id="d1",
                    visit_ref="v",
                    ts=T0,
                    dwell_s=2,
                    attention_s=1,
                    watcher=False,
                    glance=True,
                ),
            ]
        )
    )
    run_retention(store.db, T0, RetentionSettings(raw_days=90))
    assert store.db.scalar("SELECT count(*) FROM events") == 1
    result = rollups.rebuild(store.db)  # since the first whole hour after the recorded cut-off
    assert result.since is not None and result.since > old and result.events == 1
    assert store.db.query("SELECT hour, visits FROM audience_hourly ORDER BY hour") == [
        (rollups.hour_of(old), 1),
        (rollups.hour_of(T0), 1),
    ]


def test_a_store_made_before_the_frustration_columns_gets_them_counted(store: BackofficeStore) -> None:
    """Migration 0002 adds ``visits_v2_read`` and ``frustrated_read`` (the frustration rate's population)
    to an ``audience_hourly`` that 0001 made, and opening such a store that holds events counts them."""
    assert "visits_v2_read" not in rollups.MIGRATIONS[0].sqlite + rollups.MIGRATIONS[0].postgres
    store.write(Parsed(events=fx.visits()))
    query = (
        "SELECT store_id, device_id, hour, visits_v2_read, frustrated_read FROM audience_hourly "
        "ORDER BY store_id, device_id, hour"
    )
    counted = store.db.query(query)
    # The fixture's hand count: 12 visits of schema 2 with their expression read, 2 of them frustrated.
    assert sum(r[3] for r in counted) == 12 and sum(r[4] for r in counted) == 2
    with store.db.transaction():  # the store as the first migration left it
        for column in ("visits_v2_read", "frustrated_read"):
            store.db.execute(f"ALTER TABLE audience_hourly DROP COLUMN {column}")
        store.db.execute("DELETE FROM backoffice_migrations WHERE name = '0002_frustration_read'")
    migrate_store(store.db)
    assert store.db.applied_migrations("rollups")[-1] == "0002_frustration_read"
    assert store.db.query(query) == counted


def test_rollups_are_written_in_the_events_transaction(
    store: BackofficeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that fails after the events and their counts are written leaves neither."""
    visit = VisitEnded(
        store_id="s1",
        device_id="d1",
        visit_ref="v",
        ts=T0,
        dwell_s=2,
        attention_s=1,
        watcher=False,
        glance=True,
    )

    def boom(*_: object) -> None:
        raise RuntimeError("the latest-state step failed")

    with monkeypatch.context() as patch:
        patch.setattr(rollups, "record_latest", boom)
        with pytest.raises(RuntimeError):
            store.write(Parsed(events=[visit]))
    assert store.event_ids() == [] and store.db.scalar("SELECT count(*) FROM audience_hourly") == 0
    assert store.write(Parsed(events=[visit])) == 1
    assert store.db.scalar("SELECT sum(visits) FROM audience_hourly") == 1
