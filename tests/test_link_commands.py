"""The kiosk's commands on the real broker: unsigned ones are refused, and a captured signed command
replayed is not applied again, also after the kiosk restarts (a new sync on the same data dir)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from mosquitto_broker import MosquittoBroker
from sync_helpers import command_bytes, wait_for, write_command_key

from cloud_sync.device import DeviceSync
from cloud_sync.settings import OutboxSettings
from kiosk.config import KioskConfig, StorageConfig
from kiosk.decisions.offers import Catalogue
from kiosk.link.sync import LEDGER_NAME, build_device_sync
from mqtt_bridge.contract.topics import DeviceTopics
from mqtt_bridge.settings import BrokerSettings, CommandSettings
from mqtt_bridge.transport import MqttTransport, drain_queue

TOPICS = DeviceTopics("vitrina/v1", "s1", "k1")


class Control:
    """The kiosk as the commands see it: one open staff call, maintenance switches recorded."""

    def __init__(self) -> None:
        self.open = {"call-1"}
        self.acknowledged: list[str] = []
        self.maintenance: list[bool] = []

    def acknowledge_staff(self, call_id: str) -> bool:
        if call_id not in self.open:
            return False
        self.open.discard(call_id)
        self.acknowledged.append(call_id)
        return True

    def set_maintenance(self, on: bool) -> None:
        self.maintenance.append(on)

    def install_catalogue(self, catalogue: Catalogue, image_base: Path) -> None:
        raise AssertionError("no catalogue in these tests")


class Sender:
    """The back office's side: publishes raw command bytes, reads the results."""

    def __init__(self, broker: MosquittoBroker) -> None:
        settings = BrokerSettings(enabled=True, host=broker.host, port=broker.port)
        self.transport = MqttTransport(
            settings, client_id="bo-sender", subscriptions=[(TOPICS.command_result_filter, 1)]
        )
        self.transport.start()
        self.transport.wait_connected(10)

    def send(self, name: str, payload: bytes, timeout_s: float = 10.0) -> dict[str, object]:
        command_id = json.loads(payload)["command_id"]
        self.transport.publish(TOPICS.command(name), payload, qos=1).wait(5)
        found: list[dict[str, object]] = []

        def answered() -> bool:
            found.extend(json.loads(m.payload) for m in drain_queue(self.transport.inbound, 0.05))
            return any(r["command_id"] == command_id for r in found)

        wait_for(answered, timeout_s, f"the result of {name}")
        return next(r for r in found if r["command_id"] == command_id)

    def until_listening(self) -> None:
        """Probe with an unsigned command (refused, changes nothing) until the device answers: its
        subscription to ``cmd/+`` is active."""
        for _ in range(20):
            try:
                self.send("maintenance", command_bytes("maintenance", {"on": True}, None), timeout_s=0.5)
                return
            except AssertionError:
                continue
        raise AssertionError("the device never answered a probe")


@pytest.fixture
def sender(mosquitto: MosquittoBroker) -> Iterator[Sender]:
    office = Sender(mosquitto)
    try:
        yield office
    finally:
        office.transport.stop()


def _config(tmp_path: Path, broker: MosquittoBroker, public_key: str) -> KioskConfig:
    """The kiosk's defaults, but for where it stores and which broker and key it trusts."""
    return KioskConfig(
        device={"store_id": "s1", "device_id": "k1"},  # type: ignore[arg-type]
        storage=StorageConfig(data_dir=tmp_path / "var"),
        mqtt=BrokerSettings(
            enabled=True,
            host=broker.host,
            port=broker.port,
            commands=CommandSettings(public_keys=[public_key]),
        ),
        outbox=OutboxSettings(path=tmp_path / "var" / "outbox.sqlite"),
    )


def _started(config: KioskConfig, control: Control, sender: Sender) -> DeviceSync:
    sync = build_device_sync(config, control, models={}, offers=False)
    sync.start()
    sync.transport.wait_connected(10)
    sender.until_listening()
    return sync


@pytest.mark.integration
def test_unsigned_staff_ack_and_maintenance_are_refused_and_change_nothing(
    mosquitto: MosquittoBroker, sender: Sender, tmp_path: Path
) -> None:
    key, public = write_command_key(tmp_path / "bo.pem")
    control = Control()
    sync = _started(_config(tmp_path, mosquitto, public), control, sender)
    try:
        for name, args in (("staff_ack", {"call_id": "call-1"}), ("maintenance", {"on": True})):
            result = sender.send(name, command_bytes(name, args, None))
            assert result["status"] == "refused" and "must be signed" in str(result["reason"]), result
        stranger = Ed25519PrivateKey.generate()  # a client on the broker with a key of its own
        forged = sender.send("maintenance", command_bytes("maintenance", {"on": True}, stranger))
        assert (forged["status"], forged["reason"]) == ("refused", "bad signature")
        assert control.open == {"call-1"} and control.maintenance == []
        signed = sender.send("staff_ack", command_bytes("staff_ack", {"call_id": "call-1"}, key))
        assert signed["status"] == "applied" and control.acknowledged == ["call-1"]
    finally:
        sync.stop()


@pytest.mark.integration
def test_a_replayed_signed_command_is_not_applied_again_also_after_a_restart(
    mosquitto: MosquittoBroker, sender: Sender, tmp_path: Path
) -> None:
    key, public = write_command_key(tmp_path / "bo.pem")
    config = _config(tmp_path, mosquitto, public)
    control = Control()
    captured = command_bytes("maintenance", {"on": True}, key)  # what an eavesdropper keeps
    sync = _started(config, control, sender)
    try:
        assert sender.send("maintenance", captured)["status"] == "applied"
        again = sender.send("maintenance", captured)
        assert again["status"] == "duplicate" and control.maintenance == [True]
        off = sender.send("maintenance", command_bytes("maintenance", {"on": False}, key))
        assert off["status"] == "applied" and control.maintenance == [True, False]
    finally:
        sync.stop()
    assert (tmp_path / "var" / LEDGER_NAME).is_file(), "the ledger is on disk in the data dir by default"

    # The kiosk restarted: a new sync (a new process's), the same data dir.
    restarted = _started(config, control, sender)
    try:
        replayed = sender.send("maintenance", captured)
        assert replayed["status"] == "duplicate", replayed
        assert control.maintenance == [True, False], "the captured 'on' did not undo the operator's 'off'"
    finally:
        restarted.stop()
