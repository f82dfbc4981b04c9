"""The on-screen keyboard: Russian (ЙЦУКЕН) and English (QWERTY) letters, and digits and signs, as rows of
buttons. Pure data; the chat view puts the rows in its :class:`~kiosk.views.screen.ChatPanel`."""

from __future__ import annotations

from typing import Final, Literal

from kiosk.views.screen import Button, UiAction

Letters = Literal["ru", "en"]

#: The letter rows of each layout, and the digits and signs (the bottom row, with the switches, space,
#: backspace and send, is added to every layout).
ROWS: Final[dict[str, tuple[str, ...]]] = {
    "ru": ("йцукенгшщзхъ", "фывапролджэ", "ячсмитьбюё"),
    "en": ("qwertyuiop", "asdfghjkl", "zxcvbnm'"),
    "digits": ("1234567890", "-+()@:;/%", '?!"№₽#*='),
}

#: What a switch to a layout says.
SWITCH_LABELS: Final[dict[str, str]] = {"ru": "РУ", "en": "EN", "digits": "123"}
#: What the switch back from the digits says (the letters it returns to).
LETTERS_LABELS: Final[dict[Letters, str]] = {"ru": "АБВ", "en": "ABC"}

#: The space bar's character.
SPACE: Final = " "


def keyboard_rows(
    letters: Letters, *, digits: bool, send_label: str, space_label: str
) -> tuple[tuple[Button, ...], ...]:
    """The keyboard: the ``letters`` rows (or the digits and signs), then the switches (to the digits and
    to the other letters, or back to ``letters``), ``,``, the space bar, ``.``, backspace and send."""
    chars = ROWS["digits"] if digits else ROWS[letters]
    rows = [tuple(Button(UiAction("chat_key", text=ch), ch, "key") for ch in row) for row in chars]
    switches: tuple[Button, ...]
    if digits:
        switches = (Button(UiAction("chat_keyboard", text=letters), LETTERS_LABELS[letters], "key"),)
    else:
        other: Letters = "en" if letters == "ru" else "ru"
        switches = (
            Button(UiAction("chat_keyboard", text="digits"), SWITCH_LABELS["digits"], "key"),
            Button(UiAction("chat_keyboard", text=other), SWITCH_LABELS[other], "key"),
        )
    bottom = (
        *switches,
        Button(UiAction("chat_key", text=","), ",", "key"),
        Button(UiAction("chat_key", text=SPACE), space_label, "key"),
        Button(UiAction("chat_key", text="."), ".", "key"),
        Button(UiAction("chat_backspace"), "⌫", "key", "Backspace"),
        Button(UiAction("chat_send"), send_label, "primary", "Enter"),
    )
    return (*rows, bottom)
