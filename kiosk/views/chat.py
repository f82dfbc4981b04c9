"""The chat's screens as pure state: the conversation view (transcript, draft, on-screen keyboard,
suggested questions, "talk to a person", "done") and the rating question at its end.

The brain's chat (:class:`kiosk.chat.session.ChatSession`) owns the conversation; the screen owns only the
draft being typed and the keyboard's layout. Typing stays on the screen until "send": then the draft goes
to the brain as a :class:`~kiosk.chat.inputs.ChatSend` (the brain masks it before anything leaves).
"""

from __future__ import annotations

from dataclasses import replace

from kiosk.chat.inputs import (
    ChatAskPerson,
    ChatCallStaff,
    ChatDone,
    ChatIntent,
    ChatRate,
    ChatSend,
    Lang,
)
from kiosk.chat.session import ChatLine, ChatState
from kiosk.i18n import Messages
from kiosk.views.keyboard import Letters, keyboard_rows
from kiosk.views.screen import Button, ChatBubble, ChatPanel, ScreenView, UiAction
from mqtt_bridge.contract.chat import MAX_SHOPPER_TEXT

#: Bubbles handed to the renderer (it shows the newest that fit).
SHOWN_LINES = 12


class ChatScreen:
    """The screen's own part of the chat: the draft and the keyboard's layout."""

    def __init__(self, messages: Messages) -> None:
        self.messages = messages
        self.draft = ""
        self.letters: Letters = "ru"
        self.digits = False

    def reset(self, language: Lang) -> None:
        """A new chat: an empty draft, the keyboard in the screen's language."""
        self.draft, self.letters, self.digits = "", language, False

    def language_changed(self, language: Lang) -> None:
        """The shopper switched the screen's language: the keyboard follows."""
        self.letters, self.digits = language, False

    # ---- the shopper's side ---------------------------------------------------------------------------

    def handle(
        self, action: UiAction, now: float, language: Lang, state: ChatState | None
    ) -> list[ChatIntent]:
        """A chat action on the chat screen; returns the intents for the brain."""
        simple: dict[str, ChatIntent] = {
            "chat_person": ChatAskPerson(now),
            "chat_call_staff": ChatCallStaff(now),
            "chat_done": ChatDone(now),
            "chat_rate": ChatRate(now, action.score),
            "chat_skip": ChatRate(now, None),
        }
        if action.name in simple:
            if action.name == "chat_done":
                self.draft = ""
            return [simple[action.name]]
        if action.name == "chat_send":
            text, self.draft = " ".join(self.draft.split()), ""
            return [ChatSend(now, text, language)] if text else []
        if action.name == "chat_suggest":
            return self._suggested(action, now, language, state)
        self._edit(action)
        return []

    def _edit(self, action: UiAction) -> None:
        """Typing: a key, backspace, a layout switch."""
        if action.name == "chat_key":
            if action.text and len(self.draft) + len(action.text) <= MAX_SHOPPER_TEXT:
                self.draft += action.text
        elif action.name == "chat_backspace":
            self.draft = self.draft[:-1]
        elif action.name == "chat_keyboard":
            if action.text == "digits":
                self.digits = True
            elif action.text == "ru":
                self.letters, self.digits = "ru", False
            elif action.text == "en":
                self.letters, self.digits = "en", False

    def _suggested(
        self, action: UiAction, now: float, language: Lang, state: ChatState | None
    ) -> list[ChatIntent]:
        suggestions = state.suggestions if state is not None else ()
        if action.score is None or not 0 <= action.score < len(suggestions):
            return []
        chosen = suggestions[action.score]
        return [ChatSend(now, chosen.ru if language == "ru" else chosen.en, language, suggested=True)]

    # ---- the view -------------------------------------------------------------------------------------

    def _t(self, key: str, language: Lang, **values: str) -> str:
        return self.messages.get(key, language, **values)

    def bubble(self, line: ChatLine, language: Lang) -> ChatBubble:
        """One line as shown, in ``language`` (the kiosk's own notes; the words of people and of the FAQ
        stay as they were written)."""
        values = dict(line.values)
        if line.who == "system":
            return ChatBubble("system", self._t(line.key, language, **values))
        if line.who == "shopper":
            return ChatBubble("shopper", line.text, self._t("chat_you", language))
        if line.who == "operator":
            return ChatBubble("operator", line.text, values.get("name", ""))
        return ChatBubble("bot", line.text, self._t("chat_bot", language))

    def view(self, base: ScreenView, state: ChatState, language: Lang) -> ScreenView:
        """The conversation view over ``base`` (the screen's chrome)."""
        t = self._t
        if state.phase == "waiting":
            status = t("chat_status_waiting", language)
        elif state.phase == "operator":
            status = t("chat_status_operator", language, name=state.operator or "")
        else:
            status = t("chat_status_bot", language)
        actions = [Button(UiAction("chat_person"), t("chat_person", language), "secondary", "F2")]
        if state.no_operator and not state.staff_called:
            actions.append(Button(UiAction("chat_call_staff"), t("call_staff", language), "secondary", "F3"))
        actions.append(Button(UiAction("chat_done"), t("done", language), "secondary", "F4"))
        suggestions: tuple[Button, ...] = ()
        if state.phase == "bot" and not self.draft:
            suggestions = tuple(
                Button(UiAction("chat_suggest", score=i), s.ru if language == "ru" else s.en, "chip")
                for i, s in enumerate(state.suggestions)
            )
        panel = ChatPanel(
            bubbles=tuple(self.bubble(line, language) for line in state.lines[-SHOWN_LINES:]),
            status=status,
            privacy=t("chat_privacy", language),
            draft=self.draft,
            placeholder=t("chat_placeholder", language),
            actions=tuple(actions),
            suggestions=suggestions,
            keys=keyboard_rows(
                self.letters,
                digits=self.digits,
                send_label=t("chat_send", language),
                space_label=t("chat_space", language),
            ),
        )
        return replace(base, title=t("chat_title", language), chat=panel, footer=(), tap_anywhere=None)

    def rating_view(self, base: ScreenView, state: ChatState, language: Lang) -> ScreenView:
        """The rating question at the end of a chat (the conversation is already cleared)."""
        t = self._t
        faces = tuple(
            Button(UiAction("chat_rate", score), t(f"csat_{score}", language), "face", str(score))
            for score in range(1, 6)
        )
        cleared = "chat_resolved" if state.ended == "resolved" else "chat_cleared"
        return replace(
            base,
            title=t("chat_rating", language),
            subtitle=t(cleared, language),
            main=faces,
            footer=(Button(UiAction("chat_skip"), t("chat_skip", language), "secondary", "Esc"),),
            tap_anywhere=None,
        )
