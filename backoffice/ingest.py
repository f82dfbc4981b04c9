"""The back office's ingest: reads every device's topics and stores events once each, plus device status,
birth certificates and metrics.

- Each consumer has a stable MQTT client id (``IngestSettings.client_id``): it names the broker-side session
  that queues what arrives while the consumer is away, so a restarted (or killed) consumer resumes it and
  stores what was published meanwhile. Two consumers running at once need different ids.
- The default is a plain subscription (``vitrina/v1/+/+/...``), the design that loses nothing across a
  broker restart on Mosquitto 2.0.11; for scale, several consumers in one ``share_group`` split the load
  (``$share/<group>/vitrina/v1/+/+/...``), with the broker limits docs/mqtt.md states.
- Every message is validated: its topic, its size, the wire model, every event against
``mqtt_bridge.contract.events``,
  the event's store and device against the topic, and every key against the anonymisation allowlist.
  Invalid messages and events are counted (``ingest_counters``), logged (rate-limited: the topic and the
  reason, never more of the payload than a short excerpt) and skipped, never retried forever.
- Events are stored idempotently by ``event_id`` (a redelivered event changes nothing), so the device's
  at-least-once delivery becomes exactly once in the store.
- A message is acknowledged (manual PUBACK) only after the transaction that stored it commits, and the
  session persists (``session_expiry_s``), so a crashed ingest loses nothing the broker accepted.

Stores: one code path (:class:`BackofficeStore`) on :mod:`backoffice.db`: SQLite (the default,
``sqlite:///path``) or PostgreSQL through psycopg 3 (``postgresql://...``, for a fleet; needs the
``psycopg`` and ``psycopg_pool`` packages).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from backoffice import retention, rollups, staff_calls
from backoffice.campaigns import device_versions, proof_of_play
from backoffice.chat import store as chat_store
from backoffice.db import Database, Migration, as_datetime, as_utc
from backoffice.errors import BackofficeError
from backoffice.settings import IngestSettings
from mqtt_bridge.contract.allowlist import payload_keys_outside_allowlist
from mqtt_bridge.contract.chat import CHAT_MESSAGE_ADAPTER, ChatBatch, ChatMessage
from mqtt_bridge.contract.enrolment import EnrolmentTopics, FleetDeviceNotice
from mqtt_bridge.contract.errors import TopicError
from mqtt_bridge.contract.events import EVENT_ADAPTER, Event
from mqtt_bridge.contract.payloads import (
    MAX_PAYLOAD_BYTES,
    BirthPayload,
    CatalogueResult,
    EventBatch,
    MetricsPayload,
    StatusPayload,
)
from mqtt_bridge.contract.topics import (
    DeviceKind,
    ParsedTopic,
    catalogue_result_filter,
    fleet_filter,
    parse_topic,
    shared_filter,
)
from mqtt_bridge.settings import BrokerSettings
from mqtt_bridge.transport import InboundMessage, MqttTransport, drain_queue

logger = logging.getLogger(__name__)

INGESTED_KINDS: tuple[DeviceKind, ...] = ("events", "alerts", "status", "birth", "metrics", "chat")

#: MQTT 5 DISCONNECT reason "Session taken over": another connection came with this consumer's client id.
SESSION_TAKEN_OVER = 0x8E

#: This many lost connections within FLAP_WINDOW_S: the client id is most likely used twice at once.
FLAP_LOSSES = 3
FLAP_WINDOW_S = 30.0

#: At most this many characters of a refused payload reach the log.
EXCERPT_CHARS = 48


@dataclass(frozen=True)
class Refusal:
    """Why one message (or one event in it) was not stored: what the log says about it."""

    topic: str
    #: The counter it was counted under (``invalid_json``, ``foreign_event``, ...).
    counter: str
    #: What was wrong, in words; never the payload's values.
    reason: str
    #: The payload's first :data:`EXCERPT_CHARS` characters, or "" where even that may not be logged.
    excerpt: str = ""


def _excerpt(payload: bytes) -> str:
    text = payload[: EXCERPT_CHARS * 4].decode("utf-8", errors="replace")
    return text[:EXCERPT_CHARS] + (
        "..." if len(text) > EXCERPT_CHARS or len(payload) > EXCERPT_CHARS * 4 else ""
    )


def _validation_reason(exc: ValidationError) -> str:
    """The first problems of a validation error: where and what, without the offending values."""
    problems = exc.errors(include_url=False, include_input=False, include_context=False)
    shown = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in problems[:3])
    return shown + (f" (and {len(problems) - 3} more)" if len(problems) > 3 else "")


@dataclass
class Parsed:
    """What one drained set of messages holds, validated, ready to store in one transaction."""

    events: list[Event] = field(default_factory=list)
    statuses: list[tuple[str, str, StatusPayload]] = field(default_factory=list)
    births: list[tuple[str, str, BirthPayload]] = field(default_factory=list)
    metrics: list[tuple[str, str, MetricsPayload]] = field(default_factory=list)
    #: Devices' answers to catalogue releases (#18: which version each device runs).
    catalogue_results: list[tuple[str, str, CatalogueResult]] = field(default_factory=list)
    #: Chat messages (store, device, message): issue #19, :mod:`backoffice.chat.store`.
    chat: list[tuple[str, str, ChatMessage]] = field(default_factory=list)
    #: The fleet's notices (enrolled, renewed, revoked), from ``_fleet/devices/{store}/{device}``.
    notices: list[FleetDeviceNotice] = field(default_factory=list)
    #: Per device, in the order they came: True for a retained status or birth cleared (a zero-length
    #: message: ``provision decommission``), False for one set again.
    retained: list[tuple[str, str, bool]] = field(default_factory=list)
    counters: Counter[str] = field(default_factory=Counter)
    refusals: list[Refusal] = field(default_factory=list)

    def refuse(self, refusal: Refusal) -> None:
        """Count a refused message or event and keep why, for the log."""
        self.counters[refusal.counter] += 1
        self.refusals.append(refusal)


def parse_messages(prefix: str, messages: Iterable[tuple[str, bytes]]) -> Parsed:
    """Validate ``(topic, payload)`` pairs; what is invalid is counted and left out. Pure.

    A zero-length ``status`` or ``birth`` is a retained message cleared (what ``provision decommission``
    publishes), counted as ``cleared``, not an invalid payload. The fleet's notices are counted as
    ``notices`` (a cleared one as ``cleared``)."""
    out = Parsed()
    notice_topics = EnrolmentTopics(prefix)
    for topic, payload in messages:
        out.counters["messages"] += 1
        noticed = notice_topics.notice_device_of(topic)
        if noticed is not None:
            _parse_notice(topic, noticed, payload, out)
            continue
        try:
            where = parse_topic(prefix, topic)
        except TopicError as exc:
            out.refuse(Refusal(topic, "invalid_topic", str(exc)))
            continue
        if not payload and where.kind in ("status", "birth"):
            out.counters["cleared"] += 1
            out.retained.append((where.store_id, where.device_id, True))
            continue
        if len(payload) > MAX_PAYLOAD_BYTES:
            reason = f"{len(payload)} bytes, more than the {MAX_PAYLOAD_BYTES} a payload may have"
            out.refuse(Refusal(topic, "oversized", reason))
            continue
        try:
            data = json.loads(payload)
        except (ValueError, UnicodeDecodeError) as exc:
            out.refuse(Refusal(topic, "invalid_json", f"not JSON: {exc}", _excerpt(payload)))
            continue
        outside = payload_keys_outside_allowlist(where.kind, data)
        if outside:
            # No excerpt: the values under these keys are what anonymisation exists to keep out.
            reason = f"keys outside the anonymisation allowlist: {', '.join(outside[:5])}"
            out.refuse(Refusal(topic, "outside_allowlist", reason))
            continue
        try:
            _parse_one(topic, where, data, out)
        except ValidationError as exc:
            reason = f"not a valid {where.kind} payload: {_validation_reason(exc)}"
            out.refuse(Refusal(topic, f"invalid_{where.kind}", reason, _excerpt(payload)))
    return out


def _parse_notice(topic: str, device: tuple[str, str], payload: bytes, out: Parsed) -> None:
    """One message on ``_fleet/devices/{store}/{device}``: a notice naming the topic's device."""
    if not payload:
        out.counters["cleared"] += 1
        return
    try:
        notice = FleetDeviceNotice.model_validate_json(payload)
    except ValidationError as exc:
        reason = f"not a valid fleet notice: {_validation_reason(exc)}"
        out.refuse(Refusal(topic, "invalid_notice", reason, _excerpt(payload)))
        return
    if (notice.store_id, notice.device_id) != device:
        reason = f"the notice names {notice.store_id}/{notice.device_id}, not the topic's device"
        out.refuse(Refusal(topic, "invalid_notice", reason))
        return
    out.counters["notices"] += 1
    out.notices.append(notice)


