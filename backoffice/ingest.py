"""The back office's ingest: reads every device's topics through MQTT 5 shared subscriptions and stores
events once each, plus device status, birth certificates and metrics.

- Several ingest processes in the same ``share_group`` split the load (``$share/<group>/vitrina/v1/+/+/...``).
- Every message is validated: its topic, its size, the wire model, every event against
``mqtt_bridge.contract.events``,
  the event's store and device against the topic, and every key against the anonymisation allowlist.
  Invalid messages and events are counted (``ingest_counters``) and skipped, never retried forever.
- Events are stored idempotently by ``event_id`` (a redelivered event changes nothing), so the device's
  at-least-once delivery becomes exactly once in the store.
- A message is acknowledged (manual PUBACK) only after the transaction that stored it commits, and the
  session persists (``session_expiry_s``), so a crashed ingest loses nothing the broker accepted.

Stores: SQLite through sqlite-utils (the default, ``sqlite:///path``) or PostgreSQL through psycopg 3
(``postgresql://...``, for a fleet; needs the ``psycopg`` package).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError
from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from backoffice.errors import BackofficeError
from backoffice.settings import IngestSettings
from mqtt_bridge.contract.allowlist import keys_outside_allowlist
from mqtt_bridge.contract.errors import TopicError
from mqtt_bridge.contract.events import EVENT_ADAPTER, Event
from mqtt_bridge.contract.payloads import (
    MAX_PAYLOAD_BYTES,
    BirthPayload,
    EventBatch,
    MetricsPayload,
    StatusPayload,
)
from mqtt_bridge.contract.topics import DeviceKind, ParsedTopic, fleet_filter, parse_topic, shared_filter
from mqtt_bridge.settings import BrokerSettings
from mqtt_bridge.transport import InboundMessage, MqttTransport, drain_queue

logger = logging.getLogger(__name__)

INGESTED_KINDS: tuple[DeviceKind, ...] = ("events", "alerts", "status", "birth", "metrics")


@dataclass
class Parsed:
    """What one drained set of messages holds, validated, ready to store in one transaction."""

    events: list[Event] = field(default_factory=list)
    statuses: list[tuple[str, str, StatusPayload]] = field(default_factory=list)
    births: list[tuple[str, str, BirthPayload]] = field(default_factory=list)
    metrics: list[tuple[str, str, MetricsPayload]] = field(default_factory=list)
    counters: Counter[str] = field(default_factory=Counter)


def parse_messages(prefix: str, messages: Iterable[tuple[str, bytes]]) -> Parsed:
    """Validate ``(topic, payload)`` pairs; what is invalid is counted and left out. Pure."""
    out = Parsed()
    for topic, payload in messages:
        out.counters["messages"] += 1
        try:
            where = parse_topic(prefix, topic)
        except TopicError:
            out.counters["invalid_topic"] += 1
            continue
        if len(payload) > MAX_PAYLOAD_BYTES:
            out.counters["oversized"] += 1
            continue
        try:
            data = json.loads(payload)
        except (ValueError, UnicodeDecodeError):
            out.counters["invalid_json"] += 1
            continue
        if keys_outside_allowlist(data):
            out.counters["outside_allowlist"] += 1
            continue
        try:
            _parse_one(where, data, out)
        except ValidationError:
            out.counters[f"invalid_{where.kind}"] += 1
    return out


def _parse_one(where: ParsedTopic, data: Any, out: Parsed) -> None:
    if where.kind in ("events", "alerts"):
        for raw in EventBatch.model_validate(data).events:
            try:
                event = EVENT_ADAPTER.validate_python(raw)
            except ValidationError:
                out.counters["invalid_event"] += 1
                continue
            if (event.store_id, event.device_id) != (where.store_id, where.device_id):
                out.counters["foreign_event"] += 1
                continue
            out.events.append(event)
    elif where.kind == "status":
        out.statuses.append((where.store_id, where.device_id, StatusPayload.model_validate(data)))
    elif where.kind == "birth":
        out.births.append((where.store_id, where.device_id, BirthPayload.model_validate(data)))
    elif where.kind == "metrics":
        out.metrics.append((where.store_id, where.device_id, MetricsPayload.model_validate(data)))
    else:
        out.counters["not_ingested"] += 1


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


def _event_row(event: Event, now: str) -> tuple[str, str, str, str, str, str, str]:
    return (
        event.event_id,
        event.type,
        event.store_id,
        event.device_id,
        event.ts.isoformat(),
        event.model_dump_json(),
        now,
    )


sqlite_migrations = Migrations("backoffice.ingest")


@sqlite_migrations(name="0001_events")
def _sqlite_events(db: Database) -> None:
    db.execute(
        """CREATE TABLE events (
            event_id TEXT PRIMARY KEY, type TEXT NOT NULL, store_id TEXT NOT NULL, device_id TEXT NOT NULL,
            ts TEXT NOT NULL, payload TEXT NOT NULL, received_at TEXT NOT NULL)"""
    )
    db.execute("CREATE INDEX events_device_ts ON events (store_id, device_id, ts)")


@sqlite_migrations(name="0002_devices")
def _sqlite_devices(db: Database) -> None:
    db.execute(
        """CREATE TABLE devices (
            store_id TEXT NOT NULL, device_id TEXT NOT NULL, status TEXT, status_at TEXT, birth TEXT,
            last_seen TEXT NOT NULL, PRIMARY KEY (store_id, device_id))"""
    )


@sqlite_migrations(name="0003_metrics")
def _sqlite_metrics(db: Database) -> None:
    db.execute(
        """CREATE TABLE metrics (
            id INTEGER PRIMARY KEY, store_id TEXT NOT NULL, device_id TEXT NOT NULL, ts TEXT NOT NULL,
            payload TEXT NOT NULL)"""
    )


@sqlite_migrations(name="0004_ingest_counters")
def _sqlite_counters(db: Database) -> None:
    db.execute("CREATE TABLE ingest_counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL DEFAULT 0)")


_DEVICE_SQL = {
    "status": "INSERT INTO devices (store_id, device_id, status, status_at, last_seen) "
    "VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (store_id, device_id) DO UPDATE SET status = excluded.status, "
    "status_at = excluded.status_at, last_seen = excluded.last_seen",
    "birth": "INSERT INTO devices (store_id, device_id, birth, last_seen) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (store_id, device_id) DO UPDATE SET birth = excluded.birth, last_seen = excluded.last_seen",
    "metrics": "INSERT INTO metrics (store_id, device_id, ts, payload) VALUES (?, ?, ?, ?)",
    "counter": "INSERT INTO ingest_counters (name, value) VALUES (?, ?) "
    "ON CONFLICT (name) DO UPDATE SET value = ingest_counters.value + excluded.value",
}


def _device_rows(parsed: Parsed, now: str) -> dict[str, list[tuple[Any, ...]]]:
    return {
        "status": [(s, d, p.state, (p.ts.isoformat() if p.ts else now), now) for s, d, p in parsed.statuses],
        "birth": [(s, d, p.model_dump_json(), now) for s, d, p in parsed.births],
        "metrics": [(s, d, p.ts.isoformat(), p.model_dump_json()) for s, d, p in parsed.metrics],
    }


class SqliteStore:
    """The default store: one SQLite file (WAL), tables made by sqlite-utils ``Migrations``."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = Database(sqlite3.connect(str(path), check_same_thread=False, timeout=30))
        self.db.execute("PRAGMA journal_mode=WAL")
        sqlite_migrations.apply(self.db)
        self._lock = threading.Lock()

    def write(self, parsed: Parsed) -> int:
        now = datetime.now(UTC).isoformat()
        with self._lock, self.db.atomic():
            new = 0
            for event in parsed.events:
                cursor = self.db.conn.execute(
                    "INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?, ?, ?, ?)", _event_row(event, now)
                )
                new += cursor.rowcount
            for kind, rows in _device_rows(parsed, now).items():
                self.db.conn.executemany(_DEVICE_SQL[kind], rows)
            counts = {**parsed.counters, "events_new": new, "duplicates": len(parsed.events) - new}
            self.db.conn.executemany(_DEVICE_SQL["counter"], [(k, v) for k, v in counts.items() if v])
        return new

    def event_ids(self) -> list[str]:
        with self._lock:
            return [str(r[0]) for r in self.db.execute("SELECT event_id FROM events")]

    def counters(self) -> dict[str, int]:
        with self._lock:
            return {str(n): int(v) for n, v in self.db.execute("SELECT name, value FROM ingest_counters")}

    def close(self) -> None:
        with self._lock:
            self.db.close()


