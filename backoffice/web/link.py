"""The web application's own MQTT link to the fleet: live retained state in, signed staff_ack commands out.

- A **plain, non-shared** subscription to every device's ``status`` and ``birth`` under the web
  application's own stable client id (``WebSettings.live_client_id``, ``vitrina-web``): the broker sends a
  new subscriber the retained messages of what it subscribes to, so the fleet page shows a kiosk online
  also when the back office started after it. A shared subscription never receives retained messages, and
  this link never joins the ingest's group (that would split the ingest's events).
- ``cmd/staff_ack/result`` of every device: whether the kiosk applied the acknowledgement.
- :meth:`KioskLink.send_staff_ack` signs a ``staff_ack`` command with the back office's Ed25519 key and
  publishes it, QoS 1, to the call's device.
- :meth:`KioskLink.send_operator_message` signs an operator's chat message (issue #19: accept, message,
  hand back, resolve) with the same key and publishes it, QoS 1, on the device's ``chat/operator``: one
  signing key and one link for everything that changes what a screen shows.

One thread (``web-live``) drains the transport's bounded inbound queue (when full, paho's callback drops
the arriving message and counts it in ``transport.counters['dropped_inbound']``; a retained state comes
back with the next connection or change). Received state is kept in memory: the latest per device, and
the last :data:`RESULTS_KEPT` command results (the oldest forgotten first).
"""

from __future__ import annotations

import logging
import secrets
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final, Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from backoffice.reports.models import LiveDevice
from backoffice.web.errors import WebError
from mqtt_bridge.chat import sign_operator_message
from mqtt_bridge.commands import sign
from mqtt_bridge.contract.chat import OperatorChatMessage
from mqtt_bridge.contract.errors import TopicError
from mqtt_bridge.contract.payloads import BirthPayload, CommandEnvelope, CommandResult, StatusPayload
from mqtt_bridge.contract.topics import (
    CHAT_OPERATOR_QOS,
    CHAT_OPERATOR_RETAIN,
    DeviceTopics,
    fleet_filter,
    parse_topic,
)
from mqtt_bridge.settings import BrokerSettings
from mqtt_bridge.transport import MqttTransport, drain_queue

logger = logging.getLogger(__name__)

#: Command results remembered (by command id) for the staff page.
RESULTS_KEPT: Final = 10_000

STAFF_ACK: Final = "staff_ack"


@dataclass(frozen=True)
class SentCommand:
    """A command the link published: its id, and where."""

    command_id: str
    store_id: str
    device_id: str
    call_id: str
    sent_at: datetime
    signed: bool


@dataclass(frozen=True)
class SentOperatorMessage:
    """An operator's chat message the link published: its id, where, and whether it was signed."""

    message_id: str
    store_id: str
    device_id: str
    conversation_id: str
    sent_at: datetime
    signed: bool


class KioskLink(Protocol):
    """What the web application needs of the fleet's MQTT: a seam (tests pass a double where no broker
    runs; the browser test and ``backoffice serve`` run :class:`MqttKioskLink`)."""

    @property
    def connected(self) -> bool:
        """Whether the link is connected to the broker now."""
        ...

    def live_devices(self) -> Mapping[tuple[str, str], LiveDevice]:
        """The latest retained state of every device seen, by (store, device)."""
        ...

    def send_staff_ack(self, store_id: str, device_id: str, call_id: str) -> SentCommand:
        """Publish a (signed) staff_ack for ``call_id`` to the device; raises :class:`LinkError` when the
        broker is not reachable."""
        ...

    def command_result(self, command_id: str) -> CommandResult | None:
        """The device's answer to a command sent, once it arrived."""
        ...

    def send_operator_message(
        self, store_id: str, device_id: str, message: OperatorChatMessage
    ) -> SentOperatorMessage:
        """Publish an operator's chat message (signed when the link has a key) to the device's
        ``chat/operator``; raises :class:`LinkError` when the broker is not reachable."""
        ...

    def start(self) -> None:
        """Connect and start receiving."""
        ...

    def stop(self) -> None:
        """Disconnect."""
        ...