def _parse_one(topic: str, where: ParsedTopic, data: Any, out: Parsed) -> None:
    if where.kind in ("events", "alerts"):
        for raw in EventBatch.model_validate(data).events:
            try:
                event = EVENT_ADAPTER.validate_python(raw)
            except ValidationError as exc:
                out.refuse(Refusal(topic, "invalid_event", f"not a valid event: {_validation_reason(exc)}"))
                continue
            if (event.store_id, event.device_id) != (where.store_id, where.device_id):
                reason = (
                    f"event {event.event_id} names store/device {event.store_id}/{event.device_id}, "
                    "not the topic's"
                )
                out.refuse(Refusal(topic, "foreign_event", reason))
                continue
            out.events.append(event)
    elif where.kind == "status":
        out.statuses.append((where.store_id, where.device_id, StatusPayload.model_validate(data)))
        out.retained.append((where.store_id, where.device_id, False))
    elif where.kind == "birth":
        out.births.append((where.store_id, where.device_id, BirthPayload.model_validate(data)))
        out.retained.append((where.store_id, where.device_id, False))
    elif where.kind == "metrics":
        out.metrics.append((where.store_id, where.device_id, MetricsPayload.model_validate(data)))
    elif where.kind == "catalogue_result":
        result = CatalogueResult.model_validate(data)
        if (result.store_id, result.device_id) != (where.store_id, where.device_id):
            out.refuse(
                Refusal(topic, "foreign_catalogue_result", "names another store/device than the topic")
            )
        else:
            out.catalogue_results.append((where.store_id, where.device_id, result))
    elif where.kind == "chat":
        _parse_chat(topic, where, ChatBatch.model_validate(data), out)
    else:
        out.refuse(Refusal(topic, "not_ingested", f"the ingest does not store {where.kind} messages"))


