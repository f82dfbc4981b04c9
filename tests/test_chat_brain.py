"""The chat through the one decision runtime: the brain stepped in-process (InProcessBrain, as the scripted
demo and the UI tests run it) with the real assistant, a manual clock and scripted detections. The screen
reads the chat in the brain's read model and sends intents; negative valence hands an open chat off
instead of raising a staff call; the visit's end, maintenance and "done" close it."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from ui_support import CATALOGUE, DEMO_CATALOGUE, face, make_clock, snapshot

from kiosk.app.screen_port import InProcessBrain
from kiosk.assistant.engine import Assistant
from kiosk.chat.inputs import (
    ChatAskPerson,
    ChatCallStaff,
    ChatDone,
    ChatOpen,
    ChatRate,
    ChatSend,
    OperatorInput,
)
from kiosk.chat.loader import load_assistant
from kiosk.chat.session import ChatState
from kiosk.clock import ManualClock
from kiosk.config import AssistantSection, KioskConfig
from kiosk.perception.types import Detection
from mqtt_bridge.contract.chat import OperatorChatMessage
from mqtt_bridge.contract.events import StaffCall

FAQ = Path(__file__).resolve().parent.parent / "examples" / "faq.yaml"


@pytest.fixture(scope="module")
def assistant() -> Assistant:
    return load_assistant(AssistantSection(enabled=True, faq=FAQ), "ru")


class World:
    def __init__(self, assistant: Assistant | None, **settings: object) -> None:
        self.clock: ManualClock = make_clock()
        self.assistant = assistant
        section = AssistantSection.model_validate({"enabled": True, "faq": FAQ, **settings})
        self.runtime = InProcessBrain(
            KioskConfig(assistant=section),
            self.clock,
            random.Random(3),
            catalogue=CATALOGUE,
            image_base=DEMO_CATALOGUE.parent,
            assistant=assistant,
            operators_reachable=True,
        )

    @property
    def t(self) -> float:
        return self.clock.monotonic()

    def frames(self, seconds: float, *faces: Detection) -> None:
        for _ in range(round(seconds / 0.1)):
            self.runtime.see(snapshot(self.clock, *faces))
            self.runtime.runtime_view()
            self.clock.advance(0.1)

    def chat(self) -> ChatState:
        chat = self.runtime.runtime_view().state.chat
        assert chat is not None
        return chat

    def screen(self) -> str:
        return self.runtime.runtime_view().state.screen

    def types(self) -> list[str]:
        return [m.model_dump()["type"] for m in self.runtime.chat_messages]

    def operator(self, action: str, **fields: object) -> None:
        chat = self.runtime.brain.chat
        assert chat is not None and chat.conversation_id is not None
        now = self.clock.now()
        message = OperatorChatMessage.model_validate(
            {
                "conversation_id": chat.conversation_id,
                "action": action,
                "issued_at": now,
                "expires_at": now + timedelta(seconds=60),
                "nonce": "k" * 16,
                **fields,
            }
        )
        self.runtime.operator(OperatorInput(message))


@pytest.fixture
def world(assistant: Assistant) -> Iterator[World]:
    yield World(assistant)


def test_without_the_assistant_the_screen_offers_no_questions() -> None:
    world = World(None)
    state = world.runtime.runtime_view().state
    assert not state.chat_available and state.chat is None
    world.runtime.send(ChatOpen(world.t, "ru", "attract"))
    assert world.screen() == "attract"


def test_questions_opens_the_chat_screen_and_the_bot_answers(world: World) -> None:
    state = world.runtime.runtime_view().state
    assert state.chat_available and state.chat is None
    world.runtime.send(ChatOpen(world.t, "ru", "attract"))
    state = world.runtime.runtime_view().state
    assert state.screen == "chat" and state.chat is not None and state.chat.phase == "bot"
    paying = world.assistant.faq.entry("paying")
    world.runtime.send(ChatSend(world.t, paying.question_ru, "ru"))
    lines = world.chat().lines
    assert lines[-1].who == "bot" and lines[-1].text == paying.answer_ru
    assert world.types() == ["chat_opened", "shopper_message", "bot_reply"]


def test_opening_from_an_offer_ends_the_offer_and_done_returns_to_attract(world: World) -> None:
    world.frames(4.0, face())
    assert world.screen() == "offer"
    world.runtime.send(ChatOpen(world.t, "en", "offer"))
    assert world.screen() == "chat"
    assert any(e.type == "offer_ended" for e in world.runtime.events)
    assert world.runtime.chat_messages[0].model_dump()["opened_from"] == "offer"
    world.runtime.send(ChatDone(world.t))
    assert world.screen() == "chat"  # the rating question
    assert world.chat().phase == "rating"
    world.runtime.send(ChatRate(world.t, 5))
    assert world.screen() == "attract"
    assert world.types()[-2:] == ["chat_ended", "chat_csat"]


def test_negative_valence_hands_the_open_chat_off_instead_of_a_staff_call(world: World) -> None:
    world.frames(2.0, face("neutral"))
    world.runtime.send(ChatOpen(world.t, "ru", "attract"))
    world.frames(10.0, face("negative"))
    assert "handoff_requested" in world.types()
    handoff = next(m for m in world.runtime.chat_messages if m.model_dump()["type"] == "handoff_requested")
    assert handoff.model_dump()["reason"] == "negative_valence"
    assert not [e for e in world.runtime.events if isinstance(e, StaffCall)]
    assert world.screen() == "chat"


def test_without_a_chat_negative_valence_still_calls_staff(world: World) -> None:
    world.frames(12.0, face("negative"))
    assert [e for e in world.runtime.events if isinstance(e, StaffCall)]
    assert world.types() == []


def test_the_shopper_leaving_ends_and_clears_the_chat(world: World) -> None:
    world.frames(2.0, face())
    world.runtime.send(ChatOpen(world.t, "ru", "attract"))
    world.runtime.send(ChatSend(world.t, "где туалет?", "ru"))
    world.frames(3.0)  # nobody in view: the visit ends ...
    assert world.screen() == "chat"
    world.frames(5.0)  # ... and nobody came back within [assistant] leave_grace_s
    assert world.types()[-1] == "chat_ended"
    assert world.runtime.chat_messages[-1].model_dump()["reason"] == "visit_ended"
    state = world.runtime.runtime_view().state
    assert state.chat is None and state.screen == "attract"
    assert world.runtime.brain.chat is not None and world.runtime.brain.chat.visit_id is None


def test_a_face_lost_for_a_moment_keeps_the_chat(world: World) -> None:
    world.frames(2.0, face())
    world.runtime.send(ChatOpen(world.t, "ru", "attract"))
    world.frames(2.0)  # looking down at the keyboard: the tracker loses the face, the visit ends
    world.frames(6.0, face())  # ... and finds it again, as a new visit
    assert world.screen() == "chat" and "chat_ended" not in world.types()
    world.frames(8.0)
    assert world.types()[-1] == "chat_ended"


def test_maintenance_ends_the_chat(world: World) -> None:
    world.runtime.send(ChatOpen(world.t, "ru", "attract"))
    world.runtime.maintenance(True)
    assert world.screen() == "maintenance"
    assert world.runtime.chat_messages[-1].model_dump()["reason"] == "maintenance"
    assert world.runtime.runtime_view().state.chat is None


def test_an_operator_joins_writes_and_resolves_through_the_brain(world: World) -> None:
    world.runtime.send(ChatOpen(world.t, "ru", "attract"))
    world.runtime.send(ChatAskPerson(world.t))
    world.operator("accept", display_name="Анна")
    chat = world.runtime.runtime_view().state.chat
    assert chat is not None and chat.phase == "operator" and chat.operator == "Анна"
    world.operator("message", text="Добрый день!")
    assert world.chat().lines[-1].text == "Добрый день!"
    world.operator("resolve")
    assert world.chat().phase == "rating"
    world.runtime.send(ChatRate(world.t, None))
    assert world.screen() == "attract"


def test_calling_staff_from_the_chat_raises_one_staff_call_and_keeps_the_chat(assistant: Assistant) -> None:
    world = World(assistant, operator_wait_s=5)
    world.runtime.send(ChatOpen(world.t, "ru", "attract"))
    world.runtime.send(ChatAskPerson(world.t))
    world.clock.advance(6)
    world.runtime.runtime_view()
    chat = world.runtime.runtime_view().state.chat
    assert chat is not None and chat.no_operator
    world.runtime.send(ChatCallStaff(world.t))
    world.runtime.send(ChatCallStaff(world.t))
    calls = [e for e in world.runtime.events if isinstance(e, StaffCall)]
    assert len(calls) == 1 and calls[0].reason == "shopper_request"
    assert world.screen() == "chat" and world.chat().staff_called


def test_an_idle_chat_times_out_back_to_attract(assistant: Assistant) -> None:
    world = World(assistant, idle_timeout_s=30)
    world.runtime.send(ChatOpen(world.t, "ru", "attract"))
    world.clock.advance(31)
    assert world.screen() == "attract"
    assert world.runtime.chat_messages[-1].model_dump()["reason"] == "timeout"
