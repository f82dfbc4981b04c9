"""The shopper's screen as plain data: what a renderer draws and what a touch on it means.

A :class:`ScreenView` is frozen and compares by value, so the render loop redraws only when the view it
builds differs from the last one drawn. Nothing here imports pygame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from kiosk.i18n import Language

ActionName = Literal[
    "tap",  # the main thing on screen: start, open an offer
    "dismiss",  # not for me
    "done",  # finished with the details
    "call_staff",  # call a consultant
    "feedback",  # a score (CSAT 1-5, NPS 0-10)
    "language",  # switch ru <-> en
    "notice",  # open the camera notice
    "close",  # close the notice or the staff message
    "opt_in",  # personalise for me
    "opt_out",  # don't analyse me
    "show_code",  # show the redemption code and QR
    "questions",  # open the chat with the FAQ assistant
    "chat_key",  # a key of the on-screen keyboard (or a typed character): its text
    "chat_backspace",  # delete the last character of the draft
    "chat_send",  # send the draft
    "chat_keyboard",  # switch the keyboard's layout (its text: ru, en, digits)
    "chat_suggest",  # a suggested question (score: its index)
    "chat_person",  # talk to a person
    "chat_done",  # end the chat
    "chat_call_staff",  # nobody could join: call a consultant to the screen
    "chat_rate",  # the chat's rating (score 1-5)
    "chat_skip",  # skip the chat's rating
]

ScreenName = Literal[
    "attract",
    "no_camera",
    "welcome",
    "offer",
    "help",
    "details",
    "feedback_csat",
    "feedback_nps",
    "thanks",
    "staff_coming",
    "maintenance",
    "chat",
    "chat_rating",
]

ButtonStyle = Literal["primary", "secondary", "face", "score", "indicator", "toggle", "key", "chip"]


@dataclass(frozen=True)
class UiAction:
    """What a touch, click or key asks for."""

    name: ActionName
    score: int | None = None
    text: str | None = None  # the character of a keyboard key, the layout of a layout switch

    @property
    def key(self) -> str:
        """A stable name: ``feedback:3``, ``tap``, ``chat_key:ж``."""
        if self.text is not None:
            return f"{self.name}:{self.text}"
        return self.name if self.score is None else f"{self.name}:{self.score}"


@dataclass(frozen=True)
class Button:
    """A touch target: its action, label, look, and the key that does the same."""

    action: UiAction
    label: str
    style: ButtonStyle = "secondary"
    key_hint: str = ""


@dataclass(frozen=True)
class Notice:
    """The transparency notice, opened over the screen."""

    title: str
    body: str
    close: Button


ChatWho = Literal["shopper", "bot", "operator", "system"]


@dataclass(frozen=True)
class ChatBubble:
    """One line of the conversation as shown: who, the words, and the label over it."""

    who: ChatWho
    text: str
    label: str = ""


@dataclass(frozen=True)
class ChatPanel:
    """The conversation view: transcript, draft, keyboard, suggestions and the chat's own buttons."""

    bubbles: tuple[ChatBubble, ...]
    status: str  # who answers now: the assistant, "calling a person", the operator's name
    privacy: str  # a person may read the chat; it is cleared when the shopper leaves or taps done
    draft: str  # what the shopper is typing
    placeholder: str  # shown while the draft is empty
    actions: tuple[Button, ...]  # talk to a person (always), call a consultant (when offered), done
    suggestions: tuple[Button, ...] = ()  # suggested questions from the FAQ
    keys: tuple[tuple[Button, ...], ...] = ()  # the on-screen keyboard, row by row (the last: space, send)

    @property
    def buttons(self) -> tuple[Button, ...]:
        """Every touch target of the panel."""
        return self.actions + self.suggestions + tuple(b for row in self.keys for b in row)


@dataclass(frozen=True)
class ScreenView:
    """One screen, in one language, ready to draw."""

    screen: ScreenName
    language: Language
    title: str
    subtitle: str = ""
    meta: str = ""  # validity, or a hint line
    status: str = ""  # consent state, staff status
    image: str | None = None  # path of a picture
    progress: float | None = None  # 0..1: time left on this screen (the progress cue)
    fade: float = 1.0  # 0..1: how far the content has faded in (attract slides)
    code: str | None = None
    code_hint: str = ""
    qr: tuple[str, ...] | None = None
    main: tuple[Button, ...] = ()  # the screen's own buttons (under the text, or faces, or scores)
    footer: tuple[Button, ...] = ()  # call a consultant, consent controls
    camera: Button | None = None  # the camera-active indicator (opens the notice)
    notice_line: str = ""  # the notice in one line, beside the indicator
    toggle: Button | None = None  # the language toggle
    notice: Notice | None = None  # the full notice, when open
    tap_anywhere: UiAction | None = None  # what a touch outside every button means
    scale_labels: tuple[str, str] = ("", "")  # NPS: what 0 and 10 mean
    pressed: str | None = (
        None  # key of the button just touched (or of tap_anywhere): the tap's instant answer
    )
    chat: ChatPanel | None = None  # the conversation view (screen "chat")

    @property
    def buttons(self) -> tuple[Button, ...]:
        """Every touch target, topmost first (the notice's close button covers the rest)."""
        if self.notice is not None:
            return (self.notice.close,)
        extra = tuple(b for b in (self.camera, self.toggle) if b is not None)
        chat = self.chat.buttons if self.chat is not None else ()
        return extra + self.main + self.footer + chat