def _parse_chat(topic: str, where: ParsedTopic, batch: ChatBatch, out: Parsed) -> None:
    if (batch.store_id, batch.device_id) != (where.store_id, where.device_id):
        names = f"{batch.store_id}/{batch.device_id}"
        reason = f"chat batch {batch.batch_id} names store/device {names}, not the topic's"
        out.refuse(Refusal(topic, "foreign_chat", reason))
        return
    for raw in batch.messages:
        try:
            message = CHAT_MESSAGE_ADAPTER.validate_python(raw)
        except ValidationError as exc:
            reason = f"not a valid chat message: {_validation_reason(exc)}"
            out.refuse(Refusal(topic, "invalid_chat_message", reason))
            continue
        out.chat.append((where.store_id, where.device_id, message))


class Store(Protocol):
    """Where the ingest writes; every method runs in one transaction."""

    def write(self, parsed: Parsed) -> int:
        """Store everything in ``parsed``; returns how many events were new."""
        ...

    def event_ids(self) -> list[str]:
        """Every stored event_id (tests and reports)."""
        ...

    def counters(self) -> dict[str, int]:
        """The ingest's counters (messages, duplicates, invalid_*, ...)."""
        ...

    def close(self) -> None:
        """Close the connection."""
        ...


def _event_rows(events: Sequence[Event], now: datetime) -> list[tuple[Any, ...]]:
    """The events' rows in arrival order: the store's insertion order is the order they came in (an alert
    that jumped the outbox's backlog is stored before it)."""
    return [
        (e.event_id, e.type, e.store_id, e.device_id, as_utc(e.ts), e.model_dump_json(), now) for e in events
    ]


