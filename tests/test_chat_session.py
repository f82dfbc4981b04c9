"""The chat's state machine (kiosk.chat.session) on the real assistant and the example FAQ: phases,
hand-off reasons, the bot's silence after a hand-off, the honest no-operator path, the operator's
accept/message/hand back/resolve, ending and clearing, and what goes on the wire (masked, no visit)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from kiosk.assistant.engine import Assistant
from kiosk.chat.inputs import (
    ChatAskPerson,
    ChatDone,
    ChatOpen,
    ChatRate,
    ChatSend,
    Lang,
    OperatorInput,
    OperatorRefused,
)
from kiosk.chat.loader import load_assistant
from kiosk.chat.session import ChatSession
from kiosk.clock import ManualClock
from kiosk.config import AssistantSection
from mqtt_bridge.contract.allowlist import chat_keys_outside_allowlist
from mqtt_bridge.contract.chat import (
    CHAT_MESSAGE_ADAPTER,
    BotReply,
    ChatMessageBase,
    OperatorChatMessage,
    OperatorReceipt,
)

REPO = Path(__file__).resolve().parent.parent
FAQ = REPO / "examples" / "faq.yaml"
MOSCOW = ZoneInfo("Europe/Moscow")
#: 12:00 in Moscow on a Monday: inside the default duty hours (09:00-21:00).
NOON = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
#: 23:30 in Moscow: outside them.
NIGHT = datetime(2026, 6, 1, 20, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def assistant() -> Assistant:
    return load_assistant(AssistantSection(enabled=True, faq=FAQ), "ru")


class Rig:
    def __init__(
        self, assistant: Assistant, start: datetime = NOON, reachable: bool = True, **settings: object
    ) -> None:
        self.clock = ManualClock(start, monotonic=100.0)
        self.sent: list[ChatMessageBase] = []
        self.settings = AssistantSection.model_validate({"enabled": True, "faq": FAQ, **settings})
        self.chat = ChatSession(
            self.settings,
            assistant,
            self.clock,
            self.sent.append,
            store_tz=MOSCOW,
            operators_reachable=reachable,
        )

    @property
    def t(self) -> float:
        return self.clock.monotonic()

    def types(self) -> list[str]:
        return [m.model_dump()["type"] for m in self.sent]

    def open(self, visit: str | None = "v1") -> str:
        self.chat.handle(ChatOpen(self.t, "ru", "attract"), visit)
        return self.sent[-1].conversation_id

    def say(self, text: str, lang: Lang = "ru") -> None:
        self.chat.handle(ChatSend(self.t, text, lang))

    def operator(self, action: str, duplicate: bool = False, **fields: object) -> OperatorChatMessage:
        now = self.clock.now()
        message = OperatorChatMessage.model_validate(
            {
                "conversation_id": self.chat.conversation_id or "0" * 32,
                "action": action,
                "issued_at": now,
                "expires_at": now + timedelta(seconds=60),
                "nonce": "n" * 16,
                **fields,
            }
        )
        self.chat.operator(OperatorInput(message, duplicate), self.t)
        return message

    def receipts(self) -> list[OperatorReceipt]:
        return [m for m in self.sent if isinstance(m, OperatorReceipt)]


@pytest.fixture
def rig(assistant: Assistant) -> Iterator[Rig]:
    yield Rig(assistant)


def test_the_bot_answers_from_the_faq_and_the_wire_is_valid(rig: Rig) -> None:
    cid = rig.open()
    rig.say("когда вы открываетесь?")
    assert rig.types() == ["chat_opened", "shopper_message", "bot_reply"]
    reply = rig.sent[-1]
    assert isinstance(reply, BotReply) and reply.action == "answer" and reply.entry == "opening_hours"
    assert reply.guesses[0].entry == "opening_hours" and len(reply.guesses) <= 3
    assert rig.chat.state().lines[-1].who == "bot"
    assert [m.seq for m in rig.sent] == [0, 1, 2]
    for message in rig.sent:
        data = json.loads(message.model_dump_json())
        assert data["conversation_id"] == cid
        assert chat_keys_outside_allowlist(data) == []
        CHAT_MESSAGE_ADAPTER.validate_python(data)


def test_conversation_ids_are_fresh_per_chat_and_carry_no_visit(rig: Rig) -> None:
    first = rig.open("visit-42")
    rig.chat.handle(ChatDone(rig.t))
    rig.chat.handle(ChatRate(rig.t, None))
    second = rig.open("visit-42")
    assert first != second and len(first) == 32
    assert all("visit" not in m.model_dump_json() for m in rig.sent)


def test_two_kiosks_alike_never_share_a_conversation_id(assistant: Assistant) -> None:
    first, second = Rig(assistant), Rig(assistant)
    assert first.open() != second.open(), "ids come from the OS's CSPRNG, not a seeded generator"


def test_personal_data_is_masked_before_the_wire_and_on_screen(rig: Rig) -> None:
    rig.open()
    rig.say("перезвоните на +7 916 123-45-67 или anna@example.com, карта 4111 1111 1111 1111")
    shopper = rig.sent[1]
    text = shopper.model_dump()["text"]
    assert "916" not in text and "anna@" not in text and "4111" not in text
    assert "[phone]" in text and "[email]" in text and "[card]" in text
    assert shopper.model_dump()["masked"] == 3
    assert rig.chat.state().lines[1].text == text
    assert all("916" not in m.model_dump_json() for m in rig.sent)


def test_words_asking_for_a_person_hand_off_and_the_bot_goes_silent(rig: Rig) -> None:
    rig.open()
    rig.say("соедините с оператором")
    assert rig.types()[-2:] == ["bot_reply", "handoff_requested"]
    handoff = rig.sent[-1].model_dump()
    assert handoff["reason"] == "words" and handoff["detail"] == "asked_for_person" and handoff["on_duty"]
    assert rig.chat.phase == "waiting"
    rig.say("когда вы открываетесь?")
    assert rig.types()[-1] == "shopper_message"  # no bot_reply after the hand-off


def test_the_button_and_repeated_declines_hand_off(assistant: Assistant) -> None:
    rig = Rig(assistant)
    rig.open()
    rig.chat.handle(ChatAskPerson(rig.t))
    assert rig.sent[-1].model_dump()["reason"] == "button"
    rig = Rig(assistant)
    rig.open()
    rig.say("сколько стоит билет в цирк")
    rig.say("а какая погода на марсе")
    assert rig.sent[-1].model_dump()["reason"] == "repeated_declines"
    assert rig.chat.phase == "waiting"


def test_a_frustrated_message_hands_off_as_frustrated(rig: Rig) -> None:
    rig.open()
    rig.say("опять не то, бесполезный бот")
    assert rig.sent[-1].model_dump()["reason"] == "frustrated"


def test_negative_valence_hands_off_once_and_only_while_open(rig: Rig) -> None:
    assert not rig.chat.negative_valence(rig.t)  # no chat: the brain raises its staff call
    rig.open()
    assert rig.chat.negative_valence(rig.t)
    assert rig.sent[-1].model_dump()["reason"] == "negative_valence"
    assert rig.chat.negative_valence(rig.t)  # taken, and no second hand-off
    assert rig.types().count("handoff_requested") == 1


def test_nobody_accepts_in_time_the_shopper_is_told_and_offered_staff_and_contact(
    assistant: Assistant,
) -> None:
    rig = Rig(assistant, operator_wait_s=30)
    rig.open()
    rig.chat.handle(ChatAskPerson(rig.t))
    rig.clock.advance(29)
    rig.chat.tick(rig.t)
    assert rig.chat.phase == "waiting"
    rig.clock.advance(1)
    rig.chat.tick(rig.t)
    assert rig.types()[-1] == "handoff_unanswered" and rig.sent[-1].model_dump()["reason"] == "timeout"
    state = rig.chat.state()
    assert state.phase == "bot" and state.no_operator
    assert any(line.key == "chat_no_operator" for line in state.lines)
    contact = assistant.faq.entry("contact_us").answer_ru
    assert state.lines[-1].text == contact
    rig.say("когда вы открываетесь?")  # the bot answers again
    assert rig.types()[-1] == "bot_reply"
    assert rig.chat.call_staff() and not rig.chat.call_staff()  # once per chat
    assert rig.chat.state().staff_called


def test_off_duty_is_said_at_once(assistant: Assistant) -> None:
    rig = Rig(assistant, start=NIGHT)
    rig.open()
    assert rig.sent[0].model_dump()["on_duty"] is False
    rig.say("позовите человека")
    assert rig.types()[-3:] == ["shopper_message", "handoff_requested", "handoff_unanswered"]
    assert rig.sent[-1].model_dump()["reason"] == "off_duty"
    assert rig.chat.phase == "bot"
    assert any(line.key == "chat_off_duty" for line in rig.chat.state().lines)
    assert not any(line.who == "bot" and "сотрудника" in line.text for line in rig.chat.state().lines)


def test_without_a_link_nobody_is_on_duty(assistant: Assistant) -> None:
    rig = Rig(assistant, reachable=False)
    rig.open()
    rig.chat.handle(ChatAskPerson(rig.t))
    assert rig.sent[-1].model_dump()["reason"] == "off_duty"


def test_operator_accepts_writes_hands_back_and_the_bot_answers_again(rig: Rig) -> None:
    rig.open()
    rig.chat.handle(ChatAskPerson(rig.t))
    accept = rig.operator("accept", display_name="Анна")
    state = rig.chat.state()
    assert state.phase == "operator" and state.operator == "Анна"
    assert state.lines[-1].key == "chat_joined"
    rig.operator("message", text="Здравствуйте! Чем помочь?")
    assert rig.chat.state().lines[-1].who == "operator"
    rig.say("когда вы открываетесь?")
    assert rig.types()[-1] == "shopper_message"  # the bot is silent while a person has the chat
    rig.operator("hand_back")
    assert rig.chat.phase == "bot"
    rig.say("когда вы открываетесь?")
    assert rig.types()[-1] == "bot_reply"
    statuses = [(r.action, r.status) for r in rig.receipts()]
    assert statuses == [("accept", "shown"), ("message", "shown"), ("hand_back", "shown")]
    assert rig.receipts()[0].operator_message_id == accept.message_id


def test_operator_messages_out_of_turn_are_refused_with_a_receipt(rig: Rig) -> None:
    rig.open()
    rig.operator("message", text="hi")  # not accepted yet
    assert rig.receipts()[-1].status == "refused"
    assert not any(line.who == "operator" for line in rig.chat.state().lines)
    message = rig.operator("accept", display_name="Anna")
    rig.chat.operator(OperatorInput(message, duplicate=True), rig.t)
    assert rig.receipts()[-1].status == "duplicate"
    rig.chat.operator(OperatorRefused("bad signature", message), rig.t)
    assert rig.receipts()[-1].status == "refused" and rig.receipts()[-1].reason == "bad signature"


def test_a_late_accept_after_an_unanswered_hand_off_joins(assistant: Assistant) -> None:
    rig = Rig(assistant, operator_wait_s=5)
    rig.open()
    rig.chat.handle(ChatAskPerson(rig.t))
    rig.clock.advance(6)
    rig.chat.tick(rig.t)
    rig.operator("accept", display_name="Anna")
    assert rig.chat.phase == "operator" and not rig.chat.state().no_operator


def test_done_ends_clears_and_asks_a_rating(rig: Rig) -> None:
    rig.open()
    rig.say("когда вы открываетесь?")
    rig.chat.handle(ChatDone(rig.t))
    assert rig.types()[-1] == "chat_ended" and rig.sent[-1].model_dump()["reason"] == "done"
    state = rig.chat.state()
    assert state.phase == "rating" and state.lines == () and state.ended == "done"
    rig.chat.handle(ChatRate(rig.t, 4))
    assert rig.types()[-1] == "chat_csat" and rig.sent[-1].model_dump()["score"] == 4
    assert rig.chat.phase == "closed" and rig.chat.visit_id is None


def test_resolve_ends_with_resolved_and_a_late_message_gets_a_refusal(rig: Rig) -> None:
    rig.open()
    rig.chat.handle(ChatAskPerson(rig.t))
    rig.operator("accept", display_name="Anna")
    cid = rig.chat.conversation_id
    rig.operator("resolve")
    assert rig.sent[-2].model_dump()["reason"] == "resolved" and rig.chat.phase == "rating"
    rig.chat.handle(ChatRate(rig.t, None))
    now = rig.clock.now()
    late = OperatorChatMessage(
        conversation_id=cid,
        action="message",
        text="one more thing",
        issued_at=now,
        expires_at=now + timedelta(seconds=60),
        nonce="m" * 16,
    )
    rig.chat.operator(OperatorInput(late), rig.t)
    receipt = rig.receipts()[-1]
    assert receipt.status == "refused" and receipt.conversation_id == cid
    seqs = [m.seq for m in rig.sent]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_the_visit_ending_ends_and_clears_the_chat_after_the_grace(rig: Rig) -> None:
    rig.open("v9")
    rig.say("когда вы открываетесь?")
    rig.chat.visit_ended("someone-else", rig.t)
    rig.clock.advance(10)
    rig.chat.tick(rig.t)
    assert rig.chat.is_open
    rig.chat.visit_ended("v9", rig.t)
    rig.clock.advance(rig.settings.leave_grace_s - 0.1)
    rig.chat.tick(rig.t)
    assert rig.chat.is_open, "not yet: a glance away is not leaving"
    rig.clock.advance(0.1)
    rig.chat.tick(rig.t)
    assert rig.sent[-1].model_dump()["reason"] == "visit_ended"
    assert rig.chat.phase == "closed" and rig.chat.state().lines == ()


def test_a_face_back_within_the_grace_keeps_the_chat(rig: Rig) -> None:
    rig.open("v9")
    rig.chat.visit_ended("v9", rig.t)
    rig.clock.advance(2)
    rig.chat.face_back("v10")
    rig.clock.advance(10)
    rig.chat.tick(rig.t)
    assert rig.chat.is_open and rig.chat.visit_id == "v10"
    rig.chat.visit_ended("v10", rig.t)
    rig.clock.advance(rig.settings.leave_grace_s)
    rig.chat.tick(rig.t)
    assert rig.chat.phase == "closed"


def test_idle_chats_time_out_and_the_rating_question_goes_away(assistant: Assistant) -> None:
    rig = Rig(assistant, idle_timeout_s=60, rating_timeout_s=10)
    rig.open()
    rig.clock.advance(59)
    rig.chat.tick(rig.t)
    assert rig.chat.is_open
    rig.clock.advance(1)
    rig.chat.tick(rig.t)
    assert rig.sent[-1].model_dump()["reason"] == "timeout" and rig.chat.phase == "closed"
    rig.open()
    rig.chat.handle(ChatDone(rig.t))
    rig.clock.advance(10)
    rig.chat.tick(rig.t)
    assert rig.chat.phase == "closed" and rig.types()[-1] == "chat_ended"


def test_suggestions_come_from_the_faq(assistant: Assistant) -> None:
    rig = Rig(assistant)
    assert [s.entry for s in rig.chat.state().suggestions] == [
        "opening_hours",
        "location",
        "car_park",
        "returns",
    ]
    rig = Rig(assistant, suggested=["delivery", "nope", "paying"])
    suggestions = rig.chat.state().suggestions
    assert [s.entry for s in suggestions] == ["delivery", "paying"]
    assert suggestions[0].en == assistant.faq.entry("delivery").question_en
