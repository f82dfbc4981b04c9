"""The chat's state machine: pure and deterministic (the clock passed in; conversation ids drawn from the
OS's CSPRNG, by a function that tests may replace), owned by the brain.

    closed -> bot -> waiting (hand-off requested) -> operator (a person has it) -> bot (handed back)
                \\------------------\\-------------------\\--> rating (ended: done, resolved) -> closed
                 (any open phase)   -> closed (the visit ended, idle timeout, maintenance)

- **bot**: the assistant answers each message (an FAQ entry's own text, a clarifying question or a
  decline); :class:`kiosk.assistant.conversation.Conversation` turns the second decline in a row into a
  hand-off.
- **waiting**: the chat went to a person: on the shopper's request (the "talk to a person" button, or words
  asking for one), on repeated declines, on a frustrated message, or on sustained negative valence while
  the chat is open (the brain hands the chat off instead of raising a separate staff call). The bot is
  silent. If no operator accepts within ``operator_wait_s``, or none is on duty (``duty_days`` and
  ``duty_hours``, or no link to the back office at all), the shopper is told so honestly and offered the
  store's staff call and the FAQ's contact entry; the bot answers again (an operator may still accept).
- **operator**: an operator accepted; the screen says a person has joined, by the name the operator's
  console shows; the bot stays silent until the operator hands the chat back.
- The chat ends and is cleared when the shopper taps "done" (then one rating question), when the operator
  resolves it (likewise), when the visit ends (the shopper left), or after ``idle_timeout_s`` without a
  message.

Every step emits the chat's wire messages (:mod:`mqtt_bridge.contract.chat`) through ``emit``: the
shopper's text masked (phones, e-mails, cards) before it leaves this module, the conversation id random
per chat and never derived from the visit. The screen reads :meth:`ChatSession.state`, a frozen
:class:`ChatState`.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Final, Literal, Protocol, TypeVar

from kiosk.assistant.masking import mask_personal_data
from kiosk.chat.inputs import (
    ChatAskPerson,
    ChatCallStaff,
    ChatDone,
    ChatIntent,
    ChatOpen,
    ChatRate,
    ChatSend,
    Lang,
    OperatorEvent,
    OperatorInput,
    OperatorRefused,
)
from kiosk.clock import Clock
from kiosk.config import AssistantSection
from mqtt_bridge.contract.chat import (
    MAX_BOT_TEXT,
    MAX_GUESSES,
    MAX_SHOPPER_TEXT,
    BotGuess,
    BotReply,
    ChatCsat,
    ChatEnded,
    ChatMessageBase,
    ChatOpened,
    EndReason,
    HandoffReason,
    HandoffRequested,
    HandoffUnanswered,
    OpenedFrom,
    OperatorChatMessage,
    OperatorReceipt,
    ShopperMessage,
    UnansweredReason,
    new_conversation_id,
)

if TYPE_CHECKING:
    from kiosk.assistant.conversation import Conversation
    from kiosk.assistant.engine import Reply
    from kiosk.assistant.knowledge import Faq
    from kiosk.assistant.retrieval import Scored

log = logging.getLogger(__name__)

M = TypeVar("M", bound=ChatMessageBase)

Phase = Literal["closed", "bot", "waiting", "operator", "rating"]
OPEN_PHASES: Final[frozenset[Phase]] = frozenset(("bot", "waiting", "operator"))

#: Lines the screen keeps (the oldest scroll away first).
MAX_LINES: Final = 40
#: Ended conversations remembered (id -> next seq) to answer a late operator message with a receipt.
RECENT_KEPT: Final = 8
#: Suggested questions when ``[assistant] suggested`` is empty: the FAQ's first entries.
DEFAULT_SUGGESTED: Final = 4

#: The assistant's hand-off reasons that are the shopper's words asking for a person (or help a person
#: must give); the others are frustration.
_WORDS: Final = frozenset(
    ("asked_for_person", "asked_for_callback", "grievance", "emergency", "help", "urgent")
)


class ChatAssistant(Protocol):
    """What the chat needs of :class:`kiosk.assistant.engine.Assistant`."""

    @property
    def faq(self) -> Faq:
        """The store's FAQ."""
        ...

    def reply(self, text: str, lang: Lang | None = None) -> Reply:
        """The reply to one message."""
        ...

    def rank(self, text: str, lang: Lang | None = None) -> list[Scored]:
        """Every entry scored for ``text``, best first."""
        ...


