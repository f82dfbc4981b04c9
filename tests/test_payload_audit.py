"""The audit that every broker fixture runs catches a payload with a key outside the allowlist."""

from __future__ import annotations

from pathlib import Path

import pytest
from mosquitto_broker import MosquittoBroker
from payload_audit import PayloadAudit
from sync_helpers import broker_settings, wait_for

from mqtt_bridge.transport import MqttTransport


@pytest.mark.integration
def test_the_audit_flags_a_leaking_payload(tmp_path: Path) -> None:
    broker = MosquittoBroker(tmp_path / "broker")
    broker.start()
    try:
        audit = PayloadAudit(broker)
        audit.start()
        sender = MqttTransport(broker_settings(broker), client_id="leaky")
        sender.start()
        sender.wait_connected(10)
        sender.publish("vitrina/v1/s/d/events", b'{"schema_version":1,"events":[{"embedding":[0.1]}]}').wait(
            5
        )
        sender.publish("vitrina/v1/s/d/status", b'{"schema_version":1,"state":"online"}').wait(5)
        sender.publish("vitrina/v1/s/d/cmd/purge", b'{"anything":"goes inbound"}').wait(5)

        def seen() -> bool:
            audit.collect()
            return audit.checked >= 2

        wait_for(seen, 10, "the audit to see both payloads")
        sender.stop()
        audit.stop()
        assert audit.problems == ["vitrina/v1/s/d/events: events[].embedding"]
    finally:
        broker.stop()
