"""The local event store: SQLite (WAL) through sqlite-utils, written by ONE thread fed by a bounded queue.

* Every table is made by :data:`MIGRATIONS` (``sqlite_utils.Migrations``), each step in a transaction.
* Events are stored by ``event_id``, idempotently (a second copy is ignored), as their JSON with ``type``,
  ``ts`` and ``priority`` beside it for queries.
* Drop policy of :class:`EventWriter`'s queue: when it is full, a ``normal`` or ``low`` event that arrives
  is dropped (newest dropped: what is queued is older and already promised) and counted per priority.
  An ``alert`` is never dropped: it waits up to ``storage.alert_wait_s`` for room, then is appended to a
  spill file (JSON lines) that the writer takes in before its next batch.
* Events older than ``storage.retention_days`` are purged by the writer every ``purge_interval_s``.
* On stop the writer drains its queue and the spill file before it returns: nothing accepted is lost.
* Store and forward: given a sink (``on_commit``, the outbox of :mod:`cloud_sync` when ``[mqtt] enabled``),
  the writer stores each new event with ``synced = 0``, hands the batch to the sink after the commit, and
  marks it ``synced = 1`` only once the sink returned. On start, and after a sink failure, it hands the
  sink every event still unsynced first: a crash between the store's commit and the outbox's loses
  nothing (the outbox ignores an event_id it already holds, and the ingest stores each event_id once).
  Without a sink, events are stored as synced: turning MQTT on later does not upload the history. The
  retention purge deletes old events whether synced or not (an event unsynced for ``retention_days`` is
  given up, like the rest of the local history).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlite_utils import Database, Migrations

from kiosk.clock import Clock
from kiosk.config import StorageConfig
from kiosk.errors import KioskError
from mqtt_bridge.contract.events import Event, parse_event

log = logging.getLogger(__name__)

DB_NAME = "events.sqlite"
SPILL_NAME = "alerts-spill.jsonl"
BATCH = 256
#: After the sink failed, unsynced events are handed to it again this often (seconds).
SINK_RETRY_S = 5.0

#: Called in the writer thread with events just committed to the store; raising leaves them unsynced.
CommitSink = Callable[[Sequence[Event]], object]

MIGRATIONS = Migrations("kiosk.link.store")


@MIGRATIONS()
def m001_events(db: Database) -> None:
    """The events table: one row per event_id."""
    table = db.table("events")
    table.create(
        {"event_id": str, "type": str, "ts": str, "priority": str, "json": str},
        pk="event_id",
        not_null={"type", "ts", "priority", "json"},
    )
    table.create_index(["ts"])
    table.create_index(["type", "ts"])


@MIGRATIONS()
def m002_synced(db: Database) -> None:
    """``synced``: 1 once the event was handed to the sink (the outbox); rows before this migration are 1."""
    db.execute("alter table events add column synced integer not null default 1")
    db.execute("create index events_unsynced on events (synced) where synced = 0")


class StoreError(KioskError):
    """The event store cannot be opened or written."""


def _ts(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def open_db(path: Path) -> Database:
    """Open (creating when needed) the store at ``path``: WAL on, migrations applied."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = Database(path)
        db.enable_wal()
        MIGRATIONS.apply(db)
    except Exception as exc:
        raise StoreError(f"cannot open the event store {path}: {exc}; check the folder and disk") from exc
    return db


def write_events(db: Database, events: Sequence[Event], *, synced: bool = True) -> int:
    """Insert ``events`` in one transaction, ignoring ids already stored. Returns rows new to the store."""
    return len(insert_new(db, events, synced=synced))


def insert_new(db: Database, events: Sequence[Event], *, synced: bool) -> list[Event]:
    """Insert ``events`` in one transaction, ignoring ids already stored; returns the ones that were new."""
    if not events:
        return []
    new: list[Event] = []
    with db.atomic():
        for e in events:
            cursor = db.conn.execute(
                "insert or ignore into events (event_id, type, ts, priority, json, synced) "
                "values (?, ?, ?, ?, ?, ?)",
                [e.event_id, e.type, _ts(e.ts), e.priority, e.model_dump_json(), int(synced)],
            )
            if cursor.rowcount == 1:
                new.append(e)
    return new


