"""Drain a backlog through the durable outbox vs a bare paho QoS 1 publish loop, to the same private broker.

    python bench/outbox_drain.py --json [--events 100000] [--batch-size 200]

Both phases publish the same anonymised events to a private Mosquitto started for the run; a subscriber
counts every event it receives (lost = sent - unique received, duplicates = received - unique). The outbox
phase starts with the whole backlog committed to SQLite (not timed) and ends when the last row is removed
on its PUBACK; the bare phase publishes one event a message with paho (at most 10,000 outstanding:
paho's ids wrap at 65,535) and ends when the last PUBACK arrives.
ratio = outbox events/s / bare events/s (target >= 0.5).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from mosquitto_broker import MosquittoBroker

from cloud_sync.device import DeviceSync
from cloud_sync.settings import AnonymisationSettings, OutboxSettings
from mqtt_bridge.contract.events import OfferShown
from mqtt_bridge.contract.payloads import BirthPayload
from mqtt_bridge.contract.topics import DeviceTopics
from mqtt_bridge.settings import BrokerSettings
from mqtt_bridge.transport import MqttTransport, drain_queue


class Counter:
    """Counts event ids received on a topic filter, in its own thread."""

    def __init__(self, settings: BrokerSettings, topic: str) -> None:
        self.transport = MqttTransport(
            settings,
            client_id=f"bench-sub-{uuid.uuid4().hex[:8]}",
            subscriptions=[(topic, 1)],
            inbound_queue_size=2_000_000,
        )
        self.received = 0
        self.ids: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self.transport.start()
        self.transport.wait_connected(10)
        time.sleep(0.3)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for message in drain_queue(self.transport.inbound, 0.05, limit=100_000):
                data = json.loads(message.payload)
                for event in data.get("events", [data]):
                    self.received += 1
                    self.ids.add(event["event_id"])

    def wait_for(self, n: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.ids) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # late duplicates

    def report(self, sent: int, elapsed: float) -> dict[str, float]:
        return {
            "seconds": elapsed,
            "events_per_s": sent / elapsed,
            "lost": sent - len(self.ids),
            "duplicates": self.received - len(self.ids),
        }

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.transport.stop()


def events(n: int, prefix: str) -> list[OfferShown]:
    return [
        OfferShown(
            event_id=f"{prefix}{i:08d}",
            store_id="bench",
            device_id="d1",
            offer_id="o1",
            reason="rules",
            language="ru",
            visit_ref=f"v{i % 500}",
        )
        for i in range(n)
    ]


def run_outbox(broker: BrokerSettings, folder: Path, n: int, batch_size: int) -> dict[str, float]:
    topics = DeviceTopics("vitrina/v1", "bench", "d1")
    counter = Counter(broker, topics.events)
    counter.start()
    birth = BirthPayload(software_version="bench", config_hash="0" * 64, ts=datetime.now(UTC))
    outbox = OutboxSettings(path=folder / "outbox.sqlite", batch_size=batch_size, max_rows=10 * n)
    device = DeviceSync(broker, topics, birth, outbox, AnonymisationSettings())
    backlog = events(n, "o")
    for start in range(0, n, 10_000):
        device.add(backlog[start : start + 10_000])
    t0 = time.perf_counter()
    device.start()
    while not device.drained():
        time.sleep(0.005)
    elapsed = time.perf_counter() - t0
    counter.wait_for(n, 60)
    device.stop()
    counter.stop()
    return counter.report(n, elapsed)


def run_bare(broker: BrokerSettings, n: int) -> dict[str, float]:
    topic = "vitrina/v1/bench/bare/events"
    counter = Counter(broker, topic)
    counter.start()
    payloads = [e.model_dump_json().encode() for e in events(n, "b")]
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-bare", protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(100)
    client.max_queued_messages_set(0)
    client.connect(broker.host, broker.port)
    client.loop_start()
    time.sleep(0.3)
    t0 = time.perf_counter()
    # paho's message ids wrap at 65535, so at most that many may be outstanding: a sliding window.
    window = 10_000
    infos: list[mqtt.MQTTMessageInfo] = []
    for i, payload in enumerate(payloads):
        if i >= window:
            infos[i - window].wait_for_publish(120)
        infos.append(client.publish(topic, payload, qos=1))
    for info in infos[-window:]:
        info.wait_for_publish(120)
    elapsed = time.perf_counter() - t0
    client.disconnect()
    client.loop_stop()
    counter.wait_for(n, 60)
    counter.stop()
    return counter.report(n, elapsed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="Backlog size (default 100000).")
    parser.add_argument(
        "--batch-size", type=int, default=OutboxSettings().batch_size, help="Events a message."
    )
    parser.add_argument("--json", action="store_true", help="Print one JSON object (default: a summary).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        broker = MosquittoBroker(folder / "broker")
        broker.start()
        try:
            settings = BrokerSettings(enabled=True, host=broker.host, port=broker.port)
            bare = run_bare(settings, args.events)
            outbox = run_outbox(settings, folder, args.events, args.batch_size)
        finally:
            broker.stop()
    result = {
        "benchmark": "outbox_drain",
        "events": args.events,
        "batch_size": args.batch_size,
        "outbox": outbox,
        "bare_paho_qos1": bare,
        "ratio": outbox["events_per_s"] / bare["events_per_s"],
        "lost": outbox["lost"],
        "duplicates": outbox["duplicates"],
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"outbox {outbox['events_per_s']:.0f} ev/s, bare paho {bare['events_per_s']:.0f} ev/s, "
            f"ratio {result['ratio']:.2f}, lost {result['lost']}, duplicates {result['duplicates']}"
        )
    return 0 if result["lost"] == 0 and result["ratio"] >= 0.5 else 1


if __name__ == "__main__":
    sys.exit(main())
