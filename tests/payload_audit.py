"""Captures every payload a device publishes on the test broker (a `#` subscription) and checks it against
the anonymisation allowlist (the chat's lists on the chat topic). The broker fixtures attach one to every
integration test."""

from __future__ import annotations

import json
import time
import uuid

from mosquitto_broker import MosquittoBroker

from mqtt_bridge.contract.allowlist import payload_keys_outside_allowlist
from mqtt_bridge.contract.errors import TopicError
from mqtt_bridge.contract.topics import parse_topic
from mqtt_bridge.settings import BrokerSettings
from mqtt_bridge.transport import MqttTransport, drain_queue

PREFIX = "vitrina/v1"


class PayloadAudit:
    def __init__(self, broker: MosquittoBroker) -> None:
        settings = BrokerSettings(
            enabled=True, host=broker.host, port=broker.port, reconnect_min_s=0.05, reconnect_max_s=0.5
        )
        self.transport = MqttTransport(
            settings,
            client_id=f"audit-{uuid.uuid4().hex[:8]}",
            subscriptions=[("#", 1)],
            inbound_queue_size=1_000_000,
            clean_start=False,
            session_expiry_s=600,
        )
        self.checked = 0
        self.problems: list[str] = []

    def start(self) -> None:
        self.transport.start()
        self.transport.wait_connected(10)
        probe = f"audit/probe/{uuid.uuid4().hex}"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            self.transport.publish(probe, b"probe", qos=1)
            if any(m.topic == probe for m in drain_queue(self.transport.inbound, 0.2)):
                return
        raise RuntimeError("the payload audit's # subscription never became active")

    def collect(self) -> None:
        for message in drain_queue(self.transport.inbound, 0.0, limit=10_000_000):
            try:
                where = parse_topic(PREFIX, message.topic)
            except TopicError:
                continue
            if where.kind in ("cmd", "catalogue", "chat_operator"):
                continue  # inbound to the device, not something it publishes
            self.checked += 1
            try:
                data = json.loads(message.payload)
            except ValueError:
                self.problems.append(f"{message.topic}: not JSON")
                continue
            if not isinstance(data, dict):
                self.problems.append(f"{message.topic}: not a JSON object")
                continue
            self.problems.extend(
                f"{message.topic}: {key}" for key in payload_keys_outside_allowlist(where.kind, data)
            )

    def stop(self) -> None:
        time.sleep(0.2)
        self.collect()
        self.transport.stop()
