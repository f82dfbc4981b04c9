"""A real window: the demo under Xvfb opens an X11 window (not SDL's dummy driver), runs and exits."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def xvfb() -> Iterator[str]:
    """A private Xvfb display, started and stopped by the test; skipped when Xvfb is not installed."""
    binary = shutil.which("Xvfb")
    if binary is None:
        pytest.skip("Xvfb is not installed (Debian/Ubuntu: apt-get install xvfb); the window test needs it")
    for number in range(91, 120):
        if not Path(f"/tmp/.X11-unix/X{number}").exists() and not Path(f"/tmp/.X{number}-lock").exists():
            break
    display = f":{number}"
    proc = subprocess.Popen(
        [binary, display, "-screen", "0", "1280x720x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not Path(f"/tmp/.X11-unix/X{number}").exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"Xvfb {display} did not start")
            time.sleep(0.05)
        yield display
    finally:
        proc.terminate()
        proc.wait(10)


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
