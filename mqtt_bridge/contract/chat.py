"""The chat's wire contract (issue 19): a shopper's conversation with the FAQ assistant, its hand-off to a
live operator in the back office, and the operator's side of it.

Two directions, two topics (:mod:`.topics`, docs/mqtt.md "Chat"):

- **device -> back office**, ``{prefix}/{store}/{device}/chat``, QoS 1, not retained: a :class:`ChatBatch`
  of :data:`ChatMessage` items, oldest first, published from the device's durable outbox (stream ``chat``),
  so nothing is lost across a broker outage. Delivery is at least once: the back office keeps each
  ``message_id`` once and orders a conversation by ``seq``.
- **back office -> device**, ``{prefix}/{store}/{device}/chat/operator``, QoS 1, not retained: an
  :class:`OperatorChatMessage` (accept, message, hand back, resolve), signed by the back office's Ed25519
  key like a command (``mqtt_bridge.chat``: signature over the canonical JSON without ``signature``, a
  nonce used once, an expiry). The kiosk shows nothing of an operator message that does not verify.

Privacy: a ``conversation_id`` is random per chat (:func:`new_conversation_id`), never derived from a
visit, a ``visit_ref`` or anything of the face; no chat message carries a visit, a valence or an image
(the allowlist's ``CHAT_FORBIDDEN_KEYS``). A shopper's text is masked on the device (phone numbers, e-mail
addresses and card numbers become ``[phone]``, ``[email]``, ``[card]``) before it reaches the outbox. The
chat's text keys (``text``, ``display_name``, ...) are allowed on the chat topics only: the events'
allowlist does not hold them, so the ingest refuses an event batch that carries them.

This module imports nothing but pydantic and the standard library.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime
from typing import Annotated, Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, JsonValue, TypeAdapter, model_validator

#: The version of every chat payload's schema.
CHAT_SCHEMA_VERSION: Final[Literal[1]] = 1

#: A conversation id: 32 lowercase hex digits (128 random bits).
CONVERSATION_ID_PATTERN: Final = r"^[0-9a-f]{32}$"
#: A message id: letters, digits, '_' and '-' (a UUID4 hex from a device).
MESSAGE_ID_PATTERN: Final = r"^[A-Za-z0-9_-]{1,64}$"
#: An FAQ entry's id (kiosk.assistant.knowledge: lowercase letters, digits and _).
ENTRY_ID_PATTERN: Final = r"^[a-z][a-z0-9_]{0,63}$"

#: Longest shopper message the kiosk sends (its keyboard stops there too).
MAX_SHOPPER_TEXT: Final = 500
#: Longest text the bot shows (an FAQ answer, a clarifying question).
MAX_BOT_TEXT: Final = 2000
#: Longest operator message the kiosk accepts.
MAX_OPERATOR_TEXT: Final = 1000
#: Longest operator display name.
MAX_DISPLAY_NAME: Final = 40
#: The bot's top guesses sent with each reply.
MAX_GUESSES: Final = 3

Lang = Literal["ru", "en"]

#: Where the shopper opened the chat: the attract screen's or an offer's "Questions?" entry.
OpenedFrom = Literal["attract", "offer"]

#: Why a chat went to a person: the "talk to a person" button, words asking for one, the bot's declines
#: in a row, a frustrated message, or sustained negative valence while the chat was open.
HandoffReason = Literal["button", "words", "repeated_declines", "frustrated", "negative_valence"]

#: Why no person took a hand-off: none accepted within the kiosk's wait, or no operator is on duty now.
UnansweredReason = Literal["timeout", "off_duty"]

#: Why a chat ended: the shopper tapped "done", the visit ended (the shopper left), it sat idle, the
#: operator resolved it, or the kiosk left the chat (maintenance switched on, or the kiosk shutting down).
EndReason = Literal["done", "visit_ended", "timeout", "resolved", "maintenance"]

#: What the bot did with a message (``handoff``: it said a person is being called).
BotAction = Literal["answer", "clarify", "decline", "handoff"]

#: What an operator message does.
OperatorAction = Literal["accept", "message", "hand_back", "resolve"]


def new_conversation_id() -> str:
    """A fresh conversation id: 128 random bits in hex, from the OS's CSPRNG. Never derived from anything
    of the visit or the face, so a transcript cannot be joined to the events."""
    return secrets.token_hex(16)


def new_message_id() -> str:
    """A random, unique message id (UUID4 hex): the key that makes chat delivery idempotent."""
    return uuid.uuid4().hex


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChatMessageBase(_Frozen):
    """Fields of every device -> back office chat message."""

    schema_version: Literal[1] = Field(default=CHAT_SCHEMA_VERSION, description="Version of this schema.")
    message_id: str = Field(
        default_factory=new_message_id,
        pattern=MESSAGE_ID_PATTERN,
        description="Unique id of this message; the back office keeps each once (delivery: at least once).",
    )
    conversation_id: str = Field(
        pattern=CONVERSATION_ID_PATTERN,
        description="Random per chat (128 bits, hex); never linked to a visit, a visit_ref or the face.",
    )
    seq: int = Field(
        ge=0, description="Order within the conversation: 0 for chat_opened, then +1 for each message."
    )
    ts: datetime = Field(description="When it happened on the device (UTC, whole seconds).")


class ChatOpened(ChatMessageBase):
    """The shopper opened a chat with the assistant."""

    type: Literal["chat_opened"] = "chat_opened"
    lang: Lang = Field(description="The screen's language when the chat opened.")
    opened_from: OpenedFrom = Field(description="Which screen's 'Questions?' entry opened it.")
    faq_version: int = Field(ge=1, description="Version of the store's FAQ the assistant answers from.")
    on_duty: bool = Field(
        description="Whether operators are on duty now by the kiosk's [assistant] duty hours (a hand-off "
        "outside them is answered at once with the staff call and the FAQ's contact entry)."
    )


class ShopperMessage(ChatMessageBase):
    """A message the shopper sent, masked on the device."""

    type: Literal["shopper_message"] = "shopper_message"
    text: str = Field(
        min_length=1,
        max_length=MAX_SHOPPER_TEXT,
        description="The shopper's text with phone numbers, e-mail addresses and card numbers masked "
        "([phone], [email], [card]) on the device.",
    )
    lang: Lang = Field(description="The message's language as the assistant read it.")
    masked: int = Field(default=0, ge=0, description="How many personal-data items were masked in it.")
    suggested: bool = Field(
        default=False, description="The shopper tapped a suggested question instead of typing."
    )


class BotGuess(_Frozen):
    """One of the assistant's best-scored FAQ entries for a message."""

    entry: str = Field(pattern=ENTRY_ID_PATTERN, description="The FAQ entry's id.")
    score: float = Field(ge=0, le=1, description="Its retrieval score (0 to 1).")


