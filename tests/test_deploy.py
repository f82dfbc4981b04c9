"""The deployment files (deploy/): every systemd unit passes ``systemd-analyze verify`` with no warning, the
kiosk's unit has its watchdog and restart policy, the commands the units run exist, the kiosk's production
configuration is valid, and the cage session script hands the kiosk its config without systemd's
WATCHDOG_PID.

systemd is not PID 1 here: ``systemd-analyze verify`` checks unit files without a running manager
(syntax, known keys, executables present). The units name /opt/vitrina/...; the test points those paths at
this checkout and its virtual environment first, so that the executables it checks are real.
"""

from __future__ import annotations

import configparser
import os
import shutil
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from kiosk.config import load_config

REPO = Path(__file__).resolve().parent.parent
UNITS = REPO / "deploy" / "systemd"
SESSION = REPO / "deploy" / "kiosk" / "vitrina-session"
KIOSK_TOML = REPO / "deploy" / "kiosk" / "kiosk.toml"
VENV = Path(sys.executable).parent.parent


def _here(text: str) -> str:
    """A unit's text with /opt/vitrina pointing at this checkout and its virtual environment."""
    return text.replace("/opt/vitrina/.venv", str(VENV)).replace("/opt/vitrina", str(REPO))


def _unit(path: Path) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text(encoding="utf-8"))
    return parser


def _installed_unit(name: str) -> Path:
    for folder in ("/lib/systemd/system", "/usr/lib/systemd/system"):
        if (Path(folder) / name).is_file():
            return Path(folder) / name
    pytest.fail(
        f"{name} is not installed: the Debian package 'mosquitto' installs it (apt-get install mosquitto)"
    )


def _units() -> list[Path]:
    return sorted(p for p in UNITS.iterdir() if p.suffix in (".service", ".timer"))


def test_the_units_are_there() -> None:
    names = {p.name for p in _units()}
    assert {
        "vitrina-kiosk.service",
        "vitrina-enrolment.service",
        "vitrina-ingest@.service",
        "vitrina-backoffice-web.service",
        "vitrina-crl-refresh.service",
        "vitrina-crl-refresh.timer",
    } <= names


