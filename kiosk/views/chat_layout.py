"""Where the conversation view's parts go, as plain rectangles (like :mod:`kiosk.views.layout`):

    top bar        camera indicator, language toggle
    header         status (who answers)                [talk to a person] [call a consultant] [done]
    privacy        a person may read this chat; it is cleared when you leave or tap done
    transcript     the newest bubbles that fit, bottom up
    suggestions    suggested questions (one row landscape, two portrait)
    draft          what the shopper is typing
    keyboard       the letter rows, then switches, space, backspace, send

Sizes follow the short side; keys are at least 7.5 % of it tall (the other touch targets 9 %).
"""

from __future__ import annotations

from dataclasses import replace

from kiosk.views.layout import Layout, Rect, bar_buttons, shape_of
from kiosk.views.screen import Button, ScreenView
from offer_layout.geometry import row as row_of
from offer_layout.geometry import screen_regions

#: Widths of the bottom row's keys, in letter keys.
_WIDE = {"chat_keyboard": 1.5, "chat_backspace": 1.5, "chat_send": 2.5}
_SPACE_WIDTH = 4.0


def _weight(button: Button) -> float:
    if button.action.name == "chat_key" and button.action.text == " ":
        return _SPACE_WIDTH
    return _WIDE.get(button.action.name, 1.0)


def _keyboard(
    rows: tuple[tuple[Button, ...], ...],
    inner: Rect,
    key_h: int,
    gap: int,
    buttons: list[tuple[Button, Rect]],
) -> Rect:
    """The keyboard's rows at the bottom of ``inner``, centred, each key as wide as its weight."""
    kb_h = len(rows) * key_h + max(0, len(rows) - 1) * gap
    keyboard = Rect(inner.x, inner.y + inner.h - kb_h, inner.w, kb_h)
    widest = max((sum(_weight(b) for b in row) for row in rows), default=1.0)
    unit = min((keyboard.w - gap * 12) / widest, key_h * 1.6)
    for index, row in enumerate(rows):
        y = keyboard.y + index * (key_h + gap)
        total = sum(_weight(b) for b in row) * unit + gap * (len(row) - 1)
        x = keyboard.x + (keyboard.w - total) / 2
        for button in row:
            w = _weight(button) * unit
            buttons.append((button, Rect(round(x), y, round(w), key_h)))
            x += w + gap
    return keyboard


def chat_layout(view: ScreenView, width: int, height: int, font_scale: float = 1.0) -> Layout:
    """Lay the conversation view out on a ``width`` x ``height`` screen."""
    assert view.chat is not None
    chat = view.chat
    u = min(width, height) / 100.0
    pad = round(2 * u)
    grow = max(1.0, min(font_scale, 1.6))
    regions: dict[str, Rect] = {}
    buttons: list[tuple[Button, Rect]] = []
    # The top bar and footer as on every screen (the shared geometry); the rest is the conversation's own.
    bars = screen_regions(replace(shape_of(view), main=0), width, height, font_scale)
    top = bars.regions["top"]
    shared = ("top", "footer", "notice_line", "status")
    regions.update({k: bars.regions[k] for k in shared if k in bars.regions})
    buttons.extend(bar_buttons(view, bars))
    portrait = height > width
    inner = Rect(pad, top.h, width - 2 * pad, height - top.h - pad)

    # the keyboard, from the bottom up
    key_h = round(7.5 * u * grow)
    gap = max(2, round(0.8 * u))
    keyboard = _keyboard(chat.keys, inner, key_h, gap, buttons)
    regions["keyboard"] = keyboard

    # the draft over the keyboard
    draft_h = round(7 * u * grow)
    draft = Rect(inner.x, keyboard.y - pad - draft_h, inner.w, draft_h)
    regions["chat_draft"] = draft

    # suggested questions over the draft
    bottom = draft.y - pad
    if chat.suggestions:
        per_row = 2 if portrait else 4
        chip_h = round(7 * u * grow)
        lines = (len(chat.suggestions) + per_row - 1) // per_row
        y0 = bottom - lines * chip_h - (lines - 1) * gap
        for line in range(lines):
            part = chat.suggestions[line * per_row : (line + 1) * per_row]
            area = Rect(inner.x, y0 + line * (chip_h + gap), inner.w, chip_h)
            rects = row_of(area, per_row, gap, inner.w)[: len(part)]
            buttons.extend(zip(part, rects, strict=True))
        regions["chat_suggestions"] = Rect(inner.x, y0, inner.w, bottom - y0)
        bottom = y0 - pad

    # the header: status on the left, the chat's buttons on the right (portrait: the buttons under it)
    head_h = round(8 * u * grow)
    status_y = inner.y + round(u)
    head = Rect(inner.x, status_y + (head_h + gap if portrait else 0), inner.w, head_h)
    action_w = round(
        min(26 * u * grow, inner.w * (1.0 if portrait else 0.5) / max(1, len(chat.actions))) - gap
    )
    x = head.x + head.w
    for button in reversed(chat.actions):
        x -= action_w
        buttons.append((button, Rect(x, head.y, action_w, head_h)))
        x -= gap
    if portrait:
        regions["chat_status"] = Rect(inner.x, status_y, inner.w, head_h)
    else:
        regions["chat_status"] = Rect(head.x, head.y, max(1, x - head.x - pad), head_h)
    privacy_h = round(3.6 * u)
    regions["chat_privacy"] = Rect(inner.x, head.y + head_h + round(0.6 * u), inner.w, privacy_h)
    transcript_y = head.y + head_h + privacy_h + round(1.5 * u)
    regions["chat_transcript"] = Rect(inner.x, transcript_y, inner.w, max(1, bottom - transcript_y))
    return Layout(width, height, u * font_scale, regions, tuple(buttons))
