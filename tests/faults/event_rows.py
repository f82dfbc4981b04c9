"""The rows about events: each makes its fault while a device commits events, then counts, by event_id,
what the device committed against what the back office stored."""

from __future__ import annotations

import contextlib
import errno
import os
import random
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cloud_sync.device import DeviceSync
from cloud_sync.settings import AnonymisationSettings, OutboxSettings
from kiosk.config import StorageConfig
from kiosk.link.store import DB_NAME, EventWriter
from mqtt_bridge.contract.events import Event
from mqtt_bridge.contract.payloads import BirthPayload
from mqtt_bridge.contract.topics import DeviceTopics
from mqtt_bridge.settings import BrokerSettings
from tests.mosquitto_broker import MosquittoBroker

from .harness import Counts, FaultError, IngestProcess, Producer, broker, count, outbox_ids, stored_ids
from .producer import make_event

KILLS = 20
OUTAGE_S = float(os.environ.get("VITRINA_FAULT_OUTAGE_S", "60"))
SETTLE_S = 60.0
SHARE_GROUP = "vitrina-ingest"
TMPFS_SIZE = "16m"  # room for the outbox and its WAL (up to ~4 MiB before a checkpoint) before the filler


@dataclass
class Outcome:
    """What a row found: event counts (None: not an event row), recovery time, problems, a note."""

    counts: Counts | None
    recovery_s: float | None
    problems: list[str] = field(default_factory=list)
    note: str = ""


def _recover(expected: set[str], db: Path, limit_s: float) -> float | None:
    """Seconds until every event in ``expected`` is in the store; None when they never all arrived."""
    start = time.monotonic()
    while not expected <= set(stored_ids(db)):
        if time.monotonic() - start > limit_s:
            return None
        time.sleep(0.1)
    return time.monotonic() - start


def _finish(producer: Producer, db: Path, recovery: list[float | None]) -> Outcome:
    """Drain the producer, let the store settle, count; the slowest recovery is the row's."""
    producer.finish()
    _recover(producer.committed(), db, SETTLE_S)
    counts = count(producer.committed(), producer.intended(), db, outbox_ids(producer.outbox))
    problems = [] if all(r is not None for r in recovery) else ["the store never caught up after a fault"]
    known = [r for r in recovery if r is not None]
    return Outcome(counts, max(known) if known else None, problems)


def kiosk_sigkill(folder: Path) -> Outcome:
    """The device process SIGKILLed 20 times at random points, each after it committed some events."""
    db = folder / "backoffice.sqlite"
    rng = random.Random(20261204)
    with broker(folder / "broker") as mqtt:
        ingest = IngestProcess(mqtt, db, "faults-ingest", folder).start()
        try:
            producer = Producer(mqtt, folder, rate=1000)
            for _ in range(KILLS):
                producer.start()
                floor = len(producer.committed()) + 50
                deadline = time.monotonic() + 30
                while len(producer.committed()) < floor:
                    if time.monotonic() > deadline:
                        raise FaultError("the producer committed nothing within 30 s")
                    time.sleep(0.02)
                time.sleep(rng.uniform(0.0, 0.3))
                producer.kill()
            expected = producer.committed()
            producer.start()  # the kiosk's next start: what it committed is published from its outbox
            recovery = _recover(expected, db, SETTLE_S)
            return _finish(producer, db, [recovery])
        finally:
            ingest.kill(signal.SIGTERM)


def broker_stop(folder: Path) -> Outcome:
    """The broker stopped for OUTAGE_S (60) seconds while the device goes on committing."""
    db = folder / "backoffice.sqlite"
    with broker(folder / "broker") as mqtt:
        ingest = IngestProcess(mqtt, db, "faults-ingest", folder).start()
        try:
            producer = Producer(mqtt, folder, rate=40).start()
            _wait_committed(producer, 200)
            mqtt.stop()
            time.sleep(OUTAGE_S)
            mqtt.start()
            recovery = _recover(producer.committed(), db, SETTLE_S)
            time.sleep(1.0)
            return _finish(producer, db, [recovery])
        finally:
            ingest.kill(signal.SIGTERM)


def _wait_committed(producer: Producer, n: int) -> None:
    deadline = time.monotonic() + 60
    while len(producer.committed()) < n:
        if time.monotonic() > deadline:
            raise FaultError(f"the producer did not commit {n} events within 60 s")
        time.sleep(0.05)


