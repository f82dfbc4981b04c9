"""The device's link through broker trouble, on the real Mosquitto: every connection change is read and
logged (none reported as dropped), the kiosk is back within 5 s of its broker's return with the default
back-off, its ``online`` status and birth carry that connection's time, and :class:`LinkStatus` says so."""

from __future__ import annotations

import json
import logging
import random
import socket
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from mosquitto_broker import MosquittoBroker
from sync_helpers import wait_for

from cloud_sync.device import DeviceSync
from cloud_sync.settings import AnonymisationSettings, OutboxSettings
from kiosk.link.sync import LinkStatus, SyncWorker
from mqtt_bridge.contract.events import Health
from mqtt_bridge.contract.payloads import BirthPayload
from mqtt_bridge.contract.topics import DeviceTopics
from mqtt_bridge.settings import BrokerSettings
from mqtt_bridge.transport import MqttTransport, drain_queue

TOPICS = DeviceTopics("vitrina/v1", "s1", "d1")
BIRTH = BirthPayload(software_version="0.1.0", config_hash="0" * 64, ts=datetime(2026, 1, 1, tzinfo=UTC))


class WorstJitter(random.Random):
    """Full jitter at its worst: every back-off delay is the longest allowed."""

    def uniform(self, a: float, b: float) -> float:
        return b


def _device(settings: BrokerSettings, folder: Path, rng: random.Random | None = None) -> DeviceSync:
    return DeviceSync(
        settings,
        TOPICS,
        BIRTH,
        OutboxSettings(path=folder / "outbox.sqlite", synchronous="NORMAL"),
        AnonymisationSettings(),
        rng=rng,
    )


def _health(n: int) -> list[Health]:
    return [
        Health(store_id="s1", device_id="d1", fps=float(i), inference_ms=1, dropped_frames=0, camera_ok=True)
        for i in range(n)
    ]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Running:
    """A :class:`SyncWorker` run in a thread, as the supervisor runs it."""

    def __init__(self, sync: DeviceSync) -> None:
        self.worker = SyncWorker(sync, drain_on_stop_s=2.0)
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.worker.run, args=(self.stop_event,), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(15)


def test_connection_changes_are_read_and_logged_so_none_is_dropped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A wrong port: hundreds of failed attempts (the queue holds 100), one warning naming host:port."""
    port = _closed_port()
    settings = BrokerSettings(
        enabled=True, host="127.0.0.1", port=port, reconnect_min_s=0.002, reconnect_max_s=0.004
    )
    caplog.set_level(logging.DEBUG, logger="cloud_sync.device")
    running = Running(_device(settings, tmp_path))
    transport = running.worker.sync.transport
    try:
        wait_for(lambda: transport.counters["connect_failures"] >= 300, 60, "300 failed connects")
        status = running.worker.status()
    finally:
        running.stop()
    assert transport.counters["dropped_changes"] == 0, "the reader keeps up: nothing is dropped"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    failures = [m for m in warnings if m.startswith("cannot connect to the broker")]
    assert len(failures) == 1, "one warning per outage, the other attempts at DEBUG"
    assert f"127.0.0.1:{port}" in failures[0] and "[mqtt]" in failures[0] and "port" in failures[0]
    assert not status.connected and status.connects == 0 and status.disconnects == 0
    assert status.last_error is not None and f"127.0.0.1:{port}" in status.last_error


@pytest.mark.integration
def test_back_within_5_s_of_the_broker_restart_with_the_connection_time_and_the_link_status(
    mosquitto: MosquittoBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    watcher = MqttTransport(
        BrokerSettings(enabled=True, host=mosquitto.host, port=mosquitto.port, reconnect_min_s=0.05,
                       reconnect_max_s=0.1),
        client_id="watcher",
        subscriptions=[(TOPICS.status, 1), (TOPICS.birth, 1)],
    )  # fmt: skip
    watcher.start()
    watcher.wait_connected(10)
    # The kiosk's defaults (reconnect_min_s, reconnect_max_s) with the longest jitter every time.
    settings = BrokerSettings(enabled=True, host=mosquitto.host, port=mosquitto.port)
    caplog.set_level(logging.INFO, logger="cloud_sync.device")
    running = Running(_device(settings, tmp_path, WorstJitter()))
    sync, worker = running.worker.sync, running.worker
    try:
        sync.transport.wait_connected(10)
        sync.add(_health(3))
        wait_for(lambda: worker.status().events_delivered == 3, 10, "three events acknowledged")
        assert worker.status() == LinkStatus(True, 1, 0, None, 3, 0)

        mosquitto.stop()
        wait_for(lambda: not worker.status().connected, 10, "the loss seen")
        time.sleep(8.0)  # long enough for the back-off to grow to its cap
        sync.add(_health(2))
        assert worker.status().outbox_depth == 2
        back_at = datetime.now(UTC)
        restarted = time.monotonic()
        mosquitto.start()
        sync.transport.wait_connected(10)
        took = time.monotonic() - restarted
        assert took < 5.0, f"reconnected {took:.1f} s after the broker came back"
        wait_for(lambda: worker.status().events_delivered == 5, 10, "the two waiting events delivered")
        status = worker.status()
        assert (status.connected, status.connects, status.disconnects, status.outbox_depth) == (True, 2, 1, 0)
        assert status.last_error is not None and f"{mosquitto.host}:{mosquitto.port}" in status.last_error

        def latest(topic: str) -> dict[str, object] | None:
            for message in drain_queue(watcher.inbound):
                seen[message.topic] = json.loads(message.payload)
            return seen.get(topic)

        seen: dict[str, dict[str, object]] = {}
        wait_for(lambda: latest(TOPICS.birth) is not None and latest(TOPICS.status) is not None, 10, "both")
        online, birth = seen[TOPICS.status], seen[TOPICS.birth]
        assert online["state"] == "online"
        assert datetime.fromisoformat(str(online["ts"])) >= back_at, "the time of this connection"
        assert datetime.fromisoformat(str(birth["ts"])) >= back_at
    finally:
        running.stop()
        watcher.stop()
    final = worker.status()
    assert not final.connected and final.disconnects == 1, "the clean stop is not a lost connection"
    assert final.events_delivered == 5
    assert sync.transport.counters["dropped_changes"] == 0
    logged = [(r.levelno, r.getMessage()) for r in caplog.records]
    where = f"{mosquitto.host}:{mosquitto.port}"
    assert any(
        lv == logging.WARNING and m.startswith(f"lost the connection to the broker at {where}")
        for lv, m in logged
    ), logged
    assert sum(m.startswith(f"connected to the broker at {where}") for _, m in logged) == 2, logged
