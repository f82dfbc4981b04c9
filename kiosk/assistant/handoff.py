"""Does the shopper want a person? Requests, refusals of the bot, frustration, grievances, emergencies.

:class:`HandoffDetector` reads an analysed message against the hand-off vocabulary (``handoff.toml``) and
a few patterns of its own (shouting in capitals, "!!"). *Strong* signs always hand off: asking for a
person ("соедините с оператором", "can I talk to someone"), refusing the bot ("не хочу с роботом"),
swearing or exasperation at the answers ("опять не то", "you did not answer my question"), a grievance a
person
must sort out (overcharged, rude staff) and emergencies (a lost child). *Weak* signs (a plea for help,
urgency, "again", shouting) hand off when two come together, or when the FAQ has no answer.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import resources

from kiosk.assistant.analysis import Analysis
from kiosk.assistant.language import words
from kiosk.assistant.lexicon import Key, Lexicon, word_key
from kiosk.assistant.morphology import Morphology

_GROUPS = (
    "person", "reach", "want", "about", "feedback", "bot", "refuse", "frustration", "grievance", "callback",
    "emergency",
    "child", "lost", "help", "urgent", "again",
)  # fmt: skip
_UPPER = re.compile(r"[A-ZА-ЯЁ]")
_LOWER = re.compile(r"[a-zа-яё]")
_EXCLAIM = re.compile(r"[!?]\s*!|!\s*[!?]")
# Reach words too vague to ask for a person when the message is about feedback ("where do I complain").
_VAGUE_REACH = frozenset(
    {"ru:где", "ru:найти", "ru:дать", "en:where", "en:get", "en:find", "en:give", "en:see"}
)


@dataclass(frozen=True)
class HandoffSignal:
    """What the detector found: the strong reasons (any one hands off) and the weak signs."""

    strong: tuple[str, ...] = ()
    weak: tuple[str, ...] = ()

    @property
    def reason(self) -> str | None:
        """The first strong reason, else the first weak sign, else None."""
        return (self.strong or self.weak or (None,))[0]


class HandoffDetector:
    """Finds hand-off signs in an analysed message."""

    def __init__(self, morphology: Morphology, text: str | None = None) -> None:
        if text is None:
            text = resources.files("kiosk.assistant").joinpath("handoff.toml").read_text(encoding="utf-8")
        data = tomllib.loads(text)
        self._groups: dict[str, tuple[tuple[Key, ...], ...]] = {}
        for group in _GROUPS:
            phrases: list[tuple[Key, ...]] = []
            for lang in ("ru", "en"):
                for phrase in data.get(group, {}).get(lang, []):
                    tokens = words(phrase)
                    if tokens:
                        phrases.append(tuple(word_key(token, lang, morphology) for token in tokens))
            self._groups[group] = tuple(phrases)

    def _find(self, group: str, analysis: Analysis) -> list[tuple[int, int]]:
        """Where the group's phrases occur in the message: (start, end) word positions."""
        keys = list(analysis.keys)
        skippable = list(analysis.function)
        found: list[tuple[int, int]] = []
        for phrase in self._groups[group]:
            for start in range(len(keys)):
                if keys[start] == phrase[0]:
                    end = Lexicon.match_at(keys, skippable, start, phrase)
                    if end is not None:
                        found.append((start, end))
        return found

    def detect(self, text: str, analysis: Analysis) -> HandoffSignal:
        """The hand-off signs in a message (``text`` as typed, for capitals and punctuation)."""
        strong: list[str] = []
        if self._asks_for_person(analysis):
            strong.append("asked_for_person")
        if self._refuses_bot(analysis):
            strong.append("refused_bot")
        if self._find("frustration", analysis):
            strong.append("frustrated")
        if self._find("grievance", analysis):
            strong.append("grievance")
        if self._find("callback", analysis):
            strong.append("asked_for_callback")
        if self._find("emergency", analysis) or (
            self._find("child", analysis) and self._find("lost", analysis)
        ):
            strong.append("emergency")
        weak: list[str] = []
        for group in ("help", "urgent", "again"):
            if self._find(group, analysis):
                weak.append(group)
        if _shouting(text):
            weak.append("shouting")
        if _EXCLAIM.search(text):
            weak.append("exclaiming")
        return HandoffSignal(strong=tuple(strong), weak=tuple(weak))

    def _asks_for_person(self, analysis: Analysis) -> bool:
        persons = [
            (start, end)
            for start, end in self._find("person", analysis)
            if not (start > 0 and any(s == start - 1 for s, _ in self._find("about", analysis)))
        ]
        if not persons:
            return False
        about_feedback = bool(self._find("feedback", analysis))
        reach = [
            (start, end)
            for start, end in self._find("reach", analysis)
            if not (about_feedback and analysis.keys[start] in _VAGUE_REACH)
        ]
        if reach:
            return True
        for start, _ in self._find("want", analysis):
            if any(0 < p_start - start <= 3 for p_start, _ in persons):
                return True
        content = sum(1 for function in analysis.function if not function)
        return content <= 2 and not about_feedback

    def _refuses_bot(self, analysis: Analysis) -> bool:
        return bool(self._find("bot", analysis)) and bool(self._find("refuse", analysis))


def _shouting(text: str) -> bool:
    """Whether a message is in capitals: two words or more, six capitals or more, 80% of its letters."""
    upper = len(_UPPER.findall(text))
    letters = len(_LOWER.findall(text.lower()))
    return len(text.split()) >= 2 and upper >= 6 and upper >= 0.8 * letters
