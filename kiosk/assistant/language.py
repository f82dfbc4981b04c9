"""Text before meaning: normalising, splitting into words, transliteration and the message's language.

Pure functions, no dictionaries of their own beyond the small tables here: which words are Russian is
asked of a :class:`~kiosk.assistant.morphology.Morphology` passed in.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable

from kiosk.assistant.knowledge import Lang

_WORD = re.compile(r"[a-zа-яё0-9]+(?:['’][a-z]+)?", re.IGNORECASE)
_CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)
_LATIN = re.compile(r"[a-z]", re.IGNORECASE)
_REPEATS = re.compile(r"([a-zа-я])\1{2,}")

# Latin-typed Russian to Cyrillic: the longest sequence first. Each sequence maps to its usual letter and,
# where typists disagree, the alternatives tried when the usual one gives no Russian word.
_TRANSLIT: dict[str, tuple[str, ...]] = {
    "shch": ("щ",),
    "tsya": ("ться", "тся"),
    "tsa": ("ться", "тся", "ца"),
    "sch": ("щ", "ш"),
    "zh": ("ж",),
    "kh": ("х",),
    "ch": ("ч",),
    "sh": ("ш",),
    "ts": ("ц", "тс"),
    "tz": ("ц",),
    "yu": ("ю",),
    "ya": ("я",),
    "yo": ("ё", "йо"),
    "ye": ("е", "ье"),
    "yi": ("ый", "ий"),
    "iy": ("ий",),
    "ju": ("ю",),
    "ja": ("я",),
    "jo": ("ё",),
    "ou": ("у",),
    "oo": ("у",),
    "ee": ("и",),
    "a": ("а",),
    "b": ("б",),
    "c": ("ц", "к"),
    "d": ("д",),
    "e": ("е", "э"),
    "f": ("ф",),
    "g": ("г",),
    "h": ("х",),
    "i": ("и", "ы", "й"),
    "j": ("й", "ж"),
    "k": ("к",),
    "l": ("л",),
    "m": ("м",),
    "n": ("н",),
    "o": ("о",),
    "p": ("п",),
    "q": ("к",),
    "r": ("р",),
    "s": ("с",),
    "t": ("т",),
    "u": ("у",),
    "v": ("в",),
    "w": ("в", "ш"),
    "x": ("кс", "х"),
    "y": ("ы", "й", "и"),
    "z": ("з",),
    "'": ("ь", "ъ"),
    "’": ("ь",),
}
_SEQUENCES = sorted(_TRANSLIT, key=len, reverse=True)
_MAX_VARIANTS = 64

# Chat shorthand and contractions of English, expanded before stemming.
_EN_SHORTHAND = {
    "u": "you",
    "ur": "your",
    "r": "are",
    "pls": "please",
    "plz": "please",
    "thx": "thanks",
    "ty": "thanks",
    "im": "i am",
    "whats": "what is",
    "wheres": "where is",
    "hows": "how is",
    "dont": "do not",
    "doesnt": "does not",
    "cant": "can not",
    "cannot": "can not",
    "wont": "will not",
    "isnt": "is not",
    "didnt": "did not",
    "wanna": "want to",
    "gonna": "going to",
    "gotta": "have to",
    "asap": "now",
    "tmrw": "tomorrow",
    "tmr": "tomorrow",
    "b4": "before",
    "2day": "today",
    "2nite": "tonight",
    "info": "information",
}
_EN_CONTRACTIONS = {"n't": " not", "'re": " are", "'ve": " have", "'ll": " will", "'m": " am", "'d": " would"}


def normalise(text: str) -> str:
    """Lower case, ``ё`` as ``е``, runs of three or more of one letter as one ("helppp" -> "help")."""
    lowered = text.lower().replace("ё", "е").replace("’", "'")
    return _REPEATS.sub(r"\1", lowered)


def words(text: str) -> list[str]:
    """The words (letters and digits) of normalised ``text``; English contractions and shorthand expanded."""
    found: list[str] = []
    for raw in _WORD.findall(normalise(text)):
        token = raw
        for suffix, replacement in _EN_CONTRACTIONS.items():
            if token.endswith(suffix):
                token = token[: -len(suffix)] + replacement
                break
        if token.endswith("'s"):
            token = token[:-2]
        token = token.replace("'", "")
        for part in token.split():
            found.extend(_EN_SHORTHAND.get(part, part).split())
    return found


def is_cyrillic(word: str) -> bool:
    """Whether ``word`` has a Cyrillic letter."""
    return bool(_CYRILLIC.search(word))


def is_latin(word: str) -> bool:
    """Whether ``word`` has a Latin letter and no Cyrillic one."""
    return bool(_LATIN.search(word)) and not is_cyrillic(word)


def script_counts(text: str) -> tuple[int, int]:
    """How many Cyrillic and how many Latin letters ``text`` has."""
    return len(_CYRILLIC.findall(text)), len(_LATIN.findall(text))


def transliterations(word: str) -> list[str]:
    """Cyrillic spellings of a Latin-typed Russian word, the usual one first (at most 64)."""
    options: list[tuple[str, ...]] = []
    index = 0
    lowered = word.lower()
    while index < len(lowered):
        for sequence in _SEQUENCES:
            if lowered.startswith(sequence, index):
                choices = _TRANSLIT[sequence]
                if sequence == "e" and index == 0:
                    choices = ("е", "э")
                options.append(choices)
                index += len(sequence)
                break
        else:
            options.append((lowered[index],))
            index += 1
    spellings = ("".join(parts) for parts in itertools.product(*options))
    return list(itertools.islice(spellings, _MAX_VARIANTS))


def to_cyrillic(word: str, is_russian: Callable[[str], bool]) -> str:
    """The first transliteration of ``word`` that ``is_russian`` accepts, else the usual one."""
    variants = transliterations(word)
    for variant in variants:
        if is_russian(variant):
            return variant
    return variants[0] if variants else word


def detect_language(
    tokens: Iterable[str],
    is_english: Callable[[str], bool],
    is_russian: Callable[[str], bool],
    default: Lang,
) -> tuple[Lang, bool]:
    """The language of a message's words and whether Latin words were read as transliterated Russian.

    Cyrillic words count for Russian. A Latin word counts for English when ``is_english`` knows it, and for
    Russian when one of its transliterations is a Russian word ``is_russian`` knows (and English does not
    know it). A tie goes to ``default`` (the screen's language).
    """
    russian = english = 0.0
    translit = 0.0
    for token in tokens:
        if is_cyrillic(token):
            russian += 1
        elif is_latin(token):
            if is_english(token):
                english += 1
            elif len(token) > 1 and any(is_russian(v) for v in transliterations(token)[:16]):
                russian += 1
                translit += 1
            else:
                english += 0.25  # an unknown Latin word: typos and names lean English
    if russian > english:
        return "ru", translit > 0
    if english > russian:
        return "en", False
    return default, default == "ru" and translit > 0
