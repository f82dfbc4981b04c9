"""The durable outbox: events are committed to SQLite before they are published, and leave it only when
the broker's PUBACK for the message that carried them arrives.

- :class:`Outbox` is the store: one SQLite file in WAL mode, every table created by sqlite-utils
  ``Migrations``. :meth:`Outbox.add` anonymises and commits; :meth:`Outbox.mark_sent` removes rows whose
  PUBACK arrived. It is thread-safe (one connection behind a lock: the producer adds, the publisher reads
  and deletes).
- :class:`OutboxPublisher` publishes batches QoS 1 through a :class:`~mqtt_bridge.transport.MqttTransport`:
  alerts (priority ``alert``) first, on the ``alerts`` topic; then the backlog, oldest first, at full
  speed up to ``max_inflight_batches`` unacknowledged batches. A batch without PUBACK after
  ``resend_after_s`` (or with a failure PUBACK) is published again.
- Bounded disk: beyond ``max_rows`` or ``max_bytes`` the oldest ``low`` events are dropped first, then the
  oldest ``normal`` ones; alerts are never dropped (the outbox may exceed its bound with alerts alone).
  Every drop is counted by priority in the ``outbox_counters`` table and reported in :meth:`Outbox.stats`
  (and so in the ``metrics`` payload); a warning is logged at each drop.
- After a crash, unsent rows are still there and are published again: delivery is at least once, and the
  ingest stores each ``event_id`` once.
- The chat (:mod:`mqtt_bridge.contract.chat`) is a third stream in the same file: :meth:`Outbox.add_chat`
  commits chat messages (masked by the kiosk before they get here, and checked against the chat's
  allowlist here), published after alerts and before the events' backlog on the ``chat`` topic, in
  :class:`~mqtt_bridge.contract.chat.ChatBatch` envelopes; for the bounds they count as ``normal``.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Literal

from pydantic import JsonValue
from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from cloud_sync.errors import CloudSyncError
from cloud_sync.settings import OutboxSettings
from mqtt_bridge.contract.allowlist import chat_keys_outside_allowlist
from mqtt_bridge.contract.chat import ChatMessageBase
from mqtt_bridge.contract.events import Event, Priority
from mqtt_bridge.contract.payloads import MetricsPayload
from mqtt_bridge.contract.topics import DeviceTopics
from mqtt_bridge.errors import MqttBridgeError
from mqtt_bridge.transport import PublishAck, Publisher, drain_queue

logger = logging.getLogger(__name__)

Kind = Literal["events", "alerts", "chat"]
RANK: Final[dict[Priority, int]] = {"alert": 0, "normal": 1, "low": 2}

migrations = Migrations("cloud_sync.outbox")


@migrations(name="0001_outbox")
def _create_outbox(db: Database) -> None:
    db.execute(
        """CREATE TABLE outbox (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            rank INTEGER NOT NULL,
            payload TEXT NOT NULL,
            size INTEGER NOT NULL,
            created_at TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX outbox_kind_seq ON outbox (kind, seq)")
    db.execute("CREATE INDEX outbox_rank_seq ON outbox (rank, seq)")


@migrations(name="0002_outbox_counters")
def _create_counters(db: Database) -> None:
    db.execute("CREATE TABLE outbox_counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL DEFAULT 0)")


@dataclass(frozen=True)
class OutboxRow:
    """One stored event, anonymised, as JSON text."""

    seq: int
    event_id: str
    kind: Kind
    payload: str


@dataclass(frozen=True)
class OutboxStats:
    """Depth, bytes and what happened since the outbox file was created."""

    depth: int
    bytes: int
    counters: dict[str, int] = field(default_factory=dict)

    @property
    def dropped(self) -> dict[str, int]:
        """Events dropped to keep within the bounds, by priority."""
        return {k.removeprefix("dropped_"): v for k, v in self.counters.items() if k.startswith("dropped_")}


@dataclass(frozen=True)
class OutboxBacklog:
    """What waits in the outbox: events, their bytes, and when the oldest of them was stored (None when
    empty). Read by :meth:`Outbox.backlog`, or from another process by :meth:`Outbox.read_backlog`."""

    depth: int
    bytes: int
    oldest_at: datetime | None

    def oldest_age_s(self, now: datetime) -> float | None:
        """Seconds the oldest waiting event has waited at ``now`` (never negative); None when empty."""
        if self.oldest_at is None:
            return None
        return max(0.0, (now - self.oldest_at).total_seconds())


_BACKLOG_SQL = "SELECT count(*), coalesce(sum(size), 0), min(created_at) FROM outbox"


def _backlog(row: tuple[int, int, str | None]) -> OutboxBacklog:
    depth, size, oldest = row
    return OutboxBacklog(int(depth), int(size), datetime.fromisoformat(oldest) if oldest else None)


Anonymise = Callable[[Event], dict[str, JsonValue]]


class OutboxWriteError(CloudSyncError):
    """The outbox could not commit (a full or read-only disk): nothing of that batch was stored."""


class ChatAllowlistError(CloudSyncError):
    """A chat message with a key outside the chat's allowlist was handed to the outbox: nothing of the batch
    was stored (a bug in the kiosk, never something a shopper did)."""


class Outbox:
    """The SQLite outbox. Open it once per file and process; close it when done."""

    def __init__(self, settings: OutboxSettings, anonymise: Anonymise, path: Path | None = None) -> None:
        self.settings = settings
        self.path = path or settings.path
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._anonymise = anonymise
        self._lock = threading.Lock()
        conn = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30)
        self.db = Database(conn)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={settings.synchronous}")
        migrations.apply(self.db)
        row = self.db.execute("SELECT count(*), coalesce(sum(size), 0) FROM outbox").fetchone()
        self._depth, self._bytes = int(row[0]), int(row[1])

    def close(self) -> None:
        """Close the database (everything added is already committed)."""
        with self._lock:
            self.db.close()

    # -- the producer's side -------------------------------------------------------------------------

    def add(self, events: Iterable[Event]) -> int:
        """Anonymise and commit ``events`` in one transaction; returns how many were new (an event_id
        already in the outbox is ignored). Enforces the bounds afterwards."""
        now = datetime.now(UTC).isoformat()
        rows = []
        for event in events:
            payload = json.dumps(self._anonymise(event), separators=(",", ":"), ensure_ascii=False)
            kind: Kind = "alerts" if event.priority == "alert" else "events"
            rows.append((event.event_id, kind, RANK[event.priority], payload, len(payload.encode()), now))
        return self._insert(rows)

    def add_chat(self, messages: Iterable[ChatMessageBase]) -> int:
        """Commit chat messages (stream ``chat``, ranked ``normal``) in one transaction; returns how many
        were new (a ``message_id`` already in the outbox is ignored). Each must pass the chat's allowlist
        (:class:`ChatAllowlistError` otherwise, nothing stored)."""
        now = datetime.now(UTC).isoformat()
        rows: list[tuple[str, Kind, int, str, int, str]] = []
        for message in messages:
            data = message.model_dump(mode="json")
            outside = chat_keys_outside_allowlist(data)
            if outside:
                raise ChatAllowlistError(
                    f"chat message {message.message_id} has keys outside the chat allowlist: {outside}"
                )
            payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
            rows.append((message.message_id, "chat", RANK["normal"], payload, len(payload.encode()), now))
        return self._insert(rows)

    def _insert(self, rows: Sequence[tuple[str, Kind, int, str, int, str]]) -> int:
        added, added_bytes = 0, 0
        with self._lock:
            try:
                with self.db.atomic():
                    for row in rows:
                        cursor = self.db.conn.execute(
                            "INSERT OR IGNORE INTO outbox (event_id, kind, rank, payload, size, created_at) "
                            "VALUES (?, ?, ?, ?, ?, ?)",
                            row,
                        )
                        if cursor.rowcount == 1:
                            added += 1
                            added_bytes += row[4]
                # The counters follow the file: only what the commit stored counts (a full disk: nothing).
                self._depth += added
                self._bytes += added_bytes
                self._enforce_bounds()
            except sqlite3.OperationalError as exc:
                raise OutboxWriteError(
                    f"cannot write the outbox {self.path}: {exc}. Free disk space there (or move [outbox] "
                    "path to a larger disk); the events are kept in the event store and handed over again"
                ) from exc
        return added

    def _enforce_bounds(self) -> None:
        s = self.settings
        dropped: dict[str, int] = {}
        depth, size_total = self._depth, self._bytes
        with self.db.atomic():
            for rank, name in ((RANK["low"], "low"), (RANK["normal"], "normal")):
                while depth > s.max_rows or size_total > s.max_bytes:
                    need_rows = max(0, depth - s.max_rows)
                    need_bytes = max(0, size_total - s.max_bytes)
                    candidates = self.db.execute(
                        "SELECT seq, size FROM outbox WHERE rank = ? ORDER BY seq LIMIT ?",
                        [rank, max(need_rows, 500 if need_bytes else 1)],
                    ).fetchall()
                    if not candidates:
                        break
                    victims: list[int] = []
                    freed = 0
                    for seq, size in candidates:
                        if len(victims) >= need_rows and freed >= need_bytes:
                            break
                        victims.append(int(seq))
                        freed += int(size)
                    self._delete(victims)
                    depth -= len(victims)
                    size_total -= freed
                    dropped[name] = dropped.get(name, 0) + len(victims)
            for name, n in dropped.items():
                self._count(f"dropped_{name}", n)
        self._depth, self._bytes = depth, size_total
        for name, n in dropped.items():
            logger.warning(
                "outbox full (bounds %d rows, %d bytes): dropped the %d oldest %s-priority events",
                s.max_rows,
                s.max_bytes,
                n,
                name,
            )

    # -- the publisher's side ------------------------------------------------------------------------

    def pending(self, kind: Kind, after_seq: int, limit: int) -> list[OutboxRow]:
        """Up to ``limit`` rows of ``kind`` with ``seq > after_seq``, oldest first."""
        with self._lock:
            rows = self.db.execute(
                "SELECT seq, event_id, payload FROM outbox WHERE kind = ? AND seq > ? ORDER BY seq LIMIT ?",
                [kind, after_seq, limit],
            ).fetchall()
        return [OutboxRow(int(r[0]), str(r[1]), kind, str(r[2])) for r in rows]

    def mark_sent(self, seqs: Sequence[int]) -> int:
        """Remove rows whose PUBACK arrived; returns how many were still there."""
        if not seqs:
            return 0
        with self._lock, self.db.atomic():
            marks = ",".join("?" * len(seqs))
            size = self.db.execute(
                f"SELECT count(*), coalesce(sum(size), 0) FROM outbox WHERE seq IN ({marks})",  # noqa: S608
                list(seqs),
            ).fetchone()
            self._delete(seqs)
            self._depth -= int(size[0])
            self._bytes -= int(size[1])
            self._count("sent", int(size[0]))
            return int(size[0])

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to a counter (e.g. ``rejected``), durably."""
        with self._lock, self.db.atomic():
            self._count(name, n)

    def backlog(self) -> OutboxBacklog:
        """Depth, bytes and the oldest waiting event's time, read now (one query under the lock)."""
        with self._lock:
            return _backlog(self.db.execute(_BACKLOG_SQL).fetchone())

    @classmethod
    def read_backlog(cls, path: Path, timeout_s: float = 5.0) -> OutboxBacklog:
        """The backlog of the outbox file at ``path``, read from outside the process that writes it (the
        self-test beside a running kiosk): a read-only connection of its own (no migration, no write, no
        lock held after it returns); in WAL mode it reads the last committed state while the writer goes
        on. Raises :class:`sqlite3.Error` when the file is not a readable outbox."""
        conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=timeout_s)
        try:
            return _backlog(conn.execute(_BACKLOG_SQL).fetchone())
        finally:
            conn.close()

    def stats(self) -> OutboxStats:
        """Depth, bytes and counters (sent, dropped_low, dropped_normal, rejected, resent)."""
        with self._lock:
            counters = {str(n): int(v) for n, v in self.db.execute("SELECT name, value FROM outbox_counters")}
            return OutboxStats(self._depth, self._bytes, counters)

    def _delete(self, seqs: Sequence[int]) -> None:
        for start in range(0, len(seqs), 500):
            part = list(seqs[start : start + 500])
            self.db.execute(f"DELETE FROM outbox WHERE seq IN ({','.join('?' * len(part))})", part)  # noqa: S608

    def _count(self, name: str, n: int) -> None:
        if n:
            self.db.execute(
                "INSERT INTO outbox_counters (name, value) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                [name, n],
            )


