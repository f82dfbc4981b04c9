"""A restarted ingest loses nothing: `backoffice ingest` processes, killed (SIGKILL) or stopped (SIGTERM)
while devices publish, come back under the same --client-id and store every event the broker PUBACKed
meanwhile (the device had deleted it on that PUBACK), exactly once; alone, in a shared group of two, and
across a broker restart with persistence. All against the real Mosquitto.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from mosquitto_broker import MosquittoBroker
from outbox_doubles import make_event
from sync_helpers import make_device, wait_for

from cloud_sync.device import DeviceSync

pytestmark = pytest.mark.integration


class IngestProcess:
    """`backoffice ingest` as a child process, started again with the same arguments after each stop."""

    def __init__(self, broker: MosquittoBroker, db: Path, client_id: str | None, *extra: str) -> None:
        self.broker = broker
        self.client_id = client_id or "vitrina-ingest"  # the documented default
        self.args = [
            sys.executable,
            "-c",
            "from backoffice.cli import main; main()",
            "ingest",
            "--broker",
            f"mqtt://{broker.host}:{broker.port}",
            "--db",
            f"sqlite:///{db}",
            *(["--client-id", client_id] if client_id else []),
            *extra,
        ]
        self.stderr = db.with_name(f"{self.client_id}.stderr")
        self.process: subprocess.Popen[bytes] | None = None

    def _subacks(self) -> int:
        log = self.broker.log_file.read_text(errors="replace") if self.broker.log_file.exists() else ""
        return log.count(f"Sending SUBACK to {self.client_id}\n")

    def start(self, *, wait_subscribed: bool = True) -> IngestProcess:
        before = self._subacks()
        with self.stderr.open("ab") as err:
            self.process = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=err)
        if wait_subscribed:
            # Every kind it reads is subscribed: its session now queues whatever arrives for it.
            wait_for(
                lambda: self._alive() and self._subacks() >= before + 5, 30, f"{self.client_id} subscribed"
            )
        return self

    def _alive(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(
                f"backoffice ingest exited with {self.process.returncode}: "
                f"{self.stderr.read_text(errors='replace')[-2000:]}"
            )
        return True

    def stop(self, how: signal.Signals = signal.SIGTERM) -> None:
        assert self.process is not None
        self.process.send_signal(how)
        returncode = self.process.wait(15)
        assert returncode == (0 if how == signal.SIGTERM else -how), self.stderr.read_text(errors="replace")
        self.process = None

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def stored_ids(db: Path) -> list[str]:
    """Every event_id in the back office's store (as many rows as there are), [] before it exists."""
    if not db.exists():
        return []
    with sqlite3.connect(db, timeout=30) as conn:
        try:
            return [str(r[0]) for r in conn.execute("SELECT event_id FROM events")]
        except sqlite3.OperationalError:  # the ingest has not made its tables yet
            return []


def counter(db: Path, name: str) -> int:
    with sqlite3.connect(db, timeout=30) as conn:
        row = conn.execute("SELECT value FROM ingest_counters WHERE name = ?", [name]).fetchone()
    return int(row[0]) if row else 0


def publish_while_away(device: DeviceSync, first: int, count: int) -> list[str]:
    """Events the broker accepted (PUBACKed; the device then deleted them) while no ingest was connected."""
    events = [make_event(first + i) for i in range(count)]
    device.add(events)
    wait_for(device.drained, 20, "the broker to PUBACK every batch")
    return [e.event_id for e in events]


def assert_stored_exactly(db: Path, expected: list[str]) -> None:
    wait_for(lambda: len(set(stored_ids(db))) >= len(expected), 30, f"{len(expected)} events stored")
    stored = stored_ids(db)
    assert sorted(stored) == sorted(expected), "each event stored, once, and nothing else"
    assert counter(db, "duplicates") == 0, "no message reached the store twice"


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["killed", "stopped"])
def test_a_restarted_ingest_stores_what_was_published_while_it_was_down(
    mosquitto: MosquittoBroker, tmp_path: Path, how: signal.Signals
) -> None:
    db = tmp_path / "bo.sqlite"
    ingest = IngestProcess(mosquitto, db, None)  # the default client id: stable
    device = make_device(mosquitto, tmp_path, batch_size=1)
    device.start()
    try:
        ingest.start()
        sent = publish_while_away(device, 0, 3)
        assert_stored_exactly(db, sent)
        ingest.stop(how)
        sent += publish_while_away(device, 100, 10)
        ingest.start(wait_subscribed=False)
        assert_stored_exactly(db, sent)
    finally:
        device.stop()
        ingest.close()


@pytest.mark.parametrize("restarted", [1, 2], ids=["one-restarts", "both-restart"])
def test_a_shared_group_restarting_loses_and_duplicates_nothing(
    mosquitto: MosquittoBroker, tmp_path: Path, restarted: int
) -> None:
    db = tmp_path / "bo.sqlite"
    members = [IngestProcess(mosquitto, db, f"vitrina-ingest-{k}", "--group", "g") for k in (1, 2)]
    device = make_device(mosquitto, tmp_path, batch_size=1)
    device.start()
    try:
        for member in members:
            member.start()
        sent = publish_while_away(device, 0, 4)
        assert_stored_exactly(db, sent)
        # One killed, the other (when both restart) stopped cleanly: each member's share waits in its session.
        for member, how in zip(members[:restarted], [signal.SIGKILL, signal.SIGTERM], strict=False):
            member.stop(how)
        sent += publish_while_away(device, 100, 20)
        for member in members[:restarted]:
            member.start(wait_subscribed=False)
        assert_stored_exactly(db, sent)
    finally:
        device.stop()
        for member in members:
            member.close()


def test_the_default_design_loses_nothing_across_a_broker_restart(
    persistent_mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    broker = persistent_mosquitto
    db = tmp_path / "bo.sqlite"
    ingest = IngestProcess(broker, db, "vitrina-ingest-1")  # no --group: the default design
    device = make_device(broker, tmp_path, batch_size=1)
    device.start()
    try:
        ingest.start()
        sent = publish_while_away(device, 0, 3)
        assert_stored_exactly(db, sent)
        ingest.stop(signal.SIGKILL)
        sent += publish_while_away(device, 100, 10)  # queued before the broker restarts
        broker.restart()
        device.transport.wait_connected(20)
        # Published after the restart while the ingest is still away: what a shared group loses on 2.0.11.
        sent += publish_while_away(device, 200, 10)
        ingest.start(wait_subscribed=False)
        assert_stored_exactly(db, sent)
    finally:
        device.stop()
        ingest.close()
