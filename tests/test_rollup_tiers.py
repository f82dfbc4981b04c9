"""The rollups' store tiers (``audience_store_hourly``, ``offer_store_daily``): always the hourly rows
summed, whoever wrote them (ingest, rebuild, the migration that makes them on an older store), and reports
that read them give the figures the hourly rows give, for ranges that cut UTC days."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import backoffice_fixture as fx
import pytest

from backoffice import rollups
from backoffice.ingest import BackofficeStore, Parsed, migrate_store, open_store
from backoffice.reports.models import Filters
from backoffice.reports.query import plan, sums
from backoffice.retention import run_retention
from backoffice.settings import RetentionSettings
from mqtt_bridge.contract.events import (
    Event,
    OfferEnded,
    OfferShown,
    OfferTapped,
    ValenceMix,
    VisitEnded,
)

T0 = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)
DEVICES = (("s1", "d1"), ("s1", "d2"), ("s2", "d3"))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BackofficeStore]:
    for url in fx.store_url(request.param, tmp_path):
        opened = open_store(url)
        try:
            yield opened
        finally:
            opened.close()


def _events(seed: int, n: int, start: datetime = T0, hours: int = 80) -> list[Event]:
    """``n`` visits at random minutes of ``hours`` hours from ``start``: each an offer shown, sometimes
    tapped, ended with valence before and during, then the visit's end."""
    rng = random.Random(seed)
    out: list[Event] = []
    for i in range(n):
        store_id, device_id = rng.choice(DEVICES)
        ts = start + timedelta(minutes=rng.randrange(hours * 60))
        common: dict[str, Any] = {"store_id": store_id, "device_id": device_id, "ts": ts}
        offer, arm = rng.choice(("o1", "o2", "o3")), rng.choice((None, "a", "b"))
        visit = f"v{seed}-{i}"
        mix = ValenceMix(
            negative_s=rng.uniform(0, 3), neutral_s=rng.uniform(0, 3), positive_s=rng.uniform(0, 3)
        )
        out.append(
            OfferShown(**common, offer_id=offer, visit_ref=visit, reason="bandit", language="ru", arm=arm)
        )
        if rng.random() < 0.3:
            out.append(OfferTapped(**common, offer_id=offer, visit_ref=visit, arm=arm))
        out.append(
            OfferEnded(
                **common,
                offer_id=offer,
                visit_ref=visit,
                arm=arm,
                shown_s=rng.uniform(1, 9),
                attention_s=rng.uniform(0, 1),
                attended=rng.random() < 0.5,
                valence_before=mix,
                valence_during=mix,
            )
        )
        frustrated = rng.random() < 0.2
        out.append(
            VisitEnded(
                **common,
                visit_ref=visit,
                dwell_s=rng.uniform(1, 30),
                attention_s=rng.uniform(0, 1),
                watcher=rng.random() < 0.5,
                glance=False,
                valence=mix,
                frustrated=frustrated,
                frustrated_after=offer if frustrated else None,
            )
        )
    return out


def _write(store: BackofficeStore, events: list[Event], batch: int = 37) -> None:
    for i in range(0, len(events), batch):
        store.write(Parsed(events=events[i : i + batch]))
    store.write(Parsed(events=events[:batch]))  # a redelivery changes nothing


def _source_summed(store: BackofficeStore, tier: rollups.Tier) -> dict[tuple[Any, ...], list[float]]:
    """The tier's rows as the hourly source summed, counted here in Python."""
    source = tier.source
    out: dict[tuple[Any, ...], list[float]] = {}
    for row in store.db.query(f"SELECT {', '.join(source.keys + source.columns)} FROM {source.name}"):
        key = tier.key(tuple(row[: len(source.keys)]))
        values = [float(v) if v is not None else None for v in row[len(source.keys) :]]
        known = out.setdefault(key, [None] * len(values))  # type: ignore[list-item]
        for i, (column, value) in enumerate(zip(source.columns, values, strict=True)):
            if value is None:
                continue
            if known[i] is None:
                known[i] = value
            elif column in source.maxes:
                known[i] = max(known[i], value)
            else:
                known[i] += value
    return out


