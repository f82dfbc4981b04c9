"""Without a display the kiosk picks SDL's dummy drivers, and `kiosk demo` exits cleanly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kiosk.ui.display import use_headless_drivers_if_needed


def test_no_display_selects_dummy_drivers() -> None:
    env: dict[str, str] = {}
    assert use_headless_drivers_if_needed(False, env)
    assert env["SDL_VIDEODRIVER"] == "dummy" and env["SDL_AUDIODRIVER"] == "dummy"
    with_display = {"DISPLAY": ":0"}
    assert not use_headless_drivers_if_needed(False, with_display)
    assert "SDL_VIDEODRIVER" not in with_display


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
    assert (out / "attract-ru.png").stat().st_size > 1000


@pytest.mark.integration
def test_kiosk_run_with_its_screen_without_display(tmp_path: Path) -> None:
    from kiosk.perception.demo_media import write_walk_in_clip

    clip = write_walk_in_clip(tmp_path / "walk.avi")
    config = tmp_path / "kiosk.toml"
    config.write_text(f'[storage]\ndata_dir = "{tmp_path / "var"}"\n')
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER")}
    summary = tmp_path / "summary.json"
    done = subprocess.run(
        [str(Path(sys.executable).with_name("kiosk")), "run", "--config", str(config), "--source", str(clip),
         "--detector", "none", "--seconds", "3", "--summary", str(summary)],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    figures = json.loads(summary.read_text())
    assert figures["frames"] > 30 and figures["fatal"] is None
