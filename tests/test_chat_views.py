"""The chat's screens as view models (no display): "Questions?" where the assistant is on, the conversation
view's parts (privacy line, status, talk to a person, done, suggestions, the RU/EN/digits keyboard), typing
on the on-screen and the physical keyboard, the person joining, the no-operator offer, the rating."""

from __future__ import annotations

import pygame
import pytest
from chat_support import ChatRig, assistant, conversation
from ui_support import make_ui, state

from kiosk.i18n import LANGUAGES, Language
from kiosk.ui.input import map_event
from kiosk.views.layout import compute_layout
from kiosk.views.screen import ChatPanel, UiAction
from mqtt_bridge.contract.chat import MAX_SHOPPER_TEXT


def panel(rig: ChatRig) -> ChatPanel:
    view = rig.view()
    assert view.chat is not None
    return view.chat


def test_questions_is_offered_on_attract_and_offer_only_with_the_assistant() -> None:
    for without, with_chat in (
        (state("attract"), state("attract", chat_available=True)),
        (state("offer", "croissant-pair"), state("offer", "croissant-pair", chat_available=True)),
    ):
        ui = make_ui()
        ui.observe(without, 1.0)
        assert "questions" not in {b.action.key for b in ui.view(1.0).buttons}
        ui.observe(with_chat, 1.0)
        assert "questions" in {b.action.key for b in ui.view(1.0).buttons}
    ui = make_ui()
    ui.observe(state("details", "croissant-pair", chat_available=True), 1.0)
    assert "questions" not in {b.action.key for b in ui.view(1.0).buttons}


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_conversation_view_has_everything_the_issue_asks_for(language: Language) -> None:
    rig = conversation(language, "bot")
    view = rig.view()
    assert view.screen == "chat" and view.chat is not None
    panel = view.chat
    privacy = {"ru": "может прочитать сотрудник", "en": "A member of staff may read this chat"}[language]
    cleared = {"ru": "удаляется, когда вы уходите", "en": "cleared when you leave"}[language]
    assert privacy in panel.privacy and cleared in panel.privacy
    keys = {b.action.key for b in view.buttons}
    assert {"chat_person", "chat_done", "chat_send", "chat_backspace"} <= keys
    letter = "chat_key:ж" if language == "ru" else "chat_key:q"
    assert letter in keys
    assert len(panel.suggestions) == 4
    assert panel.bubbles[0].who == "system"  # the welcome
    assert "call_staff" not in keys and "questions" not in keys  # the footer is the chat's own


def test_typing_on_the_keyboard_switching_layouts_and_sending() -> None:
    rig = ChatRig("ru")
    rig.tap(UiAction("questions"))
    rig.type("где ")
    rig.tap(UiAction("chat_keyboard", text="en"))
    assert "chat_key:w" in {b.action.key for b in rig.view().buttons}
    rig.type("wc")
    rig.tap(UiAction("chat_keyboard", text="digits"))
    assert "chat_key:?" in {b.action.key for b in rig.view().buttons}
    rig.tap(UiAction("chat_key", text="?"))
    rig.tap(UiAction("chat_backspace"))
    assert panel(rig).draft == "где wc"
    rig.tap(UiAction("chat_keyboard", text="en"))
    rig.tap(UiAction("chat_send"))
    lines = rig.chat().lines
    assert [line.who for line in lines[-2:]] == ["shopper", "bot"] and lines[-2].text == "где wc"
    assert panel(rig).draft == ""


def test_the_keyboard_follows_the_screen_language() -> None:
    rig = ChatRig("ru")
    rig.tap(UiAction("questions"))
    rig.tap(UiAction("language"))
    view = rig.view()
    assert "chat_key:q" in {b.action.key for b in view.buttons}
    assert view.chat is not None and view.chat.placeholder == "Type your question…"


def test_a_suggested_question_is_sent_in_the_screen_language() -> None:
    rig = ChatRig("en")
    rig.tap(UiAction("questions"))
    first = rig.chat().suggestions[0]
    rig.tap(UiAction("chat_suggest", score=0))
    sent = rig.runtime.chat_messages[1].model_dump()
    assert sent["text"] == first.en and sent["suggested"] is True
    assert rig.chat().lines[-1].who == "bot"


def test_the_draft_stops_at_the_longest_message() -> None:
    rig = ChatRig("en")
    rig.tap(UiAction("questions"))
    rig.type("a" * (MAX_SHOPPER_TEXT + 5))
    assert len(panel(rig).draft) == MAX_SHOPPER_TEXT


