"""`provision decommission` on a device of a real fleet: its goodbye passes the fleet's ACL (the device may
write its own status and birth), the back office sees the retained status 'stopped' and then nothing
retained for the device, and the device is left blank."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from provision_testbed import PROVISION, FleetTestbed
from test_provision_check_fleet import enrol_by_claim, write_config

from kiosk.perception.demo_media import write_walk_in_clip

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KIOSK = Path(sys.executable).with_name("kiosk")
BASE = "vitrina/v1/s1/k1"


def test_decommission_says_goodbye_through_the_fleets_acl(tmp_path: Path) -> None:
    clip = write_walk_in_clip(tmp_path / "walk-in.avi")
    with FleetTestbed() as bed:
        bed.start_broker()
        bed.start_service()
        identity = enrol_by_claim(bed, "k1", "s1", "k1")
        config = write_config(tmp_path / "kiosk.toml", identity.root, tmp_path / "data", clip)
        ran = subprocess.run(
            [
                str(KIOSK),
                "run",
                "--config",
                str(config),
                "--headless",
                "--seconds",
                "3",
                "--detector",
                "none",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={**os.environ, "SDL_VIDEODRIVER": "dummy"},
        )
        assert ran.returncode == 0, ran.stderr
        with bed.connected(bed.fleet.bundle_dir("backoffice"), "backoffice-main") as office:
            office.subscribe(f"{BASE}/status")
            office.subscribe(f"{BASE}/birth")
            assert {t for t, _ in office.messages(BASE)} == {f"{BASE}/status", f"{BASE}/birth"}
            done = subprocess.run(
                [str(PROVISION), "decommission", "--config", str(config), "--yes", "--json"],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert done.returncode == 0, done.stdout + done.stderr
            report = json.loads(done.stdout)
            assert report["farewell"].startswith("told the back office"), report["farewell"]
            assert report["left"] == []
            bed_messages = office.messages(BASE)
        said = bed_messages[2:]  # after the two retained ones
        assert said[0][0] == f"{BASE}/status" and json.loads(said[0][1])["state"] == "stopped"
        assert (f"{BASE}/status", b"") in said and (f"{BASE}/birth", b"") in said
        with bed.connected(bed.fleet.bundle_dir("backoffice"), "backoffice-late") as late:
            late.subscribe(f"{BASE}/#")
            assert late.messages(BASE) == []  # nothing retained of the device any more
        assert not any(identity.root.iterdir())
