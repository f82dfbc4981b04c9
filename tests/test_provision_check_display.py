"""The self-test's display probe (kiosk/ui/display_probe.py): a real X11 window under Xvfb passes; SDL's
dummy driver and a machine without any display are "skipped: no display", never "pass"."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from kiosk.ui.display_probe import probe_display

#: The probe runs in a child process: SDL's video subsystem is process-wide, and the test process runs
#: under the dummy driver (conftest).
PROBE = (
    "import json; from kiosk.ui.display_probe import probe_display; "
    "r = probe_display((320, 200), show_s=0.05); print(json.dumps([r.status, r.detail, r.driver, r.size]))"
)


def _probe_in(env: dict[str, str]) -> list[object]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    result: list[object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _bare_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER")}


def test_dummy_driver_is_skipped_never_pass() -> None:
    result = probe_display(environ={"SDL_VIDEODRIVER": "dummy"})
    assert result.status == "skipped"
    assert result.detail.startswith("no display")


@pytest.mark.integration
def test_no_display_at_all_is_skipped() -> None:
    status, detail, _driver, _size = _probe_in(_bare_env())
    assert status == "skipped", detail
    assert str(detail).startswith("no display")


@pytest.mark.integration
def test_a_real_x11_window_passes(xvfb: str) -> None:
    env = _bare_env()
    env["DISPLAY"] = xvfb
    status, detail, driver, size = _probe_in(env)
    assert status == "pass", detail
    assert driver == "x11"
    assert size == [320, 200]