class BotReply(ChatMessageBase):
    """The assistant's reply to a shopper message (none is sent while an operator has the chat)."""

    type: Literal["bot_reply"] = "bot_reply"
    in_reply_to: str = Field(pattern=MESSAGE_ID_PATTERN, description="The shopper message it answers.")
    action: BotAction = Field(
        description="'answer' (an FAQ entry's text), 'clarify' (which of two entries), 'decline' (no "
        "answer, a person offered), 'handoff' (a person is being called; a handoff_requested follows)."
    )
    entry: str | None = Field(
        default=None, pattern=ENTRY_ID_PATTERN, description="The entry answered (answer only)."
    )
    options: list[Annotated[str, Field(pattern=ENTRY_ID_PATTERN)]] = Field(
        default_factory=list, max_length=2, description="The two entries offered (clarify only)."
    )
    confidence: float = Field(ge=0, le=1, description="The assistant's confidence (the best entry's score).")
    guesses: list[BotGuess] = Field(
        default_factory=list,
        max_length=MAX_GUESSES,
        description="The best-scored entries, best first, for the operator and the FAQ's to-do list.",
    )
    text: str = Field(
        min_length=1, max_length=MAX_BOT_TEXT, description="What the bot showed (an FAQ entry's own text)."
    )
    lang: Lang = Field(description="The reply's language.")


class HandoffRequested(ChatMessageBase):
    """The chat is handed to a person; the bot is silent from now until an operator hands it back."""

    type: Literal["handoff_requested"] = "handoff_requested"
    reason: HandoffReason = Field(description="What handed it off.")
    detail: str | None = Field(
        default=None,
        pattern=r"^[a-z_]{1,40}$",
        description="The assistant's own reason for 'words' and 'frustrated' (asked_for_person, swearing, "
        "grievance, ...), else None.",
    )
    on_duty: bool = Field(description="Whether operators are on duty now by the kiosk's duty hours.")
    wait_s: float = Field(
        ge=0, description="How long the kiosk waits for an operator to accept before telling the shopper."
    )


class HandoffUnanswered(ChatMessageBase):
    """No operator took the hand-off: the shopper was told so honestly and offered the store's staff call
    and the FAQ's contact entry; the bot answers again. An operator may still accept while the chat lasts."""

    type: Literal["handoff_unanswered"] = "handoff_unanswered"
    reason: UnansweredReason = Field(
        description="'timeout': nobody accepted within wait_s; 'off_duty': outside the duty hours."
    )


class OperatorReceipt(ChatMessageBase):
    """What the kiosk did with an operator message: shown (or applied), or refused with the reason."""

    type: Literal["operator_receipt"] = "operator_receipt"
    operator_message_id: str = Field(pattern=MESSAGE_ID_PATTERN, description="The operator message's id.")
    action: OperatorAction = Field(description="The operator message's action.")
    status: Literal["shown", "duplicate", "refused"] = Field(
        description="'shown': on the screen (or applied); 'duplicate': already had; 'refused': not shown."
    )
    reason: str = Field(default="", max_length=200, description="Why it was refused, for a person to read.")


class ChatEnded(ChatMessageBase):
    """The chat ended and the screen cleared it."""

    type: Literal["chat_ended"] = "chat_ended"
    reason: EndReason = Field(description="Why it ended.")


