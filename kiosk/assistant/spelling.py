"""Spelling correction against a known vocabulary (the FAQ's words and the lexicon's), by character n-grams.

A misspelt word ("вазврат", "warrenty") is replaced by the known word within a small edit distance that
shares the most character trigrams with it. Only words no dictionary knows are corrected.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable


def trigrams(word: str) -> set[str]:
    """The character trigrams of ``word`` with its boundaries marked (``^wo``, ``wor``, ``rd$``...)."""
    padded = f"^{word}$"
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


def edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment distance between ``a`` and ``b`` (insert, delete, substitute, swap two
    neighbours); any distance above ``limit`` is returned as ``limit + 1``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i] + [0] * len(b)
        for j, char_b in enumerate(b, start=1):
            cost = 0 if char_a == char_b else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and char_a == b[j - 2] and a[i - 2] == char_b:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


def allowed_distance(word: str) -> int:
    """How many edits a word of this length may be away: none below 5 letters, 1 up to 7, 2 from 8."""
    if len(word) < 5:
        return 0
    return 1 if len(word) < 8 else 2


class Speller:
    """Corrects words to the closest one of a vocabulary."""

    def __init__(self, vocabulary: Iterable[str]) -> None:
        self._index: dict[str, set[str]] = defaultdict(set)
        self._words = frozenset(word for word in vocabulary if len(word) >= 3)
        for word in self._words:
            for gram in trigrams(word):
                self._index[gram].add(word)

    def correct(self, word: str) -> str | None:
        """The vocabulary word ``word`` most likely misspells, or None when none is close enough."""
        limit = allowed_distance(word)
        if limit == 0 or word in self._words:
            return None
        grams = trigrams(word)
        shared: dict[str, int] = defaultdict(int)
        for gram in grams:
            for candidate in self._index.get(gram, ()):
                shared[candidate] += 1
        best: tuple[int, int, str] | None = None
        for candidate, count in shared.items():
            if count < 2:
                continue
            distance = edit_distance(word, candidate, limit)
            if distance > limit:
                continue
            rank = (distance, -count, candidate)
            if best is None or rank < best:
                best = rank
        return best[2] if best else None
