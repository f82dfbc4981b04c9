"""`kiosk demo`: headless, it reaches every screen on the scripted perception feed and writes its summary."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from kiosk.app.demo import DEMO_CATALOGUE, DemoError, run_demo
from kiosk.app.summary import RunSummary
from kiosk.cli import main
from kiosk.config import KioskConfig
from kiosk.decisions.offers import load_catalogue


def test_the_demo_catalogue_is_valid_and_its_pictures_exist() -> None:
    catalogue = load_catalogue(DEMO_CATALOGUE)
    assert catalogue.missing_images(DEMO_CATALOGUE.parent) == []
    assert any(o.kind == "help" for o in catalogue.offers)


@pytest.mark.slow
def test_headless_demo_reaches_every_screen(tmp_path: Path) -> None:
    summary = run_demo(KioskConfig(), seconds=11.0, headless=True, out_dir=tmp_path, rng=random.Random(5))
    assert summary.perception == "scripted" and summary.screen is not None
    expected = {"attract", "welcome", "offer", "details", "thanks", "help", "staff_coming", "maintenance"}
    assert expected <= set(summary.screen.screens)
    assert "feedback_csat" in summary.screen.screens
    assert summary.visits >= 2 and summary.offers_shown >= 2 and summary.staff_calls >= 1
    assert summary.taps >= 1 and summary.staff_acks >= 1, "the back office acknowledged the call"
    assert (summary.feedback[0].kind, summary.feedback[0].score) == ("csat", 5)
    assert summary.consent_changes == 1, "visitor a opted out, once"
    assert summary.screen_counts["help"] >= 1, "the brain itself chose help for the frustrated visitor"
    assert summary.screen.fps > 30 and summary.fps > 10
    for name in summary.screen.screenshots:
        assert (tmp_path / name).stat().st_size > 1000
    assert RunSummary.model_validate_json((tmp_path / "summary.json").read_text()) == summary


def test_a_demo_without_models_says_what_it_needs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(_config: KioskConfig) -> None:
        raise DemoError("cannot open the vision models (no models); use the scripted perception feed")

    monkeypatch.setattr("kiosk.app.demo._open_models", refuse)
    result = CliRunner().invoke(main, ["demo", "--headless", "--camera", "x.mp4", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "scripted perception feed" in result.output


def test_scripted_demo_from_the_command_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["demo", "--headless", "--scripted", "--seconds", "1", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    summary = RunSummary.model_validate_json((tmp_path / "summary.json").read_text())
    assert summary.perception == "scripted" and summary.screen is not None and summary.frames > 0