#: The ingest's tables. The first four are the tables of issue #14, under the names they had, so a store
#: made before :mod:`backoffice.db` existed is adopted (:func:`_adopt_legacy_migrations`), not made again.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "0001_events",
        """CREATE TABLE events (
            event_id TEXT PRIMARY KEY, type TEXT NOT NULL, store_id TEXT NOT NULL, device_id TEXT NOT NULL,
            ts TEXT NOT NULL, payload TEXT NOT NULL, received_at TEXT NOT NULL);
        CREATE INDEX events_device_ts ON events (store_id, device_id, ts)""",
        """CREATE TABLE events (
            event_id TEXT PRIMARY KEY, type TEXT NOT NULL, store_id TEXT NOT NULL, device_id TEXT NOT NULL,
            ts TIMESTAMPTZ NOT NULL, payload JSONB NOT NULL, received_at TIMESTAMPTZ NOT NULL);
        CREATE INDEX events_device_ts ON events (store_id, device_id, ts)""",
    ),
    Migration(
        "0002_devices",
        """CREATE TABLE devices (
            store_id TEXT NOT NULL, device_id TEXT NOT NULL, status TEXT, status_at TEXT, birth TEXT,
            last_seen TEXT NOT NULL, PRIMARY KEY (store_id, device_id))""",
        """CREATE TABLE devices (
            store_id TEXT NOT NULL, device_id TEXT NOT NULL, status TEXT, status_at TEXT, birth JSONB,
            last_seen TEXT NOT NULL, PRIMARY KEY (store_id, device_id))""",
    ),
    Migration(
        "0003_metrics",
        """CREATE TABLE metrics (
            id INTEGER PRIMARY KEY, store_id TEXT NOT NULL, device_id TEXT NOT NULL, ts TEXT NOT NULL,
            payload TEXT NOT NULL)""",
        """CREATE TABLE metrics (id BIGSERIAL PRIMARY KEY, store_id TEXT NOT NULL, device_id TEXT NOT NULL,
            ts TIMESTAMPTZ NOT NULL, payload JSONB NOT NULL)""",
    ),
    Migration(
        "0004_ingest_counters",
        "CREATE TABLE ingest_counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL DEFAULT 0)",
        "CREATE TABLE ingest_counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL)",
    ),
    # Issue #16: a metrics payload is stored once (a redelivered one was stored twice), with when it was
    # received (clock drift) and its outbox depth (the outbox rule); retention deletes by ts.
    Migration(
        "0005_metrics_identity",
        """ALTER TABLE metrics ADD COLUMN received_at TEXT;
        ALTER TABLE metrics ADD COLUMN outbox_depth INTEGER;
        DELETE FROM metrics WHERE id NOT IN (SELECT min(id) FROM metrics GROUP BY store_id, device_id, ts);
        CREATE UNIQUE INDEX metrics_identity ON metrics (store_id, device_id, ts);
        CREATE INDEX metrics_ts ON metrics (ts);
        CREATE INDEX events_ts ON events (ts)""",
        """ALTER TABLE metrics ADD COLUMN received_at TIMESTAMPTZ;
        ALTER TABLE metrics ADD COLUMN outbox_depth BIGINT;
        DELETE FROM metrics WHERE id NOT IN (SELECT min(id) FROM metrics GROUP BY store_id, device_id, ts);
        CREATE UNIQUE INDEX metrics_identity ON metrics (store_id, device_id, ts);
        CREATE INDEX metrics_ts ON metrics (ts);
        CREATE INDEX events_ts ON events (ts)""",
    ),
    # Issue #17: what the fleet says of each device (its latest notice: enrolled, renewed, revoked) and when
    # the device took itself out (its retained status and birth cleared by `provision decommission`).
    # Times are epoch seconds, as in the tables of issue #16.
    Migration(
        "0006_device_lifecycle",
        """CREATE TABLE device_lifecycle (
            store_id TEXT NOT NULL, device_id TEXT NOT NULL, fleet_state TEXT, fleet_event TEXT,
            fleet_reason TEXT, certificate_serial TEXT, certificate_expires_at REAL, notice_at REAL,
            notice_received_at REAL, decommissioned_at REAL, PRIMARY KEY (store_id, device_id))""",
        """CREATE TABLE device_lifecycle (
            store_id TEXT NOT NULL, device_id TEXT NOT NULL, fleet_state TEXT, fleet_event TEXT,
            fleet_reason TEXT, certificate_serial TEXT, certificate_expires_at DOUBLE PRECISION,
            notice_at DOUBLE PRECISION, notice_received_at DOUBLE PRECISION,
            decommissioned_at DOUBLE PRECISION, PRIMARY KEY (store_id, device_id))""",
    ),
)

#: A notice replaces the stored one unless the stored one is newer (its ``ts``); an ``enrolled`` notice
#: newer than a decommissioning brings the device back.
_NOTICE_COLUMNS = (
    "fleet_state",
    "fleet_event",
    "fleet_reason",
    "certificate_serial",
    "certificate_expires_at",
    "notice_received_at",
)
_NOTICE_UPSERT = (
    "ON CONFLICT (store_id, device_id) DO UPDATE SET "
    + ", ".join(
        f"{c} = CASE WHEN device_lifecycle.notice_at IS NULL OR excluded.notice_at >= "
        f"device_lifecycle.notice_at THEN excluded.{c} ELSE device_lifecycle.{c} END"
        for c in (*_NOTICE_COLUMNS, "notice_at")
    )
    + ", decommissioned_at = CASE WHEN excluded.fleet_event = 'enrolled' AND "
    "device_lifecycle.decommissioned_at < excluded.notice_at THEN NULL "
    "ELSE device_lifecycle.decommissioned_at END"
)

#: Where the stores of issue #14 recorded their migrations: sqlite-utils' table (its migration set) and
#: the PostgreSQL store's own.
_LEGACY_SQLITE_SET = "backoffice.ingest"


def _adopt_legacy_migrations(db: Database) -> None:
    """Record, under the component ``ingest``, the migrations a store of issue #14 applied before this
    module kept its records in ``backoffice_migrations``."""
    if db.applied_migrations("ingest"):
        return
    if db.dialect == "sqlite" and db.table_exists("_sqlite_migrations"):
        sql = "SELECT name, applied_at FROM _sqlite_migrations WHERE migration_set = ?"
        legacy = [(str(n), str(a)) for n, a in db.query(sql, [_LEGACY_SQLITE_SET])]
    elif db.dialect == "postgresql" and db.table_exists("schema_migrations"):
        legacy = [(str(n), str(a)) for n, a in db.query("SELECT name, applied_at FROM schema_migrations")]
    else:
        return
    known = {m.name for m in MIGRATIONS}
    with db.transaction():
        db.execute(
            "CREATE TABLE IF NOT EXISTS backoffice_migrations (component TEXT NOT NULL, "
            "name TEXT NOT NULL, applied_at TEXT NOT NULL, PRIMARY KEY (component, name))"
        )
        for name, applied_at in legacy:
            if name in known:
                db.execute(
                    "INSERT INTO backoffice_migrations (component, name, applied_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (component, name) DO NOTHING",
                    ["ingest", name, applied_at],
                )


