"""Which FAQ entry a message asks about, and how sure: soft coverage of the message by each entry.

Every entry is read in both languages, its question and its answer apart. A message's unit is matched by
an entry when the unit's key (lemma or stem) or one of its concepts occurs there, worth more in the
question than in the answer and more in the message's language than in the other (where only concepts
can meet). Units weigh by how rare their features are among the entries (inverse document frequency); a
content word that no entry has weighs as much as the rarest, so a message about something the FAQ does
not cover ("где купить билеты в кино") keeps a low score however well its other words match. The score mixes
how much of the message the entry covers with how much of the entry's question the message covers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from kiosk.assistant.analysis import Analysis, Analyzer, Unit
from kiosk.assistant.knowledge import LANGS, Faq, Lang
from kiosk.assistant.language import words
from kiosk.assistant.spelling import Speller


class RetrievalWeights(BaseModel):
    """How the retrieval weighs its evidence. The defaults are the ones docs/assistant.md reports on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    function_word: float = Field(default=0.05, ge=0, description="Weight of a function word (of, the, и, у).")
    question_word: float = Field(default=0.35, ge=0, description="Weight of a question word (where, где).")
    number: float = Field(default=0.3, ge=0, description="Weight of a number the entry does not contain.")
    missing: float = Field(
        default=1.0,
        ge=0,
        description="Weight of a content word no entry has, as a share of the rarest feature's weight.",
    )
    concept: float = Field(default=0.85, ge=0, le=1, description="A concept match, against a word match (1).")
    answer_field: float = Field(
        default=0.6, ge=0, le=1, description="A match in the answer, against one in the question (1)."
    )
    other_language: float = Field(
        default=0.8, ge=0, le=1, description="A match in the entry's other language, against its own (1)."
    )
    rarity_power: float = Field(
        default=0.5,
        ge=0,
        description="How much less a match through a feature commoner than the unit's rarest counts.",
    )
    entry_coverage: float = Field(
        default=0.3,
        ge=0,
        le=1,
        description="Share of the score from how much of the entry's question the message covers.",
    )


@dataclass(frozen=True)
class Scored:
    """One entry's score for a message, and its two parts."""

    entry_id: str
    score: float
    message_coverage: float
    entry_coverage: float


@dataclass(frozen=True)
class _Field:
    name: str
    weight: float
    features: frozenset[str]