def ingest_restart(folder: Path) -> Outcome:
    """The ingest SIGKILLed and started again (same --client-id), then stopped cleanly and started again;
    3 s down each time while the device publishes."""
    db = folder / "backoffice.sqlite"
    with broker(folder / "broker") as mqtt:
        ingest = IngestProcess(mqtt, db, "faults-ingest", folder).start()
        try:
            producer = Producer(mqtt, folder, rate=200).start()
            recovery = []
            for sig in (signal.SIGKILL, signal.SIGTERM):
                _wait_committed(producer, len(producer.committed()) + 300)
                ingest.kill(sig)
                time.sleep(3.0)
                ingest.start(wait_subscribed=False)
                recovery.append(_recover(producer.committed(), db, 20))
            _wait_committed(producer, max(1200, len(producer.committed()) + 200))
            return _finish(producer, db, recovery)
        finally:
            ingest.kill(signal.SIGTERM)


def shared_group_restart(folder: Path) -> Outcome:
    """Both consumers of one shared group (``--group vitrina-ingest``, two --client-ids) SIGKILLed
    together and started again, then both stopped cleanly and started again; 3 s down each time."""
    db = folder / "backoffice.sqlite"
    with broker(folder / "broker") as mqtt:
        consumers = [
            IngestProcess(mqtt, db, f"faults-ingest-{n}", folder, group=SHARE_GROUP).start()
            for n in ("a", "b")
        ]
        try:
            producer = Producer(mqtt, folder, rate=200).start()
            recovery = []
            for sig in (signal.SIGKILL, signal.SIGTERM):
                _wait_committed(producer, len(producer.committed()) + 300)
                for consumer in consumers:
                    consumer.kill(sig)
                time.sleep(3.0)
                for consumer in consumers:
                    consumer.start(wait_subscribed=False)
                recovery.append(_recover(producer.committed(), db, 20))
            _wait_committed(producer, max(1200, len(producer.committed()) + 200))
            return _finish(producer, db, recovery)
        finally:
            for consumer in consumers:
                consumer.kill(signal.SIGTERM)


def _device(mqtt: MosquittoBroker, outbox: Path) -> DeviceSync:
    return DeviceSync(
        BrokerSettings(
            enabled=True, host=mqtt.host, port=mqtt.port, reconnect_min_s=0.05, reconnect_max_s=0.5
        ),
        DeviceTopics("vitrina/v1", "s1", "d1"),
        BirthPayload(software_version="faults", config_hash="0" * 64, ts=datetime.now(UTC)),
        OutboxSettings(path=outbox, batch_size=20, synchronous="NORMAL", resend_after_s=5.0),
        AnonymisationSettings(),
        rng=random.Random(7),
    )


@contextlib.contextmanager
def _tmpfs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True, check=False
    )
    if mounted.returncode != 0:
        raise FaultError(
            f"cannot mount a {size} tmpfs at {where} ({mounted.stderr.decode().strip()}): "
            "the disk-full row needs root (or CAP_SYS_ADMIN)"
        )
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)


def _fill(folder: Path) -> Path:
    """Fill the file system of ``folder`` to the last byte; the filler file is returned."""
    filler = folder / "filler"
    chunk = b"\0" * 65536
    with filler.open("wb", buffering=0) as out:
        with contextlib.suppress(OSError):
            while True:
                out.write(chunk)
        with contextlib.suppress(OSError):
            while True:
                out.write(b"\0")
    return filler


def _add(device: DeviceSync, rng: random.Random, committed: set[str], intended: set[str]) -> None:
    events = [make_event(rng) for _ in range(5)]
    intended.update(e.event_id for e in events)
    device.add(events)
    committed.update(e.event_id for e in events)


