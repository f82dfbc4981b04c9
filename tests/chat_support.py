"""Helpers for the chat's screen tests: the kiosk's brain with the real assistant on the example FAQ,
stepped in-process on a manual clock, and a KioskUi in front of it; the shopper's taps go through the
screen (``tap``), the operator's messages through the brain's inbox (``operator``)."""

from __future__ import annotations

import functools
import random
from datetime import timedelta
from pathlib import Path

from ui_support import CATALOGUE, DEMO_CATALOGUE, make_clock, make_ui

from kiosk.app.screen_port import InProcessBrain
from kiosk.assistant.engine import Assistant
from kiosk.chat.inputs import OperatorInput
from kiosk.chat.loader import load_assistant
from kiosk.chat.session import ChatState
from kiosk.clock import ManualClock
from kiosk.config import AssistantSection, KioskConfig
from kiosk.i18n import Language
from kiosk.views.kiosk_ui import PRESS_S, KioskUi
from kiosk.views.screen import ScreenView, UiAction
from mqtt_bridge.contract.chat import OperatorChatMessage

FAQ = Path(__file__).resolve().parent.parent / "examples" / "faq.yaml"


@functools.cache
def assistant() -> Assistant:
    """The assistant on the example FAQ (loaded once per test process: ~1.5 s)."""
    return load_assistant(AssistantSection(enabled=True, faq=FAQ), "ru")


class ChatRig:
    """A screen and the brain behind it, with the assistant on."""

    def __init__(self, language: Language = "ru", **settings: object) -> None:
        self.clock: ManualClock = make_clock()
        section = AssistantSection.model_validate({"enabled": True, "faq": FAQ, **settings})
        self.runtime = InProcessBrain(
            KioskConfig(assistant=section),
            self.clock,
            random.Random(3),
            catalogue=CATALOGUE,
            image_base=DEMO_CATALOGUE.parent,
            assistant=assistant(),
            operators_reachable=True,
        )
        self.ui: KioskUi = make_ui(language=language)
        self.observe()

    @property
    def now(self) -> float:
        return self.clock.monotonic()

    def observe(self) -> None:
        self.ui.observe(self.runtime.runtime_view(), self.now)

    def view(self) -> ScreenView:
        """The view a moment later (after the press highlight), as the renderer would draw it."""
        self.clock.advance(PRESS_S + 0.05)
        self.observe()
        return self.ui.view(self.now)

    def tap(self, action: UiAction) -> None:
        for intent in self.ui.handle(action, self.now):
            self.runtime.send(intent)
        self.observe()

    def type(self, text: str) -> None:
        for char in text:
            self.tap(UiAction("chat_key", text=char))

    def chat(self) -> ChatState:
        state = self.runtime.runtime_view().state.chat
        assert state is not None
        return state

    def operator(self, action: str, **fields: object) -> OperatorChatMessage:
        chat = self.runtime.brain.chat
        assert chat is not None and chat.conversation_id is not None
        now = self.clock.now()
        message = OperatorChatMessage.model_validate(
            {
                "conversation_id": chat.conversation_id,
                "action": action,
                "issued_at": now,
                "expires_at": now + timedelta(seconds=60),
                "nonce": f"{action}-nonce-0123456789",
                **fields,
            }
        )
        self.runtime.operator(OperatorInput(message))
        self.observe()
        return message


def conversation(language: Language, phase: str) -> ChatRig:
    """A chat put in ``phase``: 'bot' (just opened: suggestions), 'operator' (a question answered, a person
    joined and wrote, the shopper typing), 'no_operator' (nobody joined in time), 'rating' (ended)."""
    rig = ChatRig(language, operator_wait_s=30)
    rig.tap(UiAction("questions"))
    if phase == "bot":
        return rig
    question = "когда вы открываетесь?" if language == "ru" else "when do you open?"
    rig.type(question)
    rig.tap(UiAction("chat_send"))
    rig.tap(UiAction("chat_person"))
    if phase == "no_operator":
        rig.clock.advance(31)
        rig.observe()
        return rig
    if phase == "rating":
        rig.tap(UiAction("chat_done"))
        return rig
    rig.operator("accept", display_name="Анна" if language == "ru" else "Anna")
    rig.operator(
        "message", text="Здравствуйте! Чем могу помочь?" if language == "ru" else "Hello! How can I help?"
    )
    rig.type("и доставка на дом" if language == "ru" else "and home delivery")
    return rig
