"""``[assistant]``: described, documented in examples/kiosk.toml at its defaults, checked with a fix in
every message; duty hours; the assistant loaded from it (FAQ problems and threshold overrides)."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from kiosk.chat.loader import AssistantUnavailableError, load_assistant
from kiosk.cli import main
from kiosk.config import AssistantSection, AssistantThresholds, KioskConfig, load_config, parse_config
from kiosk.errors import ConfigError


def test_every_setting_is_in_the_example_at_its_default(repo_root: Path) -> None:
    text = (repo_root / "examples" / "kiosk.toml").read_text(encoding="utf-8")
    for section, model in (
        ("[assistant]", AssistantSection),
        ("[assistant.thresholds]", AssistantThresholds),
    ):
        body = text.split(section, 1)[1].split("\n[", 1)[0]
        keys = set(re.findall(r"^#?\s*([a-z_0-9]+)\s*=", body, flags=re.MULTILINE))
        fields = set(model.model_fields) - {"thresholds"}  # a table of its own, below
        assert fields <= keys, f"{section} misses {fields - keys}"
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"
    assert load_config(repo_root / "examples" / "kiosk.toml").assistant == KioskConfig().assistant


def test_enabled_without_a_faq_names_the_fix() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("[assistant]\nenabled = true\n")
    text = str(caught.value)
    assert "assistant" in text and "faq" in text and "examples/faq.yaml" in text


def test_a_misspelt_key_and_a_bad_range_are_named(tmp_path: Path) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text(
        '[assistant]\nenabeld = true\nduty_hours = ["9-to-5"]\noperator_wait_s = 0\n', encoding="utf-8"
    )
    done = CliRunner().invoke(main, ["validate-config", str(path)])
    assert done.exit_code == 2
    assert "assistant.enabeld" in done.output and "did you mean 'enabled'" in done.output
    assert "assistant.duty_hours" in done.output and "assistant.operator_wait_s" in done.output


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2026, 6, 1, 8, 59), False),  # Monday, before the hours
        (datetime(2026, 6, 1, 9, 0), True),
        (datetime(2026, 6, 1, 20, 59), True),
        (datetime(2026, 6, 1, 21, 0), False),
        (datetime(2026, 6, 7, 12, 0), False),  # Sunday: not a duty day here
    ],
)
def test_duty_hours_and_days(moment: datetime, expected: bool) -> None:
    section = AssistantSection.model_validate(
        {"duty_days": ["mon", "tue", "wed", "thu", "fri", "sat"], "duty_hours": ["09:00-21:00"]}
    )
    assert section.on_duty(moment) is expected


def test_duty_hours_may_wrap_past_midnight_or_be_none() -> None:
    night = AssistantSection.model_validate({"duty_hours": ["22:00-02:00"]})
    assert night.on_duty(datetime(2026, 6, 1, 23, 30)) and night.on_duty(datetime(2026, 6, 2, 1, 0))
    assert not night.on_duty(datetime(2026, 6, 1, 12, 0))
    never = AssistantSection.model_validate({"duty_hours": []})
    assert not never.on_duty(datetime(2026, 6, 1, 12, 0))


def test_the_loader_names_a_missing_or_broken_faq(tmp_path: Path) -> None:
    with pytest.raises(AssistantUnavailableError, match="does not exist"):
        load_assistant(AssistantSection(enabled=True, faq=tmp_path / "nope.yaml"), "ru")
    broken = tmp_path / "faq.yaml"
    broken.write_text("store: X\nversion: 1\nentries:\n- id: a\n", encoding="utf-8")
    with pytest.raises(AssistantUnavailableError, match="question_ru"):
        load_assistant(AssistantSection(enabled=True, faq=broken), "ru")


def test_threshold_overrides_apply_and_contradictions_are_refused(repo_root: Path) -> None:
    faq = repo_root / "examples" / "faq.yaml"
    strict = AssistantSection.model_validate(
        {"enabled": True, "faq": faq, "thresholds": {"answer": 0.9, "clarify": 0.9}}
    )
    assistant = load_assistant(strict, "en")
    assert assistant.config.thresholds.answer == 0.9 and assistant.config.thresholds.margin == 0.04
    assert assistant.config.default_lang == "en"
    wrong = AssistantSection.model_validate({"enabled": True, "faq": faq, "thresholds": {"clarify": 0.95}})
    with pytest.raises(AssistantUnavailableError, match="clarify"):
        load_assistant(wrong, "ru")


def test_the_birth_says_the_kiosk_chats(repo_root: Path) -> None:
    from kiosk.link.sync import capabilities

    on = KioskConfig.model_validate(
        {"assistant": {"enabled": True, "faq": repo_root / "examples" / "faq.yaml"}}
    )
    assert "chat" in capabilities(on, models={}, offers=False, commands={})
    assert "chat" not in capabilities(KioskConfig(), models={}, offers=False, commands={})
