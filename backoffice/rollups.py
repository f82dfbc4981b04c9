"""Hourly rollups, maintained by the ingest in the same transaction as the events they count.

The KPI reports read these tables and never the raw events, so a report costs the same whatever the number
of events, and the figures outlive the raw events that retention deletes. Only events new to the store are
counted (the ingest's ``INSERT ... RETURNING`` says which), so a redelivered event changes nothing here
either.

- :func:`event_deltas` and :func:`metrics_deltas` are pure: events (or metrics payloads) in, the additions
  to each rollup row out (a :class:`Delta`).
- :func:`apply` adds a :class:`Delta` to the tables: one upsert per row (``INSERT ... ON CONFLICT DO UPDATE
  SET c = c + excluded.c``), rows in key order so that two consumers never deadlock on each other's rows.
- :func:`record_latest` keeps ``device_health``, each device's latest health, metrics and sighting (the
  fleet page's live columns), guarded by time so that a late message never overwrites a newer one.
- :func:`rebuild` recounts every rollup from the raw events, metrics and staff-call records still in the
  store (the backfill of a store made before the rollups, ``backoffice rollups rebuild``).

Every table, column and figure is defined in docs/backoffice-data.md. Hours are the epoch second of the
hour's start in UTC (:func:`hour_of`) of the event's own ``ts`` (the device's clock, floored to the minute
on the device); staff calls count in the hour the back office received them.

The tables are made from :data:`TABLES` by the migration ``0001_rollups``; a column added later needs a
migration of its own (and its name added to the table's spec, under ``added``, which the first migration's
``CREATE TABLE`` leaves out), never an edit of the first one's columns. :data:`MIGRATIONS` lists them.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from backoffice.db import Database, Dialect, Migration, as_datetime, as_utc
from mqtt_bridge.contract.events import (
    EVENT_ADAPTER,
    ConsentChanged,
    Event,
    Feedback,
    Health,
    OfferEnded,
    OfferRedeemed,
    OfferShown,
    OfferTapped,
    ValenceMix,
    VisitEnded,
    VisitStarted,
)
from mqtt_bridge.contract.payloads import MetricsPayload

logger = logging.getLogger(__name__)

HOUR_S = 3600

#: A UTC day, in seconds: the span of a daily tier's rows.
DAY_S = 86_400

#: The arm of rows that have none: rules alone chose, or the event carries no arm (redeemed, frustration).
NO_ARM = ""


def hour_of(ts: datetime) -> int:
    """The epoch second of the start of ``ts``'s hour, UTC (a naive ``ts`` is taken as UTC)."""
    return int(as_utc(ts).timestamp()) // HOUR_S * HOUR_S