_POSTGRES_MIGRATIONS: tuple[tuple[str, str], ...] = (
    (
        "0001_events",
        """CREATE TABLE events (
            event_id TEXT PRIMARY KEY, type TEXT NOT NULL, store_id TEXT NOT NULL, device_id TEXT NOT NULL,
            ts TIMESTAMPTZ NOT NULL, payload JSONB NOT NULL, received_at TIMESTAMPTZ NOT NULL);
        CREATE INDEX events_device_ts ON events (store_id, device_id, ts)""",
    ),
    (
        "0002_devices",
        """CREATE TABLE devices (
            store_id TEXT NOT NULL, device_id TEXT NOT NULL, status TEXT, status_at TEXT, birth JSONB,
            last_seen TEXT NOT NULL, PRIMARY KEY (store_id, device_id))""",
    ),
    (
        "0003_metrics",
        """CREATE TABLE metrics (id BIGSERIAL PRIMARY KEY, store_id TEXT NOT NULL, device_id TEXT NOT NULL,
            ts TIMESTAMPTZ NOT NULL, payload JSONB NOT NULL)""",
    ),
    ("0004_ingest_counters", "CREATE TABLE ingest_counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL)"),
)


_POSTGRES_INSERT_EVENTS = (
    "INSERT INTO events SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], "
    "%s::timestamptz[], %s::jsonb[], %s::timestamptz[]) ON CONFLICT (event_id) DO NOTHING"
)