@dataclass(frozen=True)
class ChatLine:
    """One line of the conversation on screen. The shopper's, the bot's and the operator's carry their
    ``text``; the kiosk's own notes carry a message ``key`` (kiosk/messages.toml) and its ``values``, so the
    screen shows them in its language."""

    who: Literal["shopper", "bot", "operator", "system"]
    text: str = ""
    key: str = ""
    values: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Suggestion:
    """A suggested question: an FAQ entry's question in both languages."""

    entry: str
    ru: str
    en: str


@dataclass(frozen=True)
class ChatState:
    """What the screen may know of the chat, once a frame."""

    phase: Phase = "closed"
    lines: tuple[ChatLine, ...] = ()
    suggestions: tuple[Suggestion, ...] = ()
    #: The operator's display name while a person has the chat.
    operator: str | None = None
    #: Nobody could join (timeout or off duty): the staff call is offered.
    no_operator: bool = False
    #: The shopper called a consultant to the screen from the chat.
    staff_called: bool = False
    #: How the chat ended (the rating phase says so).
    ended: EndReason | None = None


@dataclass
class _Open:
    """The conversation on screen."""

    cid: str
    visit_id: str | None
    conversation: Conversation
    lang: Lang = "ru"
    seq: int = 0
    last_activity: float = 0.0
    wait_until: float | None = None
    left_at: float | None = None  # the chat's visit ended then (the shopper may be back within the grace)
    operator: str | None = None
    no_operator: bool = False
    staff_called: bool = False
    lines: list[ChatLine] = field(default_factory=list)