@dataclass(frozen=True)
class RollupTable:
    """One rollup table: its key columns and its value columns. Columns named ``*_s`` or ``*_sum`` hold
    seconds or sums of measurements (``REAL``), the others counts (``INTEGER``); ``maxes`` keep the
    largest value seen (``NULL`` until one is)."""

    name: str
    keys: tuple[str, ...]
    sums: tuple[str, ...]
    maxes: tuple[str, ...] = ()
    #: Key columns that hold integers; the other keys are text.
    integer_keys: tuple[str, ...] = ("hour",)
    #: Sums added after the table was first made, each by a migration of its own (:meth:`add_sql`);
    #: :meth:`create_sql` leaves them out, so the first migration stays what it was.
    added: tuple[str, ...] = ()
    #: The key column that holds the time bucket's start (epoch second, UTC), indexed.
    time_key: str = "hour"

    @property
    def columns(self) -> tuple[str, ...]:
        return self.sums + self.maxes

    @staticmethod
    def _sum_type(column: str, dialect: Dialect) -> str:
        if column.endswith(("_s", "_sum")):
            return "REAL" if dialect == "sqlite" else "DOUBLE PRECISION"
        return "INTEGER" if dialect == "sqlite" else "BIGINT"

    def create_sql(self, dialect: Dialect) -> str:
        """The table as its first migration makes it (without the ``added`` sums)."""
        key_types = {k: "INTEGER" if dialect == "sqlite" else "BIGINT" for k in self.integer_keys}
        real = "REAL" if dialect == "sqlite" else "DOUBLE PRECISION"
        parts = [f"{k} {key_types.get(k, 'TEXT')} NOT NULL" for k in self.keys]
        for column in self.sums:
            if column not in self.added:
                parts.append(f"{column} {self._sum_type(column, dialect)} NOT NULL DEFAULT 0")
        parts += [f"{column} {real}" for column in self.maxes]
        parts.append(f"PRIMARY KEY ({', '.join(self.keys)})")
        index = f"CREATE INDEX {self.name}_{self.time_key} ON {self.name} ({self.time_key})"
        return f"CREATE TABLE {self.name} ({', '.join(parts)});\n{index}"

    def add_sql(self, columns: Sequence[str], dialect: Dialect) -> str:
        """The statements of a later migration that adds the ``added`` sums ``columns`` (0 in every row
        already stored: a recount, :func:`rebuild`, fills them from the raw events)."""
        unknown = [c for c in columns if c not in self.added or c not in self.sums]
        if unknown:
            raise ValueError(f"{self.name}: {unknown} must be listed in both sums and added")
        return ";\n".join(
            f"ALTER TABLE {self.name} ADD COLUMN {c} {self._sum_type(c, dialect)} NOT NULL DEFAULT 0"
            for c in columns
        )

    def pg_types(self) -> tuple[str, ...]:
        """Each column's PostgreSQL type (keys, sums, maxes), for :meth:`Database.insert_many`."""
        keys = tuple("bigint" if k in self.integer_keys else "text" for k in self.keys)
        sums = tuple("float8" if c.endswith(("_s", "_sum")) else "bigint" for c in self.sums)
        return keys + sums + ("float8",) * len(self.maxes)

    def conflict_sql(self, db: Database) -> str:
        """The ``ON CONFLICT`` clause that adds a row's sums to the stored row and keeps the maxima."""
        updates = [f"{c} = {self.name}.{c} + excluded.{c}" for c in self.sums]
        updates += [
            f"{c} = "
            + db.greatest(
                f"coalesce({self.name}.{c}, excluded.{c})", f"coalesce(excluded.{c}, {self.name}.{c})"
            )
            for c in self.maxes
        ]
        return f"ON CONFLICT ({', '.join(self.keys)}) DO UPDATE SET {', '.join(updates)}"

    def row(self, key: tuple[Any, ...], values: dict[str, float]) -> list[Any]:
        """One row to insert: the key, the sums (counts as ints), the maxima (None where none)."""
        sums = [
            values.get(c, 0.0) if c.endswith(("_s", "_sum")) else round(values.get(c, 0.0)) for c in self.sums
        ]
        return [*key, *sums, *(values.get(c) for c in self.maxes)]


_DEVICE_HOUR = ("store_id", "device_id", "hour")

#: ``audience_hourly``'s frustration rate population (docs/backoffice-data.md, Frustration): visits of
#: schema 2 whose expression was read, and the frustrated ones among them. Migration ``0002``.
_FRUSTRATION_READ = ("visits_v2_read", "frustrated_read")

AUDIENCE = RollupTable(
    "audience_hourly",
    _DEVICE_HOUR,
    (
        "visits",
        "visits_v2",
        "visits_started",
        "watchers",
        "glances",
        "dwell_s",
        "attention_s",
        "valence_visits",
        "valence_negative_s",
        "valence_neutral_s",
        "valence_positive_s",
        "frustrated",
        "consent_opted_in",
        "consent_opted_out",
        "visits_v2_read",
        "frustrated_read",
    ),
    added=_FRUSTRATION_READ,
)

OFFERS = RollupTable(
    "offer_hourly",
    (*_DEVICE_HOUR, "offer_id", "arm"),
    (
        "shown",
        "shown_to_visits",
        "ended",
        "attended",
        "tapped",
        "redeemed",
        "shown_s",
        "attention_s",
        "mood_pairs",
        "before_negative_s",
        "before_neutral_s",
        "before_positive_s",
        "during_negative_s",
        "during_neutral_s",
        "during_positive_s",
        "frustrated_after",
    ),
)

FEEDBACK = RollupTable(
    "feedback_hourly",
    _DEVICE_HOUR,
    (
        "csat_n",
        "csat_score_sum",
        "csat_1",
        "csat_2",
        "csat_3",
        "csat_4",
        "csat_5",
        "csat_invalid",
        "nps_n",
        "nps_score_sum",
        "nps_promoters",
        "nps_passives",
        "nps_detractors",
    ),
)