def _tier(store: BackofficeStore, tier: rollups.Tier) -> dict[tuple[Any, ...], list[float | None]]:
    table = tier.table
    return {
        tuple(row[: len(table.keys)]): [float(v) if v is not None else None for v in row[len(table.keys) :]]
        for row in store.db.query(f"SELECT {', '.join(table.keys + table.columns)} FROM {table.name}")
    }


def _assert_tiers_are_the_sources_summed(store: BackofficeStore) -> None:
    for tier in rollups.TIERS:
        want, got = _source_summed(store, tier), _tier(store, tier)
        assert want, tier.table.name
        assert got.keys() == want.keys(), tier.table.name
        for key, values in want.items():
            assert got[key] == pytest.approx(values), (tier.table.name, key)


def test_tier_rows_sum_counts_and_keep_maxima() -> None:
    tier = rollups.tier_of(rollups.HEALTH, "health_store_daily", rollups.DAY_S)
    day = rollups.hour_of(T0)
    rows = {
        ("s1", "d1", day + 3600): {"health_n": 2.0, "dropped_frames_max": 5.0},
        ("s1", "d2", day + 7200): {"health_n": 1.0, "dropped_frames_max": 9.0},
        ("s1", "d1", day + rollups.DAY_S): {"health_n": 4.0, "dropped_frames_max": 1.0},
    }
    assert rollups.tier_rows(tier, rows) == {
        ("s1", day): {"health_n": 3.0, "dropped_frames_max": 9.0},
        ("s1", day + rollups.DAY_S): {"health_n": 4.0, "dropped_frames_max": 1.0},
    }
    assert tier.table.keys == ("store_id", "day") and tier.table.time_key == "day"
    with pytest.raises(ValueError, match="keyed"):
        rollups.tier_of(rollups.RollupTable("x", ("store_id", "hour"), ("n",)), "x_daily", rollups.DAY_S)


def test_the_ingest_keeps_the_tiers_equal_to_the_hourly_rows(store: BackofficeStore) -> None:
    _write(store, _events(1, 300))
    _assert_tiers_are_the_sources_summed(store)


def _direct(
    store: BackofficeStore, table: rollups.RollupTable, filters: Filters, group: tuple[str, ...]
) -> Any:
    """The sums read from the hourly table alone (no tier)."""
    columns = list(table.columns)
    selected = [f"max({c})" if c in table.maxes else f"sum({c})" for c in columns]
    clauses, params = ["hour >= ?", "hour < ?"], [filters.start.timestamp(), filters.end.timestamp()]
    if filters.stores:
        clauses.append(f"store_id IN ({', '.join('?' * len(filters.stores))})")
        params += list(filters.stores)
    group_sql = f" GROUP BY {', '.join(group)}" if group else ""
    out = {}
    for row in store.db.query(
        f"SELECT {', '.join([*group, *selected])} FROM {table.name} WHERE {' AND '.join(clauses)}{group_sql}",
        params,
    ):
        values = row[len(group) :]
        if group or any(v is not None for v in values):
            out[tuple(row[: len(group)])] = {
                c: float(v) if v is not None else 0.0 for c, v in zip(columns, values, strict=True)
            }
    return out