@pytest.mark.integration
def test_systemd_analyze_verify_accepts_every_unit(tmp_path: Path) -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip(
            "systemd-analyze is missing: install the Debian package 'systemd' (apt-get install systemd)"
        )
    for unit in _units():
        (tmp_path / unit.name).write_text(_here(unit.read_text(encoding="utf-8")), encoding="utf-8")
    # The drop-in for Debian's mosquitto.service, verified on that unit (installed with the broker).
    shutil.copytree(UNITS / "mosquitto.service.d", tmp_path / "mosquitto.service.d")
    shutil.copy(_installed_unit("mosquitto.service"), tmp_path / "mosquitto.service")
    # A template is verified through an instance of it.
    (tmp_path / "vitrina-ingest@1.service").symlink_to(tmp_path / "vitrina-ingest@.service")
    names = [p.name for p in tmp_path.iterdir() if p.is_file() and p.name != "vitrina-ingest@.service"]
    done = subprocess.run(
        [tool, "verify", *sorted(str(tmp_path / name) for name in names)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    # Unknown keys and other mistakes are only warnings for verify: none is allowed.
    assert done.stderr.strip() == "", done.stderr


def test_kiosk_unit_is_watched_and_restarted() -> None:
    service = _unit(UNITS / "vitrina-kiosk.service")["Service"]
    assert service["Type"] == "notify"
    assert service["NotifyAccess"] == "all"  # the kiosk is cage's child, not the main process
    assert service["Restart"] == "always"
    assert service["RestartPreventExitStatus"] == "2"  # a configuration error: restarting cannot help
    watchdog_s = float(service["WatchdogSec"])
    stall_s = load_config(KIOSK_TOML).runtime.stall_after_s
    assert stall_s < watchdog_s, "a stuck worker must be noticed before systemd's watchdog fires"
    assert "video" in service["SupplementaryGroups"].split()
    assert service["ExecStart"].split()[0] == "/opt/vitrina/deploy/kiosk/vitrina-session"


def test_mosquitto_runs_on_the_fleets_configuration() -> None:
    drop_in = _unit(UNITS / "mosquitto.service.d" / "vitrina.conf")["Service"]
    assert drop_in["ExecStart"].endswith("/usr/sbin/mosquitto -c /etc/mosquitto/vitrina/mosquitto.conf")


def test_crl_timer_starts_its_service_daily() -> None:
    timer = _unit(UNITS / "vitrina-crl-refresh.timer")["Timer"]
    assert timer["OnCalendar"] == "daily" and timer["Persistent"] == "true"
    service = _unit(UNITS / "vitrina-crl-refresh.service")["Service"]
    assert service["Type"] == "oneshot"
    assert "crl refresh" in service["ExecStart"]


def test_every_command_a_unit_runs_exists() -> None:
    for unit in _units():
        parser = _unit(unit)
        if not parser.has_section("Service"):
            continue
        line = parser["Service"]["ExecStart"]
        words = _here(line).split()
        program = Path(words[0])
        assert program.is_file() and os.access(program, os.X_OK), f"{unit.name}: {program} is not executable"
        if program.parent != VENV / "bin":
            continue
        probe = [str(program), *(w for w in words[1:3] if not w.startswith("-")), "--help"]
        done = subprocess.run(probe, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, f"{unit.name}: {' '.join(probe)} failed: {done.stderr}"


#: The click groups of the programs the units run, by program name.
GROUPS = {
    "backoffice": "backoffice.cli:main",
    "provision": "provisioning.cli:main",
    "kiosk": "kiosk.cli:main",
}


def _parse_exec_start(line: str) -> None:
    """Parse a unit's command line with its click command, as the program would (no run): every option
    the unit passes exists and takes the value given (``${VAR}`` and ``%i`` stand in as plain words)."""
    import importlib
    import re

    import click

    words = re.sub(r"\$\{(\w+)\}", lambda m: f"mqtts://{m.group(1).lower()}:8883", line)
    words = words.replace("%i", "1").split()
    module, _, attr = GROUPS[Path(words[0]).name].partition(":")
    command: click.Command = getattr(importlib.import_module(module), attr)
    args = words[1:]
    while isinstance(command, click.Group):
        name, args = args[0], args[1:]
        sub = command.get_command(click.Context(command), name)
        assert sub is not None, f"{words[0]} has no subcommand {name!r}"
        command = sub
    command.make_context(command.name or "", list(args))


def test_every_option_a_unit_passes_is_its_commands() -> None:
    checked = 0
    for unit in _units():
        parser = _unit(unit)
        if not parser.has_section("Service"):
            continue
        line = parser["Service"]["ExecStart"]
        if Path(line.split()[0]).name not in GROUPS:
            continue
        _parse_exec_start(line)
        checked += 1
    assert checked >= 4  # enrolment, ingest, the web app, the CRL refresh


def test_production_kiosk_config_is_valid() -> None:
    config = load_config(KIOSK_TOML)
    assert config.identity.dir == Path("/var/lib/vitrina/identity")
    assert config.ui.fullscreen
    assert config.storage.data_dir == Path("/var/lib/vitrina/data")
    assert config.outbox.path.is_relative_to(config.storage.data_dir)
    assert config.offers.installed_dir.is_relative_to(config.storage.data_dir)
    tomllib.loads(KIOSK_TOML.read_text(encoding="utf-8"))


def test_session_runs_the_kiosk_in_cage_without_watchdog_pid(tmp_path: Path) -> None:
    """The session script with a stand-in for cage on PATH (cage itself needs a screen): it must get the
    kiosk's command line and an environment without WATCHDOG_PID, and keep NOTIFY_SOCKET."""
    assert SESSION.stat().st_mode & stat.S_IXUSR, "vitrina-session must be executable"
    subprocess.run(["sh", "-n", str(SESSION)], check=True)
    fake = tmp_path / "bin" / "cage"
    fake.parent.mkdir()
    record = tmp_path / "cage.txt"
    said = 'echo "$@"; echo "pid=${WATCHDOG_PID:-unset}"; echo "sock=$NOTIFY_SOCKET"'
    fake.write_text(f"#!/bin/sh\n{{ {said}; }} > {record}\n")
    fake.chmod(0o755)
    env = {
        "PATH": f"{fake.parent}:/usr/bin:/bin",
        "WATCHDOG_PID": "1234",
        "WATCHDOG_USEC": "30000000",
        "NOTIFY_SOCKET": "/run/systemd/notify",
        "VITRINA_VENV": str(VENV),
    }
    subprocess.run([str(SESSION), "/etc/vitrina/kiosk.toml"], env=env, check=True, timeout=30)
    args, pid, sock = record.read_text().splitlines()
    assert args == f"-d -s -- {VENV}/bin/kiosk run --config /etc/vitrina/kiosk.toml"
    assert pid == "pid=unset"
    assert sock == "sock=/run/systemd/notify"


def test_camera_udev_rule_gives_the_video_group() -> None:
    rules = (REPO / "deploy" / "kiosk" / "99-vitrina-camera.rules").read_text(encoding="utf-8")
    lines = [line for line in rules.splitlines() if line.strip() and not line.startswith("#")]
    assert any('SUBSYSTEM=="video4linux"' in line and 'GROUP="video"' in line for line in lines)
    for line in lines:
        for part in (p.strip() for p in line.split(",")):
            assert "==" in part or "=" in part, f"not a udev key: {part!r}"
