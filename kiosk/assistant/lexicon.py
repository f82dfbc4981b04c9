"""The general retail lexicon (``lexicon.toml``): shorthand spellings and groups of words for one idea.

Loaded once and turned into lemma (Russian) and stem (English) keys by a
:class:`~kiosk.assistant.morphology.Morphology`, so that a group matches any inflection of its words.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources

from kiosk.assistant.knowledge import Lang
from kiosk.assistant.language import is_cyrillic, words
from kiosk.assistant.morphology import Morphology

#: A word's key: its language and lemma or stem, e.g. ``ru:вернуть``, ``en:return``.
Key = str


def word_key(word: str, lang: Lang, morphology: Morphology) -> Key:
    """The key of one normalised word: Cyrillic words are Russian lemmas, Latin ones English stems (a
    Latin-typed Russian word is transliterated before it gets here), numbers themselves. ``lang`` is the
    message's language, kept for symmetry with the callers that know it."""
    del lang
    if word.isdigit():
        return f"n:{word}"
    if is_cyrillic(word):
        return f"ru:{morphology.russian(word).lemma}"
    return f"en:{morphology.en_stem(word)}"


@dataclass(frozen=True)
class Lexicon:
    """Shorthand spellings per language, and concept groups as sequences of keys (one word or a phrase)."""

    shorthand: dict[Lang, dict[str, str]]
    #: concept name -> the key sequences that express it
    phrases: dict[str, tuple[tuple[Key, ...], ...]]
    #: first key of a phrase -> (phrase, concept), the longest phrase first
    by_first: dict[Key, list[tuple[tuple[Key, ...], str]]] = field(default_factory=dict)
    #: every word (normalised surface) the lexicon names, per language: for spelling correction
    surfaces: dict[Lang, frozenset[str]] = field(default_factory=dict)

    def concepts_of(self, keys: list[Key], skippable: list[bool]) -> list[set[str]]:
        """For each position of ``keys``, the concepts of every lexicon phrase covering it. A phrase may
        have up to two ``skippable`` words (pronouns, articles) inside it: "bring it back"."""
        found: list[set[str]] = [set() for _ in keys]
        for start, key in enumerate(keys):
            for phrase, concept in self.by_first.get(key, ()):
                end = self.match_at(keys, skippable, start, phrase)
                if end is not None:
                    for position in range(start, end):
                        found[position].add(concept)
        return found

    @staticmethod
    def match_at(keys: list[Key], skippable: list[bool], start: int, phrase: tuple[Key, ...]) -> int | None:
        """Where ``phrase`` ends when it starts at ``start`` of ``keys`` (None when it does not)."""
        position = start
        skipped = 0
        for index, wanted in enumerate(phrase):
            while (
                index > 0
                and position < len(keys)
                and keys[position] != wanted
                and skippable[position]
                and skipped < 2
            ):
                position += 1
                skipped += 1
            if position >= len(keys) or keys[position] != wanted:
                return None
            position += 1
        return position


def load_lexicon(morphology: Morphology, text: str | None = None) -> Lexicon:
    """The lexicon shipped with the package (or one given as TOML ``text``), keyed by ``morphology``."""
    if text is None:
        text = resources.files("kiosk.assistant").joinpath("lexicon.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    shorthand: dict[Lang, dict[str, str]] = {
        "ru": {str(k): str(v) for k, v in data.get("shorthand", {}).get("ru", {}).items()},
        "en": {str(k): str(v) for k, v in data.get("shorthand", {}).get("en", {}).items()},
    }
    phrases: dict[str, tuple[tuple[Key, ...], ...]] = {}
    by_first: dict[Key, list[tuple[tuple[Key, ...], str]]] = {}
    surfaces: dict[Lang, set[str]] = {"ru": set(), "en": set()}
    for concept, groups in data.get("concepts", {}).items():
        sequences: list[tuple[Key, ...]] = []
        for lang in ("ru", "en"):
            for phrase in groups.get(lang, []):
                tokens = [shorthand[lang].get(token, token) for token in words(phrase)]
                tokens = [part for token in tokens for part in token.split()]
                if not tokens:
                    continue
                surfaces[lang].update(tokens)
                keys = tuple(word_key(token, lang, morphology) for token in tokens)
                if keys not in sequences:
                    sequences.append(keys)
                    by_first.setdefault(keys[0], []).append((keys, concept))
        phrases[concept] = tuple(sequences)
    for options in by_first.values():
        options.sort(key=lambda option: -len(option[0]))
    return Lexicon(
        shorthand=shorthand,
        phrases=phrases,
        by_first=by_first,
        surfaces={"ru": frozenset(surfaces["ru"]), "en": frozenset(surfaces["en"])},
    )
