"""The chat's link to the back office: the chat's messages into the outbox, operator messages in.

- :class:`ChatOutboxSink` takes each wire message the chat emits (in the brain's thread) and commits it to
  the outbox's ``chat`` stream (:meth:`cloud_sync.device.DeviceSync.add_chat`), from where it is published
  QoS 1 on ``{device}/chat`` and survives a broker outage. It masks the shopper's text once more at the
  outbox's door (:func:`kiosk.assistant.masking.mask_personal_data`; the chat masked it already), so no
  phone number, e-mail address or card number reaches the disk of the outbox or the wire. Without a link
  (``[mqtt]`` off) the messages are counted and dropped: there is no back office to read them.
- :func:`attach_operator_link` listens on ``{device}/chat/operator`` (in the link's thread): every message
  is verified (:class:`mqtt_bridge.chat.OperatorMessageVerifier`: the back office's Ed25519 signature with
  the ``[mqtt.commands]`` keys, a fresh nonce, the expiry) and handed to the brain's inbox as an
  :class:`~kiosk.chat.inputs.OperatorInput`, or as an :class:`~kiosk.chat.inputs.OperatorRefused` that the
  chat answers with a refusal receipt; nothing unverified reaches the screen.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Protocol

from cloud_sync.device import DeviceSync
from cloud_sync.errors import CloudSyncError
from kiosk.assistant.masking import mask_personal_data
from kiosk.chat.inputs import OperatorEvent, OperatorInput, OperatorRefused
from mqtt_bridge.chat import OperatorMessageRefusedError, OperatorMessageVerifier
from mqtt_bridge.contract.chat import ChatMessageBase, ShopperMessage
from mqtt_bridge.contract.topics import CHAT_OPERATOR_QOS
from mqtt_bridge.settings import CommandSettings
from mqtt_bridge.transport import InboundMessage

log = logging.getLogger(__name__)


def masked_for_the_wire(message: ChatMessageBase) -> ChatMessageBase:
    """``message`` with the shopper's text masked (again): the outbox's door. Bot replies are the FAQ's
    own text (a store's hotline is not a shopper's phone number) and are left as they are."""
    if isinstance(message, ShopperMessage):
        masked = mask_personal_data(message.text)
        if masked.text != message.text:
            found = masked.cards + masked.phones + masked.emails
            return message.model_copy(update={"text": masked.text, "masked": message.masked + found})
    return message


class ChatLink(Protocol):
    """Where chat messages are committed: :class:`cloud_sync.device.DeviceSync`."""

    def add_chat(self, messages: Iterable[ChatMessageBase]) -> int:
        """Commit chat messages to the outbox; returns how many were new."""
        ...


class ChatOutboxSink:
    """Where the chat's messages go: the link's outbox, or nowhere (counted) without a link."""

    def __init__(self, sync: ChatLink | None) -> None:
        self.sync = sync
        self.counts: Counter[str] = Counter()

    def __call__(self, message: ChatMessageBase) -> None:
        """Commit one chat message to the outbox (called in the brain's thread)."""
        if self.sync is None:
            self.counts["dropped_no_link"] += 1
            return
        try:
            self.counts["queued"] += self.sync.add_chat([masked_for_the_wire(message)])
        except CloudSyncError:
            self.counts["dropped_outbox_error"] += 1
            log.exception("a chat message could not be committed to the outbox; it is lost")


def attach_operator_link(
    sync: DeviceSync,
    settings: CommandSettings,
    deliver: Callable[[OperatorEvent], object],
    clock: Callable[[], datetime],
) -> OperatorMessageVerifier:
    """Listen on the device's ``chat/operator`` topic: each message verified with ``settings`` (the
    ``[mqtt.commands]`` keys and limits) and handed to ``deliver`` (the brain's inbox). Call before the
    sync starts."""
    verifier = OperatorMessageVerifier(settings, clock)
    if not verifier.has_keys:
        log.warning(
            "[mqtt.commands] public_keys is empty: every operator chat message will be refused; put the "
            "back office's public key there (`backoffice keygen` prints it)"
        )

    def on_message(message: InboundMessage) -> None:
        try:
            verified = verifier.verify(message.payload)
        except OperatorMessageRefusedError as refused:
            log.warning("refused an operator chat message: %s", refused.reason)
            deliver(OperatorRefused(refused.reason, refused.message))
            return
        deliver(OperatorInput(verified.message, verified.duplicate))

    sync.listen(sync.topics.chat_operator, CHAT_OPERATOR_QOS, on_message)
    return verifier
