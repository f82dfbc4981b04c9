"""A chat conversation as an explicit state machine, pure: a conversation in, a message or an operator's
action in, the conversation after it out (and whether the action was allowed).

States (after Chatwoot's: a bot's conversation is ``pending``, a hand-off makes it ``open`` for an agent,
then ``resolved``; here the bot's state and the wait for a person are told apart)::

    bot --handoff_requested--> waiting --accept--> open --resolve--> resolved
     ^                            |                  |
     +-------- hand_back ---------+------------------+        (any live state) --chat_ended--> ended

- ``bot``: the assistant answers. ``waiting``: the kiosk handed the chat off and a person is awaited (the
  bot is silent). ``open``: an operator accepted and has the chat. ``resolved``: an operator closed it.
  ``ended``: the kiosk ended it (the shopper tapped "done", left, or it sat idle).
- ``resolved`` and ``ended`` are final: nothing moves a conversation out of them (a ``chat_ended`` after a
  resolve is recorded, the state stays ``resolved``).
- **Device messages arrive at least once and not always in order** (an outbox batch can be redelivered
  after later ones). A device message changes the state only when its ``seq`` is above the
  conversation's ``state_seq``: the ``seq`` of the device message that last set the state, or, after an
  operator's action, the highest ``seq`` received when the operator acted. So a hand-off the kiosk sent
  before an operator handed the chat back cannot reopen it, and one sent after it does.
- **Operator actions** are allowed from given states only (:func:`accept`: ``waiting``; :func:`reply`:
  ``open`` and by the operator who accepted; :func:`hand_back`: ``open``; :func:`resolve`: ``waiting`` or
  ``open``). Refused, the :class:`Step` says why and the conversation as it is, so the caller can tell a
  second operator who was first. :mod:`backoffice.chat.store` runs each step under the conversation's row
  lock, so of two operators accepting at once exactly one wins.

What a conversation adds to the KPI rollups is a pure function of it (:func:`contribution`): the store
adds the difference between the contributions after and before each step, so the rollups always equal
the sum over the conversations (what a rebuild recounts), late and out-of-order messages included.

Times are epoch seconds on the back office's clock: hand-offs count from their receipt (the device's
``ts`` is on another clock), operator actions from when they were made.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final, Literal

from mqtt_bridge.contract.chat import (
    BotReply,
    ChatCsat,
    ChatEnded,
    ChatMessage,
    ChatOpened,
    HandoffRequested,
    HandoffUnanswered,
    ShopperMessage,
)

ConversationState = Literal["bot", "waiting", "open", "resolved", "ended"]
STATES: Final[tuple[ConversationState, ...]] = ("bot", "waiting", "open", "resolved", "ended")
#: States a conversation can still leave.
LIVE_STATES: Final[frozenset[str]] = frozenset({"bot", "waiting", "open"})

#: Why an operator's action was refused.
Refusal = Literal["", "not_waiting", "not_open", "not_yours", "finished"]

#: A first reply within this many seconds of the hand-off counts in ``first_reply_le_60``.
FIRST_REPLY_TARGET_S: Final = 60


@dataclass(frozen=True)
class Conversation:
    """One conversation as the back office keeps it: no text (that is the transcript's), no visit, no face.

    The ``handoff_*``, ``accepted_at``, ``first_reply_at``, ``unanswered_reason`` and ``csat`` fields are
    set once (the first hand-off, acceptance, reply, ...): the KPIs count the first of each. ``taken_at``,
    ``waiting_since`` and ``waiting_unanswered`` describe the current hand-off, for the console."""

    conversation_id: str
    store_id: str
    device_id: str
    #: The hour (epoch second of its start, UTC) the back office first heard of it: its KPIs' hour.
    hour: int
    first_received_at: float
    last_received_at: float
    state: ConversationState = "bot"
    #: The ``seq`` a device message needs to exceed to change the state.
    state_seq: int = -1
    #: The highest ``seq`` received.
    max_seq: int = -1
    opened_ts: float | None = None
    lang: str | None = None
    opened_from: str | None = None
    faq_version: int | None = None
    on_duty: bool | None = None
    shopper_messages: int = 0
    bot_answers: int = 0
    bot_clarifies: int = 0
    bot_declines: int = 0
    #: Hand-off requests received (a chat handed back can be handed off again).
    handoffs: int = 0
    handoff_at: float | None = None
    handoff_reason: str | None = None
    handoff_detail: str | None = None
    #: The kiosk's wait for an operator of the latest hand-off (seconds).
    wait_s: float | None = None
    #: When the current wait for a person began (receipt of the hand-off).
    waiting_since: float | None = None
    #: The kiosk told the shopper nobody is coming for the current hand-off ('timeout', 'off_duty').
    waiting_unanswered: str | None = None
    #: Why the first hand-off went unanswered, if it did (KPI).
    unanswered_reason: str | None = None
    #: First acceptance (KPI); ``taken_at`` is the current one.
    accepted_at: float | None = None
    taken_at: float | None = None
    #: The operator (account) who accepted last, and the name the screen shows for them.
    accepted_by: str | None = None
    operator_name: str | None = None
    operator_messages: int = 0
    first_reply_at: float | None = None
    handed_back: int = 0
    handed_back_at: float | None = None
    handed_back_by: str | None = None
    resolved_at: float | None = None
    resolved_by: str | None = None
    ended_at: float | None = None
    end_reason: str | None = None
    #: The first of ended and resolved.
    finished_at: float | None = None
    csat: int | None = None
    #: When retention deleted its transcript (its KPIs stay).
    transcript_deleted_at: float | None = None

    @property
    def contained(self) -> bool:
        """Finished with at least one answer from the bot and never handed to a person."""
        return self.finished_at is not None and self.handoffs == 0 and self.bot_answers > 0


#: The columns of the ``chat_conversations`` table, in the dataclass's order.
COLUMNS: Final[tuple[str, ...]] = tuple(Conversation.__dataclass_fields__)


def new_conversation(
    conversation_id: str, store_id: str, device_id: str, hour: int, received: float
) -> Conversation:
    """A conversation first heard of at ``received`` (whatever its first message is)."""
    return Conversation(conversation_id, store_id, device_id, hour, received, received)


@dataclass(frozen=True)
class Step:
    """The outcome of an operator's action: whether it was made, the conversation after the attempt, and
    why it was refused (the conversation then says who was first)."""

    done: bool
    conversation: Conversation
    refusal: Refusal = ""


# --- device messages -------------------------------------------------------------------------------------


def on_device_message(c: Conversation, message: ChatMessage, received: float) -> Conversation:
    """The conversation after a device message new to the store, received at ``received``."""
    c = replace(c, last_received_at=max(c.last_received_at, received), max_seq=max(c.max_seq, message.seq))
    if isinstance(message, HandoffRequested | HandoffUnanswered | ChatEnded):
        return _handoff_or_end(c, message, received)
    if isinstance(message, ChatOpened):
        return replace(
            c,
            opened_ts=message.ts.timestamp(),
            lang=message.lang,
            opened_from=message.opened_from,
            faq_version=message.faq_version,
            on_duty=message.on_duty if c.on_duty is None else c.on_duty,
        )
    if isinstance(message, ShopperMessage):
        return replace(c, shopper_messages=c.shopper_messages + 1, lang=c.lang or message.lang)
    if isinstance(message, BotReply):
        return replace(
            c,
            bot_answers=c.bot_answers + (message.action == "answer"),
            bot_clarifies=c.bot_clarifies + (message.action == "clarify"),
            bot_declines=c.bot_declines + (message.action == "decline"),
        )
    if isinstance(message, ChatCsat) and c.csat is None:
        return replace(c, csat=message.score)
    return c  # a second CSAT; an operator receipt (the operator message's own row records it)


def _handoff_or_end(
    c: Conversation, message: HandoffRequested | HandoffUnanswered | ChatEnded, received: float
) -> Conversation:
    fresh = message.seq > c.state_seq
    if isinstance(message, HandoffRequested):
        c = replace(c, handoffs=c.handoffs + 1, wait_s=message.wait_s, on_duty=message.on_duty)
        if c.handoff_at is None:
            c = replace(c, handoff_at=received, handoff_reason=message.reason, handoff_detail=message.detail)
        if c.state == "bot" and fresh:
            c = replace(
                c, state="waiting", state_seq=message.seq, waiting_since=received, waiting_unanswered=None
            )
    elif isinstance(message, HandoffUnanswered):
        if c.unanswered_reason is None:
            c = replace(c, unanswered_reason=message.reason)
        if c.state == "waiting" and fresh:
            c = replace(c, waiting_unanswered=message.reason)
    else:
        if c.ended_at is None:
            c = replace(c, ended_at=received, end_reason=message.reason)
        if c.state in LIVE_STATES:
            c = replace(c, state="ended", state_seq=max(c.state_seq, message.seq))
        if c.finished_at is None:
            c = replace(c, finished_at=received)
    return c


# --- operator actions ------------------------------------------------------------------------------------


def accept(c: Conversation, user: str, display_name: str, now: float) -> Step:
    """``waiting -> open``: ``user`` takes the chat; the screen will show ``display_name``."""
    if c.state != "waiting":
        return Step(False, c, "finished" if c.state not in LIVE_STATES else "not_waiting")
    return Step(
        True,
        replace(
            c,
            state="open",
            state_seq=c.max_seq,
            accepted_at=c.accepted_at if c.accepted_at is not None else now,
            taken_at=now,
            accepted_by=user,
            operator_name=display_name,
            waiting_unanswered=None,
        ),
    )


def reply(c: Conversation, user: str, now: float) -> Step:
    """An operator message in an ``open`` chat, by the operator who accepted it."""
    if c.state != "open":
        return Step(False, c, "finished" if c.state not in LIVE_STATES else "not_open")
    if c.accepted_by != user:
        return Step(False, c, "not_yours")
    return Step(
        True,
        replace(
            c,
            operator_messages=c.operator_messages + 1,
            first_reply_at=c.first_reply_at if c.first_reply_at is not None else now,
        ),
    )


def hand_back(c: Conversation, user: str, now: float) -> Step:
    """``open -> bot``: the assistant answers again."""
    if c.state != "open":
        return Step(False, c, "finished" if c.state not in LIVE_STATES else "not_open")
    return Step(
        True,
        replace(
            c,
            state="bot",
            state_seq=c.max_seq,
            handed_back=c.handed_back + 1,
            handed_back_at=now,
            handed_back_by=user,
            waiting_since=None,
        ),
    )


def resolve(c: Conversation, user: str, now: float) -> Step:
    """``waiting`` or ``open`` -> ``resolved``: the operator closes the chat (the kiosk ends it)."""
    if c.state not in ("waiting", "open"):
        return Step(False, c, "finished" if c.state not in LIVE_STATES else "not_open")
    return Step(
        True,
        replace(
            c,
            state="resolved",
            state_seq=c.max_seq,
            resolved_at=now,
            resolved_by=user,
            finished_at=c.finished_at if c.finished_at is not None else now,
        ),
    )


# --- KPIs ------------------------------------------------------------------------------------------------


def contribution(c: Conversation | None) -> dict[str, float]:
    """What the conversation counts in its hour's ``chat_hourly`` row (docs/chat.md, KPIs); nothing for
    None (a conversation not stored yet)."""
    if c is None:
        return {}
    out: dict[str, float] = {
        "conversations": 1,
        "shopper_messages": c.shopper_messages,
        "bot_answers": c.bot_answers,
        "bot_clarifies": c.bot_clarifies,
        "declined": c.bot_declines,
        "handed_back": c.handed_back,
    }
    if c.finished_at is not None:
        out["finished"] = 1
        out["contained"] = c.contained
    if c.end_reason is not None:
        out[f"ended_{c.end_reason}"] = 1
    if c.handoff_at is not None:
        out["handed_off"] = 1
        out[f"handoff_{c.handoff_reason}"] = 1
        if c.unanswered_reason is not None:
            out[f"unanswered_{c.unanswered_reason}"] = 1
        if c.accepted_at is not None:
            out["accepted"] = 1
            out["accept_s"] = max(0.0, c.accepted_at - c.handoff_at)
        if c.first_reply_at is not None:
            first_reply_s = max(0.0, c.first_reply_at - c.handoff_at)
            out["first_replies"] = 1
            out["first_reply_s"] = first_reply_s
            out["first_reply_le_60"] = first_reply_s <= FIRST_REPLY_TARGET_S
        if c.resolved_at is not None:
            out["resolved"] = 1
            out["resolution_s"] = max(0.0, c.resolved_at - c.handoff_at)
    if c.csat is not None:
        out["csat_n"] = 1
        out["csat_score_sum"] = c.csat
        out[f"csat_{c.csat}"] = 1
    return out


def difference(after: Conversation | None, before: Conversation | None) -> dict[str, float]:
    """What a step adds to the rollups: the contribution after it minus the one before (zeros left out)."""
    new, old = contribution(after), contribution(before)
    out = {k: new.get(k, 0.0) - old.get(k, 0.0) for k in new.keys() | old.keys()}
    return {k: v for k, v in out.items() if v}
