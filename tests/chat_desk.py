"""A stand-in for the back office's chat desk on a real broker, for the kiosk's chat tests and
bench/chat_roundtrip.py: it reads a device's ``chat`` topic (every :class:`ChatBatch`, validated against the
contract) and publishes signed operator messages on ``chat/operator``, as the operator console does."""

from __future__ import annotations

import secrets
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mqtt_bridge.chat import sign_operator_message
from mqtt_bridge.contract.chat import CHAT_MESSAGE_ADAPTER, ChatBatch, ChatMessage, OperatorChatMessage
from mqtt_bridge.contract.topics import DeviceTopics
from mqtt_bridge.settings import BrokerSettings
from mqtt_bridge.signing import public_key_text
from mqtt_bridge.transport import MqttTransport, drain_queue


class OperatorDesk:
    """The back office's side of one device's chat."""

    def __init__(self, settings: BrokerSettings, topics: DeviceTopics, *, persistent: bool = False) -> None:
        self.topics = topics
        self.key = Ed25519PrivateKey.generate()
        self.public_key = public_key_text(self.key)
        self.transport = MqttTransport(
            settings,
            client_id=f"desk-{uuid.uuid4().hex[:8]}",
            subscriptions=[(topics.chat, 1)],
            inbound_queue_size=100_000,
            clean_start=not persistent,
            session_expiry_s=600 if persistent else 0,
        )
        self._lock = threading.Lock()
        self._received: list[ChatMessage] = []
        self._ids: set[str] = set()
        #: Batches received, redeliveries included (at least once).
        self.batches = 0

    def start(self) -> None:
        self.transport.start()
        self.transport.wait_connected(10)

    def stop(self) -> None:
        self.transport.stop()

    def collect(self, wait_s: float = 0.0) -> list[ChatMessage]:
        """Take in what arrived (each message once, in arrival order); returns everything so far."""
        for message in drain_queue(self.transport.inbound, wait_s, limit=10_000):
            batch = ChatBatch.model_validate_json(message.payload)
            with self._lock:
                self.batches += 1
                for raw in batch.messages:
                    parsed = CHAT_MESSAGE_ADAPTER.validate_python(raw)
                    if parsed.message_id not in self._ids:
                        self._ids.add(parsed.message_id)
                        self._received.append(parsed)
        with self._lock:
            return list(self._received)

    def of(self, kind: str) -> list[ChatMessage]:
        """The messages of one type received so far."""
        return [m for m in self.collect() if m.type == kind]

    def first(self, condition: Callable[[ChatMessage], bool]) -> ChatMessage | None:
        return next((m for m in self.collect() if condition(m)), None)

    def message(
        self,
        conversation_id: str,
        action: str,
        *,
        text: str | None = None,
        display_name: str | None = None,
        signed: bool = True,
        key: Ed25519PrivateKey | None = None,
        ttl_s: float = 60.0,
    ) -> OperatorChatMessage:
        """An operator message, signed with the desk's key (or ``key``), valid ``ttl_s``."""
        now = datetime.now(UTC)
        message = OperatorChatMessage.model_validate(
            {
                "message_id": uuid.uuid4().hex,
                "conversation_id": conversation_id,
                "action": action,
                "issued_at": now,
                "expires_at": now + timedelta(seconds=ttl_s),
                "nonce": secrets.token_urlsafe(18),
                "text": text,
                "display_name": display_name,
            }
        )
        return sign_operator_message(message, key or self.key) if signed else message

    def publish(self, message: OperatorChatMessage) -> None:
        """Publish an operator message to the device, QoS 1."""
        self.transport.publish(self.topics.chat_operator, message.model_dump_json().encode(), qos=1)

    def send(
        self, conversation_id: str, action: str, *, text: str | None = None, display_name: str | None = None
    ) -> OperatorChatMessage:
        """Sign and publish an operator message; returns it."""
        message = self.message(conversation_id, action, text=text, display_name=display_name)
        self.publish(message)
        return message
