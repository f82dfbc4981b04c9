"""Every message exists in Russian and English, and placeholders are filled."""

from __future__ import annotations

import pytest

from kiosk.i18n import LANGUAGES, Messages, load_messages


def test_every_key_in_both_languages_and_renders() -> None:
    messages = load_messages()
    assert len(messages.keys) > 10
    for key in messages.keys:
        for language in LANGUAGES:
            text = messages.get(
                key, language, date="31.12", zone="A", controller="C", contact="c@x", name="N"
            )
            assert text.strip() and "{" not in text, (key, language)


def test_a_key_missing_in_one_language_is_refused() -> None:
    with pytest.raises(ValueError, match="en lacks thanks"):
        Messages({"ru": {"hello": "Привет", "thanks": "Спасибо"}, "en": {"hello": "Hello"}})


def test_russian_is_really_russian() -> None:
    assert load_messages().get("thanks", "ru") == "Спасибо!"
    assert load_messages().get("staff_acknowledged", "en", zone="entrance").endswith("entrance has your call")
