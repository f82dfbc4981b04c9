"""The kiosk's own words in Russian and English, from kiosk/messages.toml."""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path
from typing import Literal

Language = Literal["ru", "en"]
LANGUAGES: tuple[Language, ...] = ("ru", "en")
MESSAGES_FILE = Path(__file__).resolve().parent / "messages.toml"


class Messages:
    """Message lookup by key and language; a missing key is an error at load, not a blank on screen."""

    def __init__(self, table: dict[Language, dict[str, str]]) -> None:
        keys = {language: set(table.get(language, {})) for language in LANGUAGES}
        every_key = set().union(*keys.values())
        missing = {lang: sorted(every_key - keys[lang]) for lang in LANGUAGES}
        if any(missing.values()):
            details = "; ".join(f"{lang} lacks {', '.join(m)}" for lang, m in missing.items() if m)
            raise ValueError(f"every message needs both languages: {details}")
        self._table = table

    @property
    def keys(self) -> frozenset[str]:
        """Every message key."""
        return frozenset(self._table["ru"])

    def get(self, key: str, language: Language, **values: str) -> str:
        """The message ``key`` in ``language`` with its ``{placeholders}`` filled from ``values``."""
        return self._table[language][key].format(**values)


@functools.cache
def load_messages(path: Path = MESSAGES_FILE) -> Messages:
    """Read and check a messages file (default: the kiosk's own)."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    table: dict[Language, dict[str, str]] = {lang: dict(data.get(lang, {})) for lang in LANGUAGES}
    return Messages(table)
