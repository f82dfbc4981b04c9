"""Store and forward between the event store and the outbox: the ``synced`` column and its replay.

Real SQLite files. A "crash between the store's commit and the sink" is made two ways: a sink that raises
(the events stay unsynced; the next start hands them over), and a writer process killed (``os._exit``) from
inside the sink, after the store committed and before the sink returned.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from kiosk.clock import ManualClock
from kiosk.config import StorageConfig
from kiosk.link.store import DB_NAME, EventWriter, count_unsynced, open_db, purge, read_events
from mqtt_bridge.contract.events import Event, OfferShown, StaffCall


def _shown(i: int, **kw: object) -> OfferShown:
    return OfferShown(store_id="s", device_id="d", offer_id=f"o{i}", reason="rules", language="ru", **kw)  # type: ignore[arg-type]


class Sink:
    """Records what it is handed; raises while ``failing``."""

    def __init__(self, failing: bool = False) -> None:
        self.failing = failing
        self.received: list[str] = []
        self.calls = 0

    def __call__(self, events: Sequence[Event]) -> None:
        self.calls += 1
        if self.failing:
            raise OSError("disk full (simulated)")
        self.received.extend(e.event_id for e in events)


def _run(writer: EventWriter, events: Sequence[Event]) -> None:
    stop = threading.Event()
    thread = threading.Thread(target=writer.run, args=(stop,))
    thread.start()
    for event in events:
        assert writer.submit(event)
    stop.set()
    thread.join(10)
    assert not thread.is_alive()


def test_without_a_sink_events_are_stored_as_synced(tmp_path: Path) -> None:
    writer = EventWriter(StorageConfig(data_dir=tmp_path), ManualClock())
    _run(writer, [_shown(i) for i in range(5)])
    db = open_db(tmp_path / DB_NAME)
    assert count_unsynced(db) == 0 and len(read_events(db)) == 5
    # Turning the sink on later does not upload the history.
    sink = Sink()
    _run(EventWriter(StorageConfig(data_dir=tmp_path), ManualClock(), on_commit=sink), [])
    assert sink.received == []


def test_every_committed_event_reaches_the_sink_once_and_is_marked(tmp_path: Path) -> None:
    sink = Sink()
    writer = EventWriter(StorageConfig(data_dir=tmp_path), ManualClock(), on_commit=sink)
    events = [_shown(i) for i in range(300)] + [
        StaffCall(store_id="s", device_id="d", reason="shopper_request", zone="z")
    ]
    _run(writer, events + events[:10])  # a second copy of an event is neither stored nor handed over again
    assert sorted(sink.received) == sorted(e.event_id for e in events)
    assert writer.synced == len(events) == writer.written
    assert count_unsynced(open_db(tmp_path / DB_NAME)) == 0
    again = Sink()
    _run(EventWriter(StorageConfig(data_dir=tmp_path), ManualClock(), on_commit=again), [])
    assert again.received == [], "nothing is replayed once synced"


def test_a_failing_sink_leaves_events_unsynced_and_the_next_start_hands_them_over(tmp_path: Path) -> None:
    failing = Sink(failing=True)
    writer = EventWriter(StorageConfig(data_dir=tmp_path), ManualClock(), on_commit=failing)
    events = [_shown(i) for i in range(20)]
    _run(writer, events)
    assert failing.calls >= 1 and writer.sink_failures >= 1 and writer.synced == 0
    db = open_db(tmp_path / DB_NAME)
    assert count_unsynced(db) == 20 and len(read_events(db)) == 20, "stored even though the sink failed"
    db.close()
    sink = Sink()
    _run(EventWriter(StorageConfig(data_dir=tmp_path), ManualClock(), on_commit=sink), [])
    assert sink.received == [e.event_id for e in events], "handed over on the next start, oldest first, once"
    assert count_unsynced(open_db(tmp_path / DB_NAME)) == 0


def test_the_writer_retries_a_sink_that_recovers_while_it_runs(tmp_path: Path) -> None:
    clock = ManualClock()
    sink = Sink(failing=True)
    writer = EventWriter(StorageConfig(data_dir=tmp_path), clock, on_commit=sink)
    stop = threading.Event()
    thread = threading.Thread(target=writer.run, args=(stop,))
    thread.start()
    try:
        first = [_shown(i) for i in range(3)]
        for event in first:
            writer.submit(event)
        _wait(lambda: writer.sink_failures >= 1)
        sink.failing = False
        later = _shown(99)
        writer.submit(later)
        clock.advance(10.0)  # past SINK_RETRY_S
        _wait(lambda: len(sink.received) == 4)
        assert sink.received == [e.event_id for e in [*first, later]], "in commit order"
    finally:
        stop.set()
        thread.join(10)


def test_purge_still_works_with_the_synced_column(tmp_path: Path) -> None:
    clock = ManualClock()
    sink = Sink()
    writer = EventWriter(StorageConfig(data_dir=tmp_path), clock, on_commit=sink)
    old, new = _shown(1, ts=clock.now() - timedelta(days=40)), _shown(2, ts=clock.now())
    _run(writer, [old, new])
    db = open_db(tmp_path / DB_NAME)
    assert purge(db, clock.now() - timedelta(days=30)) == 1
    assert [r["event_id"] for _, r in read_events(db)] == [new.event_id]


CRASHING_WRITER = """
import os, sys, threading
from pathlib import Path
from kiosk.clock import SystemClock
from kiosk.config import StorageConfig
from mqtt_bridge.contract.events import OfferShown
from kiosk.link.store import EventWriter

def sink(events):
    os._exit(9)  # killed after the store's commit, before the sink took anything

writer = EventWriter(StorageConfig(data_dir=Path(sys.argv[1])), SystemClock(), on_commit=sink)
for i in range(int(sys.argv[2])):
    writer.submit(OfferShown(store_id="s", device_id="d", offer_id=f"o{i}", reason="rules", language="ru"))
writer.run(threading.Event())
"""


def test_a_process_killed_between_the_store_commit_and_the_sink_loses_nothing(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CRASHING_WRITER, str(tmp_path), "40"], timeout=60, check=False
    )
    assert done.returncode == 9
    db = open_db(tmp_path / DB_NAME)
    stored = [r["event_id"] for _, r in read_events(db, limit=1000)]
    assert stored and count_unsynced(db) == len(stored), "committed, never handed over"
    db.close()
    sink = Sink()
    _run(EventWriter(StorageConfig(data_dir=tmp_path), ManualClock(), on_commit=sink), [])
    assert sink.received == stored, "every committed event reaches the sink on the next start, once"
    again = Sink()
    _run(EventWriter(StorageConfig(data_dir=tmp_path), ManualClock(), on_commit=again), [])
    assert again.received == []


def _wait(condition: object, timeout_s: float = 10.0) -> None:
    import time

    assert callable(condition)
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)