def test_the_physical_keyboard_types_deletes_and_sends() -> None:
    rig = ChatRig("ru")
    rig.tap(UiAction("questions"))
    view = rig.view()
    layout = compute_layout(view, 1280, 720)
    text = pygame.event.Event(pygame.TEXTINPUT, text="Ж")
    assert map_event(text, view, layout) == UiAction("chat_key", text="Ж")
    for event in (text, pygame.event.Event(pygame.TEXTINPUT, text="!")):
        action = map_event(event, view, layout)
        assert isinstance(action, UiAction)
        rig.tap(action)
    assert panel(rig).draft == "Ж!"
    key = pygame.event.Event(pygame.KEYDOWN, key=pygame.K_BACKSPACE, mod=0, unicode="")
    assert map_event(key, view, layout) == UiAction("chat_backspace")
    letter = pygame.event.Event(pygame.KEYDOWN, key=pygame.K_s, mod=0, unicode="s")
    assert map_event(letter, view, layout) is None, "letters type; they are no shortcuts here"
    enter = pygame.event.Event(pygame.KEYDOWN, key=pygame.K_RETURN, mod=0, unicode="")
    assert map_event(enter, view, layout) == UiAction("chat_send")
    control = UiAction("chat_key", text="\x07")
    assert rig.ui.handle(control, rig.now) == [] and panel(rig).draft == "Ж!"


def test_touches_hit_the_keys_under_them() -> None:
    rig = ChatRig("en")
    rig.tap(UiAction("questions"))
    view = rig.view()
    for size in ((1280, 720), (720, 1280), (640, 360)):
        layout = compute_layout(view, *size)
        x, y = layout.rect_of("chat_key:k").centre
        click = pygame.event.Event(pygame.MOUSEBUTTONUP, pos=(x, y), button=1, touch=False)
        assert map_event(click, view, layout) == UiAction("chat_key", text="k")
        rects = [rect for _, rect in layout.buttons]
        for i, a in enumerate(rects):  # no two touch targets overlap
            for b in rects[i + 1 :]:
                assert not (a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h), (
                    a,
                    b,
                )
        for rect in rects:
            assert rect.x >= 0 and rect.x + rect.w <= size[0] and rect.y >= 0 and rect.y + rect.h <= size[1]


def test_the_shopper_is_told_a_person_joined_and_sees_their_words() -> None:
    rig = conversation("en", "operator")
    view = rig.view()
    assert view.chat is not None
    assert view.chat.status == "You are talking to Anna from the store"
    texts = [b.text for b in view.chat.bubbles]
    assert "Anna from the store has joined the chat" in texts
    operator = [b for b in view.chat.bubbles if b.who == "operator"]
    assert operator[-1].text == "Hello! How can I help?" and operator[-1].label == "Anna"
    assert view.chat.suggestions == ()  # a person has the chat: no suggestions


def test_nobody_joining_offers_the_staff_call_and_the_contact_entry() -> None:
    rig = conversation("ru", "no_operator")
    view = rig.view()
    assert view.chat is not None
    assert "chat_call_staff" in {b.action.key for b in view.buttons}
    texts = [b.text for b in view.chat.bubbles]
    assert any("никто из сотрудников не может подключиться" in t for t in texts)
    contact = assistant().faq.entry("contact_us").answer_ru
    assert contact in texts
    rig.tap(UiAction("chat_call_staff"))
    view = rig.view()
    assert "chat_call_staff" not in {b.action.key for b in view.buttons}
    assert "Консультант уже идёт к экрану." in [b.text for b in panel(rig).bubbles]


def test_done_shows_the_rating_then_attract() -> None:
    rig = conversation("ru", "rating")
    view = rig.view()
    assert view.screen == "chat_rating" and view.chat is None
    assert "удалена" in view.subtitle
    assert {f"chat_rate:{i}" for i in range(1, 6)} | {"chat_skip"} <= {b.action.key for b in view.buttons}
    layout = compute_layout(view, 640, 360)
    key = pygame.event.Event(pygame.KEYDOWN, key=pygame.K_4, mod=0, unicode="4")
    assert map_event(key, view, layout) == UiAction("chat_rate", 4)
    rig.tap(UiAction("chat_rate", 4))
    assert rig.view().screen == "attract"
    assert rig.runtime.chat_messages[-1].model_dump()["score"] == 4
