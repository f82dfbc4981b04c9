"""Input mapping: touches, mouse clicks and keys become :class:`~kiosk.views.screen.UiAction` values.

A touch acts when the finger lifts (a slide away from a button does nothing). Mouse events that SDL
synthesises from touches are ignored, so one touch is one action. Every button has a keyboard equivalent.

On the conversation view a physical keyboard types: SDL's text input (``TEXTINPUT``, in whatever layout the
keyboard has, Cyrillic included) becomes ``chat_key`` actions, Backspace deletes, Enter sends; the letter
shortcuts of the other screens are off there, and F2, F3, F4 are "talk to a person", "call a consultant"
and "done".
"""

from __future__ import annotations

from typing import Literal

import pygame

from kiosk.views.layout import Layout
from kiosk.views.screen import ScreenView, UiAction

Quit = Literal["quit"]

_LETTERS = {
    pygame.K_l: "language",
    pygame.K_i: "notice",
    pygame.K_s: "call_staff",
    pygame.K_n: "opt_out",
    pygame.K_p: "opt_in",
    pygame.K_c: "show_code",
    pygame.K_d: "done",
    pygame.K_q: "questions",
}
#: The conversation view's own keys (letters type there).
_CHAT_KEYS = {
    pygame.K_BACKSPACE: "chat_backspace",
    pygame.K_RETURN: "chat_send",
    pygame.K_KP_ENTER: "chat_send",
    pygame.K_F2: "chat_person",
    pygame.K_F3: "chat_call_staff",
    pygame.K_F4: "chat_done",
}
_DIGITS = {getattr(pygame, f"K_{d}"): d for d in range(10)} | {
    getattr(pygame, f"K_KP{d}"): d for d in range(10)
}


def map_event(event: pygame.event.Event, view: ScreenView, layout: Layout) -> UiAction | Quit | None:
    """The action one pygame event asks for on ``view``, ``"quit"``, or None."""
    if event.type == pygame.QUIT:
        return "quit"
    if event.type == pygame.FINGERUP:
        return layout.hit(event.x * layout.width, event.y * layout.height, view)
    if event.type == pygame.MOUSEBUTTONUP and event.button == 1 and not getattr(event, "touch", False):
        return layout.hit(event.pos[0], event.pos[1], view)
    if event.type == pygame.TEXTINPUT and view.chat is not None:
        return UiAction("chat_key", text=event.text) if event.text.isprintable() else None
    if event.type == pygame.KEYDOWN:
        return _chat_key(event, view) if view.chat is not None else _key(event, view)
    return None


def _chat_key(event: pygame.event.Event, view: ScreenView) -> UiAction | Quit | None:
    """A key on the conversation view: editing and the chat's buttons (characters come as text input)."""
    if (event.key == pygame.K_q and event.mod & pygame.KMOD_CTRL) or event.key == pygame.K_F10:
        return "quit"
    name = _CHAT_KEYS.get(event.key)
    offered = {b.action.key: b.action for b in view.buttons}
    return offered.get(name) if name is not None else None


def _key(event: pygame.event.Event, view: ScreenView) -> UiAction | Quit | None:
    key = event.key
    offered = {b.action.key: b.action for b in view.buttons}
    if (key == pygame.K_q and event.mod & pygame.KMOD_CTRL) or key == pygame.K_F10:
        return "quit"
    wanted: str | None = None
    if key == pygame.K_ESCAPE:
        wanted = next((name for name in ("close", "dismiss", "chat_skip") if name in offered), "quit")
    elif key in (pygame.K_RETURN, pygame.K_KP_ENTER, pygame.K_SPACE):
        if view.notice is not None:
            return view.notice.close.action
        primary = next((b.action for b in view.main if b.style == "primary"), None)
        return primary or view.tap_anywhere
    elif key in _LETTERS:
        wanted = _LETTERS[key]
    elif key == pygame.K_EQUALS:
        wanted = "feedback:10"
    elif key in _DIGITS:
        score = "chat_rate" if view.screen == "chat_rating" else "feedback"
        wanted = f"{score}:{_DIGITS[key]}"
    if wanted == "quit":
        return "quit"
    return offered.get(wanted) if wanted is not None else None