class ChatCsat(ChatMessageBase):
    """The shopper's rating of the chat, asked when it ends (may come after chat_ended)."""

    type: Literal["chat_csat"] = "chat_csat"
    score: int = Field(ge=1, le=5, description="1 (very unhappy) to 5 (very happy).")


ChatMessage = Annotated[
    ChatOpened
    | ShopperMessage
    | BotReply
    | HandoffRequested
    | HandoffUnanswered
    | OperatorReceipt
    | ChatEnded
    | ChatCsat,
    Field(discriminator="type"),
]

CHAT_MESSAGE_ADAPTER: TypeAdapter[ChatMessage] = TypeAdapter(ChatMessage)

#: Every chat message model, by its ``type``.
CHAT_MESSAGE_TYPES: Final[dict[str, type[ChatMessageBase]]] = {
    model.model_fields["type"].default: model
    for model in (
        ChatOpened,
        ShopperMessage,
        BotReply,
        HandoffRequested,
        HandoffUnanswered,
        OperatorReceipt,
        ChatEnded,
        ChatCsat,
    )
}


def parse_chat_message(data: str | bytes) -> ChatMessage:
    """Parse one chat message from JSON, choosing the model by its ``type``."""
    return CHAT_MESSAGE_ADAPTER.validate_json(data)


class ChatBatch(_Frozen):
    """On ``chat``: chat messages from the device's outbox, oldest first (each validated on its own with
    :data:`CHAT_MESSAGE_ADAPTER`, as events are in an event batch)."""

    schema_version: Literal[1] = Field(default=CHAT_SCHEMA_VERSION, description="Version of this schema.")
    batch_id: str = Field(description="Unique id of this batch (a redelivered batch keeps its id).")
    store_id: str = Field(description="Store of the device that sent the batch.")
    device_id: str = Field(description="Device that sent the batch.")
    messages: list[dict[str, JsonValue]] = Field(
        min_length=1, description="Chat messages (mqtt_bridge.contract.chat.ChatMessage), each with its id."
    )


class OperatorChatMessage(_Frozen):
    """On ``chat/operator``: an operator's action on a conversation, signed by the back office.

    ``signature`` is the back office's Ed25519 signature (base64url) over
    :func:`mqtt_bridge.chat.operator_signing_bytes`: the message's canonical JSON without ``signature``.
    The kiosk refuses one that is unsigned, badly signed, expired, issued in the future, valid for too
    long, or whose nonce it saw before (the ``[mqtt.commands]`` keys and limits), and one for a
    conversation that is not on its screen now.

    - ``accept``: an operator takes the handed-off chat; the screen says a person has joined, by
      ``display_name`` (what the screen shows, and nothing else of the staff member).
    - ``message``: the operator's ``text``, shown in the conversation.
    - ``hand_back``: the bot answers again.
    - ``resolve``: the operator closes the conversation; the kiosk ends it (``chat_ended`` ``resolved``).
    """

    schema_version: Literal[1] = Field(default=CHAT_SCHEMA_VERSION, description="Version of this schema.")
    message_id: str = Field(
        default_factory=new_message_id, pattern=MESSAGE_ID_PATTERN, description="Unique id of this message."
    )
    conversation_id: str = Field(
        pattern=CONVERSATION_ID_PATTERN, description="The conversation (from the device's messages)."
    )
    action: OperatorAction = Field(description="What it does.")
    display_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_DISPLAY_NAME,
        description="The operator's name as the screen shows it (required to accept, allowed with a "
        "message); no other staff identity is sent.",
    )
    text: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_OPERATOR_TEXT,
        description="The operator's message (message only).",
    )
    issued_at: AwareDatetime = Field(description="When the back office issued it (with a time zone).")
    expires_at: AwareDatetime = Field(description="After this instant the kiosk refuses it.")
    nonce: str = Field(
        min_length=16, max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="Random, used once."
    )
    signature: str | None = Field(
        default=None, max_length=128, description="Ed25519 signature (base64url) by the back office."
    )

    @model_validator(mode="after")
    def _fields_of_action(self) -> OperatorChatMessage:
        if self.action == "accept" and self.display_name is None:
            raise ValueError("an 'accept' needs the display_name the screen shows")
        if self.action == "message" and self.text is None:
            raise ValueError("a 'message' needs its text")
        if self.action != "message" and self.text is not None:
            raise ValueError(f"text goes with 'message' only, not with {self.action!r}")
        if self.action in ("hand_back", "resolve") and self.display_name is not None:
            raise ValueError(f"display_name goes with 'accept' and 'message' only, not with {self.action!r}")
        return self


#: The chat's wire models, by the name of their schema file in docs/schemas/ (the message union's is
#: ``chat_message``, added by :mod:`.schemas`).
CHAT_WIRE_MODELS: Final[dict[str, type[BaseModel]]] = {
    "chat_batch": ChatBatch,
    "chat_operator": OperatorChatMessage,
}