HEALTH = RollupTable(
    "health_hourly",
    _DEVICE_HOUR,
    ("health_n", "fps_sum", "inference_ms_sum", "camera_lost_n", "metrics_n", "outbox_depth_sum"),
    ("dropped_frames_max", "outbox_depth_max"),
)

STAFF_CALLS = RollupTable(
    "staff_call_hourly",
    _DEVICE_HOUR,
    (
        "raised",
        "raised_negative_valence",
        "raised_shopper_request",
        "acknowledged",
        "ack_s",
        "ack_le_30",
        "ack_le_60",
        "ack_le_120",
        "ack_le_300",
        "resolved",
        "resolve_s",
        "escalated",
        "device_acks",
        "device_response_s",
    ),
)

TABLES: tuple[RollupTable, ...] = (AUDIENCE, OFFERS, FEEDBACK, HEALTH, STAFF_CALLS)


@dataclass(frozen=True)
class Tier:
    """A coarser copy of a device-hour rollup table: its rows summed over the store's devices (the key
    loses ``device_id``) and over ``span_s`` (an hour, or a UTC day: the key's ``hour`` becomes
    ``day``). :func:`apply` adds to it in the statement that adds to ``source``, so it always equals the
    source summed (:func:`refill_tiers` recounts it from the source). Reports read it where a query
    neither names devices nor groups by them (:mod:`backoffice.reports.query`)."""

    table: RollupTable
    source: RollupTable
    span_s: int

    def key(self, source_key: Key) -> Key:
        """The tier's row that a source row ``(store, device, hour, *rest)`` adds to."""
        store_id, _device_id, hour, *rest = source_key
        return (store_id, int(hour) // self.span_s * self.span_s, *rest)


def tier_of(source: RollupTable, name: str, span_s: int) -> Tier:
    """The :class:`Tier` of ``source`` (keyed store, device, hour, ...) by store and ``span_s``."""
    if source.keys[:3] != _DEVICE_HOUR:
        raise ValueError(f"{source.name}: a tier needs a table keyed (store_id, device_id, hour, ...)")
    time_key = "hour" if span_s == HOUR_S else "day"
    table = RollupTable(
        name,
        ("store_id", time_key, *source.keys[3:]),
        source.sums,
        source.maxes,
        integer_keys=(time_key,),
        time_key=time_key,
    )
    return Tier(table, source, span_s)


#: ``audience_hourly`` by store and hour: the audience and frustration pages group by hour over every
#: device of the range.
AUDIENCE_STORE_HOURLY = tier_of(AUDIENCE, "audience_store_hourly", HOUR_S)
#: ``offer_hourly`` by store and UTC day: the funnel, arms, mood and frustration per offer sum whole days
#: from here and the hours at the range's edges from ``offer_hourly``.
OFFERS_STORE_DAILY = tier_of(OFFERS, "offer_store_daily", DAY_S)

TIERS: tuple[Tier, ...] = (AUDIENCE_STORE_HOURLY, OFFERS_STORE_DAILY)


def _device_health_sql(dialect: Dialect) -> str:
    real = "REAL" if dialect == "sqlite" else "DOUBLE PRECISION"
    count = "INTEGER" if dialect == "sqlite" else "BIGINT"
    return f"""CREATE TABLE device_health (
        store_id TEXT NOT NULL, device_id TEXT NOT NULL,
        last_received_at {real}, last_event_at {real},
        health_at {real}, fps {real}, inference_ms {real}, dropped_frames {count}, camera_ok {count},
        metrics_at {real}, metrics_received_at {real}, outbox_depth {count}, outbox_bytes {count},
        uptime_s {real},
        PRIMARY KEY (store_id, device_id))"""


def _migration_sql(dialect: Dialect) -> str:
    return ";\n".join([t.create_sql(dialect) for t in TABLES] + [_device_health_sql(dialect)])


#: The rollups' tables (component ``rollups``). A store that holds events when a migration here is new to
#: it is recounted once (``backoffice.ingest.migrate_store``).
MIGRATIONS: tuple[Migration, ...] = (
    Migration("0001_rollups", _migration_sql("sqlite"), _migration_sql("postgresql")),
    Migration(
        "0002_frustration_read",
        AUDIENCE.add_sql(_FRUSTRATION_READ, "sqlite"),
        AUDIENCE.add_sql(_FRUSTRATION_READ, "postgresql"),
    ),
)


def _tiers_sql(dialect: Dialect) -> str:
    return ";\n".join(t.table.create_sql(dialect) for t in TIERS)


#: The tiers' tables (component ``rollup_tiers``). A store that gets them is filled from its hourly
#: rollups in the migration's transaction (:func:`refill_tiers`, ``backoffice.ingest.migrate_store``),
#: never from the raw events, which retention may have deleted.
TIER_MIGRATIONS: tuple[Migration, ...] = (
    Migration("0001_store_tiers", _tiers_sql("sqlite"), _tiers_sql("postgresql")),
)


# --- deltas (pure) ----------------------------------------------------------------------------------------

Key = tuple[Any, ...]


@dataclass
class Delta:
    """Additions to rollup rows: table -> key -> column -> amount (for ``maxes``: a candidate maximum)."""

    rows: dict[RollupTable, dict[Key, dict[str, float]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(lambda: defaultdict(float)))
    )

    def add(self, table: RollupTable, key: Key, **amounts: float) -> None:
        """Add ``amounts`` to the row ``key`` of ``table``."""
        row = self.rows[table][key]
        for column, amount in amounts.items():
            row[column] += amount

    def raise_max(self, table: RollupTable, key: Key, **values: float) -> None:
        """Offer ``values`` as the maxima of their columns in the row ``key``."""
        row = self.rows[table][key]
        for column, value in values.items():
            row[column] = max(row.get(column, value), value)

    def merge(self, other: Delta) -> Delta:
        """Add ``other`` to this delta; returns self."""
        for table, rows in other.rows.items():
            for key, values in rows.items():
                sums = {c: v for c, v in values.items() if c not in table.maxes}
                maxes = {c: v for c, v in values.items() if c in table.maxes}
                self.add(table, key, **sums)
                self.raise_max(table, key, **maxes)
        return self

    def as_plain(self) -> dict[str, dict[Key, dict[str, float]]]:
        """The delta as plain dicts without zero amounts (tests compare these)."""
        out: dict[str, dict[Key, dict[str, float]]] = {}
        for table, rows in self.rows.items():
            for key, values in rows.items():
                kept = {c: v for c, v in values.items() if v or c in table.maxes}
                if kept:
                    out.setdefault(table.name, {})[key] = kept
        return out


def _mix(mix: ValenceMix) -> tuple[float, float, float]:
    return mix.negative_s, mix.neutral_s, mix.positive_s


def _visit_ended(delta: Delta, key: Key, event: VisitEnded) -> None:
    negative, neutral, positive = _mix(event.valence)
    read = (negative + neutral + positive) > 0
    # The frustration rate's population: a visit whose expression was never read cannot be frustrated, so
    # it is left out of the count and of the denominator (docs/backoffice-data.md, Frustration).
    v2_read = event.schema_version >= 2 and read
    delta.add(
        AUDIENCE,
        key,
        visits=1,
        visits_v2=event.schema_version >= 2,
        watchers=event.watcher,
        glances=event.glance,
        dwell_s=event.dwell_s,
        attention_s=event.attention_s,
        valence_visits=read,
        valence_negative_s=negative,
        valence_neutral_s=neutral,
        valence_positive_s=positive,
        frustrated=event.frustrated,
        visits_v2_read=v2_read,
        frustrated_read=v2_read and event.frustrated,
    )
    if event.frustrated_after is not None:
        delta.add(OFFERS, (*key, event.frustrated_after, NO_ARM), frustrated_after=1)


def _offer_ended(delta: Delta, device_hour: Key, event: OfferEnded) -> None:
    key = (*device_hour, event.offer_id, event.arm or NO_ARM)
    before, during = _mix(event.valence_before), _mix(event.valence_during)
    paired = sum(before) > 0 and sum(during) > 0
    delta.add(
        OFFERS,
        key,
        ended=1,
        attended=event.attended,
        shown_s=event.shown_s,
        attention_s=event.attention_s,
        mood_pairs=paired,
    )
    if paired:
        delta.add(
            OFFERS,
            key,
            before_negative_s=before[0],
            before_neutral_s=before[1],
            before_positive_s=before[2],
            during_negative_s=during[0],
            during_neutral_s=during[1],
            during_positive_s=during[2],
        )


def _health(delta: Delta, key: Key, event: Health) -> None:
    delta.add(
        HEALTH,
        key,
        health_n=1,
        fps_sum=event.fps,
        inference_ms_sum=event.inference_ms,
        camera_lost_n=not event.camera_ok,
    )
    delta.raise_max(HEALTH, key, dropped_frames_max=event.dropped_frames)


def event_deltas(events: Iterable[Event]) -> Delta:
    """What ``events`` add to the rollups (staff calls excepted: :mod:`backoffice.staff_calls`). Pure."""
    delta = Delta()
    for event in events:
        device_hour = (event.store_id, event.device_id, hour_of(event.ts))
        match event:
            case VisitStarted():
                delta.add(AUDIENCE, device_hour, visits_started=1)
            case VisitEnded():
                _visit_ended(delta, device_hour, event)
            case OfferShown():
                key = (*device_hour, event.offer_id, event.arm or NO_ARM)
                delta.add(OFFERS, key, shown=1, shown_to_visits=event.visit_ref is not None)
            case OfferTapped():
                delta.add(OFFERS, (*device_hour, event.offer_id, event.arm or NO_ARM), tapped=1)
            case OfferEnded():
                _offer_ended(delta, device_hour, event)
            case OfferRedeemed():
                # Schema 2 (#18): the arm of the tap that issued the code, from the device's record of it.
                delta.add(OFFERS, (*device_hour, event.offer_id, event.arm or NO_ARM), redeemed=1)
            case Feedback():
                _feedback(delta, device_hour, event)
            case ConsentChanged():
                opted_in = event.state == "opted_in"
                delta.add(AUDIENCE, device_hour, consent_opted_in=opted_in, consent_opted_out=not opted_in)
            case Health():
                _health(delta, device_hour, event)
            case _:
                pass  # staff_call and staff_call_acknowledged: backoffice.staff_calls
    return delta


def _feedback(delta: Delta, key: Key, event: Feedback) -> None:
    if event.kind == "csat":
        if 1 <= event.score <= 5:
            delta.add(FEEDBACK, key, csat_n=1, csat_score_sum=event.score, **{f"csat_{event.score}": 1})
        else:
            delta.add(FEEDBACK, key, csat_invalid=1)
        return
    band = "nps_promoters" if event.score >= 9 else "nps_passives" if event.score >= 7 else "nps_detractors"
    delta.add(FEEDBACK, key, nps_n=1, nps_score_sum=event.score, **{band: 1})


def metrics_deltas(metrics: Iterable[tuple[str, str, MetricsPayload]]) -> Delta:
    """What metrics payloads (store, device, payload) add to ``health_hourly``. Pure."""
    delta = Delta()
    for store_id, device_id, payload in metrics:
        key = (store_id, device_id, hour_of(payload.ts))
        delta.add(HEALTH, key, metrics_n=1, outbox_depth_sum=payload.outbox_depth)
        delta.raise_max(HEALTH, key, outbox_depth_max=payload.outbox_depth)
    return delta


# --- writing ----------------------------------------------------------------------------------------------


def _upsert(db: Database, table: RollupTable, rows: dict[Key, dict[str, float]]) -> None:
    db.insert_many(
        table.name,
        table.keys + table.columns,
        table.pg_types(),
        [table.row(key, rows[key]) for key in sorted(rows)],
        table.conflict_sql(db),
    )


def tier_rows(tier: Tier, rows: dict[Key, dict[str, float]]) -> dict[Key, dict[str, float]]:
    """Source rows' additions (``Delta`` rows of ``tier.source``) summed into the tier's rows (maxima:
    the largest). Pure."""
    out: dict[Key, dict[str, float]] = defaultdict(dict)
    maxes = set(tier.source.maxes)
    for key, values in rows.items():
        target = out[tier.key(key)]
        for column, value in values.items():
            if column in maxes:
                target[column] = max(target[column], value) if column in target else value
            else:
                target[column] = target.get(column, 0.0) + value
    return out


def apply(db: Database, delta: Delta, tables: tuple[RollupTable, ...] = TABLES) -> None:
    """Add ``delta`` to the rollup ``tables`` and to their :data:`TIERS` (in the caller's transaction,
    or one of its own): one upsert statement per table (PostgreSQL) or per 500 rows (SQLite), rows in key
    order, each table before its tiers. Other rollups kept in the same way (proof of play) pass their own
    tables."""
    with db.transaction():
        for table in tables:
            rows = delta.rows.get(table)
            if rows:
                _upsert(db, table, rows)
                for tier in TIERS:
                    if tier.source is table:
                        _upsert(db, tier.table, tier_rows(tier, rows))


def refill_tiers(db: Database, first_hour: int | None = None) -> None:
    """Recount every tier from its source table (its rows from ``first_hour``'s bucket on, or all), in
    the caller's transaction or one of its own: after a migration made the tiers, and after
    :func:`rebuild` recounted the hourly rows."""
    with db.transaction():
        if db.dialect == "postgresql":
            # Writers wait: an upsert between the DELETE and the INSERT ... SELECT would count twice.
            sources = ", ".join(sorted({t.source.name for t in TIERS}))
            db.execute(f"LOCK TABLE {sources} IN SHARE MODE")
        for tier in TIERS:
            table, source = tier.table, tier.source
            bucket = f"hour / {tier.span_s} * {tier.span_s}"
            rest = list(source.keys[3:])
            aggregates = [f"max({c})" if c in source.maxes else f"sum({c})" for c in source.columns]
            where, params = "", []
            if first_hour is not None:
                where, params = " WHERE hour >= ?", [first_hour // tier.span_s * tier.span_s]
            time_where = "" if first_hour is None else f" WHERE {table.time_key} >= ?"
            db.execute(f"DELETE FROM {table.name}{time_where}", params)  # noqa: S608
            db.execute(
                f"INSERT INTO {table.name} ({', '.join(table.keys + table.columns)}) "  # noqa: S608
                f"SELECT {', '.join(['store_id', bucket, *rest, *aggregates])} FROM {source.name}{where} "
                f"GROUP BY {', '.join(['store_id', bucket, *rest])}",
                params,
            )


def _epoch(ts: datetime) -> float:
    return as_utc(ts).timestamp()


def _guarded(time_column: str, columns: tuple[str, ...]) -> str:
    """The ``ON CONFLICT`` clause of a ``device_health`` upsert that keeps the stored values when they are
    newer by ``time_column``."""
    updates = ", ".join(
        f"{c} = CASE WHEN device_health.{time_column} IS NULL OR excluded.{time_column} >= "
        f"device_health.{time_column} THEN excluded.{c} ELSE device_health.{c} END"
        for c in (*columns, time_column)  # every SET expression reads the row as it was
    )
    return f"ON CONFLICT (store_id, device_id) DO UPDATE SET {updates}"


_HEALTH_COLUMNS = ("fps", "inference_ms", "dropped_frames", "camera_ok")
_METRICS_COLUMNS = ("metrics_received_at", "outbox_depth", "outbox_bytes", "uptime_s")


def record_latest(
    db: Database,
    events: Sequence[Event],
    metrics: Sequence[tuple[str, str, MetricsPayload]],
    received_at: datetime,
) -> None:
    """Keep ``device_health`` up to date with a batch: when each device was last heard from, its newest
    health event and its newest metrics payload (a late, older one changes nothing)."""
    received = _epoch(received_at)
    seen: dict[tuple[str, str], float] = {}
    health: dict[tuple[str, str], Health] = {}
    latest: dict[tuple[str, str], MetricsPayload] = {}
    for event in events:
        key = (event.store_id, event.device_id)
        seen[key] = max(seen.get(key, 0.0), _epoch(event.ts))
        if isinstance(event, Health) and (key not in health or event.ts >= health[key].ts):
            health[key] = event
    for store_id, device_id, payload in metrics:
        key = (store_id, device_id)
        seen[key] = max(seen.get(key, 0.0), _epoch(payload.ts))
        if key not in latest or payload.ts >= latest[key].ts:
            latest[key] = payload
    key_types = ("text", "text")
    with db.transaction():
        db.insert_many(
            "device_health",
            ("store_id", "device_id", "last_received_at", "last_event_at"),
            (*key_types, "float8", "float8"),
            [(s, d, received, ts) for (s, d), ts in sorted(seen.items())],
            "ON CONFLICT (store_id, device_id) DO UPDATE SET last_received_at = "
            + db.greatest("coalesce(device_health.last_received_at, 0)", "excluded.last_received_at")
            + ", last_event_at = "
            + db.greatest("coalesce(device_health.last_event_at, 0)", "excluded.last_event_at"),
        )
        db.insert_many(
            "device_health",
            ("store_id", "device_id", "health_at", *_HEALTH_COLUMNS),
            (*key_types, "float8", "float8", "float8", "bigint", "bigint"),
            [
                (s, d, _epoch(h.ts), h.fps, h.inference_ms, h.dropped_frames, int(h.camera_ok))
                for (s, d), h in sorted(health.items())
            ],
            _guarded("health_at", _HEALTH_COLUMNS),
        )
        db.insert_many(
            "device_health",
            ("store_id", "device_id", "metrics_at", *_METRICS_COLUMNS),
            (*key_types, "float8", "float8", "bigint", "bigint", "float8"),
            [
                (s, d, _epoch(p.ts), received, p.outbox_depth, p.outbox_bytes, p.uptime_s)
                for (s, d), p in sorted(latest.items())
            ],
            _guarded("metrics_at", _METRICS_COLUMNS),
        )


# --- rebuilding -------------------------------------------------------------------------------------------

#: Raw rows read per page while rebuilding.
REBUILD_PAGE = 5_000


@dataclass(frozen=True)
class RebuildResult:
    """What :func:`rebuild` recounted."""

    since: datetime | None
    events: int
    metrics: int
    staff_calls: int
    #: Stored rows that no longer validate against the contract (logged, left out of the counts).
    skipped: int = 0
    #: Chat conversations counted (issue #19: ``chat_hourly``).
    chats: int = 0


def _load(payload: Any) -> Any:
    return json.loads(payload) if isinstance(payload, str | bytes) else payload


def rebuild(db: Database, *, since: datetime | None = None) -> RebuildResult:
    """Recount every rollup (and ``device_health``) from the raw events, metrics payloads and staff-call
    records in the store, in one transaction (the ingest's writes wait for it).

    ``since``: recount only hours from ``since``'s hour on, keeping older rollup rows as they are; by
    default the first whole hour after the newest retention cut-off recorded (:mod:`backoffice.retention`),
    since the raw events before it are gone and their rollups must stay; every hour when retention never
    ran."""
    from backoffice import staff_calls
    from backoffice.campaigns import proof_of_play
    from backoffice.chat import store as chat_store
    from backoffice.retention import last_cutoff

    if since is None:
        cutoff = last_cutoff(db)
        since = None if cutoff is None else datetime.fromtimestamp(hour_of(cutoff) + HOUR_S, cutoff.tzinfo)
    first_hour = hour_of(since) if since is not None else None
    start = None if first_hour is None else datetime.fromtimestamp(first_hour, UTC)
    with db.transaction():
        if db.dialect == "postgresql":
            # Writers (the ingest, staff-call transitions) wait until the recount commits.
            db.execute("LOCK TABLE events, metrics, staff_calls, chat_conversations IN SHARE MODE")
        for table in TABLES:
            if first_hour is None:
                db.execute(f"DELETE FROM {table.name}")  # noqa: S608
            else:
                db.execute(f"DELETE FROM {table.name} WHERE hour >= ?", [first_hour])  # noqa: S608
        if first_hour is None:
            db.execute("DELETE FROM device_health")
        skipped: list[str] = []
        events = _rebuild_events(db, start, skipped)
        metrics = _rebuild_metrics(db, start, skipped)
        calls = staff_calls.rebuild_rollups(db, first_hour)
        proof_of_play.rebuild(db, first_hour)  # campaigns (#18): offer_play_hourly, by catalogue version
        chats = chat_store.rebuild_rollups(db, first_hour)
        # The recount added to the tiers as well; recount them from the hourly rows, which hold the
        # hours before ``first_hour`` of its day too.
        refill_tiers(db, first_hour)
    if skipped:
        logger.warning(
            "rollups rebuild: %d stored rows do not validate and were left out (first: %s)",
            len(skipped),
            ", ".join(skipped[:5]),
        )
    logger.info(
        "rollups rebuilt from %d events, %d metrics payloads, %d staff calls, %d chat conversations",
        events,
        metrics,
        calls,
        chats,
    )
    return RebuildResult(start, events, metrics, calls, len(skipped), chats)


def _rebuild_events(db: Database, since: datetime | None, skipped: list[str]) -> int:
    where, params = ("", []) if since is None else ("AND ts >= ?", [since])
    last, count = "", 0
    while True:
        rows = db.query(
            f"SELECT event_id, payload, received_at FROM events WHERE event_id > ? {where} "  # noqa: S608
            f"ORDER BY event_id LIMIT {REBUILD_PAGE}",
            [last, *params],
        )
        if not rows:
            return count
        events: list[Event] = []
        # Events of one ingest transaction share their received_at: the latest state, group by group.
        by_receipt: dict[datetime, list[Event]] = defaultdict(list)
        for row in rows:
            try:
                event = EVENT_ADAPTER.validate_python(_load(row[1]))
            except (ValueError, ValidationError):
                skipped.append(f"event {row[0]}")
                continue
            events.append(event)
            by_receipt[as_datetime(row[2]) or as_utc(event.ts)].append(event)
        apply(db, event_deltas(events))
        for received, group in sorted(by_receipt.items()):
            record_latest(db, group, [], received)
        last, count = str(rows[-1][0]), count + len(rows)


def _rebuild_metrics(db: Database, since: datetime | None, skipped: list[str]) -> int:
    where, params = ("", []) if since is None else ("AND ts >= ?", [since])
    last, count = -1, 0
    while True:
        rows = db.query(
            f"SELECT id, store_id, device_id, payload, received_at FROM metrics WHERE id > ? {where} "  # noqa: S608
            f"ORDER BY id LIMIT {REBUILD_PAGE}",
            [last, *params],
        )
        if not rows:
            return count
        metrics: list[tuple[str, str, MetricsPayload]] = []
        for row in rows:
            try:
                item = (str(row[1]), str(row[2]), MetricsPayload.model_validate(_load(row[3])))
            except (ValueError, ValidationError):
                skipped.append(f"metrics {row[0]}")
                continue
            metrics.append(item)
            record_latest(db, [], [item], as_datetime(row[4]) or item[2].ts)
        apply(db, metrics_deltas(metrics))
        last, count = int(rows[-1][0]), count + len(rows)


# --- the ingest's own figures (Prometheus) ------------------------------------------------------------------


@dataclass(frozen=True)
class IngestFigures:
    """The ingest's totals and freshness, for ``/metrics``."""

    events_stored: int
    messages: int
    duplicates: int
    refused: int
    last_received_at: datetime | None
    lag_s: float | None


#: ingest_counters that are not refusals.
_NOT_REFUSALS = frozenset(
    {
        "messages",
        "events_new",
        "duplicates",
        "metrics_duplicates",
        "chat_new",
        "chat_duplicates",
        "chat_expired",
    }
)


def ingest_figures(db: Database, now: datetime, *, recent_s: float = 600.0) -> IngestFigures:
    """Totals from ``ingest_counters``; the newest receipt; and the lag, the largest gap between receipt
    and the newest event's ``ts`` over devices heard from in the last ``recent_s`` (device clocks
    included)."""
    counters = {str(n): int(v) for n, v in db.query("SELECT name, value FROM ingest_counters")}
    last = db.scalar("SELECT max(last_received_at) FROM device_health")
    lag = db.scalar(
        "SELECT max(last_received_at - last_event_at) FROM device_health WHERE last_received_at >= ?",
        [as_utc(now).timestamp() - recent_s],
    )
    return IngestFigures(
        events_stored=counters.get("events_new", 0),
        messages=counters.get("messages", 0),
        duplicates=counters.get("duplicates", 0),
        refused=sum(v for n, v in counters.items() if n not in _NOT_REFUSALS),
        last_received_at=None if last is None else datetime.fromtimestamp(float(last), UTC),
        lag_s=None if lag is None else float(lag),
    )