class LinkError(WebError):
    """The fleet's broker cannot be used now; the message says what to check."""


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    """The back office's Ed25519 command key (PEM, ``backoffice keygen``); :class:`WebError` saying what is
    wrong otherwise."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise WebError(f"cannot read an Ed25519 PEM key from {path}: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise WebError(f"{path} is not an Ed25519 key; create one with `backoffice keygen --out {path}`")
    return key


def staff_ack_envelope(
    call_id: str, now: datetime, ttl_s: int, key: Ed25519PrivateKey | None
) -> CommandEnvelope:
    """The staff_ack command for ``call_id``, valid ``ttl_s`` from ``now``, signed with ``key`` if given."""
    envelope = CommandEnvelope(
        command_id=uuid.uuid4().hex,
        name=STAFF_ACK,
        issued_at=now,
        expires_at=now + timedelta(seconds=ttl_s),
        nonce=secrets.token_urlsafe(24),
        args={"call_id": call_id},
    )
    return sign(envelope, key) if key is not None else envelope


class MqttKioskLink:
    """:class:`KioskLink` on :class:`~mqtt_bridge.transport.MqttTransport`."""

    def __init__(
        self,
        broker: BrokerSettings,
        *,
        client_id: str,
        clock: Callable[[], datetime],
        key: Ed25519PrivateKey | None,
        command_ttl_s: int = 300,
    ) -> None:
        self.prefix = broker.topic_prefix
        self._clock = clock
        self._key = key
        self._ttl_s = command_ttl_s
        self._lock = threading.Lock()
        self._devices: dict[tuple[str, str], LiveDevice] = {}
        self._results: OrderedDict[str, CommandResult] = OrderedDict()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.transport = MqttTransport(
            broker,
            client_id=client_id,
            subscriptions=[
                (fleet_filter(self.prefix, "status"), 1),
                (fleet_filter(self.prefix, "birth"), 1),
                (f"{self.prefix}/+/+/cmd/{STAFF_ACK}/result", 1),
            ],
            inbound_queue_size=10_000,
        )
        #: Messages that were not a valid status, birth or result (logged, skipped).
        self.refused = 0
        #: Retained statuses and births cleared (zero-length messages: a device decommissioned).
        self.cleared = 0
        #: Where messages this link does not take go, when another link shares its connection
        #: (:meth:`share`).
        self._forward: Callable[[str, bytes], None] | None = None

    def share(self, subscribe: Iterable[tuple[str, int]], forward: Callable[[str, bytes], None]) -> None:
        """Let another link use this connection (on the fleet's broker one certificate keeps one
        connection): its subscriptions are added, and the messages this link does not take are handed to
        ``forward`` from this link's thread. Call before :meth:`start`."""
        for topic, qos in subscribe:
            self.transport.subscribe(topic, qos)
        self._forward = forward

    @property
    def connected(self) -> bool:
        return self.transport.connected

    def start(self) -> None:
        self.transport.start()
        self._thread = threading.Thread(target=self._run, name="web-live", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.transport.stop()

    def wait_connected(self, timeout_s: float) -> None:
        """Wait for the first connection (raises the transport's errors)."""
        self.transport.wait_connected(timeout_s)

    def live_devices(self) -> Mapping[tuple[str, str], LiveDevice]:
        with self._lock:
            return dict(self._devices)

    def command_result(self, command_id: str) -> CommandResult | None:
        with self._lock:
            return self._results.get(command_id)

    def send_staff_ack(self, store_id: str, device_id: str, call_id: str) -> SentCommand:
        now = self._clock()
        envelope = staff_ack_envelope(call_id, now, self._ttl_s, self._key)
        topic = DeviceTopics(self.prefix, store_id, device_id).command(STAFF_ACK)
        if not self.transport.connected:
            raise LinkError(
                "the back office is not connected to the broker, so the kiosk was not told; the call is "
                "acknowledged here; check the broker (backoffice serve --broker) and acknowledge again"
            )
        self.transport.publish(topic, envelope.model_dump_json().encode("utf-8"), qos=1)
        return SentCommand(
            envelope.command_id, store_id, device_id, call_id, now, envelope.signature is not None
        )

    def send_operator_message(
        self, store_id: str, device_id: str, message: OperatorChatMessage
    ) -> SentOperatorMessage:
        if self._key is not None:
            message = sign_operator_message(message, self._key)
        topic = DeviceTopics(self.prefix, store_id, device_id).chat_operator
        if not self.transport.connected:
            raise LinkError(
                "the back office is not connected to the broker, so the kiosk was not told; check the broker "
                "(backoffice serve --broker)"
            )
        self.transport.publish(
            topic,
            message.model_dump_json().encode("utf-8"),
            qos=CHAT_OPERATOR_QOS,
            retain=CHAT_OPERATOR_RETAIN,
        )
        return SentOperatorMessage(
            message.message_id,
            store_id,
            device_id,
            message.conversation_id,
            self._clock(),
            message.signature is not None,
        )

    def _run(self) -> None:
        while not self._stop.is_set():
            for message in drain_queue(self.transport.inbound, 0.2, limit=1000):
                if not self.handle(message.topic, message.payload) and self._forward is not None:
                    self._forward(message.topic, message.payload)

    def handle(self, topic: str, payload: bytes) -> bool:
        """Take in one message (the link's thread; tests call it directly); False when it is not one of
        this link's (another command's result, say)."""
        try:
            where = parse_topic(self.prefix, topic)
            if where.kind == "cmd_result" and where.command != STAFF_ACK:
                return False
            if not payload and where.kind in ("status", "birth"):
                # A retained status or birth cleared (provision decommission): forget it, so the stored
                # state (the ingest's, which marks the device decommissioned) is what the pages show.
                self.cleared += 1
                self._update(where.store_id, where.device_id, **{where.kind: None})
            elif where.kind == "status":
                status = StatusPayload.model_validate_json(payload)
                now = self._clock()
                self._update(where.store_id, where.device_id, status=status, status_received_at=now)
            elif where.kind == "birth":
                birth = BirthPayload.model_validate_json(payload)
                self._update(where.store_id, where.device_id, birth=birth)
            elif where.kind == "cmd_result":
                result = CommandResult.model_validate_json(payload)
                if result.command_id is not None:
                    with self._lock:
                        self._results[result.command_id] = result
                        while len(self._results) > RESULTS_KEPT:
                            self._results.popitem(last=False)
        except (TopicError, ValidationError) as exc:
            self.refused += 1
            logger.warning("live link: skipped a message on %s: %s", topic, str(exc).splitlines()[0])
        return True

    def _update(self, store_id: str, device_id: str, **changes: object) -> None:
        key = (store_id, device_id)
        with self._lock:
            self._devices[key] = (self._devices.get(key) or LiveDevice()).model_copy(update=changes)
