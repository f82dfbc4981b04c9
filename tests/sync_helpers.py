"""Helpers shared by the sync integration tests: a device, an ingest thread, waiting."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from mosquitto_broker import MosquittoBroker

from backoffice.ingest import Ingest, Store
from backoffice.settings import IngestSettings
from cloud_sync.device import DeviceSync
from cloud_sync.settings import AnonymisationSettings, OutboxSettings
from mqtt_bridge.commands import CommandProcessor
from mqtt_bridge.contract.payloads import BirthPayload
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