@dataclass
class _Inflight:
    kind: Kind
    seqs: list[int]
    sent_at: float


class OutboxPublisher:
    """Publishes the outbox through a transport: call :meth:`step` in a loop (``DeviceSync`` runs it).

    ``clock`` is monotonic seconds (for resend timeouts); ``new_batch_id`` names each batch.
    """

    def __init__(
        self,
        outbox: Outbox,
        transport: Publisher,
        topics: DeviceTopics,
        *,
        clock: Callable[[], float] = time.monotonic,
        new_batch_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self.outbox = outbox
        self.transport = transport
        self.topics = topics
        self.settings = outbox.settings
        self._clock = clock
        self._new_batch_id = new_batch_id
        self._inflight: dict[int, _Inflight] = {}
        self._inflight_seqs: set[int] = set()
        self._cursor: dict[Kind, int] = {"alerts": 0, "chat": 0, "events": 0}

    @property
    def inflight(self) -> int:
        """Batches published and not yet acknowledged."""
        return len(self._inflight)

    def inflight_seqs(self) -> frozenset[int]:
        """Outbox rows in a batch published and not yet acknowledged."""
        return frozenset(self._inflight_seqs)

    def step(self, wait_s: float = 0.0) -> int:
        """Take in PUBACKs (waiting up to ``wait_s`` for one), resend timed-out batches, publish what the
        window allows. Returns how many batches it moved on (0: nothing to publish, or no room)."""
        self._take_acks(drain_queue(self.transport.acks, wait_s if self._inflight else 0.0))
        self._expire()
        published = 0
        while self.transport.connected and len(self._inflight) < self.settings.max_inflight_batches:
            if not any(self._publish_next(kind) for kind in ("alerts", "chat", "events")):
                break
            published += 1
        return published

    def _take_acks(self, acks: Iterable[PublishAck]) -> None:
        done: list[int] = []
        for ack in acks:
            batch = self._inflight.pop(ack.mid, None)
            if batch is None:
                continue  # the status, birth or metrics, or a batch already given up on
            self._inflight_seqs.difference_update(batch.seqs)
            if ack.ok:
                done.extend(batch.seqs)
            else:
                logger.warning("the broker refused a batch (%s); it will be sent again", ack.reason)
                self.outbox.count("rejected")
                self._rewind(batch)
        self.outbox.mark_sent(done)

    def _expire(self) -> None:
        now = self._clock()
        for mid, batch in list(self._inflight.items()):
            if now - batch.sent_at > self.settings.resend_after_s:
                del self._inflight[mid]
                self._inflight_seqs.difference_update(batch.seqs)
                self.outbox.count("resent")
                self._rewind(batch)

    def _rewind(self, batch: _Inflight) -> None:
        self._cursor[batch.kind] = min(self._cursor[batch.kind], min(batch.seqs) - 1)

    def _publish_next(self, kind: Kind) -> bool:
        """Publish the next batch of ``kind``; False when there is nothing left to publish."""
        s = self.settings
        rows = self.outbox.pending(kind, self._cursor[kind], s.batch_size)
        if not rows:
            return False
        self._cursor[kind] = rows[-1].seq
        chosen: list[OutboxRow] = []
        size = 0
        for row in rows:
            if row.seq in self._inflight_seqs:
                continue  # rewound past a batch that is still in flight
            if chosen and size + len(row.payload) > s.batch_max_bytes:
                self._cursor[kind] = chosen[-1].seq
                break
            chosen.append(row)
            size += len(row.payload) + 1
        if not chosen:
            return True
        items = "messages" if kind == "chat" else "events"
        payload = (
            f'{{"schema_version":1,"batch_id":"{self._new_batch_id()}",'
            f'"store_id":"{self.topics.store_id}","device_id":"{self.topics.device_id}",'
            f'"{items}":[{",".join(r.payload for r in chosen)}]}}'
        )
        topic = {"alerts": self.topics.alerts, "chat": self.topics.chat, "events": self.topics.events}[kind]
        try:
            handle = self.transport.publish(topic, payload.encode(), qos=1)
        except MqttBridgeError:
            logger.warning("could not hand a batch to the transport; will retry", exc_info=True)
            self._cursor[kind] = chosen[0].seq - 1
            return False
        seqs = [r.seq for r in chosen]
        self._inflight[handle.mid] = _Inflight(kind, seqs, self._clock())
        self._inflight_seqs.update(seqs)
        return True

    def metrics(self, started_at: float, values: dict[str, float] | None = None) -> MetricsPayload:
        """The periodic ``metrics`` payload: outbox depth and bytes, every drop counter, gauges."""
        stats = self.outbox.stats()
        dropped = {f"outbox_{k}": v for k, v in stats.dropped.items()}
        dropped.update({k: v for k, v in self.transport.counters.items() if k.startswith("dropped_")})
        return MetricsPayload(
            ts=datetime.now(UTC),
            uptime_s=max(0.0, self._clock() - started_at),
            outbox_depth=stats.depth,
            outbox_bytes=stats.bytes,
            dropped=dropped,
            values={"inflight_batches": float(len(self._inflight)), **(values or {})},
        )