_SQL = {
    "status": "INSERT INTO devices (store_id, device_id, status, status_at, last_seen) "
    "VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (store_id, device_id) DO UPDATE SET status = excluded.status, "
    "status_at = excluded.status_at, last_seen = excluded.last_seen",
    "birth": "INSERT INTO devices (store_id, device_id, birth, last_seen) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (store_id, device_id) DO UPDATE SET birth = excluded.birth, last_seen = excluded.last_seen",
}


def migrate_store(db: Database) -> None:
    """Make or update every table of the store that is not the web application's: the ingest's, the
    rollups', staff calls' and retention's. The first time the rollups, or a rollup column added later,
    are made on a store that already holds events, they are filled from those events
    (:func:`rollups.rebuild`; hours older than retention's cut-off keep their rows, a later column 0)."""
    _adopt_legacy_migrations(db)
    db.migrate("ingest", MIGRATIONS)
    db.migrate("staff_calls", staff_calls.MIGRATIONS)
    db.migrate("retention", retention.MIGRATIONS)
    # Campaigns (#18): the devices' catalogue results, and proof of play per offer and catalogue version
    # (before the rollups: their rebuild recounts proof of play too).
    device_versions.migrate(db)
    proof_of_play.migrate(db)
    chat_store.migrate(db)
    made = db.migrate("rollups", rollups.MIGRATIONS)
    # The store-level tiers of the hourly rollups (#16's page times), filled from the hourly rows in
    # the transaction that makes them.
    with db.transaction():
        if db.migrate("rollup_tiers", rollups.TIER_MIGRATIONS):
            rollups.refill_tiers(db)
    # A rollup table or column new to a store that holds events (the rollups themselves, or a column
    # added later, 0 in every stored row) is filled by counting the raw events once.
    if made and db.scalar("SELECT event_id FROM events LIMIT 1") is not None:
        logger.info("rollups %s are new on a store that holds events: counting them once", ", ".join(made))
        rollups.rebuild(db)