def unsynced_events(db: Database, limit: int = BATCH) -> list[Event]:
    """Up to ``limit`` events not yet handed to the sink, oldest first."""
    rows = db.execute("select json from events where synced = 0 order by rowid limit ?", [limit]).fetchall()
    return [parse_event(r[0]) for r in rows]


def mark_synced(db: Database, event_ids: Sequence[str]) -> None:
    """Record that these events reached the sink."""
    with db.atomic():
        for start in range(0, len(event_ids), 500):
            part = list(event_ids[start : start + 500])
            db.execute(
                f"update events set synced = 1 where event_id in ({','.join('?' * len(part))})",  # noqa: S608
                part,
            )


def count_unsynced(db: Database) -> int:
    """Events stored and not yet handed to the sink."""
    return int(db.execute("select count(*) from events where synced = 0").fetchone()[0])


def purge(db: Database, older_than: datetime) -> int:
    """Delete events older than ``older_than``; returns how many."""
    with db.atomic():
        cursor = db.execute("delete from events where ts < ?", [_ts(older_than)])
    return int(cursor.rowcount)


def read_events(db: Database, after_rowid: int = 0, limit: int = 100) -> list[tuple[int, dict[str, Any]]]:
    """Events stored after ``after_rowid``, oldest first, as ``(rowid, row)``."""
    rows = db.execute(
        "select rowid, event_id, type, ts, priority, json from events where rowid > ? order by rowid limit ?",
        [after_rowid, limit],
    ).fetchall()
    keys = ("event_id", "type", "ts", "priority", "json")
    return [(int(r[0]), dict(zip(keys, r[1:], strict=True))) for r in rows]


def rowid_before_last(db: Database, count: int) -> int:
    """The rowid just before the last ``count`` events (to start a tail)."""
    row = db.execute(
        "select coalesce(min(rowid), 0) - 1 from (select rowid from events order by rowid desc limit ?)",
        [count],
    ).fetchone()
    return max(0, int(row[0]))


