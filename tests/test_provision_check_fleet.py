"""``provision check`` on a device enrolled by claim into a real fleet: the fleet's own Mosquitto config and
per-device ACL (`provision broker-config`), `provision serve` as a subprocess, `provision enrol --code` on
the device. The broker round trip passes under the fleet's ACL (the device may write and read only its
``cmd/+/result``); the clock line compares the device's clock with the fleet's time, asked of `provision
serve` over the device's own link (``time/request`` -> ``time/reply``). A device clock two days ahead or
two days behind (libfaketime: the whole process's clock, TLS included) fails the clock line with its fix;
with the service stopped the line warns."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from provision_testbed import FAKE_WALL_CLOCK_ONLY, PROVISION, FleetTestbed
from test_provision_check import LOADED_MACHINE

from kiosk.perception.demo_media import write_walk_in_clip
from mqtt_bridge.identity import IdentityFolder

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KIOSK = Path(sys.executable).with_name("kiosk")


@dataclass(frozen=True)
class Enrolled:
    bed: FleetTestbed
    identity: IdentityFolder
    config: Path
    data: Path


def enrol_by_claim(bed: FleetTestbed, label: str, store: str, device: str) -> IdentityFolder:
    """`provision enrol --code` on a device whose identity folder holds the fleet's claim bundle."""
    folder = bed.device_folder(label)
    code = f"vitrina-enrol:{store}/{device}/{bed.token(store, device)}"
    done = subprocess.run(
        [str(PROVISION), "enrol", "--identity", str(folder.root), "--code", code, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return folder


def write_config(path: Path, identity: Path, data: Path, clip: Path, extra: str = "") -> Path:
    path.write_text(
        f'[identity]\ndir = "{identity}"\n{extra}\n[camera]\nsource = "{clip}"\nloop = true\n'
        f'[storage]\ndata_dir = "{data}"\n[outbox]\npath = "{data / "outbox.sqlite"}"\n'
        f'[offers]\ninstalled_dir = "{data / "catalogue"}"\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_walk_in_clip(tmp_path_factory.mktemp("clip") / "walk-in.avi")


@pytest.fixture
def enrolled(tmp_path: Path, clip: Path) -> Iterator[Enrolled]:
    with FleetTestbed() as bed:
        bed.start_broker()
        bed.start_service()
        identity = enrol_by_claim(bed, "k1", "s1", "k1")
        data = tmp_path / "data"
        yield Enrolled(bed, identity, write_config(tmp_path / "kiosk.toml", identity.root, data, clip), data)


def run_check(config: Path, *prefix: str) -> tuple[int, dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["SDL_VIDEODRIVER"] = "dummy"
    env.update(FAKE_WALL_CLOCK_ONLY)
    done = subprocess.run(
        [*prefix, str(PROVISION), "check", "--json", "--config", str(config), *LOADED_MACHINE],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env=env,
    )
    return done.returncode, json.loads(done.stdout)


def test_check_passes_under_the_fleets_acl(enrolled: Enrolled) -> None:
    code, report = run_check(enrolled.config)
    results = {r["check"]: r for r in report["results"]}
    failed = {name: r["detail"] for name, r in results.items() if r["status"] == "fail"}
    assert code == 0, failed
    for name in ("config", "identity", "camera", "broker", "certificate", "crl", "disk", "outbox"):
        assert results[name]["status"] == "pass", results[name]
    assert "vitrina/v1/s1/k1/cmd/selftest/result" in results["broker"]["detail"]
    # In step with the fleet's time: the enrolment service's reply, measured over the round trip.
    assert results["clock"]["status"] == "pass", results["clock"]
    assert (
        "s behind the back office's" in results["clock"]["detail"]
        or "s ahead of the back office's" in (results["clock"]["detail"])
    )
    assert "s1.k1" in results["certificate"]["detail"]
    assert (
        "364 days left" in results["certificate"]["detail"]
        or "365 days left" in results["certificate"]["detail"]
    )


def test_a_clock_two_days_behind_fails_the_clock_line(enrolled: Enrolled) -> None:
    faketime = shutil.which("faketime")
    if faketime is None:
        pytest.skip("libfaketime is not installed (Debian: apt-get install faketime); it sets the clock off")
    code, report = run_check(enrolled.config, faketime, "-f", "-2d")
    results = {r["check"]: r for r in report["results"]}
    assert code == 1
    clock = results["clock"]
    assert clock["status"] == "fail", clock
    assert "behind the back office's" in clock["detail"]
    assert "timedatectl set-ntp true" in clock["fix"]["en"]
    # The same clock makes the identity and its certificate "not yet valid": they fail too, saying why.
    assert (
        results["certificate"]["status"] == "fail" and "clock is behind" in results["certificate"]["detail"]
    )


def _faketime() -> str:
    faketime = shutil.which("faketime")
    if faketime is None:
        pytest.skip("libfaketime is not installed (Debian: apt-get install faketime); it sets the clock off")
    return faketime


def test_a_clock_two_days_ahead_fails_against_the_fleets_time(enrolled: Enrolled) -> None:
    """Ahead, the identity and every certificate are still valid (nothing dated says it is wrong): only
    the fleet's time reply shows it."""
    code, report = run_check(enrolled.config, _faketime(), "-f", "+2d")
    results = {r["check"]: r for r in report["results"]}
    assert code == 1
    for fine in ("identity", "broker", "certificate"):
        assert results[fine]["status"] == "pass", results[fine]
    clock = results["clock"]
    assert clock["status"] == "fail", clock
    assert (
        "2 days ahead of the back office's" in clock["detail"]
        and "beyond the 5 s tolerance" in clock["detail"]
    )
    assert "timedatectl set-ntp true" in clock["fix"]["en"] and "timedatectl" in clock["fix"]["ru"]


def test_a_clock_two_days_behind_fails_against_the_fleets_time(tmp_path: Path, clip: Path) -> None:
    """A device enrolled five days ago whose clock is now two days behind: its identity and the broker's
    certificate are older than its clock, so everything dated passes, and the fleet's time reply is what
    fails the clock line."""
    faketime = _faketime()
    made = datetime.now(UTC) - timedelta(days=5)
    with FleetTestbed(made_at=made) as bed:
        bed.start_broker()
        bed.start_service(prefix=(faketime, "-f", "-5d"))  # it enrols the device five days ago
        identity = enrol_by_claim(bed, "k1", "s1", "k1")
        bed.stop_service()
        bed.start_service()  # and answers the time request today
        config = write_config(tmp_path / "kiosk.toml", identity.root, tmp_path / "data", clip)
        code, report = run_check(config, faketime, "-f", "-2d")
    results = {r["check"]: r for r in report["results"]}
    assert code == 1
    for fine in ("identity", "broker", "certificate"):
        assert results[fine]["status"] == "pass", results[fine]
    clock = results["clock"]
    assert clock["status"] == "fail", clock
    assert "behind the back office's (1728" in clock["detail"], clock  # 172800 s, give or take
    assert "timedatectl set-ntp true" in clock["fix"]["en"]


def test_without_the_enrolment_service_the_clock_line_warns(enrolled: Enrolled) -> None:
    enrolled.bed.stop_service()
    code, report = run_check(enrolled.config)
    results = {r["check"]: r for r in report["results"]}
    assert code == 0, results["clock"]  # a warning does not fail the check
    clock = results["clock"]
    assert clock["status"] == "warn", clock
    assert "did not answer the time request" in clock["detail"]
    assert "provision serve" in clock["fix"]["en"]
