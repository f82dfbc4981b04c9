"""`kiosk demo`: headless, it reaches every screen on the scripted perception feed and writes its summary."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from kiosk.app.demo import DEMO_CATALOGUE, DemoError, run_demo
from kiosk.cli import main
from kiosk.config import KioskConfig
from kiosk.decisions.offers import load_catalogue

SUMMARY_KEYS = {
    "frames",
    "fps",
    "visits",
    "offers_shown",
    "feedback",
    "staff_calls",
    "ui_frame_ms_p50",
    "ui_frame_ms_p99",
}


def test_the_demo_catalogue_is_valid_and_its_pictures_exist() -> None:
    catalogue = load_catalogue(DEMO_CATALOGUE)
    assert catalogue.missing_images(DEMO_CATALOGUE.parent) == []
    assert any(o.kind == "help" for o in catalogue.offers)


@pytest.mark.slow
def test_headless_demo_reaches_every_screen(tmp_path: Path) -> None:
    summary = run_demo(KioskConfig(), seconds=11.0, headless=True, out_dir=tmp_path, rng=random.Random(5))
    assert set(summary) >= SUMMARY_KEYS
    assert summary["perception"] == "scripted"
    expected = {"attract", "welcome", "offer", "details", "thanks", "help", "staff_coming", "maintenance"}
    assert expected <= set(summary["screens"])
    assert "feedback_csat" in summary["screens"]
    assert summary["visits"] >= 2 and summary["offers_shown"] >= 2 and summary["staff_calls"] >= 1
    assert summary["feedback"][0] == {"kind": "csat", "score": 5}
    assert summary["consent_changes"] == ["opted_out"]
    assert summary["fps"] > 30
    for name in summary["screenshots"]:
        assert (tmp_path / name).stat().st_size > 1000
    assert json.loads((tmp_path / "summary.json").read_text()) == summary


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
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["perception"] == "scripted" and set(summary) >= SUMMARY_KEYS