class EventWriter:
    """The one writer of the store: :meth:`submit` from any thread; :meth:`run` in the writer thread."""

    name = "event-writer"

    def __init__(self, config: StorageConfig, clock: Clock, on_commit: CommitSink | None = None) -> None:
        self.config = config
        self.on_commit = on_commit
        self.clock = clock
        self.path = config.data_dir / DB_NAME
        self.spill_path = config.data_dir / SPILL_NAME
        self._queue: queue.Queue[Event] = queue.Queue(maxsize=config.queue_size)
        self._lock = threading.Lock()
        self._closed = False
        self.dropped: Counter[str] = Counter()
        self.spilled = 0
        self.written = 0
        #: Events handed to ``on_commit`` (replays after a restart included), and failed hand-overs.
        self.synced = 0
        self.sink_failures = 0
        self._sink_ok = True
        self._retry_at = 0.0

    @property
    def depth(self) -> int:
        """Events waiting in the queue."""
        return self._queue.qsize()

    def submit(self, event: Event) -> bool:
        """Hand an event to the writer from any thread. False when it was dropped (full, not an alert)."""
        with self._lock:
            if event.priority == "alert":
                if not self._closed:
                    try:
                        self._queue.put(event, timeout=self.config.alert_wait_s)
                        return True
                    except queue.Full:
                        pass
                self._spill(event)
                return True
            if not self._closed:
                try:
                    self._queue.put_nowait(event)
                    return True
                except queue.Full:
                    pass
            self.dropped[event.priority] += 1
            return False

    def _spill(self, event: Event) -> None:
        self.spill_path.parent.mkdir(parents=True, exist_ok=True)
        with self.spill_path.open("a", encoding="utf-8") as spill:
            spill.write(event.model_dump_json() + "\n")
        self.spilled += 1
        log.warning("event queue full or closed: alert %s spilled to %s", event.type, self.spill_path)

    def run(self, stop: threading.Event) -> None:
        """The writer loop. Returns after ``stop`` is set and everything queued or spilled is written."""
        db = open_db(self.path)
        try:
            with self._lock:
                self._closed = False
            self._replay(db)
            last_purge = -float("inf")
            while not stop.is_set():
                self._write(db, self._next_batch(timeout=0.2))
                now = self.clock.monotonic()
                if not self._sink_ok and now >= self._retry_at:
                    self._replay(db)
                if now - last_purge >= self.config.purge_interval_s:
                    last_purge = now
                    purge(db, self.clock.now() - timedelta(days=self.config.retention_days))
            with self._lock:
                self._closed = True
            while self._queue.qsize():
                self._write(db, self._next_batch(timeout=0))
            self._write(db, [])
            if not self._sink_ok:
                self._replay(db)
        finally:
            db.close()

    def _next_batch(self, timeout: float) -> list[Event]:
        batch: list[Event] = []
        try:
            batch.append(self._queue.get(timeout=timeout) if timeout else self._queue.get_nowait())
        except queue.Empty:
            return batch
        while len(batch) < BATCH:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _write(self, db: Database, events: list[Event]) -> None:
        """Write a batch, then whatever was spilled; the spill file is removed only once written."""
        if events:
            self._commit(db, events)
        taking = self.spill_path.with_suffix(".taking")  # left over by a crash: taken first
        with self._lock:
            if self.spill_path.exists() and not taking.exists():
                self.spill_path.replace(taking)
        if not taking.exists():
            return
        spilled = [parse_event(line) for line in taking.read_text(encoding="utf-8").splitlines() if line]
        self._commit(db, spilled)
        taking.unlink()

    def _commit(self, db: Database, events: Sequence[Event]) -> None:
        """Store, then hand what was new to the sink (after the store's commit), then mark it synced."""
        if self.on_commit is None:
            self.written += write_events(db, events)
            return
        new = insert_new(db, events, synced=False)
        self.written += len(new)
        if new and self._sink_ok:
            self._hand_over(db, new)

    def _hand_over(self, db: Database, events: Sequence[Event]) -> bool:
        assert self.on_commit is not None
        try:
            self.on_commit(events)
        except Exception:
            self.sink_failures += 1
            self._sink_ok = False
            self._retry_at = self.clock.monotonic() + SINK_RETRY_S
            log.exception("could not hand %d events to the outbox; kept in the store, retried", len(events))
            return False
        mark_synced(db, [e.event_id for e in events])
        self.synced += len(events)
        self._sink_ok = True
        return True

    def _replay(self, db: Database) -> None:
        """Hand the sink every stored event it has not taken yet (a crash, or a failed hand-over)."""
        if self.on_commit is None:
            return
        replayed = 0
        while events := unsynced_events(db):
            if not self._hand_over(db, events):
                return
            replayed += len(events)
        self._sink_ok = True
        if replayed:
            log.info("handed %d stored events to the outbox that it had not taken before", replayed)


def open_existing(path: Path) -> Database:
    """Open a store for reading; :class:`StoreError` when there is none at ``path``."""
    if not path.is_file():
        raise StoreError(f"no event store at {path}: start the kiosk first, or pass --db PATH")
    return Database(path)


def tail(
    db: Database,
    count: int,
    *,
    follow: bool = False,
    poll_s: float = 0.5,
    should_stop: Callable[[], bool] = lambda: False,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[dict[str, Any]]:
    """The last ``count`` events, oldest first; with ``follow``, then every new one as it is stored."""
    after = rowid_before_last(db, count)
    while True:
        rows = read_events(db, after, limit=count if not follow else 1000)
        for rowid, row in rows:
            after = rowid
            yield row
        if not follow or should_stop():
            return
        if not rows:
            sleep(poll_s)
