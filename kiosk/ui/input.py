"""Input mapping: touches, mouse clicks and keys become :class:`~kiosk.views.screen.UiAction` values.

A touch acts when the finger lifts (a slide away from a button does nothing). Mouse events that SDL
synthesises from touches are ignored, so one touch is one action. Every button has a keyboard equivalent.
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
    if event.type == pygame.KEYDOWN:
        return _key(event, view)
    return None


def _key(event: pygame.event.Event, view: ScreenView) -> UiAction | Quit | None:
    key = event.key
    offered = {b.action.key: b.action for b in view.buttons}
    if (key == pygame.K_q and event.mod & pygame.KMOD_CTRL) or key == pygame.K_F10:
        return "quit"
    wanted: str | None = None
    if key == pygame.K_ESCAPE:
        wanted = next((name for name in ("close", "dismiss") if name in offered), "quit")
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
        wanted = f"feedback:{_DIGITS[key]}"
    if wanted == "quit":
        return "quit"
    return offered.get(wanted) if wanted is not None else None
