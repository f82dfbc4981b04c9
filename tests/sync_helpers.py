"""Helpers shared by the sync integration tests: a device, an ingest thread, waiting, the back office's
command-signing key."""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from mosquitto_broker import MosquittoBroker

from backoffice.ingest import Ingest, Store
from backoffice.settings import IngestSettings
from cloud_sync.device import DeviceSync
from cloud_sync.settings import AnonymisationSettings, OutboxSettings
from mqtt_bridge.commands import CommandProcessor, public_key_text, sign
from mqtt_bridge.contract.payloads import BirthPayload, CommandEnvelope
from mqtt_bridge.contract.topics import DeviceTopics
from mqtt_bridge.settings import BrokerSettings


def broker_settings(broker: MosquittoBroker) -> BrokerSettings:
    return BrokerSettings(
        enabled=True, host=broker.host, port=broker.port, reconnect_min_s=0.05, reconnect_max_s=0.5
    )


def make_device(
    broker: MosquittoBroker,
    folder: Path,
    store: str = "s1",
    device: str = "d1",
    commands: CommandProcessor | None = None,
    **outbox: object,
) -> DeviceSync:
    birth = BirthPayload(
        software_version="0.1.0",
        models={"blazeface": "1"},
        capabilities=["offers"],
        config_hash="0" * 64,
        ts=datetime.now(UTC),
    )
    return DeviceSync(
        broker_settings(broker),
        DeviceTopics("vitrina/v1", store, device),
        birth,
        OutboxSettings.model_validate({"path": folder / f"{store}-{device}.sqlite", **outbox}),
        AnonymisationSettings(),
        commands=commands,
    )


class IngestThread:
    def __init__(
        self,
        broker: MosquittoBroker,
        store: Store,
        client_id: str = "ingest-1",
        share_group: str | None = "vitrina-ingest",
    ) -> None:
        settings = IngestSettings(share_group=share_group)
        self.ingest = Ingest(broker_settings(broker), settings, store, client_id=client_id)
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.ingest.run, args=(self.stop_event,), daemon=True)

    def start(self) -> IngestThread:
        self.ingest.start()
        self.ingest.transport.wait_connected(10)
        time.sleep(0.2)  # let the SUBACKs arrive
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(10)


def wait_for(condition: Callable[[], bool], timeout_s: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def write_command_key(path: Path) -> tuple[Ed25519PrivateKey, str]:
    """A back-office signing key written as PEM at ``path`` (for ``send-command --key``), and its public
    key text (for ``[mqtt.commands] public_keys``)."""
    key = Ed25519PrivateKey.generate()
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return key, public_key_text(key)


def command_bytes(
    name: str, args: dict[str, object], key: Ed25519PrivateKey | None, command_id: str | None = None
) -> bytes:
    """A fresh command (new nonce, valid five minutes) as sent on ``cmd/<name>``; signed unless ``key`` is
    None."""
    now = datetime.now(UTC)
    envelope = CommandEnvelope.model_validate(
        {
            "command_id": command_id or uuid.uuid4().hex,
            "name": name,
            "issued_at": now,
            "expires_at": now + timedelta(minutes=5),
            "nonce": secrets.token_urlsafe(24),
            "args": args,
        }
    )
    return (sign(envelope, key) if key is not None else envelope).model_dump_json().encode()
