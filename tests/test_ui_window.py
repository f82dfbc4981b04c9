"""A real window: the demo under Xvfb opens an X11 window (not SDL's dummy driver), runs and exits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.integration
def test_demo_opens_a_real_window(xvfb: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("SDL_VIDEODRIVER", "WAYLAND_DISPLAY")}
    env["DISPLAY"] = xvfb
    out = tmp_path / "out"
    done = subprocess.run(
        [str(Path(sys.executable).with_name("kiosk")), "demo", "--seconds", "3", "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "summary.json").read_text())
    screen = summary["screen"]
    assert summary["headless"] is False and screen["headless"] is False and screen["video_driver"] == "x11"
    assert screen["frames"] > 30
    assert (out / "attract-ru.png").stat().st_size > 1000, summary
