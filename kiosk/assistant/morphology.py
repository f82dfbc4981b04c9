"""Words to their dictionary forms: pymorphy3 lemmas for Russian, Snowball stems for English.

Both come with their data inside registry packages (``pymorphy3-dicts-ru``, ``snowballstemmer``); nothing
is downloaded. Results are cached per word: a shop's vocabulary is small and shoppers repeat it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import pymorphy3
import snowballstemmer

# Parts of speech (OpenCorpora tags) that carry no topic of their own.
_RU_FUNCTION_POS = frozenset({"PREP", "CONJ", "PRCL", "INTJ", "NPRO"})


@dataclass(frozen=True)
class RussianWord:
    """A Russian word's dictionary form, part of speech, case and whether the dictionary knows it."""

    lemma: str
    pos: str
    case: str
    known: bool

    @property
    def function_word(self) -> bool:
        """A preposition, conjunction, particle, interjection or pronoun."""
        return self.pos in _RU_FUNCTION_POS


class Morphology:
    """Russian lemmas (pymorphy3 with its Russian dictionary) and English stems (Snowball), cached."""

    def __init__(self, cache_size: int = 50_000) -> None:
        self._morph = pymorphy3.MorphAnalyzer(lang="ru")
        self._stemmer = snowballstemmer.stemmer("english")
        self.russian = lru_cache(maxsize=cache_size)(self._russian)
        self.en_stem = lru_cache(maxsize=cache_size)(self._en_stem)
        self.is_russian_word = lru_cache(maxsize=cache_size)(self._is_russian_word)

    def _russian(self, word: str) -> RussianWord:
        parse = self._morph.parse(word)[0]
        lemma = str(parse.normal_form).replace("ё", "е")
        return RussianWord(
            lemma=lemma,
            pos=str(parse.tag.POS or ""),
            case=str(parse.tag.case or ""),
            known=bool(parse.is_known),
        )

    def _en_stem(self, word: str) -> str:
        return str(self._stemmer.stemWord(word))

    def _is_russian_word(self, word: str) -> bool:
        """Whether the dictionary knows ``word`` (a whole word; two letters or more, or a one-letter
        preposition or conjunction)."""
        if len(word) == 1:
            return word in "вкосиуая"
        return bool(self._morph.word_is_known(word))
