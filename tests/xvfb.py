"""A private Xvfb display for tests that need a real X11 window (the kiosk's window, the self-test's
display probe). The ``xvfb`` fixture in conftest.py starts one per test; a test without Xvfb installed is
skipped with the package to install."""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import subprocess
from collections.abc import Iterator

import pytest

#: Seconds Xvfb has to say which display it took.
START_TIMEOUT_S = 10.0


@contextlib.contextmanager
def xvfb_display(screen: str = "1280x720x24") -> Iterator[str]:
    """Start Xvfb on a display it picks itself (``-displayfd``: no race with another test run choosing the
    same number), yield its name (``:N``), stop it afterwards."""
    binary = shutil.which("Xvfb")
    if binary is None:
        pytest.skip("Xvfb is not installed (Debian/Ubuntu: apt-get install xvfb): this test needs a display")
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        [binary, "-displayfd", str(write_fd), "-screen", "0", screen, "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        pass_fds=(write_fd,),
    )
    os.close(write_fd)
    try:
        with os.fdopen(read_fd, "rb") as said:
            ready, _, _ = select.select([said], [], [], START_TIMEOUT_S)
            number = said.readline().strip().decode("ascii") if ready else ""
        if not number.isdigit():
            pytest.fail(f"Xvfb did not start within {START_TIMEOUT_S:g} s (exit status {proc.poll()})")
        yield f":{number}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
