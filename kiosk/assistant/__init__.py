"""The offline RU/EN FAQ assistant (issue 19): a pure, deterministic core the screen builds on.

It answers a shopper's message from the store's FAQ (an entry's own text, never an invented one), asks
which of two close entries was meant, declines with the offer of a person, or hands off to a person on
request or frustration. No pygame, MQTT or files here except the FAQ loader (:func:`load_faq`).

    faq = load_faq(Path("examples/faq.yaml"))
    assistant = Assistant(faq)
    reply = assistant.reply("можно вернуть куртку?", lang="ru")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kiosk.assistant.conversation import Conversation
    from kiosk.assistant.engine import Assistant, Reply
    from kiosk.assistant.errors import AssistantError, FaqError
    from kiosk.assistant.knowledge import Faq, FaqEntry, load_faq, parse_faq
    from kiosk.assistant.masking import Masked, mask_personal_data
    from kiosk.assistant.settings import AssistantConfig

# Imported on first use, so that `kiosk --help` and the kiosk's other commands do not load the assistant.
_HOMES = {
    "Assistant": "engine",
    "AssistantConfig": "settings",
    "AssistantError": "errors",
    "Conversation": "conversation",
    "Faq": "knowledge",
    "FaqEntry": "knowledge",
    "FaqError": "errors",
    "Masked": "masking",
    "Reply": "engine",
    "load_faq": "knowledge",
    "mask_personal_data": "masking",
    "parse_faq": "knowledge",
}


def __getattr__(name: str) -> object:
    if name not in _HOMES:
        raise AttributeError(f"module 'kiosk.assistant' has no attribute {name!r}")
    return getattr(importlib.import_module(f"kiosk.assistant.{_HOMES[name]}"), name)


__all__ = [
    "Assistant",
    "AssistantConfig",
    "AssistantError",
    "Conversation",
    "Faq",
    "FaqEntry",
    "FaqError",
    "Masked",
    "Reply",
    "load_faq",
    "mask_personal_data",
    "parse_faq",
]