@pytest.mark.parametrize(
    ("start_h", "end_h", "tz_minutes"),
    [
        (0, 72, 0),  # whole days only
        (5, 61, 0),  # cuts both days
        (3, 20, 0),  # inside one day
        (21, 52, 180),  # Moscow's midnight
        (0, 80, 330),  # a half-hour zone: starts off the hour
        (30, 31, 0),  # one hour
        (100, 130, 0),  # no data at all
    ],
)
def test_tiered_sums_equal_hourly_sums_for_ranges_that_cut_days(
    store: BackofficeStore, start_h: int, end_h: int, tz_minutes: int
) -> None:
    _write(store, _events(2, 400))
    offset = timedelta(minutes=tz_minutes)
    for stores in ((), ("s1",)):
        filters = Filters(
            start=T0 + timedelta(hours=start_h) - offset,
            end=T0 + timedelta(hours=end_h) - offset,
            stores=stores,
        )
        for table, group in (
            (rollups.OFFERS, ("offer_id", "arm")),
            (rollups.OFFERS, ()),
            (rollups.OFFERS, ("hour",)),
            (rollups.AUDIENCE, ("hour",)),
            (rollups.AUDIENCE, ()),
            (rollups.AUDIENCE, ("store_id",)),
        ):
            got, want = sums(store.db, table, filters, group), _direct(store, table, filters, group)
            assert got.keys() == want.keys(), (table.name, group)
            for key, values in want.items():
                assert got[key] == pytest.approx(values), (table.name, group, key)
                ints = [c for c in table.sums if not c.endswith(("_s", "_sum"))]
                assert [got[key][c] for c in ints] == [values[c] for c in ints]  # counts exactly


def test_the_plan_reads_tiers_only_where_they_hold_the_answer() -> None:
    day = T0.timestamp()
    cut = Filters(start=T0 + timedelta(hours=5), end=T0 + timedelta(days=3, hours=2))
    parts = [(t.name, a - day, b - day) for t, a, b in plan(rollups.OFFERS, cut, ("offer_id", "arm"))]
    assert parts == [
        ("offer_store_daily", 86_400, 3 * 86_400),
        ("offer_hourly", 5 * 3600, 86_400),
        ("offer_hourly", 3 * 86_400, 3 * 86_400 + 2 * 3600),
    ]
    assert [t.name for t, _a, _b in plan(rollups.OFFERS, cut, ("hour",))] == ["offer_hourly"]
    assert [t.name for t, _a, _b in plan(rollups.AUDIENCE, cut, ("hour",))] == ["audience_store_hourly"]
    by_device = cut.model_copy(update={"devices": ("d1",)})
    assert [t.name for t, _a, _b in plan(rollups.OFFERS, by_device, ())] == ["offer_hourly"]
    assert [t.name for t, _a, _b in plan(rollups.AUDIENCE, cut, (), device=True)] == ["audience_hourly"]
    assert [t.name for t, _a, _b in plan(rollups.FEEDBACK, cut, ())] == ["feedback_hourly"]


def test_a_store_written_before_the_tiers_gets_them_filled_from_its_hourly_rows(
    store: BackofficeStore,
) -> None:
    _write(store, _events(3, 200))
    with store.db.transaction():  # the store as it was before migration rollup_tiers/0001
        for tier in rollups.TIERS:
            store.db.execute(f"DROP TABLE {tier.table.name}")
        store.db.execute("DELETE FROM backoffice_migrations WHERE component = 'rollup_tiers'")
    # Raw events deleted by retention: the tiers must come from the hourly rows, which outlive them.
    run_retention(store.db, T0 + timedelta(days=200), RetentionSettings(raw_days=90))
    assert store.db.scalar("SELECT count(*) FROM events") == 0
    migrate_store(store.db)
    assert store.db.applied_migrations("rollup_tiers") == ["0001_store_tiers"]
    _assert_tiers_are_the_sources_summed(store)
    _write(store, _events(4, 100))  # and written after
    _assert_tiers_are_the_sources_summed(store)
    migrate_store(store.db)  # a second opening changes nothing
    _assert_tiers_are_the_sources_summed(store)


def test_a_partial_rebuild_leaves_the_tiers_equal_to_the_hourly_rows(store: BackofficeStore) -> None:
    _write(store, _events(5, 150, start=T0 - timedelta(days=100), hours=30))
    _write(store, _events(6, 150))
    run_retention(store.db, T0 + timedelta(hours=30), RetentionSettings(raw_days=90))
    result = rollups.rebuild(store.db)  # from the hour after the cut-off: mid-day, hours before it kept
    assert result.since is not None
    _assert_tiers_are_the_sources_summed(store)
    rollups.rebuild(store.db, since=T0 + timedelta(hours=13, minutes=20))
    _assert_tiers_are_the_sources_summed(store)
