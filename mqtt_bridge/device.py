"""A device's connection: the transport with its last will, its ``online`` status and birth certificate."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from mqtt_bridge.contract.payloads import BirthPayload, StatusPayload
from mqtt_bridge.contract.topics import QOS, RETAIN, DeviceTopics
from mqtt_bridge.settings import BrokerSettings
from mqtt_bridge.transport import MqttTransport, Will


def status_message(topics: DeviceTopics, state: StatusPayload) -> Will:
    """The retained status message for ``state``."""
    return Will(
        topics.status, state.model_dump_json(exclude_none=True).encode(), QOS["status"], RETAIN["status"]
    )


def device_transport(
    settings: BrokerSettings,
    topics: DeviceTopics,
    birth: BirthPayload,
    *,
    subscriptions: Iterable[tuple[str, int]] = (),
    rng: random.Random | None = None,
    max_inflight: int = 100,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> MqttTransport:
    """A transport for one device: last will ``offline``, and ``online`` then the birth on every connect,
    both stamped with that connection's time (``clock``), not the process's start.

    Stop it with ``transport.stop(final=stopped_message(topics))`` so the broker keeps ``stopped``.
    """

    def on_connect() -> list[Will]:
        now = clock()
        born = birth.model_copy(update={"ts": now})
        return [
            status_message(topics, StatusPayload(state="online", ts=now)),
            Will(topics.birth, born.model_dump_json().encode(), QOS["birth"], RETAIN["birth"]),
        ]

    return MqttTransport(
        settings,
        client_id=f"{topics.store_id}.{topics.device_id}",
        will=status_message(topics, StatusPayload(state="offline")),
        online=on_connect,
        subscriptions=subscriptions,
        rng=rng,
        max_inflight=max_inflight,
    )


def stopped_message(topics: DeviceTopics) -> Will:
    """The retained ``stopped`` status a device publishes on a clean exit."""
    return status_message(topics, StatusPayload(state="stopped", ts=datetime.now(UTC)))
