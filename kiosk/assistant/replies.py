"""The assistant's own words (all it says that is not an FAQ entry's answer), in Russian and English."""

from __future__ import annotations

from kiosk.assistant.knowledge import Lang

CLARIFY = {
    "ru": "Уточните, пожалуйста, что вы имели в виду: «{first}» или «{second}»?",
    "en": 'Which did you mean: "{first}" or "{second}"?',
}
DECLINE = {
    "ru": "К сожалению, на этот вопрос у меня нет ответа. Позвать сотрудника магазина?",
    "en": "Sorry, I don't have an answer to that. Would you like me to call a member of staff?",
}
HANDOFF = {
    "ru": "Зову сотрудника магазина, он скоро подключится к разговору.",
    "en": "I'm calling a member of staff; they will join the conversation shortly.",
}


def clarify(lang: Lang, first: str, second: str) -> str:
    """The question that offers two entries, by their questions."""
    return CLARIFY[lang].format(first=first.rstrip("?"), second=second.rstrip("?"))


def decline(lang: Lang) -> str:
    """What the assistant says when it has no answer: it offers a person."""
    return DECLINE[lang]


def handoff(lang: Lang) -> str:
    """What the assistant says when it hands the conversation to a person."""
    return HANDOFF[lang]
