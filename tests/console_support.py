"""Helpers of the console's tests: a conversation's device messages written as a kiosk would send them
(seq counting up, random ids), and the way they reach the back office's store: a ChatBatch payload on the
device's ``chat`` topic, through the ingest's ``parse_messages`` and ``store.write``, as from a broker."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from backoffice.chat.store import CHAT
from backoffice.db import Database
from backoffice.ingest import BackofficeStore, parse_messages
from mqtt_bridge.contract.chat import (
    BotAction,
    BotGuess,
    BotReply,
    ChatBatch,
    ChatCsat,
    ChatEnded,
    ChatMessage,
    ChatOpened,
    EndReason,
    HandoffReason,
    HandoffRequested,
    HandoffUnanswered,
    OperatorAction,
    OperatorChatMessage,
    OperatorReceipt,
    ShopperMessage,
    UnansweredReason,
    new_conversation_id,
)
from mqtt_bridge.contract.topics import DeviceTopics

PREFIX = "vitrina/v1"
T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


@dataclass
class Script:
    """One conversation's device messages, in the order the kiosk sends them."""

    store_id: str = "s1"
    device_id: str = "d1"
    conversation_id: str = field(default_factory=new_conversation_id)
    ts: datetime = T0
    messages: list[ChatMessage] = field(default_factory=list)

    def _common(self) -> dict[str, object]:
        self.ts += timedelta(seconds=1)
        return {"conversation_id": self.conversation_id, "seq": len(self.messages), "ts": self.ts}

    def _add(self, message: ChatMessage) -> ChatMessage:
        self.messages.append(message)
        return message

    def opened(self, *, on_duty: bool = True, lang: str = "en") -> ChatOpened:
        message = ChatOpened(
            **self._common(), lang=lang, opened_from="attract", faq_version=1, on_duty=on_duty
        )
        self._add(message)
        return message

    def shopper(self, text: str, *, lang: str = "en") -> ShopperMessage:
        message = ShopperMessage(**self._common(), text=text, lang=lang)
        self._add(message)
        return message

    def bot(
        self,
        question: ShopperMessage,
        action: BotAction,
        *,
        entry: str | None = None,
        guesses: Sequence[tuple[str, float]] = (("delivery", 0.3), ("returns", 0.2)),
        text: str = "An FAQ entry's text.",
    ) -> BotReply:
        message = BotReply(
            **self._common(),
            in_reply_to=question.message_id,
            action=action,
            entry=entry if action == "answer" else None,
            confidence=guesses[0][1] if guesses else 0.0,
            guesses=[BotGuess(entry=e, score=s) for e, s in guesses],
            text=text,
            lang=question.lang,
        )
        self._add(message)
        return message

    def handoff(self, reason: HandoffReason = "button", *, on_duty: bool = True) -> HandoffRequested:
        message = HandoffRequested(**self._common(), reason=reason, on_duty=on_duty, wait_s=60.0)
        self._add(message)
        return message

    def unanswered(self, reason: UnansweredReason = "timeout") -> HandoffUnanswered:
        message = HandoffUnanswered(**self._common(), reason=reason)
        self._add(message)
        return message

    def receipt(
        self, operator_message: OperatorChatMessage, status: str = "shown", reason: str = ""
    ) -> OperatorReceipt:
        message = OperatorReceipt(
            **self._common(),
            operator_message_id=operator_message.message_id,
            action=operator_message.action,
            status=status,
            reason=reason,
        )
        self._add(message)
        return message

    def ended(self, reason: EndReason = "done") -> ChatEnded:
        message = ChatEnded(**self._common(), reason=reason)
        self._add(message)
        return message

    def csat(self, score: int) -> ChatCsat:
        message = ChatCsat(**self._common(), score=score)
        self._add(message)
        return message


def payload(store_id: str, device_id: str, messages: Sequence[ChatMessage]) -> bytes:
    """The ChatBatch a kiosk publishes with ``messages``."""
    batch = ChatBatch(
        batch_id=uuid.uuid4().hex,
        store_id=store_id,
        device_id=device_id,
        messages=[m.model_dump(mode="json") for m in messages],
    )
    return batch.model_dump_json().encode()


def topic(store_id: str, device_id: str) -> str:
    """The device's chat topic."""
    return DeviceTopics(PREFIX, store_id, device_id).chat


def deliver(store: BackofficeStore, *batches: tuple[str, str, Sequence[ChatMessage]]) -> int:
    """Deliver batches (store, device, messages) in one ingest transaction, as from a broker."""
    parsed = parse_messages(PREFIX, [(topic(s, d), payload(s, d, m)) for s, d, m in batches])
    assert not parsed.refusals, parsed.refusals
    return store.write(parsed)


def send(store: BackofficeStore, script: Script, messages: Sequence[ChatMessage] | None = None) -> None:
    """Deliver ``messages`` (default: all of ``script``'s) in one batch of the script's device."""
    deliver(store, (script.store_id, script.device_id, script.messages if messages is None else messages))


def operator_message(
    conversation_id: str, action: OperatorAction, *, text: str | None = None, name: str | None = None
) -> OperatorChatMessage:
    """An unsigned operator message (the store's transitions take it as it will be sent)."""
    now = datetime.now(UTC)
    return OperatorChatMessage(
        conversation_id=conversation_id,
        action=action,
        display_name=name if name is not None else ("Anna" if action == "accept" else None),
        text=text,
        issued_at=now,
        expires_at=now + timedelta(minutes=5),
        nonce=secrets.token_urlsafe(24),
    )


def hourly(db: Database) -> dict[tuple[str, str, int], dict[str, float]]:
    """``chat_hourly`` as {(store, device, hour): {column: value}} without zeros."""
    rows = db.query(f"SELECT {', '.join(CHAT.keys + CHAT.columns)} FROM chat_hourly")
    out: dict[tuple[str, str, int], dict[str, float]] = {}
    for row in rows:
        values = {c: float(v) for c, v in zip(CHAT.columns, row[3:], strict=True) if v}
        if values:
            out[(str(row[0]), str(row[1]), int(row[2]))] = values
    return out