class PostgresStore:
    """The fleet store: PostgreSQL through psycopg 3. Migrations are recorded in ``schema_migrations``."""

    def __init__(self, url: str) -> None:
        try:
            import psycopg
        except ImportError as exc:
            raise BackofficeError(
                "a postgresql:// store needs psycopg 3: pip install 'psycopg[binary]'"
            ) from exc
        try:
            self.conn = psycopg.connect(url, autocommit=False)
        except psycopg.OperationalError as exc:
            raise BackofficeError(
                f"cannot connect to PostgreSQL: {exc}; check the URL and the server"
            ) from exc
        self._lock = threading.Lock()
        with self.conn.transaction():
            self.conn.execute("SELECT pg_advisory_xact_lock(7741)")
            self.conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ)"
            )
            applied = {r[0] for r in self.conn.execute("SELECT name FROM schema_migrations")}
            for name, sql in _POSTGRES_MIGRATIONS:
                if name not in applied:
                    for statement in sql.split(";"):
                        self.conn.execute(statement.encode())
                    self.conn.execute("INSERT INTO schema_migrations VALUES (%s, now())", [name])

    def write(self, parsed: Parsed) -> int:
        now = datetime.now(UTC).isoformat()
        sql = {k: v.replace("?", "%s") for k, v in _DEVICE_SQL.items()}
        with self._lock, self.conn.transaction(), self.conn.cursor() as cur:
            new = 0
            if parsed.events:
                # One statement for the whole batch (one round trip, not one per event); its row count is
                # the events new to the store.
                columns = [list(c) for c in zip(*(_event_row(e, now) for e in parsed.events), strict=True)]
                cur.execute(_POSTGRES_INSERT_EVENTS, columns)
                new = cur.rowcount
            for kind, rows in _device_rows(parsed, now).items():
                if rows:
                    cur.executemany(sql[kind].encode(), rows)
            counts = {**parsed.counters, "events_new": new, "duplicates": len(parsed.events) - new}
            rows = [(k, v) for k, v in counts.items() if v]
            if rows:
                cur.executemany(sql["counter"].encode(), rows)
        return new

    def event_ids(self) -> list[str]:
        with self._lock, self.conn.transaction():
            return [str(r[0]) for r in self.conn.execute("SELECT event_id FROM events")]

    def counters(self) -> dict[str, int]:
        with self._lock, self.conn.transaction():
            return {str(n): int(v) for n, v in self.conn.execute("SELECT name, value FROM ingest_counters")}

    def close(self) -> None:
        with self._lock:
            self.conn.close()


def open_store(url: str) -> Store:
    """``sqlite:///path`` (or a bare path) -> :class:`SqliteStore`; ``postgresql://...`` -> PostgresStore."""
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresStore(url)
    if url.startswith("sqlite:///"):
        return SqliteStore(Path(url.removeprefix("sqlite:///")))
    if "://" in url:
        raise BackofficeError(f"unknown store URL {url!r}: use sqlite:///path or postgresql://user@host/db")
    return SqliteStore(Path(url))


class Ingest:
    """One ingest consumer: a transport with shared subscriptions feeding a store; :meth:`run` it."""

    def __init__(
        self,
        broker: BrokerSettings,
        settings: IngestSettings,
        store: Store,
        *,
        client_id: str | None = None,
        kinds: Sequence[DeviceKind] = INGESTED_KINDS,
    ) -> None:
        self.store = store
        self.prefix = broker.topic_prefix
        #: Messages this consumer handled (the store's counters are shared by every consumer).
        self.handled = 0
        self.transport = MqttTransport(
            broker,
            client_id=client_id or f"ingest-{uuid.uuid4().hex[:12]}",
            subscriptions=[(self._filter(settings.share_group, k), 1) for k in kinds],
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
        messages: list[InboundMessage] = drain_queue(self.transport.inbound, wait_s, limit=1000)
        if not messages:
            return 0
        parsed = parse_messages(self.prefix, ((m.topic, m.payload) for m in messages))
        self.store.write(parsed)
        for message in messages:
            self.transport.ack(message)
        self.handled += len(messages)
        return len(messages)

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
