"""The kiosk renews its certificate by itself over its own link, against a real fleet: `provision serve`
answers the renewal request the kiosk's renewal worker sends through the kiosk's connection (no second
connection under its certificate), and the new identity becomes `current` while the kiosk runs on."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from provision_testbed import FleetTestbed
from test_provision_check_fleet import enrol_by_claim, write_config

from kiosk.perception.demo_media import write_walk_in_clip
from mqtt_bridge.identity import serial_hex

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KIOSK = Path(sys.executable).with_name("kiosk")
BARE = ("--detector", "none")


def _renew_while_running(tmp_path: Path, extra: str) -> None:
    clip = write_walk_in_clip(tmp_path / "walk-in.avi")
    with FleetTestbed() as bed:
        bed.start_broker()
        bed.start_service("--renew-min-interval", "0")  # the device was enrolled a moment ago
        identity = enrol_by_claim(bed, "k1", "s1", "k1")
        before = identity.load(datetime.now(UTC))
        # A year's certificate is "due" within 366 days: the worker renews at its first check (after 2 s).
        config = write_config(
            tmp_path / "kiosk.toml",
            identity.root,
            tmp_path / "data",
            clip,
            "renew_before_days = 366\nrenew_check_s = 2.0\n" + extra,
        )
        done = subprocess.run(
            [str(KIOSK), "run", "--config", str(config), "--headless", "--seconds", "8", *BARE],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={**os.environ, "SDL_VIDEODRIVER": "dummy"},
        )
        assert done.returncode == 0, done.stderr
        assert "crashed" not in done.stderr, done.stderr[-3000:]
        after = identity.load(datetime.now(UTC))
        assert serial_hex(after.certificate) != serial_hex(before.certificate), done.stderr[-3000:]
        assert after.name == "s1.k1"
        assert "certificate of s1.k1 renewed" in done.stderr
        assert "renewed s1/k1" in bed.service_text()
        # The kiosk's own session was never taken over by a second connection under its name.
        assert "lost the connection" not in done.stderr


def test_kiosk_renews_over_its_own_link_without_commands(tmp_path: Path) -> None:
    """With [mqtt.commands] off, the link hands the renewal reply straight to the renewal client."""
    _renew_while_running(tmp_path, "[mqtt.commands]\nenabled = false\n")


def test_kiosk_renews_over_its_own_link(tmp_path: Path) -> None:
    """The default configuration: commands on (the command bridge reads every message first and hands the
    renewal reply on to its listener)."""
    _renew_while_running(tmp_path, "")
