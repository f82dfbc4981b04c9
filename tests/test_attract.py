"""The attract screen renders headless, redraws only on change, and the demo exits cleanly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pygame
import pytest

from kiosk.ui.attract_screen import run_attract
from kiosk.ui.display import use_headless_drivers_if_needed
from kiosk.views.attract import AttractView


def test_view_rotates_slides_and_reports_changes() -> None:
    view = AttractView(seconds_per_slide=2.0, fade_seconds=0.5)
    assert view.index == 0 and view.fade == 0.0
    assert view.update(0.25)
    assert not view.update(0.0)
    assert view.update(0.5)  # fade completes
    assert not view.update(0.5)  # fully shown, same slide: nothing to draw
    view.update(1.0)
    assert view.index == 1


def test_no_display_selects_dummy_drivers() -> None:
    env: dict[str, str] = {}
    assert use_headless_drivers_if_needed(False, env)
    assert env["SDL_VIDEODRIVER"] == "dummy" and env["SDL_AUDIODRIVER"] == "dummy"
    with_display = {"DISPLAY": ":0"}
    assert not use_headless_drivers_if_needed(False, with_display)
    assert "SDL_VIDEODRIVER" not in with_display


def test_attract_renders_a_screenshot(tmp_path: Path) -> None:
    shot = tmp_path / "attract.png"
    stats = run_attract(0.5, size=(640, 360), headless=True, screenshot=shot)
    assert stats.frames > 5 and stats.draws >= 1
    pygame.init()
    try:
        image = pygame.image.load(str(shot))
        assert image.get_size() == (640, 360)
        colours = {tuple(image.get_at((x, y)))[:3] for x in range(0, 640, 4) for y in range(0, 360, 4)}
        assert len(colours) > 2, "the screenshot is blank"
    finally:
        pygame.quit()


@pytest.mark.integration
def test_kiosk_demo_exits_zero_without_display(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER")}
    out = tmp_path / "out"
    done = subprocess.run(
        [str(Path(sys.executable).with_name("kiosk")), "demo", "--seconds", "1", "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["headless"] is True and summary["frames"] > 0
    assert (out / "attract.png").stat().st_size > 1000
