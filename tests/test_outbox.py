"""The durable outbox: commit before publish, removal only on PUBACK, alerts first, bounded disk."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest
from outbox_doubles import FakeTransport, make_event

from cloud_sync.anonymise import Anonymiser
from cloud_sync.outbox import Outbox, OutboxPublisher, migrations
from cloud_sync.settings import AnonymisationSettings, OutboxSettings
from mqtt_bridge.contract.events import parse_event
from mqtt_bridge.contract.payloads import EventBatch
from mqtt_bridge.contract.topics import DeviceTopics

TOPICS = DeviceTopics("vitrina/v1", "s1", "d1")


def _outbox(tmp_path: Path, **kwargs: object) -> Outbox:
    settings = OutboxSettings.model_validate({"path": tmp_path / "outbox.sqlite", **kwargs})
    anonymiser = Anonymiser(
        AnonymisationSettings(), lambda: datetime(2026, 1, 1, tzinfo=UTC), random.Random(0)
    )
    return Outbox(settings, anonymiser)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _batches(transport: FakeTransport) -> list[tuple[int, str, EventBatch]]:
    return [(mid, topic, EventBatch.model_validate_json(p)) for mid, topic, p in transport.published]


def test_events_are_committed_and_survive_reopening(tmp_path: Path) -> None:
    outbox = _outbox(tmp_path)
    assert outbox.add(make_event(i) for i in range(10)) == 10
    assert outbox.add([make_event(3)]) == 0, "an event_id already there is ignored"
    outbox.close()
    reopened = _outbox(tmp_path)
    assert reopened.stats().depth == 10
    assert [r.event_id for r in reopened.pending("events", 0, 100)] == [f"e{i:06d}" for i in range(10)]
    mode = reopened.db.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    assert {m.name for m in migrations.applied(reopened.db)} == {
        "0001_outbox",
        "0002_outbox_counters",
    }


def test_rows_leave_only_when_their_puback_arrives(tmp_path: Path) -> None:
    outbox = _outbox(tmp_path, batch_size=4)
    outbox.add(make_event(i) for i in range(10))
    transport = FakeTransport()
    publisher = OutboxPublisher(outbox, transport, TOPICS)
    publisher.step()
    batches = _batches(transport)
    assert [len(b.events) for _m, _t, b in batches] == [4, 4, 2]
    assert all(t == TOPICS.events for _m, t, _b in batches)
    assert outbox.stats().depth == 10, "nothing is removed before its PUBACK"
    transport.ack(batches[1][0])
    publisher.step()
    assert outbox.stats().depth == 6
    assert [r.event_id for r in outbox.pending("events", 0, 100)][:4] == [f"e{i:06d}" for i in range(4)]
    transport.ack(batches[0][0])
    transport.ack(batches[2][0])
    publisher.step()
    assert outbox.stats().depth == 0
    assert outbox.stats().counters["sent"] == 10
    # Every published event is the anonymised, schema-valid event.
    for _m, _t, batch in batches:
        for event in batch.events:
            parse_event(json.dumps(event))


def test_alerts_jump_the_backlog(tmp_path: Path) -> None:
    outbox = _outbox(tmp_path, batch_size=10, max_inflight_batches=2)
    outbox.add(make_event(i) for i in range(100))
    transport = FakeTransport()
    publisher = OutboxPublisher(outbox, transport, TOPICS)
    publisher.step()
    assert len(transport.published) == 2
    outbox.add([make_event(1000, "alert")])
    transport.ack_all()
    publisher.step()
    third = _batches(transport)[2]
    assert third[1] == TOPICS.alerts and third[2].events[0]["type"] == "staff_call"
    assert _batches(transport)[3][2].events[0]["event_id"] == "e000020", "then the backlog, oldest first"


def test_nothing_is_published_while_disconnected(tmp_path: Path) -> None:
    outbox = _outbox(tmp_path)
    outbox.add(make_event(i) for i in range(3))
    transport = FakeTransport(connected=False)
    publisher = OutboxPublisher(outbox, transport, TOPICS)
    assert publisher.step() == 0 and transport.published == []
    transport.connected = True
    assert publisher.step() == 1


def test_a_batch_without_puback_is_sent_again(tmp_path: Path) -> None:
    clock = Clock()
    outbox = _outbox(tmp_path, batch_size=5, resend_after_s=10)
    outbox.add(make_event(i) for i in range(5))
    transport = FakeTransport()
    publisher = OutboxPublisher(outbox, transport, TOPICS, clock=clock)
    publisher.step()
    clock.now = 5
    publisher.step()
    assert len(transport.published) == 1
    clock.now = 11
    publisher.step()
    assert len(transport.published) == 2
    assert _batches(transport)[1][2].events == _batches(transport)[0][2].events
    assert outbox.stats().counters["resent"] == 1


def test_a_refused_puback_keeps_the_rows(tmp_path: Path) -> None:
    outbox = _outbox(tmp_path)
    outbox.add(make_event(i) for i in range(3))
    transport = FakeTransport()
    publisher = OutboxPublisher(outbox, transport, TOPICS)
    publisher.step()
    transport.ack(1, reason_code=0x87)
    publisher.step()
    assert outbox.stats().depth == 3
    assert outbox.stats().counters["rejected"] == 1
    assert len(transport.published) == 2, "published again"


def test_bounds_drop_oldest_low_then_normal_never_alerts(tmp_path: Path) -> None:
    outbox = _outbox(tmp_path, max_rows=100)
    outbox.add([make_event(i, "alert") for i in range(20)])
    outbox.add([make_event(100 + i, "low") for i in range(30)])
    outbox.add([make_event(200 + i) for i in range(50)])
    assert outbox.stats().depth == 100
    outbox.add([make_event(300 + i) for i in range(10)])
    stats = outbox.stats()
    assert stats.depth == 100 and stats.dropped == {"low": 10}
    remaining_low = [r.event_id for r in outbox.pending("events", 0, 1000) if r.event_id.startswith("e0001")]
    assert remaining_low[0] == "e000110", "the oldest low-priority events went first"
    outbox.add([make_event(400 + i) for i in range(40)])
    stats = outbox.stats()
    assert stats.dropped == {"low": 30, "normal": 20}
    assert len(outbox.pending("alerts", 0, 1000)) == 20, "alerts are never dropped"
    outbox.add([make_event(500 + i, "alert") for i in range(200)])
    assert len(outbox.pending("alerts", 0, 1000)) == 220
    assert outbox.stats().depth > 100, "alerts alone may exceed the bound"


def test_byte_bound(tmp_path: Path) -> None:
    outbox = _outbox(tmp_path, max_bytes=64 * 1024)
    outbox.add(make_event(i) for i in range(2000))
    stats = outbox.stats()
    assert stats.bytes <= 64 * 1024
    assert stats.dropped["normal"] == 2000 - stats.depth
    real = outbox.db.execute("SELECT count(*), sum(size) FROM outbox").fetchone()
    assert (real[0], real[1]) == (stats.depth, stats.bytes)


def test_metrics_report_depth_and_drops(tmp_path: Path) -> None:
    outbox = _outbox(tmp_path, max_rows=100)
    outbox.add([make_event(i, "low") for i in range(150)])
    metrics = OutboxPublisher(outbox, FakeTransport(), TOPICS, clock=Clock()).metrics(started_at=0)
    assert metrics.outbox_depth == 100 and metrics.dropped["outbox_low"] == 50


@pytest.mark.parametrize("n", [1, 7])
def test_batch_byte_limit(tmp_path: Path, n: int) -> None:
    outbox = _outbox(tmp_path, batch_size=1000, batch_max_bytes=4096)
    outbox.add(make_event(i) for i in range(100 * n))
    transport = FakeTransport()
    OutboxPublisher(outbox, transport, TOPICS).step()
    assert all(len(p) < 4096 + 200 for _m, _t, p in transport.published)
    assert sum(len(b.events) for _m, _t, b in _batches(transport)) == 100 * n


def test_a_full_disk_refuses_the_batch_with_the_fix_and_the_counts_follow_the_file(tmp_path: Path) -> None:
    # SQLite's page limit gives the real "database or disk is full" error without a small disk.
    from cloud_sync.outbox import OutboxWriteError

    outbox = _outbox(tmp_path)
    assert outbox.add(make_event(i) for i in range(10)) == 10
    pages = outbox.db.execute("PRAGMA page_count").fetchone()[0]
    outbox.db.execute(f"PRAGMA max_page_count = {pages + 2}")
    with pytest.raises(OutboxWriteError, match=r"outbox\.sqlite.*full.*Free disk space"):
        outbox.add(make_event(i) for i in range(100, 2100))
    in_file = outbox.db.execute("SELECT count(*), coalesce(sum(size), 0) FROM outbox").fetchone()
    assert (outbox.stats().depth, outbox.stats().bytes) == (in_file[0], in_file[1]) == (10, in_file[1])
    outbox.db.execute("PRAGMA max_page_count = 1073741823")  # space is back
    assert outbox.add(make_event(i) for i in range(100, 2100)) == 2000
    assert outbox.stats().depth == 2010


def test_the_backlog_is_read_beside_the_running_writer_without_writing(tmp_path: Path) -> None:
    """`Outbox.read_backlog` (the self-test's reader) sees depth, bytes and the oldest event's time from a
    read-only connection of its own while the writer keeps adding and sending, never blocks it, and
    changes nothing in the file."""
    import sqlite3
    import threading

    path = tmp_path / "outbox.sqlite"
    outbox = _outbox(tmp_path)
    empty = Outbox.read_backlog(path)
    assert (empty.depth, empty.bytes, empty.oldest_at) == (0, 0, None)
    assert empty.oldest_age_s(datetime.now(UTC)) is None
    before = datetime.now(UTC)
    outbox.add(make_event(i) for i in range(5))
    errors: list[BaseException] = []
    readings: list[int] = []
    done = threading.Event()

    def write() -> None:
        try:
            for i in range(5, 400):
                outbox.add([make_event(i)])
                if i % 50 == 0:
                    rows = outbox.pending("events", 0, 10)
                    outbox.mark_sent([r.seq for r in rows])
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    writer = threading.Thread(target=write)
    writer.start()
    while not done.is_set():
        readings.append(Outbox.read_backlog(path).depth)
    writer.join()
    assert errors == []
    assert len(readings) > 5 and all(0 < n <= 400 for n in readings)
    mine = outbox.backlog()
    theirs = Outbox.read_backlog(path)
    assert mine == theirs
    assert mine.depth == outbox.stats().depth == 400 - 7 * 10  # seven sends of ten
    assert theirs.bytes == outbox.stats().bytes
    assert theirs.oldest_at is not None and before <= theirs.oldest_at <= datetime.now(UTC)
    outbox.close()  # the writer gone: its WAL checkpointed and removed
    snapshot = path.read_bytes()
    assert Outbox.read_backlog(path) == theirs
    assert path.read_bytes() == snapshot
    age = theirs.oldest_age_s(theirs.oldest_at.replace(year=theirs.oldest_at.year + 1))
    assert age is not None and age > 364 * 86400
    (tmp_path / "other.sqlite").write_bytes(b"not a database at all" * 100)
    with pytest.raises(sqlite3.Error):
        Outbox.read_backlog(tmp_path / "other.sqlite")