def disk_full(folder: Path) -> Outcome:
    """The outbox on a small tmpfs, filled to the last byte while the device is offline; commits must fail
    with a clear error, nothing committed is lost, and commits work again once space returns."""
    db = folder / "backoffice.sqlite"
    rng = random.Random(11)
    committed: set[str] = set()
    intended: set[str] = set()
    errors: list[str] = []
    with broker(folder / "broker") as mqtt, _tmpfs(folder / "tmpfs", TMPFS_SIZE) as small:
        ingest = IngestProcess(mqtt, db, "faults-ingest", folder).start()
        device = _device(mqtt, small / "outbox.sqlite")
        device.start()
        try:
            for _ in range(100):
                _add(device, rng, committed, intended)
            mqtt.stop()  # offline: the backlog stays on the small disk
            filler = _fill(small)
            for _ in range(2000):
                try:
                    _add(device, rng, committed, intended)
                except Exception as exc:  # what the outbox raises is part of what the row checks
                    errors.append(f"{type(exc).__name__}: {exc}")
                    if len(errors) >= 20:
                        break
            filler.unlink()
            mqtt.start()
            expected = set(committed)
            for _ in range(120):
                _add(device, rng, committed, intended)
            recovery = _recover(expected, db, SETTLE_S)
            _recover(committed, db, SETTLE_S)
            waiting = outbox_ids(small / "outbox.sqlite")
            deadline = time.monotonic() + 20
            while not device.drained() and time.monotonic() < deadline:
                time.sleep(0.05)
            drained, depth = device.drained(), device.outbox.stats().depth
            counts = count(committed, intended, db, waiting)
        finally:
            device.stop()
            ingest.kill(signal.SIGTERM)
    problems = []
    if not errors:
        problems.append("no commit failed on a full disk: the fault did not happen")
    elif not any(w in errors[0].lower() for w in ("full", "space", errno.errorcode[errno.ENOSPC].lower())):
        problems.append(f"the error does not say the disk is full: {errors[0][:120]}")
    if recovery is None:
        problems.append("the store never caught up after space returned")
    if not drained:
        problems.append(
            f"the outbox never drains: it reports {depth} events waiting, its file holds {len(waiting)} "
            "(its in-memory depth counter disagrees with the file)"
        )
    note = f"first error: {errors[0][:90]}" if errors else ""
    return Outcome(counts, recovery, problems, note)


class JumpClock:
    """The injected clock: wall time jumps by ``offset`` (set by the row), monotonic time runs on."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def monotonic(self) -> float:
        """The real monotonic reading (a wall-clock jump does not move it)."""
        return time.monotonic()

    def now(self) -> datetime:
        """Wall time, jumped."""
        return datetime.now(UTC) + self.offset


JUMPS = (
    timedelta(days=1),
    timedelta(days=-2),
    timedelta(days=45),
    timedelta(days=-45, hours=-1),
    timedelta(hours=13),
    timedelta(0),
)


def clock_jumps(folder: Path) -> Outcome:
    """The kiosk's event writer on an injected clock whose wall time jumps forward and back (a day, two
    days back, 45 days on, ...) while events are committed and handed to the outbox."""
    import sqlite3

    db = folder / "backoffice.sqlite"
    rng = random.Random(3)
    clock = JumpClock()
    intended: set[str] = set()
    with broker(folder / "broker") as mqtt:
        ingest = IngestProcess(mqtt, db, "faults-ingest", folder).start()
        device = _device(mqtt, folder / "outbox.sqlite")
        device.start()
        writer = EventWriter(StorageConfig(data_dir=folder / "kiosk"), clock, on_commit=device.add)
        stop = threading.Event()
        thread = threading.Thread(target=writer.run, args=(stop,), daemon=True)
        thread.start()
        try:
            for jump in JUMPS:
                clock.offset = jump
                for _ in range(250):
                    event: Event = make_event(rng).model_copy(update={"ts": clock.now()})
                    intended.add(event.event_id)
                    while not writer.submit(event):
                        time.sleep(0.01)
                time.sleep(0.2)
            end = time.monotonic() + SETTLE_S
            while writer.depth and time.monotonic() < end:
                time.sleep(0.05)
            stop.set()
            thread.join(20)
            kiosk = sqlite3.connect(str(folder / "kiosk" / DB_NAME))
            committed = {str(r[0]) for r in kiosk.execute("SELECT event_id FROM events")}
            kiosk.close()
            recovery = _recover(committed, db, SETTLE_S)
            end = time.monotonic() + SETTLE_S
            while not device.drained() and time.monotonic() < end:
                time.sleep(0.05)
            counts = count(committed, intended, db, outbox_ids(folder / "outbox.sqlite"))
        finally:
            stop.set()
            device.stop()
            ingest.kill(signal.SIGTERM)
    problems = [] if recovery is not None else ["the store never held every committed event"]
    if len(committed) < len(intended):
        problems.append(f"{len(intended) - len(committed)} submitted events never committed by the writer")
    return Outcome(counts, recovery, problems, "")
