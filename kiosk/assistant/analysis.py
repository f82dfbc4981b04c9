"""A text's meaning units: its words as lemma or stem keys, joined into the lexicon's phrases, with concepts.

:class:`Analyzer` reads a shopper's message (detecting its language, transliterating Latin-typed
Russian, correcting misspelt words against the known vocabulary) and a store's FAQ texts the same way, so
that both meet on keys and concepts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kiosk.assistant.knowledge import Lang
from kiosk.assistant.language import detect_language, is_cyrillic, is_latin, to_cyrillic, words
from kiosk.assistant.lexicon import Key, Lexicon, word_key
from kiosk.assistant.morphology import Morphology
from kiosk.assistant.spelling import Speller
from kiosk.assistant.stopwords import EN_FUNCTION, EN_LIGHT, RU_FUNCTION, RU_LIGHT


@dataclass(frozen=True)
class Unit:
    """One meaning unit: a word, or the words of a lexicon phrase taken together."""

    surface: str
    keys: frozenset[Key]
    concepts: frozenset[str]
    #: "function" (says nothing of the topic), "light" (a question word) or "content"
    role: str
    #: whether a known word (the dictionary, the FAQ or the lexicon knows it)
    known: bool

    @property
    def features(self) -> frozenset[str]:
        """Its keys and its concepts (``c:`` before a concept's name)."""
        return self.keys | frozenset(f"c:{concept}" for concept in self.concepts)


@dataclass(frozen=True)
class Analysis:
    """A message read: its language, whether it was transliterated, its words and its units."""

    lang: Lang
    transliterated: bool
    #: the words as read (Latin-typed Russian in Cyrillic, shorthand expanded, misspellings corrected)
    words: tuple[str, ...]
    #: each word's key (lemma or stem)
    keys: tuple[Key, ...]
    #: whether each word is a function word (a pronoun, article, preposition...)
    function: tuple[bool, ...]
    units: tuple[Unit, ...]


class Analyzer:
    """Turns text into units. ``speller`` (built on the FAQ's and the lexicon's vocabulary) corrects
    words nobody knows; without one, nothing is corrected (the FAQ's own texts are read that way)."""

    def __init__(self, morphology: Morphology, lexicon: Lexicon, english_words: frozenset[str]) -> None:
        self.morphology = morphology
        self.lexicon = lexicon
        self.english_words = english_words
        self.speller: Speller | None = None

    def is_english(self, word: str) -> bool:
        """Whether ``word`` (Latin letters, normalised) is an English word we know."""
        return (
            word in self.english_words
            or word in self.lexicon.surfaces["en"]
            or word in self.lexicon.shorthand["en"]
            or self.morphology.en_stem(word) in EN_FUNCTION
        )

    def analyse_message(self, text: str, default: Lang) -> Analysis:
        """A shopper's message: its language is detected (a tie goes to ``default``, the screen's)."""
        raw = words(text)
        lang, _ = detect_language(raw, self.is_english, self.morphology.is_russian_word, default)
        tokens: list[str] = []
        transliterated = False
        for word in raw:
            if lang == "ru" and is_latin(word) and not self.is_english(word):
                tokens.append(to_cyrillic(word, self.morphology.is_russian_word))
                transliterated = True
            else:
                tokens.append(word)
        expanded, keys, roles, units = self._units(tokens, lang, correct=True, merge=True)
        return Analysis(
            lang=lang,
            transliterated=transliterated,
            words=tuple(expanded),
            keys=tuple(keys),
            function=tuple(role == "function" for role in roles),
            units=tuple(units),
        )

    def analyse_text(self, text: str, lang: Lang) -> tuple[Unit, ...]:
        """A store's own text in a known language (nothing corrected)."""
        return tuple(self._units(words(text), lang, correct=False, merge=False)[3])

    def _units(
        self, tokens: Iterable[str], lang: Lang, correct: bool, merge: bool
    ) -> tuple[list[str], list[Key], list[str], list[Unit]]:
        expanded: list[str] = []
        for token in tokens:
            table = self.lexicon.shorthand["ru" if is_cyrillic(token) else "en"]
            expanded.extend(table.get(token, token).split())
        keys: list[Key] = []
        known: list[bool] = []
        for position, token in enumerate(expanded):
            key = word_key(token, lang, self.morphology)
            is_known = self._known(token, key)
            if correct and not is_known and self.speller is not None:
                fixed = self.speller.correct(token)
                if fixed is not None:
                    expanded[position] = fixed
                    key, is_known = word_key(fixed, lang, self.morphology), True
            keys.append(key)
            known.append(is_known)
        roles = [self._role(token, key, 1, False) for token, key in zip(expanded, keys, strict=True)]
        return expanded, keys, roles, self._segment(expanded, keys, known, roles, merge)

    def _known(self, token: str, key: Key) -> bool:
        if key.startswith("n:"):
            return True
        if is_cyrillic(token):
            return self.morphology.russian(token).known
        return self.is_english(token)

    def _segment(
        self, tokens: list[str], keys: list[Key], known: list[bool], roles: list[str], merge: bool
    ) -> list[Unit]:
        """Units: with ``merge``, the words of each lexicon phrase become one unit (a message is weighed
        by its ideas, not its words); without, each word stays a unit carrying its phrases' concepts."""
        skippable = [role == "function" for role in roles]
        concepts = self.lexicon.concepts_of(keys, skippable)
        units: list[Unit] = []
        index = 0
        while index < len(keys):
            end = index + 1
            for phrase, _ in self.lexicon.by_first.get(keys[index], ()) if merge else ():
                phrase_end = self.lexicon.match_at(keys, skippable, index, phrase)
                if len(phrase) > 1 and phrase_end is not None:
                    end = phrase_end
                    break
            span_concepts: set[str] = set()
            for position in range(index, end):
                span_concepts |= concepts[position]
            # A phrase's own words match by themselves only where they say something: "in stock" is
            # matched by "stock", never by "in".
            meaningful = [keys[p] for p in range(index, end) if roles[p] == "content"]
            span_keys = frozenset(meaningful if end - index > 1 and meaningful else keys[index:end])
            units.append(
                Unit(
                    surface=" ".join(tokens[index:end]),
                    keys=span_keys,
                    concepts=frozenset(span_concepts),
                    role=self._role(tokens[index], keys[index], end - index, bool(span_concepts)),
                    known=all(known[index:end]),
                )
            )
            index = end
        return units

    def _role(self, token: str, key: Key, length: int, has_concept: bool) -> str:
        """``content``, ``light`` (a question word) or ``function``; a phrase or a concept is content."""
        lang, lemma = key.split(":", 1)
        if length > 1 or has_concept or lang not in ("ru", "en"):
            return "content"
        if lemma in (RU_LIGHT if lang == "ru" else EN_LIGHT):
            return "light"
        if lang == "ru":
            function = lemma in RU_FUNCTION or self.morphology.russian(token).function_word
        else:
            function = lemma in EN_FUNCTION
        return "function" if function else "content"
