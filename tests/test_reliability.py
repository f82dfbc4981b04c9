"""Reliability against the real Mosquitto: a broker outage mid-stream, and a producer SIGKILLed again and
again. Afterwards every committed event is in the back-office store exactly once.

The outage lasts ``VITRINA_OUTAGE_S`` seconds (default 3; the issue's "a minute", shortened); the producer
is killed ``VITRINA_KILLS`` times (default 20).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from mosquitto_broker import MosquittoBroker
from outbox_doubles import make_event
from sync_helpers import IngestThread, make_device, wait_for

from backoffice.ingest import SqliteStore

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OUTAGE_S = float(os.environ.get("VITRINA_OUTAGE_S", "3"))
KILLS = int(os.environ.get("VITRINA_KILLS", "20"))
PRODUCER = Path(__file__).with_name("sync_producer.py")


def test_broker_outage_mid_stream(persistent_mosquitto: MosquittoBroker, tmp_path: Path) -> None:
    broker = persistent_mosquitto
    store = SqliteStore(tmp_path / "bo.sqlite")
    # The ingest's default design, a plain subscription: Mosquitto 2.0.11's shared groups lose what is
    # published between a broker restart and their resubscription (docs/mqtt.md); the restart is what this
    # test is about.
    ingest = IngestThread(broker, store, share_group=None).start()
    device = make_device(broker, tmp_path, batch_size=25)
    device.start()
    committed: list[str] = []
    stop = threading.Event()

    def produce() -> None:
        i = 0
        while not stop.is_set():
            events = [make_event(i + k) for k in range(5)]
            device.add(events)
            committed.extend(e.event_id for e in events)
            i += 5
            time.sleep(0.005)

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    try:
        wait_for(lambda: len(store.event_ids()) > 200, what="events flowing before the outage")
        broker.stop()
        time.sleep(OUTAGE_S / 2)
        alert = make_event(10_000_000, "alert")
        in_flight = device.publisher.inflight_seqs()  # static while disconnected
        backlog = [r.event_id for r in device.outbox.pending("events", 0, 10**6) if r.seq not in in_flight]
        device.add([alert])
        committed.append(alert.event_id)
        time.sleep(OUTAGE_S / 2)
        broker.start()
        time.sleep(0.5)
        stop.set()
        producer.join(5)
        wait_for(device.drained, 60, "the backlog to drain")
        wait_for(lambda: len(store.event_ids()) == len(committed), 30, "every event in the store")
        assert sorted(store.event_ids()) == sorted(committed), "each committed event exactly once"
        assert len(backlog) > 100, "there was a backlog when the alert was raised"
        order = dict(store.db.execute("SELECT event_id, rowid FROM events"))
        # The alert raised during the outage jumped the backlog that was waiting when it was raised.
        assert all(order[e] > order[alert.event_id] for e in backlog)
        print("outage test:", len(committed), "events, backlog at the alert", len(backlog))
    finally:
        stop.set()
        device.stop()
        ingest.stop()


def test_producer_killed_at_random_points(persistent_mosquitto: MosquittoBroker, tmp_path: Path) -> None:
    broker = persistent_mosquitto
    store = SqliteStore(tmp_path / "bo.sqlite")
    ingest = IngestThread(broker, store).start()
    outbox = tmp_path / "outbox.sqlite"
    log = tmp_path / "produced.log"
    rng = random.Random(20261124)
    args = [sys.executable, str(PRODUCER), broker.host, str(broker.port), str(outbox), str(log)]
    try:
        for attempt in range(KILLS):
            child = subprocess.Popen([*args, str(attempt)], stdout=subprocess.PIPE)
            assert child.stdout is not None and child.stdout.readline().strip() == b"ready"
            time.sleep(rng.uniform(0.05, 0.6))
            os.kill(child.pid, signal.SIGKILL)
            assert child.wait(10) == -signal.SIGKILL
            child.stdout.close()
        final = subprocess.run([*args, "999", "--drain"], check=False, timeout=90, capture_output=True)
        assert final.returncode == 0, final.stderr.decode()[-2000:]
        lines = log.read_text(encoding="utf-8").splitlines()
        intended = {line[2:] for line in lines if line.startswith("I ")}
        committed = {line[2:] for line in lines if line.startswith("C ")}
        assert len(committed) > 200, "the producer did produce between kills"
        wait_for(lambda: committed <= set(store.event_ids()), 30, "every committed event in the store")
        stored = store.event_ids()
        assert len(stored) == len(set(stored)), "no event is stored twice"
        assert set(stored) <= intended, "nothing is stored that the producer did not create"
        print("kill test:", len(committed), "committed,", len(stored), "stored, counters", store.counters())
    finally:
        ingest.stop()
