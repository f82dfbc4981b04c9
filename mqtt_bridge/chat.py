"""Signed operator chat messages (back office -> kiosk): signing and verification.

An :class:`~mqtt_bridge.contract.chat.OperatorChatMessage` on ``chat/operator`` is signed and checked like
a command (:mod:`mqtt_bridge.commands`): the back office's Ed25519 signature over
:func:`operator_signing_bytes` (the message's canonical JSON without ``signature``), a nonce used once and
an expiry. The kiosk verifies with its ``[mqtt.commands]`` settings: the same public keys, clock skew,
lifetime and payload limits, so one back-office key signs both.

:class:`OperatorMessageVerifier` refuses (:class:`OperatorMessageRefusedError`, a reason for a person) a
message that is too large, not JSON, not a valid message, unsigned or badly signed, expired, issued in the
future, valid for longer than ``max_lifetime_s``, or whose nonce was seen before with another message; a
message id seen before is a duplicate (QoS 1 redelivery), answered as such and not shown twice. Its ledger is
in memory by default: a chat lives on one screen and is cleared on restart, so a replayed message after a
restart names a conversation the kiosk does not have and is refused for that.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import ValidationError

from mqtt_bridge.commands import CommandLedger, MemoryLedger
from mqtt_bridge.contract.chat import OperatorChatMessage
from mqtt_bridge.errors import MqttBridgeError
from mqtt_bridge.settings import CommandSettings
from mqtt_bridge.signing import canonical_json, load_public_keys, sign_bytes, signature_problem

__all__ = [
    "OperatorMessageRefusedError",
    "OperatorMessageVerifier",
    "Verified",
    "operator_signing_bytes",
    "sign_operator_message",
]


def operator_signing_bytes(message: OperatorChatMessage) -> bytes:
    """What is signed: the message's canonical JSON (sorted keys, no spaces, UTF-8) without ``signature``."""
    return canonical_json(message.model_dump(mode="json", exclude={"signature"}))


def sign_operator_message(message: OperatorChatMessage, key: Ed25519PrivateKey) -> OperatorChatMessage:
    """The message with the back office's Ed25519 signature (what the back office does before publishing)."""
    return message.model_copy(update={"signature": sign_bytes(operator_signing_bytes(message), key)})


class OperatorMessageRefusedError(MqttBridgeError):
    """An operator message the kiosk does not show; ``reason`` is for a person, ``message`` the message as
    read when it parsed (its ids say which conversation the refusal concerns)."""

    def __init__(self, reason: str, message: OperatorChatMessage | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Verified:
    """An operator message that verified; ``duplicate`` when its id was taken in before (show it once)."""

    message: OperatorChatMessage
    duplicate: bool = False


class OperatorMessageVerifier:
    """Checks operator messages against the back office's keys and the ``[mqtt.commands]`` limits."""

    def __init__(
        self,
        settings: CommandSettings,
        clock: Callable[[], datetime],
        ledger: CommandLedger | None = None,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._keys: list[Ed25519PublicKey] = load_public_keys(
            settings.public_keys, "[mqtt.commands] public_keys"
        )
        self.ledger: CommandLedger = ledger or MemoryLedger(settings.nonce_cache_size)

    @property
    def has_keys(self) -> bool:
        """Whether a back-office public key is configured (without one every message is refused)."""
        return bool(self._keys)

    def verify(self, payload: bytes) -> Verified:
        """The message in ``payload`` once it verified; raises :class:`OperatorMessageRefusedError`."""
        limit = self.settings.max_payload_bytes
        if len(payload) > limit:
            raise OperatorMessageRefusedError(f"payload larger than {limit} bytes")
        try:
            message = OperatorChatMessage.model_validate_json(payload)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "payload"
            raise OperatorMessageRefusedError(
                f"malformed operator message: {where}: {first['msg']}"
            ) from None
        problem = signature_problem(message.signature, operator_signing_bytes(message), self._keys)
        problem = problem or self._time_problem(message)
        if problem:
            raise OperatorMessageRefusedError(problem, message)
        mid = message.message_id
        if self.ledger.was_applied(mid):
            return Verified(message, duplicate=True)
        seen = self.ledger.command_for(message.nonce)
        if seen is not None and seen != mid:
            raise OperatorMessageRefusedError("replayed nonce", message)
        self.ledger.remember(message.nonce, mid, message.expires_at)
        self.ledger.mark_applied(mid)
        return Verified(message)

    def _time_problem(self, message: OperatorChatMessage) -> str:
        s = self.settings
        now = self._clock()
        if message.expires_at <= now:
            return "expired"
        if message.issued_at > now + timedelta(seconds=s.max_clock_skew_s):
            return "issued in the future (check the clocks)"
        if message.expires_at - message.issued_at > timedelta(seconds=s.max_lifetime_s):
            return f"valid for longer than {s.max_lifetime_s:.0f} s"
        return ""
