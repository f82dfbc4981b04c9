"""The back office's words: every text a template or a route asks for exists in both languages, and the two
languages are not copies of each other."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from backoffice.web.i18n import EN, RU, Words, words_for

WEB = Path(__file__).resolve().parent.parent / "backoffice" / "web"


def test_every_text_asked_for_exists() -> None:
    fields = {f.name for f in dataclasses.fields(Words)}
    asked: set[str] = set()
    for path in [*WEB.rglob("*.html"), *WEB.rglob("*.py")]:
        text = path.read_text(encoding="utf-8")
        asked |= set(re.findall(r"\bt\.([a-z][a-z0-9_]+)\b", text))
        # Texts picked by a value: t["role_" ~ user.role], t["state_" ~ ...], t["reason_" ~ ...].
        for prefix in re.findall(r't\["([a-z_]+_)" ~', text):
            assert any(f.startswith(prefix) for f in fields), (path.name, prefix)
    asked -= {"name"}  # `t.name` of a Table in a generator, not the words
    assert asked <= fields, f"texts asked for and missing: {sorted(asked - fields)}"
    for prefix, values in (
        ("role_", ("viewer", "operator", "marketer", "admin")),
        ("state_", ("open", "acknowledged", "resolved")),
        ("reason_", ("negative_valence", "shopper_request")),
    ):
        assert {f"{prefix}{v}" for v in values} <= fields


def test_both_languages_are_filled_and_differ() -> None:
    assert words_for("ru") is RU and words_for("en") is EN
    same = [f.name for f in dataclasses.fields(Words) if getattr(RU, f.name) == getattr(EN, f.name)]
    # Only what reads the same in both may be equal (abbreviations).
    assert set(same) <= {"col_nps", "col_csat_mean"}, same
    assert all(getattr(RU, f.name).strip() for f in dataclasses.fields(Words))