class BackofficeStore:
    """The ingest's store on a :class:`backoffice.db.Database` (SQLite or PostgreSQL, one code path).

    :meth:`write` stores a drained set of messages in one transaction: the events new to the store, what
    they add to the hourly rollups, the staff calls they raise, the devices' status, birth, metrics and
    latest health, and the ingest's counters. A redelivered event or metrics payload changes nothing."""

    def __init__(self, db: Database, *, clock: Callable[[], datetime] | None = None) -> None:
        """``clock``: the receipt time of each write (raised time of staff calls, ``received_at``);
        the wall clock by default."""
        self.db = db
        self._clock = clock or (lambda: datetime.now(UTC))
        migrate_store(db)

    def write(self, parsed: Parsed) -> int:
        """Store ``parsed`` in one transaction; returns how many events were new. A transaction the server
        rolled back for a deadlock or a serialization failure (two consumers of a group writing the same
        rows) runs again, up to :data:`WRITE_ATTEMPTS` times, each retry counted (``store_retries``)."""
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                return self._write_once(parsed, retries=attempt - 1)
            except Exception as exc:
                state = _sqlstate(exc)
                if state not in RETRYABLE_SQLSTATES or attempt == WRITE_ATTEMPTS or self.db.in_transaction:
                    raise
                logger.warning(
                    "the store rolled the transaction back (SQLSTATE %s: %s); running it again (%d of %d)",
                    state,
                    str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                    attempt + 1,
                    WRITE_ATTEMPTS,
                )
                time.sleep(0.02 * attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _write_once(self, parsed: Parsed, *, retries: int) -> int:
        now = self._clock()
        with self.db.transaction():
            new = self._insert_events(parsed.events, now)
            new_metrics = self._insert_metrics(parsed.metrics, now)
            for kind in ("status", "birth"):
                self.db.executemany(_SQL[kind], _device_rows(parsed, now.isoformat())[kind])
            self._write_lifecycle(parsed, now)
            rollups.apply(self.db, rollups.event_deltas(new).merge(rollups.metrics_deltas(new_metrics)))
            rollups.record_latest(self.db, parsed.events, new_metrics, now)
            staff_calls.record_events(self.db, new, now)
            proof_of_play.record(self.db, new)
            device_versions.record(self.db, parsed.catalogue_results, now)
            chat = chat_store.record_messages(self.db, parsed.chat, now)
            counts = {
                **parsed.counters,
                "chat_new": chat.new,
                "chat_duplicates": chat.duplicates,
                "chat_expired": chat.expired,
                "foreign_chat": parsed.counters["foreign_chat"] + chat.foreign,
                "events_new": len(new),
                "duplicates": len(parsed.events) - len(new),
                "metrics_duplicates": len(parsed.metrics) - len(new_metrics),
                "store_retries": retries,
            }
            self.db.insert_many(
                "ingest_counters",
                ("name", "value"),
                ("text", "bigint"),
                sorted((k, v) for k, v in counts.items() if v),
                "ON CONFLICT (name) DO UPDATE SET value = ingest_counters.value + excluded.value",
            )
        return len(new)

    def _write_lifecycle(self, parsed: Parsed, now: datetime) -> None:
        """The fleet's notices (the newest per device wins, by its ts) and the devices that cleared their
        retained status and birth (decommissioned now) or set them again (back in service)."""
        newest: dict[tuple[str, str], FleetDeviceNotice] = {}
        for notice in parsed.notices:
            key = (notice.store_id, notice.device_id)
            if key not in newest or notice.ts >= newest[key].ts:
                newest[key] = notice
        received = as_utc(now).timestamp()
        self.db.insert_many(
            "device_lifecycle",
            ("store_id", "device_id", *_NOTICE_COLUMNS, "notice_at"),
            ("text", "text", "text", "text", "text", "text", "float8", "float8", "float8"),
            [
                (
                    s,
                    d,
                    n.state,
                    n.event,
                    n.reason,
                    n.certificate_serial,
                    as_utc(n.expires_at).timestamp() if n.expires_at else None,
                    received,
                    as_utc(n.ts).timestamp(),
                )
                for (s, d), n in sorted(newest.items())
            ],
            _NOTICE_UPSERT,
        )
        last: dict[tuple[str, str], bool] = {}
        for store_id, device_id, cleared in parsed.retained:
            last[(store_id, device_id)] = cleared
        gone = sorted(key for key, cleared in last.items() if cleared)
        back = sorted(key for key, cleared in last.items() if not cleared)
        self.db.insert_many(
            "device_lifecycle",
            ("store_id", "device_id", "decommissioned_at"),
            ("text", "text", "float8"),
            [(s, d, received) for s, d in gone],
            "ON CONFLICT (store_id, device_id) DO UPDATE SET decommissioned_at = excluded.decommissioned_at",
        )
        if back:
            self.db.executemany(
                "UPDATE device_lifecycle SET decommissioned_at = NULL "
                "WHERE store_id = ? AND device_id = ? AND decommissioned_at IS NOT NULL",
                back,
            )

    def _insert_metrics(
        self, metrics: Sequence[tuple[str, str, MetricsPayload]], now: datetime
    ) -> list[tuple[str, str, MetricsPayload]]:
        """Insert the metrics payloads not stored yet (by store, device and ts); returns them."""
        result = self.db.insert_many(
            "metrics",
            ("store_id", "device_id", "ts", "payload", "received_at", "outbox_depth"),
            ("text", "text", "timestamptz", "jsonb", "timestamptz", "bigint"),
            [(s, d, as_utc(p.ts), p.model_dump_json(), now, p.outbox_depth) for s, d, p in metrics],
            "ON CONFLICT (store_id, device_id, ts) DO NOTHING RETURNING store_id, device_id, ts",
        )
        inserted = {(str(r[0]), str(r[1]), as_datetime(r[2]) or now) for r in result}
        new = []
        for s, d, p in metrics:
            key = (s, d, as_utc(p.ts))
            if key in inserted:
                inserted.discard(key)
                new.append((s, d, p))
        return new

    def _insert_events(self, events: Sequence[Event], now: datetime) -> list[Event]:
        """Insert the events not stored yet; returns them (first copy of each), in the batch's order."""
        result = self.db.insert_many(
            "events",
            ("event_id", "type", "store_id", "device_id", "ts", "payload", "received_at"),
            ("text", "text", "text", "text", "timestamptz", "jsonb", "timestamptz"),
            _event_rows(events, now),
            "ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
        )
        inserted = {str(r[0]) for r in result}
        new: list[Event] = []
        for event in events:
            if event.event_id in inserted:
                inserted.discard(event.event_id)
                new.append(event)
        return new

    def event_ids(self) -> list[str]:
        return [str(r[0]) for r in self.db.query("SELECT event_id FROM events")]

    def counters(self) -> dict[str, int]:
        return {str(n): int(v) for n, v in self.db.query("SELECT name, value FROM ingest_counters")}

    def close(self) -> None:
        self.db.close()


def _device_rows(parsed: Parsed, now: str) -> dict[str, list[tuple[Any, ...]]]:
    """Each device's status and birth rows, in (store, device) order (a stable sort: a device's later
    message still comes later). Two consumers that upsert the same devices in different orders deadlock
    on PostgreSQL (measured: bench/fleet_load.py with 500 kiosks and two consumers)."""

    def by_device(rows: Iterable[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        return sorted(rows, key=lambda row: (str(row[0]), str(row[1])))

    return {
        "status": by_device(
            (s, d, p.state, (p.ts.isoformat() if p.ts else now), now) for s, d, p in parsed.statuses
        ),
        "birth": by_device((s, d, p.model_dump_json(), now) for s, d, p in parsed.births),
    }


#: PostgreSQL's deadlock_detected and serialization_failure: the server rolled the whole transaction back,
#: and running it again is the documented answer.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
#: Tries of one drained set's transaction before the error goes up (and the set waits for redelivery).
WRITE_ATTEMPTS = 4


def _sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error or of the error it was raised from (psycopg's ``sqlstate``)."""
    seen: BaseException | None = exc
    while seen is not None:
        state = getattr(seen, "sqlstate", None)
        if isinstance(state, str):
            return state
        seen = seen.__cause__
    return None


class SqliteStore(BackofficeStore):
    """The default store: one SQLite file (WAL)."""

    def __init__(self, path: Path, *, clock: Callable[[], datetime] | None = None) -> None:
        super().__init__(Database(f"sqlite:///{path}"), clock=clock)


class PostgresStore(BackofficeStore):
    """The fleet store: PostgreSQL through psycopg 3."""

    def __init__(self, url: str, *, clock: Callable[[], datetime] | None = None) -> None:
        super().__init__(Database(url), clock=clock)


def open_store(url: str, *, clock: Callable[[], datetime] | None = None) -> BackofficeStore:
    """``sqlite:///path`` (or a bare path) -> :class:`SqliteStore`; ``postgresql://...`` -> PostgresStore.
    ``clock``: the receipt clock (:class:`BackofficeStore`)."""
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresStore(url, clock=clock)
    if url.startswith("sqlite:///"):
        return SqliteStore(Path(url.removeprefix("sqlite:///")), clock=clock)
    if "://" in url:
        raise BackofficeError(f"unknown store URL {url!r}: use sqlite:///path or postgresql://user@host/db")
    return SqliteStore(Path(url), clock=clock)


@dataclass
class RateLimit:
    """At most ``burst`` log lines per ``window_s``; what it holds back is counted. Pure: the caller passes
    the time (``time.monotonic()``)."""

    burst: int = 10
    window_s: float = 60.0
    #: Held back since the last line that went out.
    held_back: int = 0
    _window_start: float | None = None
    _used: int = 0

    def allow(self, now: float) -> bool:
        """Whether one more line may go out now; if not, it is counted in :attr:`held_back`."""
        if self._window_start is None or now - self._window_start >= self.window_s:
            self._window_start, self._used = now, 0
        if self._used < self.burst:
            self._used += 1
            return True
        self.held_back += 1
        return False

    def take_held_back(self) -> int:
        """How many were held back since the last call (to say so in the next line), and reset that count."""
        held, self.held_back = self.held_back, 0
        return held

    def overdue(self, now: float) -> int:
        """Held-back lines whose window has ended with no line after them to report them (then reset)."""
        if self.held_back and self._window_start is not None and now - self._window_start >= self.window_s:
            self._window_start, self._used = now, 0
            return self.take_held_back()
        return 0


class Ingest:
    """One ingest consumer: a transport (a persistent session under a stable client id) feeding a store;
    :meth:`run` it."""

    def __init__(
        self,
        broker: BrokerSettings,
        settings: IngestSettings,
        store: Store,
        *,
        client_id: str | None = None,
        kinds: Sequence[DeviceKind] = INGESTED_KINDS,
        catalogue_results: bool = True,
        fleet_notices: bool = True,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """``client_id`` overrides ``settings.client_id`` (benchmarks and tests that run several);
        ``catalogue_results``: also store the devices' answers to catalogue releases; ``fleet_notices``:
        also store the fleet's notices (``_fleet/devices/+/+``)."""
        self.store = store
        self.prefix = broker.topic_prefix
        self.client_id = client_id or settings.client_id
        #: Messages this consumer handled (the store's counters are shared by every consumer).
        self.handled = 0
        #: Connections this consumer made, and how many of them resumed a session the broker kept.
        self.connects = 0
        self.sessions_resumed = 0
        self._monotonic = monotonic
        self._refusal_log = RateLimit(burst=10, window_s=60.0)
        self._losses: deque[float] = deque(maxlen=FLAP_LOSSES)
        self._takeover_log = RateLimit(burst=1, window_s=60.0)
        #: Connection attempts that failed since the last success (only the first is logged).
        self._failures = 0
        # The fleet's notices are retained state, few and idempotent to store: a plain subscription (a
        # shared one never receives retained messages), so every consumer of a group stores them all.
        notices = [(EnrolmentTopics(self.prefix).notice_filter, 1)] if fleet_notices else []
        self.transport = MqttTransport(
            broker,
            client_id=self.client_id,
            subscriptions=[(self._filter(settings.share_group, k), 1) for k in kinds]
            + ([(catalogue_result_filter(self.prefix, settings.share_group), 1)] if catalogue_results else [])
            + notices,
            inbound_queue_size=settings.queue_size,
            manual_ack=True,
            clean_start=False,
            session_expiry_s=settings.session_expiry_s,
        )

    def _filter(self, group: str | None, kind: DeviceKind) -> str:
        return shared_filter(group, self.prefix, kind) if group else fleet_filter(self.prefix, kind)

    def start(self) -> None:
        """Connect (in the background)."""
        self.transport.start()

    def step(self, wait_s: float = 0.1) -> int:
        """Store what arrived (waiting up to ``wait_s``), in one transaction, then acknowledge it.
        Returns how many messages were handled."""
        self._watch_connection()
        messages: list[InboundMessage] = drain_queue(self.transport.inbound, wait_s, limit=1000)
        if not messages:
            self._log_overdue_refusals()
            return 0
        parsed = parse_messages(self.prefix, ((m.topic, m.payload) for m in messages))
        self.store.write(parsed)
        for message in messages:
            self.transport.ack(message)
        self.handled += len(messages)
        self._log_refusals(parsed.refusals)
        return len(messages)

    def _log_refusals(self, refusals: Sequence[Refusal]) -> None:
        for refusal in refusals:
            if not self._refusal_log.allow(self._monotonic()):
                continue
            held = self._refusal_log.take_held_back()
            logger.warning(
                "refused a message on %s (%s): %s%s%s",
                refusal.topic,
                refusal.counter,
                refusal.reason,
                f"; starts {refusal.excerpt!r}" if refusal.excerpt else "",
                f" ({held} more refusals not logged before this one; all are counted in ingest_counters)"
                if held
                else "",
            )
        self._log_overdue_refusals()

    def _log_overdue_refusals(self) -> None:
        held = self._refusal_log.overdue(self._monotonic())
        if held:
            logger.warning(
                "%d more messages refused and not logged (rate limit); all are counted in ingest_counters",
                held,
            )

    def _watch_connection(self) -> None:
        for change in drain_queue(self.transport.changes):
            if change.state in ("failed", "refused"):
                self._failures += 1
                if self._failures == 1:  # the first of an outage; the retries say nothing new
                    logger.warning(
                        "ingest %s cannot connect to the broker at %s:%d: %s; check --broker, and on the "
                        "fleet's broker (which requires a client certificate) give --identity DIR, this "
                        "process's own bundle (provision backoffice new --name N); retrying",
                        self.client_id,
                        self.transport.settings.host,
                        self.transport.settings.port,
                        change.reason,
                    )
                continue
            if change.state == "connected":
                self._failures = 0
                self.connects += 1
                self.sessions_resumed += change.session_present
                if change.session_present:
                    logger.info("ingest %s connected and resumed its session", self.client_id)
                elif self.connects == 1:
                    logger.info("ingest %s connected with a new session", self.client_id)
                else:
                    logger.warning(
                        "ingest %s reconnected but the broker had no session for it: what was published "
                        "while it was away is not queued for it (the session expired, or the broker lost "
                        "it); check session_expiry_s and the broker's persistence",
                        self.client_id,
                    )
            elif change.state == "lost":
                now = self._monotonic()
                self._losses.append(now)
                # Mosquitto 2.0.11 closes the older of two connections with one client id without a
                # reason code (other brokers send SESSION_TAKEN_OVER): the pair then take turns, each
                # connection lost right after it is made.
                flapping = len(self._losses) == self._losses.maxlen and now - self._losses[0] <= FLAP_WINDOW_S
                if (change.reason_code == SESSION_TAKEN_OVER or flapping) and self._takeover_log.allow(now):
                    logger.error(
                        "ingest %s lost its connection %d times in %.0f s (last reason: %s): most likely "
                        "another consumer runs with the same client id, and the broker closes the older "
                        "connection whenever the other connects. Give every consumer running at once its "
                        "own --client-id (e.g. vitrina-ingest-2)",
                        self.client_id,
                        len(self._losses),
                        now - self._losses[0],
                        change.reason,
                    )

    def run(self, stop: threading.Event) -> None:
        """Ingest until ``stop`` is set, then disconnect."""
        try:
            while not stop.is_set():
                self.step()
        except Exception:
            logger.exception("the ingest crashed")
            raise
        finally:
            self.transport.stop()
