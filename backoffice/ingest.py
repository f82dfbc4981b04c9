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

Stores: SQLite through sqlite-utils (the default, ``sqlite:///path``) or PostgreSQL through psycopg 3
(``postgresql://...``, for a fleet; needs the ``psycopg`` package).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
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
    counters: Counter[str] = field(default_factory=Counter)
    refusals: list[Refusal] = field(default_factory=list)

    def refuse(self, refusal: Refusal) -> None:
        """Count a refused message or event and keep why, for the log."""
        self.counters[refusal.counter] += 1
        self.refusals.append(refusal)


def parse_messages(prefix: str, messages: Iterable[tuple[str, bytes]]) -> Parsed:
    """Validate ``(topic, payload)`` pairs; what is invalid is counted and left out. Pure."""
    out = Parsed()
    for topic, payload in messages:
        out.counters["messages"] += 1
        try:
            where = parse_topic(prefix, topic)
        except TopicError as exc:
            out.refuse(Refusal(topic, "invalid_topic", str(exc)))
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
        outside = keys_outside_allowlist(data)
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
    elif where.kind == "birth":
        out.births.append((where.store_id, where.device_id, BirthPayload.model_validate(data)))
    elif where.kind == "metrics":
        out.metrics.append((where.store_id, where.device_id, MetricsPayload.model_validate(data)))
    else:
        out.refuse(Refusal(topic, "not_ingested", f"the ingest does not store {where.kind} messages"))


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
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """``client_id`` overrides ``settings.client_id`` (benchmarks and tests that run several)."""
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
        self.transport = MqttTransport(
            broker,
            client_id=self.client_id,
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
            if change.state == "connected":
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
