"""A store's FAQ: the only source of the assistant's answers.

The file is YAML (``examples/faq.yaml``)::

    store: Example Store
    version: 1
    entries:
    - id: opening_hours          # unique; lowercase letters, digits and _
      topic: store_info          # a group of related entries; same form as an id
      question_ru: ...           # the question as the store writes it, in Russian
      question_en: ...           #   and in English
      answer_ru: ...             # the answer shown word for word, in Russian
      answer_en: ...             #   and in English

:func:`load_faq` reads a file; :func:`parse_faq` checks already-parsed data. Both raise :class:`FaqError`
listing every problem, each naming the entry (its position and id) and the fix.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kiosk.assistant.errors import FaqError

Lang = Literal["ru", "en"]
LANGS: tuple[Lang, ...] = ("ru", "en")

_NAME = r"^[a-z][a-z0-9_]{0,63}$"
_CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)
_TEXT_FIELDS = ("question_ru", "question_en", "answer_ru", "answer_en")
_ENTRY_FIELDS = ("id", "topic", *_TEXT_FIELDS)
_TOP_FIELDS = ("store", "version", "entries")
_FIELD_LIST = "id, topic, question_ru, question_en, answer_ru and answer_en"


class FaqEntry(BaseModel):
    """One question the store answers, in Russian and English; the answers are shown word for word."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    id: str = Field(pattern=_NAME, description="Unique name of the entry: lowercase letters, digits and _.")
    topic: str = Field(pattern=_NAME, description="The group of related entries, e.g. returns or delivery.")
    question_ru: str = Field(min_length=1, description="The question, in Russian.")
    question_en: str = Field(min_length=1, description="The question, in English.")
    answer_ru: str = Field(min_length=1, description="The answer shown to a shopper writing Russian.")
    answer_en: str = Field(min_length=1, description="The answer shown to a shopper writing English.")

    def question(self, lang: Lang) -> str:
        """The question in ``lang``."""
        return self.question_ru if lang == "ru" else self.question_en

    def answer(self, lang: Lang) -> str:
        """The answer in ``lang``."""
        return self.answer_ru if lang == "ru" else self.answer_en


class Faq(BaseModel):
    """A store's FAQ: its name, a version the store raises on every edit, and its entries (ids unique)."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    store: str = Field(min_length=1, description="The store's name.")
    version: int = Field(ge=1, description="The FAQ's version; raise it on every edit.")
    entries: tuple[FaqEntry, ...] = Field(min_length=1, description="The questions and their answers.")

    def entry(self, entry_id: str) -> FaqEntry:
        """The entry named ``entry_id`` (KeyError when there is none)."""
        for entry in self.entries:
            if entry.id == entry_id:
                return entry
        raise KeyError(entry_id)


def load_faq(path: Path) -> Faq:
    """Read and check a store's FAQ file (YAML); :class:`FaqError` names every problem and its fix."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FaqError(
            str(path), ["the file does not exist: pass the path of the store's FAQ YAML"]
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FaqError(str(path), [f"cannot be read ({exc}): save it as UTF-8 text"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise FaqError(
            str(path), [f"is not valid YAML{where}: {getattr(exc, 'problem', exc)}; fix the syntax there"]
        ) from None
    return parse_faq(data, str(path))


def parse_faq(data: object, source: str = "FAQ") -> Faq:
    """Check parsed FAQ data (a mapping with ``store``, ``version`` and ``entries``)."""
    if not isinstance(data, dict):
        raise FaqError(
            source, ["must be a mapping with the keys store, version and entries (see examples/faq.yaml)"]
        )
    problems: list[str] = []
    for key in data:
        if key not in _TOP_FIELDS:
            problems.append(
                f"unknown key {key!r}{_did_you_mean(str(key), _TOP_FIELDS)}: "
                "the keys are store, version and entries"
            )
    store = data.get("store")
    if not isinstance(store, str) or not store.strip():
        problems.append("store: missing or empty; write the store's name, e.g. 'store: Example Store'")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        problems.append(
            f"version: {version!r} is not a whole number >= 1; "
            "write e.g. 'version: 1' and raise it on every edit"
        )
    raw_entries = data.get("entries")
    entries: list[FaqEntry] = []
    if not isinstance(raw_entries, list) or not raw_entries:
        problems.append(f"entries: missing or empty; list the questions, each with {_FIELD_LIST}")
        raw_entries = []
    first_seen: dict[str, int] = {}
    for position, raw in enumerate(raw_entries, start=1):
        entry, entry_problems = _check_entry(position, raw)
        problems.extend(entry_problems)
        if entry is None:
            continue
        if entry.id in first_seen:
            problems.append(
                f"entry {position} (id {entry.id!r}): "
                f"the id is already used by entry {first_seen[entry.id]}; "
                "ids must be unique, rename one of them"
            )
        else:
            first_seen[entry.id] = position
        entries.append(entry)
    if problems or not isinstance(store, str) or not isinstance(version, int):
        raise FaqError(source, problems)
    return Faq(store=store, version=version, entries=tuple(entries))


def _check_entry(position: int, raw: object) -> tuple[FaqEntry | None, list[str]]:
    if not isinstance(raw, dict):
        return None, [f"entry {position}: is not a mapping; write {_FIELD_LIST}"]
    raw_id = raw.get("id")
    name = f"entry {position} (id {raw_id!r})" if isinstance(raw_id, str) else f"entry {position}"
    problems: list[str] = []
    try:
        entry = FaqEntry.model_validate(raw)
    except ValidationError as exc:
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else ""
            problems.append(f"{name}: {_explain(field, error['type'], raw.get(field))}")
        return None, problems
    for field in ("question_ru", "answer_ru"):
        if not _CYRILLIC.search(getattr(entry, field)):
            problems.append(
                f"{name}: {field} has no Russian letter; "
                f"write the Russian text there (the English goes in {field[:-3]}_en)"
            )
    return entry, problems


def _explain(field: str, kind: str, value: object) -> str:
    """A pydantic error on an entry's ``field`` as a sentence with its fix."""
    if kind == "missing" and field in _TEXT_FIELDS:
        lang = "Russian" if field.endswith("_ru") else "English"
        return f"{field} is missing: every entry is written in Russian and English; add its {lang} text"
    if kind == "string_pattern_mismatch":
        suggestion = re.sub(r"[^a-z0-9_]+", "_", str(value).strip().lower()).strip("_") or "store_info"
        if not suggestion[0].isalpha():
            suggestion = f"x_{suggestion}"
        return (
            f"{field} {value!r} is not a name: use lowercase Latin letters, digits, _ (e.g. {suggestion!r})"
        )
    what = "a unique name" if field == "id" else "the group of the entry, e.g. returns"
    explained = {
        "extra_forbidden": (
            f"unknown key {field!r}{_did_you_mean(field, _ENTRY_FIELDS)}: an entry has {_FIELD_LIST}"
        ),
        "missing": f"{field} is missing: add it ({what})",
        "string_too_short": f"{field} is empty: write the text",
        "string_type": f"{field} is {type(value).__name__}, not text: write it as text (quote a number)",
    }
    return explained.get(kind, f"{field}: {kind}; check the value {value!r}")


def _did_you_mean(word: str, choices: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
