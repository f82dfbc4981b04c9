"""The chat desk: what the operator console does with :mod:`backoffice.chat.store` (the conversation state
machine and its atomic transitions): accept, reply, hand back and resolve on behalf of a signed-in
operator, tell the kiosk over MQTT (a signed operator message through the application's one
:class:`~backoffice.web.link.KioskLink`), record accept, hand back and resolve in the audit log, and say
what the inbox holds.

An action is refused before anything changes when the link is not connected (the shopper could not be
told); once the store's transition is made the message is published, QoS 1, and its row says sent or
not sent, then what the kiosk answered.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

from backoffice.chat import store as chat_store
from backoffice.chat.machine import Conversation, Step
from backoffice.chat.store import TranscriptLine
from backoffice.db import Database
from backoffice.web.audit import Action, AuditLog
from backoffice.web.link import KioskLink, LinkError, SentOperatorMessage
from mqtt_bridge.contract.chat import MAX_DISPLAY_NAME, BotGuess, OperatorAction, OperatorChatMessage

logger = logging.getLogger(__name__)

#: Finished conversations (and chats handed back) stay in the inbox this long.
RECENT_S: Final = 3600.0

#: Transcript lines shown per conversation in the inbox.
LINES_SHOWN: Final = 200

Problem = Literal["", "not_connected", "not_told", "unsigned"]

#: The operator actions the audit log records, under its action names (replies are the transcript's).
AUDITED: Final[dict[OperatorAction, Action]] = {
    "accept": "chat_accept",
    "hand_back": "chat_hand_back",
    "resolve": "chat_resolve",
}


def operator_message(
    conversation_id: str,
    action: OperatorAction,
    now: datetime,
    ttl_s: int,
    *,
    display_name: str | None = None,
    text: str | None = None,
) -> OperatorChatMessage:
    """The operator message the kiosk is sent (unsigned: the link signs it), valid ``ttl_s`` from
    ``now``."""
    return OperatorChatMessage(
        conversation_id=conversation_id,
        action=action,
        display_name=display_name,
        text=text,
        issued_at=now,
        expires_at=now + timedelta(seconds=ttl_s),
        nonce=secrets.token_urlsafe(24),
    )


def display_name_of(name: str, user: str) -> str:
    """The name the screen shows: what the operator typed (trimmed to what the contract allows), else the
    account's name."""
    cleaned = " ".join(name.split())[:MAX_DISPLAY_NAME]
    return cleaned or user[:MAX_DISPLAY_NAME]


@dataclass(frozen=True)
class ChatOutcome:
    """What an operator's click did: the step (None when refused before it, see ``problem``), the
    message sent, and a problem to show."""

    step: Step | None
    sent: SentOperatorMessage | None = None
    problem: Problem = ""
    detail: str = ""


@dataclass(frozen=True)
class InboxItem:
    """One conversation of the inbox: its record, its transcript so far and the bot's last guesses."""

    conversation: Conversation
    lines: tuple[TranscriptLine, ...]
    guesses: tuple[BotGuess, ...]


class ChatDesk:
    """Accept, reply, hand back and resolve chats; the inbox."""

    def __init__(
        self,
        db: Database,
        link: KioskLink,
        audit: AuditLog,
        clock: Callable[[], datetime],
        *,
        ttl_s: int,
    ) -> None:
        self.db = db
        self.link = link
        self.audit = audit
        self.clock = clock
        self.ttl_s = ttl_s

    # --- operators ---------------------------------------------------------------------------------------

    def accept(self, conversation_id: str, user: str, display_name: str, address: str) -> ChatOutcome:
        """``waiting -> open`` by ``user``; the kiosk is told, with the name its screen shows."""
        name = display_name_of(display_name, user)
        return self._act(conversation_id, user, address, "accept", display_name=name)

    def reply(self, conversation_id: str, user: str, text: str, address: str) -> ChatOutcome:
        """Send ``text`` to the shopper in ``user``'s open chat."""
        conversation = chat_store.get_conversation(self.db, conversation_id)
        name = conversation.operator_name if conversation is not None else None
        return self._act(conversation_id, user, address, "message", display_name=name, text=text)

    def hand_back(self, conversation_id: str, user: str, address: str) -> ChatOutcome:
        """``open -> bot``; the kiosk's bot answers again."""
        return self._act(conversation_id, user, address, "hand_back")

    def resolve(self, conversation_id: str, user: str, address: str) -> ChatOutcome:
        """``waiting``/``open`` -> ``resolved``; the kiosk ends the chat."""
        return self._act(conversation_id, user, address, "resolve")

    def _act(
        self,
        conversation_id: str,
        user: str,
        address: str,
        action: OperatorAction,
        *,
        display_name: str | None = None,
        text: str | None = None,
    ) -> ChatOutcome:
        if not self.link.connected:
            return ChatOutcome(None, problem="not_connected")
        now = self.clock()
        message = operator_message(
            conversation_id, action, now, self.ttl_s, display_name=display_name, text=text
        )
        transition = {
            "accept": chat_store.accept,
            "message": chat_store.reply,
            "hand_back": chat_store.hand_back,
            "resolve": chat_store.resolve,
        }[action]
        step = transition(self.db, conversation_id, user, message, now)
        if not step.done:
            return ChatOutcome(step)
        c = step.conversation
        sent: SentOperatorMessage | None = None
        problem: Problem = ""
        detail = ""
        try:
            sent = self.link.send_operator_message(c.store_id, c.device_id, message)
        except LinkError as exc:
            problem, detail = "not_told", str(exc)
            logger.warning("chat %s: %s", conversation_id, detail)
        chat_store.mark_sent(self.db, message.message_id, "sent" if sent else "not_sent", detail, now)
        if sent is not None and not sent.signed:
            problem = "unsigned"
        audited = AUDITED.get(action)
        if audited is not None:
            self.audit.record(
                user,
                audited,
                target=conversation_id,
                store_id=c.store_id,
                device_id=c.device_id,
                address=address,
                detail=(f"as {display_name}; " if action == "accept" else "")
                + (f"message {message.message_id}" if sent else detail),
            )
        return ChatOutcome(step, sent, problem, detail)

    # --- what the console shows --------------------------------------------------------------------------

    def inbox(self, stores: tuple[str, ...] = (), devices: tuple[str, ...] = ()) -> list[InboxItem]:
        """Waiting conversations (longest waiting first), open ones, then those finished or handed back in
        the last :data:`RECENT_S`, each with its transcript and the bot's last guesses."""
        now = self.clock()
        items = []
        for c in chat_store.live_conversations(
            self.db, now, recent_s=RECENT_S, stores=stores, devices=devices
        ):
            lines = tuple(chat_store.transcript(self.db, c.conversation_id, limit=LINES_SHOWN))
            items.append(InboxItem(c, lines, chat_store.last_guesses(self.db, c.conversation_id)))
        return items

    def waiting(self) -> tuple[int, float | None]:
        """Conversations waiting for a person, and when the newest began to wait (the nav's badge)."""
        return chat_store.waiting_count(self.db)
