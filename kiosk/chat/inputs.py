"""What reaches the chat: the shopper's intents from the screen, and the operator's messages from the back
office (verified by the link before they get here). Plain frozen values; the brain routes them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mqtt_bridge.contract.chat import OpenedFrom, OperatorChatMessage

Lang = Literal["ru", "en"]


@dataclass(frozen=True)
class ChatOpen:
    """The shopper tapped "Questions?" on the attract or an offer screen."""

    t: float
    lang: Lang
    opened_from: OpenedFrom


@dataclass(frozen=True)
class ChatSend:
    """The shopper sent a message (typed, or a suggested question tapped). ``lang``: the screen's."""

    t: float
    text: str
    lang: Lang
    suggested: bool = False


@dataclass(frozen=True)
class ChatAskPerson:
    """The shopper tapped "talk to a person"."""

    t: float


@dataclass(frozen=True)
class ChatCallStaff:
    """Nobody could join the chat: the shopper calls a consultant to the screen instead."""

    t: float


@dataclass(frozen=True)
class ChatDone:
    """The shopper tapped "done": the chat ends and is cleared."""

    t: float


@dataclass(frozen=True)
class ChatRate:
    """The shopper's rating of the chat at its end (1-5), or None to skip it."""

    t: float
    score: int | None


#: What the screen hands the chat.
ChatIntent = ChatOpen | ChatSend | ChatAskPerson | ChatCallStaff | ChatDone | ChatRate


@dataclass(frozen=True)
class OperatorInput:
    """An operator message that verified (signature, nonce, expiry); ``duplicate``: taken in before."""

    message: OperatorChatMessage
    duplicate: bool = False


@dataclass(frozen=True)
class OperatorRefused:
    """An operator message the link refused (bad signature, expired, ...): ``message`` as read, if it
    parsed, so the chat can answer with a receipt when it names the conversation on screen."""

    reason: str
    message: OperatorChatMessage | None = None


#: What the back office hands the chat.
OperatorEvent = OperatorInput | OperatorRefused
