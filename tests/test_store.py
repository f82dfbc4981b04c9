"""The local event store: migrations, WAL, idempotent writes, one writer thread, drops, spill, purge, tail."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner

from kiosk.cli import main
from kiosk.clock import ManualClock
from kiosk.config import StorageConfig
from kiosk.link.store import DB_NAME, EventWriter, open_db, purge, read_events, tail, write_events
from mqtt_bridge.contract.events import Health, OfferShown, StaffCall, parse_event


def _shown(i: int = 0, **kw: object) -> OfferShown:
    return OfferShown(store_id="s", device_id="d", offer_id=f"o{i}", reason="rules", language="ru", **kw)  # type: ignore[arg-type]


def _alert() -> StaffCall:
    return StaffCall(store_id="s", device_id="d", reason="shopper_request", zone="z")


def test_migrations_wal_and_idempotent_writes(tmp_path: Path) -> None:
    db = open_db(tmp_path / "e.sqlite")
    assert db.journal_mode == "wal"
    assert [m["name"] for m in db["_sqlite_migrations"].rows] == ["m001_events", "m002_synced"]
    event = _shown()
    assert write_events(db, [event, event]) == 1
    assert write_events(db, [event]) == 0
    db.close()
    again = open_db(tmp_path / "e.sqlite")  # migrations are not applied twice
    ((_, row),) = read_events(again)
    assert row["type"] == "offer_shown" and parse_event(row["json"]) == event


def test_purge_removes_only_old_events(tmp_path: Path) -> None:
    clock = ManualClock()
    db = open_db(tmp_path / "e.sqlite")
    old = _shown(1, ts=clock.now() - timedelta(days=40))
    new = _shown(2, ts=clock.now())
    write_events(db, [old, new])
    assert purge(db, clock.now() - timedelta(days=30)) == 1
    assert [r["event_id"] for _, r in read_events(db)] == [new.event_id]


def _run_writer(writer: EventWriter) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=writer.run, args=(stop,))
    thread.start()
    return thread, stop


def test_writer_drops_normal_when_full_but_never_an_alert(tmp_path: Path) -> None:
    config = StorageConfig(data_dir=tmp_path, queue_size=10, alert_wait_s=0)
    writer = EventWriter(config, ManualClock())
    accepted = [writer.submit(_shown(i)) for i in range(15)]
    assert accepted.count(False) == 5 and writer.dropped["normal"] == 5
    health = Health(store_id="s", device_id="d", fps=1, inference_ms=1, dropped_frames=0, camera_ok=True)
    assert not writer.submit(health) and writer.dropped["low"] == 1
    alerts = [_alert() for _ in range(3)]
    assert all(writer.submit(a) for a in alerts)
    assert writer.spilled == 3 and (tmp_path / "alerts-spill.jsonl").exists()
    thread, stop = _run_writer(writer)
    stop.set()
    thread.join(30)
    db = open_db(tmp_path / DB_NAME)
    stored = {r["event_id"] for _, r in read_events(db, limit=1000)}
    assert {a.event_id for a in alerts} <= stored
    assert len(stored) == 13 and writer.written == 13
    assert not (tmp_path / "alerts-spill.jsonl").exists()


def test_writer_thread_writes_everything_submitted_before_stop(tmp_path: Path) -> None:
    writer = EventWriter(StorageConfig(data_dir=tmp_path, queue_size=100_000), ManualClock())
    thread, stop = _run_writer(writer)
    events = [_shown(i) for i in range(2000)]
    producers = [
        threading.Thread(target=lambda chunk=events[k::4]: [writer.submit(e) for e in chunk])
        for k in range(4)
    ]
    for p in producers:
        p.start()
    for p in producers:
        p.join()
    stop.set()
    thread.join(30)
    assert not thread.is_alive()
    db = open_db(tmp_path / DB_NAME)
    assert db.execute("select count(*) from events").fetchone()[0] == 2000
    assert sum(writer.dropped.values()) == 0
    # Submitted after the writer stopped: a normal event is refused and counted, an alert spills to disk.
    assert not writer.submit(_shown(9999))
    assert writer.submit(_alert()) and writer.spilled == 1


def test_spilled_alerts_survive_a_restart(tmp_path: Path) -> None:
    config = StorageConfig(data_dir=tmp_path, queue_size=10, alert_wait_s=0)
    first = EventWriter(config, ManualClock())
    thread, stop = _run_writer(first)
    stop.set()
    thread.join(30)
    alert = _alert()
    first.submit(alert)  # closed: spilled
    second = EventWriter(config, ManualClock())
    thread, stop = _run_writer(second)
    stop.set()
    thread.join(30)
    assert alert.event_id in {r["event_id"] for _, r in read_events(open_db(tmp_path / DB_NAME))}


def test_tail_and_follow(tmp_path: Path) -> None:
    db = open_db(tmp_path / "e.sqlite")
    write_events(db, [_shown(i) for i in range(5)])
    assert [parse_event(r["json"]).offer_id for r in tail(db, 2)] == ["o3", "o4"]  # type: ignore[union-attr]
    more = iter([[_shown(5)], [_shown(6)], []])
    polls = []

    def fake_sleep(_s: float) -> None:
        polls.append(1)
        write_events(db, next(more, []))

    seen = []
    for row in tail(db, 1, follow=True, should_stop=lambda: len(polls) >= 3, sleep=fake_sleep):
        seen.append(parse_event(row["json"]).offer_id)  # type: ignore[union-attr]
    assert seen == ["o4", "o5", "o6"]


def test_events_tail_cli(tmp_path: Path) -> None:
    path = tmp_path / "e.sqlite"
    db = open_db(path)
    write_events(db, [_shown(i) for i in range(3)])
    db.close()
    result = CliRunner().invoke(main, ["events", "tail", "--db", str(path), "-n", "2"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert [parse_event(line).offer_id for line in lines] == ["o1", "o2"]  # type: ignore[union-attr]
    missing = CliRunner().invoke(main, ["events", "tail", "--db", str(tmp_path / "nope.sqlite")])
    assert missing.exit_code == 1 and "no event store" in missing.output