class FaqIndex:
    """A store's FAQ read for retrieval; :meth:`rank` scores every entry for an analysed message."""

    def __init__(self, faq: Faq, analyzer: Analyzer, weights: RetrievalWeights | None = None) -> None:
        self.faq = faq
        self.weights = weights or RetrievalWeights()
        self._questions: dict[tuple[str, Lang], tuple[Unit, ...]] = {}
        self._fields: dict[tuple[str, Lang], tuple[_Field, ...]] = {}
        texts: dict[tuple[str, Lang, str], frozenset[str]] = {}
        for entry in faq.entries:
            for lang in LANGS:
                question = analyzer.analyse_text(entry.question(lang), lang)
                answer = analyzer.analyse_text(entry.answer(lang), lang)
                self._questions[(entry.id, lang)] = question
                texts[(entry.id, lang, "q")] = frozenset(f for unit in question for f in unit.features)
                texts[(entry.id, lang, "a")] = frozenset(f for unit in answer for f in unit.features)
        w = self.weights
        for entry in faq.entries:
            for lang in LANGS:
                other: Lang = "en" if lang == "ru" else "ru"
                self._fields[(entry.id, lang)] = (
                    _Field("question", 1.0, texts[(entry.id, lang, "q")]),
                    _Field("answer", w.answer_field, texts[(entry.id, lang, "a")]),
                    _Field("question", w.other_language, texts[(entry.id, other, "q")]),
                    _Field("answer", w.other_language * w.answer_field, texts[(entry.id, other, "a")]),
                )
        self._df: dict[str, int] = {}
        for entry in faq.entries:
            seen: set[str] = set()
            for lang in LANGS:
                seen |= texts[(entry.id, lang, "q")] | texts[(entry.id, lang, "a")]
            for feature in seen:
                self._df[feature] = self._df.get(feature, 0) + 1
        self._n = len(faq.entries)
        self._rarest = self._idf(1)
        vocabulary: set[str] = set(analyzer.lexicon.surfaces["ru"]) | set(analyzer.lexicon.surfaces["en"])
        for entry in faq.entries:
            for lang in LANGS:
                vocabulary.update(words(entry.question(lang)))
                vocabulary.update(words(entry.answer(lang)))
        self.vocabulary = frozenset(vocabulary)
        analyzer.speller = Speller(self.vocabulary)

    def _idf(self, df: float) -> float:
        return math.log(1 + self._n / df)

    def weight(self, unit: Unit) -> float:
        """How much ``unit`` counts: by its role, and for content by its rarest feature among the entries."""
        w = self.weights
        if unit.role == "function":
            return w.function_word
        if unit.role == "light":
            return w.question_word
        if all(key.startswith("n:") for key in unit.keys):
            return w.number
        counts = [self._df[f] for f in unit.features if f in self._df]
        if counts:
            return self._idf(min(counts))
        return w.missing * self._rarest

    def _match(self, unit: Unit, fields: tuple[_Field, ...], unit_weight: float) -> float:
        """How well an entry's fields match ``unit``, 0 to 1: the best of its features found there, by
        field, by kind (a word over a concept) and by the feature's own rarity against the unit's."""
        if unit.role != "content" or all(key.startswith("n:") for key in unit.keys):
            return 1.0 if any(unit.keys & field.features for field in fields[:2]) else 0.0
        # Words: each of the unit's words counts (a phrase is matched as far as its words are).
        by_words = sum(self._feature_match(key, fields, unit_weight) for key in unit.keys) / len(unit.keys)
        by_concepts = max(
            (
                self.weights.concept * self._feature_match(f"c:{c}", fields, unit_weight)
                for c in unit.concepts
            ),
            default=0.0,
        )
        return max(by_words, by_concepts)

    def _feature_match(self, feature: str, fields: tuple[_Field, ...], unit_weight: float) -> float:
        """The best field weight where ``feature`` occurs, times its rarity against the unit's weight."""
        if feature not in self._df:
            return 0.0
        rarity: float = min(1.0, self._idf(self._df[feature]) / unit_weight) ** self.weights.rarity_power
        return rarity * max((field.weight for field in fields if feature in field.features), default=0.0)

    def rank(self, analysis: Analysis) -> list[Scored]:
        """Every entry scored for the message, best first (ties by FAQ order)."""
        units = analysis.units
        weights = [self.weight(unit) for unit in units]
        total = sum(weights)
        message_features = frozenset(f for unit in units for f in unit.features)
        share = self.weights.entry_coverage
        scored: list[Scored] = []
        for entry in self.faq.entries:
            fields = self._fields[(entry.id, analysis.lang)]
            covered = sum(
                weight * self._match(unit, fields, weight)
                for unit, weight in zip(units, weights, strict=True)
            )
            message_coverage = covered / total if total > 0 else 0.0
            entry_cov = self._entry_coverage(entry.id, analysis.lang, message_features)
            score = message_coverage * ((1 - share) + share * entry_cov)
            scored.append(Scored(entry.id, score, message_coverage, entry_cov))
        order = {entry.id: index for index, entry in enumerate(self.faq.entries)}
        scored.sort(key=lambda s: (-s.score, order[s.entry_id]))
        return scored

    def _entry_coverage(self, entry_id: str, lang: Lang, message_features: frozenset[str]) -> float:
        total = covered = 0.0
        for unit in self._questions[(entry_id, lang)]:
            if unit.role == "function":
                continue
            weight = self.weight(unit)
            total += weight
            if unit.features & message_features:
                covered += weight
        return covered / total if total > 0 else 0.0