class ChatSession:
    """The chat on one screen: at most one conversation at a time."""

    def __init__(
        self,
        settings: AssistantSection,
        assistant: ChatAssistant,
        clock: Clock,
        emit: Callable[[ChatMessageBase], object],
        *,
        store_tz: tzinfo,
        operators_reachable: bool,
        new_id: Callable[[], str] = new_conversation_id,
    ) -> None:
        """``emit`` takes each wire message (the link's outbox sink); ``operators_reachable`` is False when
        the kiosk has no link to the back office (then nobody can ever join). Conversation ids come from
        ``new_id``, the OS's CSPRNG (:func:`~mqtt_bridge.contract.chat.new_conversation_id`), never from the
        kiosk's seeded generator: an id must be unpredictable, and two kiosks seeded alike must not share
        one."""
        from kiosk.assistant.conversation import Conversation  # with the assistant: heavy, and only here

        self._conversation_type = Conversation
        self.settings = settings
        self.assistant = assistant
        self.clock = clock
        self.emit = emit
        self.store_tz = store_tz
        self.operators_reachable = operators_reachable
        self._new_id = new_id
        self.faq_version = assistant.faq.version
        self.suggestions = _suggestions(assistant.faq, settings.suggested)
        self.contact = _contact_entry(assistant.faq, settings.contact_entry)
        self.phase: Phase = "closed"
        self._open: _Open | None = None
        self._rating_since = 0.0
        self._ended: EndReason | None = None
        self._recent: OrderedDict[str, int] = OrderedDict()
        self._last_shopper: ShopperMessage | None = None
        #: Counters for the run summary and health.
        self.opened = 0
        self.handoffs = 0
        self.refused_operator_messages = 0

    # ---- the read model -----------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        """A conversation is on screen (with the bot or a person, or waiting for one)."""
        return self.phase in OPEN_PHASES

    @property
    def conversation_id(self) -> str | None:
        """The id of the conversation on screen (random per chat), or None."""
        return self._open.cid if self._open is not None else None

    @property
    def visit_id(self) -> str | None:
        """The visit the chat is with (in memory only; never on the wire)."""
        return self._open.visit_id if self._open is not None else None

    def state(self) -> ChatState:
        """The screen's read model."""
        conv = self._open
        if conv is None:
            return ChatState(phase=self.phase, suggestions=self.suggestions, ended=self._ended)
        return ChatState(
            phase=self.phase,
            lines=tuple(conv.lines),
            suggestions=self.suggestions,
            operator=conv.operator if self.phase == "operator" else None,
            no_operator=conv.no_operator,
            staff_called=conv.staff_called,
            ended=self._ended,
        )

    # ---- the shopper --------------------------------------------------------------------------------

    def handle(self, intent: ChatIntent, visit_id: str | None = None) -> bool:
        """A shopper's intent; ``visit_id``: the visit the screen speaks to (opening only). Returns True
        when the staff call the shopper asked for should be raised (the brain raises it)."""
        match intent:
            case ChatOpen():
                self.open(intent.t, intent.lang, intent.opened_from, visit_id)
            case ChatSend():
                self.send(intent.t, intent.text, intent.lang, suggested=intent.suggested)
            case ChatAskPerson():
                if self.phase == "bot":
                    self.hand_off(intent.t, "button")
            case ChatCallStaff():
                return self.call_staff()
            case ChatDone():
                if self.is_open:
                    self.end(intent.t, "done")
            case ChatRate():
                self.rate(intent.score)
        return False

    def open(self, t: float, lang: Lang, opened_from: OpenedFrom, visit_id: str | None) -> None:
        """A new conversation (one already open carries on)."""
        if self.is_open:
            return
        cid = self._new_id()
        conversation = self._conversation_type(max_declines=self.settings.max_declines)
        conv = _Open(cid, visit_id, conversation, lang=lang, last_activity=t)
        conv.lines.append(ChatLine("system", key="chat_welcome"))
        self._open, self.phase, self._ended = conv, "bot", None
        self.opened += 1
        self._emit(
            ChatOpened,
            lang=lang,
            opened_from=opened_from,
            faq_version=self.faq_version,
            on_duty=self._on_duty(),
        )

    def send(self, t: float, text: str, lang: Lang, *, suggested: bool = False) -> None:
        """The shopper's message: masked, sent, and answered by the bot unless a person has the chat."""
        conv = self._open
        text = " ".join(text.split())[:MAX_SHOPPER_TEXT]
        if conv is None or not self.is_open or not text:
            return
        masked = mask_personal_data(text)
        conv.last_activity = t
        conv.lines.append(ChatLine("shopper", masked.text))
        shopper = self._last_shopper = self._emit(
            ShopperMessage,
            text=masked.text,
            lang=lang,
            masked=masked.cards + masked.phones + masked.emails,
            suggested=suggested,
        )
        if self.phase != "bot":
            return  # a person has the chat, or is being called: the bot stays silent
        reply = self.assistant.reply(masked.text, lang)
        conv.conversation, shown = conv.conversation.after(reply)
        if shown is None:
            return
        conv.lang = shown.lang
        if shown.action == "handoff":
            self._handoff_reply(t, shown)
            return
        self._bot_reply(shopper, shown)

    def _bot_reply(self, shopper: ShopperMessage, shown: Reply) -> None:
        conv = self._open
        assert conv is not None
        guesses = [
            BotGuess(entry=s.entry_id, score=round(min(1.0, max(0.0, s.score)), 4))
            for s in self.assistant.rank(shopper.text, shopper.lang)[:MAX_GUESSES]
        ]
        conv.lines.append(ChatLine("bot", shown.answer))
        self._emit(
            BotReply,
            in_reply_to=shopper.message_id,
            action=shown.action,
            entry=shown.entry,
            options=list(shown.options),
            confidence=round(min(1.0, max(0.0, shown.confidence)), 4),
            guesses=guesses,
            text=shown.answer[:MAX_BOT_TEXT],
            lang=shown.lang,
        )

    def _handoff_reply(self, t: float, shown: Reply) -> None:
        """The bot hands off: it says a person is being called (on duty only: off duty the shopper is told
        at once that nobody can join, and the bot's promise is not shown)."""
        conv = self._open
        assert conv is not None
        shopper = self._last_shopper
        if self._on_duty() and shopper is not None:
            self._bot_reply(shopper, shown)
        reason = shown.reason or ""
        if reason == "repeated_declines":
            self.hand_off(t, "repeated_declines", announced=True)
        elif reason in _WORDS:
            self.hand_off(t, "words", detail=reason, announced=True)
        else:
            self.hand_off(t, "frustrated", detail=reason or None, announced=True)

    def hand_off(
        self, t: float, reason: HandoffReason, *, detail: str | None = None, announced: bool = False
    ) -> None:
        """The chat goes to a person (from the bot only: once handed off, it waits or a person has it).
        ``announced``: the bot's reply already said a person is being called."""
        conv = self._open
        if conv is None or self.phase != "bot":
            return
        on_duty = self._on_duty()
        conv.conversation = _handed_off(conv.conversation)
        conv.last_activity = t
        self.handoffs += 1
        self._emit(
            HandoffRequested,
            reason=reason,
            detail=detail,
            on_duty=on_duty,
            wait_s=self.settings.operator_wait_s,
        )
        if not on_duty:
            self._unanswered(t, "off_duty")
            return
        if not announced:
            conv.lines.append(ChatLine("system", key="chat_waiting"))
        self.phase = "waiting"
        conv.wait_until = t + self.settings.operator_wait_s

    def negative_valence(self, t: float) -> bool:
        """Sustained negative valence of the chat's shopper: while the chat is open it hands the chat off
        instead of a separate staff call. True when the chat took it (the brain raises no staff call)."""
        if not self.is_open:
            return False
        self.hand_off(t, "negative_valence")
        return True

    def call_staff(self) -> bool:
        """The shopper calls a consultant to the screen from the chat (offered when nobody could join).
        True when the brain should raise the staff call now (once per chat)."""
        conv = self._open
        if conv is None or not self.is_open or conv.staff_called:
            return False
        conv.staff_called = True
        conv.lines.append(ChatLine("system", key="chat_staff_called"))
        return True

    def end(self, t: float, reason: EndReason) -> None:
        """The chat ends and is cleared: ``done`` and ``resolved`` ask one rating question first."""
        conv = self._open
        if conv is None or not self.is_open:
            return
        self._emit(ChatEnded, reason=reason)
        self._remember(conv)
        self._ended = reason
        if reason in ("done", "resolved"):
            conv.lines.clear()
            self.phase, self._rating_since = "rating", t
        else:
            self._close()

    def rate(self, score: int | None) -> None:
        """The rating question's answer (None: skipped); the chat closes either way."""
        if self.phase != "rating" or self._open is None:
            return
        if score is not None and 1 <= score <= 5:
            self._emit(ChatCsat, score=score)
        self._close()

    def visit_ended(self, visit_id: str, t: float) -> None:
        """A visit ended: the chat with it ends and is cleared (the shopper left) ``leave_grace_s`` later,
        unless a face comes back into view before (:meth:`face_back`: a shopper who looked down at the
        keyboard for a moment, whom the tracker lost, is still chatting)."""
        conv = self._open
        if conv is not None and conv.visit_id == visit_id and conv.left_at is None:
            conv.left_at = t
            self._leave(t)

    def face_back(self, visit_id: str) -> None:
        """A visit started while the chat's shopper was gone: the chat carries on with it."""
        conv = self._open
        if conv is not None and conv.left_at is not None:
            conv.visit_id, conv.left_at = visit_id, None

    def _leave(self, t: float) -> None:
        conv = self._open
        if conv is None or conv.left_at is None or t - conv.left_at < self.settings.leave_grace_s:
            return
        if self.is_open:
            self.end(t, "visit_ended")
        if self.phase == "rating":
            self._close()

    def stop(self, t: float, reason: EndReason) -> None:
        """The kiosk leaves the chat (maintenance, shutting down): it ends and is cleared at once."""
        if self.is_open:
            self.end(t, reason)
        if self.phase == "rating":
            self._close()

    # ---- time ---------------------------------------------------------------------------------------

    def tick(self, t: float) -> None:
        """Time passes: the operator wait, the idle timeout, the rating question's timeout."""
        conv = self._open
        if conv is None:
            return
        self._leave(t)
        conv = self._open
        if conv is None:
            return
        if self.phase == "waiting" and conv.wait_until is not None and t >= conv.wait_until:
            self._unanswered(t, "timeout")
        if self.is_open and t - conv.last_activity >= self.settings.idle_timeout_s:
            self.end(t, "timeout")
        if self.phase == "rating" and t - self._rating_since >= self.settings.rating_timeout_s:
            self._close()

    # ---- the operator -------------------------------------------------------------------------------

    def operator(self, event: OperatorEvent, t: float) -> None:
        """An operator message from the back office (verified by the link), or one the link refused."""
        if isinstance(event, OperatorRefused):
            self.refused_operator_messages += 1
            if event.message is not None:
                self._receipt(event.message, "refused", event.reason)
            return
        assert isinstance(event, OperatorInput)
        message = event.message
        if event.duplicate:
            self._receipt(message, "duplicate", "already taken in")
            return
        conv = self._open
        if conv is None or conv.cid != message.conversation_id or not self.is_open:
            self.refused_operator_messages += 1
            self._receipt(message, "refused", "the conversation is not on this kiosk's screen any more")
            return
        problem = self._apply_operator(conv, message, t)
        if problem:
            self.refused_operator_messages += 1
            self._receipt(message, "refused", problem)
        else:
            self._receipt(message, "shown", "")

    def _apply_operator(self, conv: _Open, message: OperatorChatMessage, t: float) -> str:
        """Apply one operator message to the open conversation; '' when done, else why not."""
        match message.action:
            case "accept":
                assert message.display_name is not None
                if self.phase == "operator":
                    return "" if conv.operator == message.display_name else "another operator has the chat"
                conv.operator = message.display_name
                conv.wait_until, conv.no_operator = None, False
                conv.conversation = _handed_off(conv.conversation)
                conv.last_activity = t
                conv.lines.append(
                    ChatLine("system", key="chat_joined", values=(("name", message.display_name),))
                )
                self.phase = "operator"
            case "message":
                if self.phase != "operator":
                    return "accept the chat before writing in it"
                assert message.text is not None
                conv.last_activity = t
                conv.lines.append(ChatLine("operator", message.text, values=(("name", conv.operator or ""),)))
            case "hand_back":
                if self.phase != "operator":
                    return "the chat is not with an operator"
                name = conv.operator or ""
                conv.operator = None
                conv.conversation = conv.conversation.hand_back()
                conv.last_activity = t
                conv.lines.append(ChatLine("system", key="chat_handed_back", values=(("name", name),)))
                self.phase = "bot"
            case "resolve":
                self.end(t, "resolved")
        return ""

    # ---- inside -------------------------------------------------------------------------------------

    def _on_duty(self) -> bool:
        if not self.operators_reachable:
            return False
        local = self.clock.now().astimezone(self.store_tz).replace(tzinfo=None)
        return self.settings.on_duty(local)

    def _unanswered(self, t: float, reason: UnansweredReason) -> None:
        """Nobody can join: say so, offer the staff call and the contact entry; the bot answers again."""
        conv = self._open
        assert conv is not None
        self._emit(HandoffUnanswered, reason=reason)
        conv.conversation = conv.conversation.hand_back()
        conv.wait_until, conv.no_operator = None, True
        conv.lines.append(
            ChatLine("system", key="chat_no_operator" if reason == "timeout" else "chat_off_duty")
        )
        if self.contact is not None:
            conv.lines.append(ChatLine("bot", self.assistant.faq.entry(self.contact).answer(conv.lang)))
        conv.last_activity = t
        self.phase = "bot"

    def _receipt(
        self, message: OperatorChatMessage, status: Literal["shown", "duplicate", "refused"], why: str
    ) -> None:
        cid = message.conversation_id
        if self._open is not None and self._open.cid == cid:
            seq = self._open.seq
            self._open.seq += 1
        elif cid in self._recent:
            seq = self._recent[cid]
            self._recent[cid] = seq + 1
        else:
            log.warning("an operator message for a conversation this kiosk never had was ignored")
            return
        self.emit(
            OperatorReceipt(
                conversation_id=cid,
                seq=seq,
                ts=self._now(),
                operator_message_id=message.message_id,
                action=message.action,
                status=status,
                reason=why[:200],
            )
        )

    def _emit(self, model: type[M], **fields: object) -> M:
        conv = self._open
        assert conv is not None
        message = model.model_validate(
            {"conversation_id": conv.cid, "seq": conv.seq, "ts": self._now(), **fields}
        )
        conv.seq += 1
        del conv.lines[:-MAX_LINES]
        self.emit(message)
        return message

    def _now(self) -> datetime:
        return self.clock.now().replace(microsecond=0)

    def _remember(self, conv: _Open) -> None:
        self._recent[conv.cid] = conv.seq
        while len(self._recent) > RECENT_KEPT:
            self._recent.popitem(last=False)

    def _close(self) -> None:
        """Nothing of the conversation stays: its lines, ids and visit are forgotten."""
        if self._open is not None:
            self._remember(self._open)
        self._open, self.phase = None, "closed"


