"""The FAQ assistant: a shopper's message in, an action and the text to show out. Pure and deterministic.

:class:`Assistant` masks the message's personal data, reads it (language, transliteration, lemmas,
spelling), looks for hand-off signs, ranks the FAQ's entries and decides (:mod:`kiosk.assistant.decision`).
An answer is always an entry's own text, in the message's language.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kiosk.assistant import replies
from kiosk.assistant.analysis import Analysis, Analyzer
from kiosk.assistant.decision import Action, decide
from kiosk.assistant.handoff import HandoffDetector
from kiosk.assistant.knowledge import LANGS, Faq, Lang
from kiosk.assistant.language import words
from kiosk.assistant.lexicon import load_lexicon
from kiosk.assistant.masking import CARD_MASK, EMAIL_MASK, PHONE_MASK, mask_personal_data
from kiosk.assistant.morphology import Morphology
from kiosk.assistant.retrieval import FaqIndex, Scored
from kiosk.assistant.settings import AssistantConfig
from kiosk.assistant.stopwords import EN_COMMON

# The masks stand for data the shopper typed, not words of the question: the retrieval does not read them.
_MASKS = re.compile("|".join(re.escape(mask) for mask in (CARD_MASK, PHONE_MASK, EMAIL_MASK)))


@dataclass(frozen=True)
class Reply:
    """The assistant's reply to one message."""

    #: the shopper's message with personal data masked (the only form in which it leaves the assistant)
    text: str
    #: the language of the reply: the message's own, or the screen's when undecided
    lang: Lang
    action: Action
    #: the entry answered (answer only)
    entry: str | None
    #: the entries offered (clarify only: two)
    options: tuple[str, ...]
    #: the best entry's retrieval score (answer, clarify, decline); 1.0 for a strong hand-off sign, 0.5 weak
    confidence: float
    #: what to show: the entry's answer, the clarifying question, the decline or the hand-off message
    answer: str
    #: why it hands off (asked_for_person, frustrated, ...), else None
    reason: str | None = None

    def as_dict(self) -> dict[str, object]:
        """The reply as one line of ``kiosk assistant answer --json``."""
        return {
            "text": self.text,
            "lang": self.lang,
            "action": self.action,
            "entry": self.entry,
            "options": list(self.options),
            "confidence": self.confidence,
            "answer": self.answer,
            "reason": self.reason,
        }


class Assistant:
    """Answers shoppers' messages from one store's FAQ."""

    def __init__(
        self, faq: Faq, config: AssistantConfig | None = None, morphology: Morphology | None = None
    ) -> None:
        self.faq = faq
        self.config = config or AssistantConfig()
        self.morphology = morphology or Morphology()
        lexicon = load_lexicon(self.morphology)
        english: set[str] = set(EN_COMMON)
        for entry in faq.entries:
            english.update(w for w in words(f"{entry.question_en} {entry.answer_en}") if w.isascii())
        self.analyzer = Analyzer(self.morphology, lexicon, frozenset(english))
        self.index = FaqIndex(faq, self.analyzer, self.config.retrieval)
        self.handoff = HandoffDetector(self.morphology)

    def analyse(self, text: str, lang: Lang | None = None) -> Analysis:
        """How the assistant reads ``text`` (personal data masked, and the masks left out)."""
        masked = mask_personal_data(text).text
        return self.analyzer.analyse_message(_MASKS.sub(" ", masked), lang or self.config.default_lang)

    def rank(self, text: str, lang: Lang | None = None) -> list[Scored]:
        """Every entry scored for ``text``, best first: for inspection and the bench."""
        return self.index.rank(self.analyse(text, lang))

    def reply(self, text: str, lang: Lang | None = None) -> Reply:
        """The reply to one message; ``lang`` is the screen's language (the default when undecided)."""
        masked = mask_personal_data(text).text
        analysis = self.analyse(text, lang)
        ranked = self.index.rank(analysis)
        signal = self.handoff.detect(masked, analysis)
        decision = decide([(s.entry_id, s.score) for s in ranked[:2]], signal, self.config.thresholds)
        reply_lang = analysis.lang
        if decision.action == "answer":
            entry = self.faq.entry(decision.entries[0])
            shown = entry.answer(reply_lang)
        elif decision.action == "clarify":
            first, second = (self.faq.entry(entry_id) for entry_id in decision.entries)
            shown = replies.clarify(reply_lang, first.question(reply_lang), second.question(reply_lang))
        elif decision.action == "decline":
            shown = replies.decline(reply_lang)
        else:
            shown = replies.handoff(reply_lang)
        return Reply(
            text=masked,
            lang=reply_lang,
            action=decision.action,
            entry=decision.entries[0] if decision.action == "answer" else None,
            options=decision.entries if decision.action == "clarify" else (),
            confidence=decision.confidence,
            answer=shown,
            reason=decision.reason,
        )


__all__ = ["LANGS", "Assistant", "Reply"]