def _handed_off(conversation: Conversation) -> Conversation:
    """The conversation with the bot silent (a hand-off that did not come from a reply of the bot)."""
    from dataclasses import replace

    return replace(conversation, declines=0, handed_off=True)


def _suggestions(faq: Faq, wanted: list[str]) -> tuple[Suggestion, ...]:
    """The suggested questions: the configured entries (unknown ids skipped, with a warning), else the
    FAQ's first few."""
    ids = [entry.id for entry in faq.entries]
    chosen = [entry_id for entry_id in wanted if entry_id in ids]
    for entry_id in wanted:
        if entry_id not in ids:
            log.warning("[assistant] suggested names %r, which the FAQ does not have; left out", entry_id)
    if not wanted:
        chosen = ids[:DEFAULT_SUGGESTED]
    return tuple(
        Suggestion(entry_id, faq.entry(entry_id).question_ru, faq.entry(entry_id).question_en)
        for entry_id in chosen
    )


def _contact_entry(faq: Faq, wanted: str | None) -> str | None:
    """The entry that says how to reach the store: the configured one, else the first whose id or topic
    names 'contact'."""
    ids = {entry.id for entry in faq.entries}
    if wanted is not None:
        if wanted in ids:
            return wanted
        log.warning("[assistant] contact_entry %r is not in the FAQ; no contact entry is shown", wanted)
        return None
    return next((e.id for e in faq.entries if "contact" in e.id or "contact" in e.topic), None)
