"""``provision check`` and ``provision decommission``: the device's self-test and its return to blank.

Registered in :data:`provisioning.cli.COMMANDS` (imported only when one of them runs).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

import click

from provisioning.device.decommission import (
    DecommissionRefusedError,
    DecommissionReport,
    Target,
    check_plan,
    files_left,
    purge_plan,
)
from provisioning.device.decommission import decommission as run_decommission
from provisioning.device.render import render_json, render_table

#: Where the deployment puts the kiosk's configuration (deploy/systemd/vitrina-kiosk.service).
DEFAULT_CONFIG = Path("/etc/vitrina/kiosk.toml")


@click.command("check")
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=DEFAULT_CONFIG,
    show_default=True,
    help="The kiosk's configuration file.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON instead of a table.")
@click.option(
    "--lang",
    "language",
    type=click.Choice(["en", "ru"]),
    default="en",
    show_default=True,
    help="Language of the table.",
)
@click.option(
    "--source",
    default=None,
    metavar="SOURCE",
    help="Test this camera source, not [camera] source (an index, /dev/video0, a video file, a folder).",
)
@click.option(
    "--models-dir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=None,
    help="Check the models in this folder (with its manifest.json) instead of the installed ones.",
)
@click.option("--no-display", is_flag=True, help="Do not open a window (the screen line says skipped).")
@click.option(
    "--presence-budget-ms",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Most p95 milliseconds of one face-detection call (default 50: a Raspberry Pi 4 or 5).",
)
@click.option(
    "--emotion-budget-ms",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Most p95 milliseconds of one expression call (default 20).",
)
@click.option(
    "--clock-tolerance-s",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Most seconds this clock may differ from the fleet's time (the enrolment service's reply; "
    "default 5).",
)
def check(
    *,
    config_file: Path,
    as_json: bool,
    language: Literal["en", "ru"],
    source: str | None,
    models_dir: Path | None,
    no_display: bool,
    presence_budget_ms: float | None,
    emotion_budget_ms: float | None,
    clock_tolerance_s: float | None,
) -> None:
    """The device's self-test: camera, models, screen, back-office link, certificate, clock, disk, outbox.

    Prints one line per check (PASS, WARN, FAIL or SKIP) and, under every line that is not a pass, what
    to do. Exits 1 when any check fails, 0 otherwise (warnings and skips do not fail). Run it with the
    kiosk stopped, or in its session for the screen check: it opens the camera and a window, and connects
    to the broker as the device.

    \b
    Example:
      sudo systemctl stop vitrina-kiosk
      provision check                                  # the table, in English
      provision check --lang ru
      provision check --json --config /etc/vitrina/kiosk.toml > check.json
      provision check --source /dev/video0 --no-display
      provision check --presence-budget-ms 120     # a slower board
    """
    from kiosk.ui.display_probe import DisplayProbe
    from provisioning.device.selftest import Probes, run_selftest
    from provisioning.device.settings import SelfTestSettings

    seams = Probes(models_dir=models_dir, camera_source=source)
    if no_display:
        seams = Probes(
            models_dir=models_dir,
            camera_source=source,
            display=lambda _size, _full: DisplayProbe("skipped", "not tried: --no-display"),
        )
    budgets = {
        "presence_budget_ms": presence_budget_ms,
        "emotion_budget_ms": emotion_budget_ms,
        "clock_tolerance_s": clock_tolerance_s,
    }
    settings = SelfTestSettings.model_validate({k: v for k, v in budgets.items() if v is not None})
    report = run_selftest(config_file, settings, seams=seams)
    click.echo(render_json(report) if as_json else render_table(report, language))
    sys.exit(0 if report.ok else 1)


#: The kiosk's systemd unit (deploy/systemd/vitrina-kiosk.service): decommission refuses while it runs.
KIOSK_UNIT = "vitrina-kiosk.service"


def _kiosk_running() -> bool:
    """Whether systemd runs the kiosk now (False where systemd is not PID 1: nothing to ask)."""
    import shutil
    import subprocess

    tool = shutil.which("systemctl")
    if tool is None or not Path("/run/systemd/system").is_dir():
        return False
    done = subprocess.run([tool, "is-active", "--quiet", KIOSK_UNIT], check=False, timeout=10)
    return done.returncode == 0


def _echo_plan(plan: list[Target]) -> None:
    click.echo("This removes, for good:")
    for target in plan:
        kind = "everything in" if target.folder else "the file"
        click.echo(f"  {target.what}: {kind} {target.path}")
    click.echo(f"({len(files_left(plan))} files and folders there now)")


def _echo_report(report: DecommissionReport) -> None:
    click.echo(report.farewell)
    for removed in report.removed:
        if removed.files:
            size = f"{removed.files} files, {removed.bytes:,} bytes"
            click.echo(f"  removed {removed.what} ({size}): {removed.path}")
    if report.blank:
        click.echo("The device is blank: nothing of the kiosk's data or identity is left.")
        return
    click.echo("Still there (remove by hand, or check permissions):")
    for path in report.left:
        click.echo(f"  {path}")


@click.command("decommission")
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=DEFAULT_CONFIG,
    show_default=True,
    help="The kiosk's configuration file: it says where the kiosk keeps its data.",
)
@click.option(
    "--identity",
    "identity_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="The identity folder; default: [identity] dir, else $VITRINA_IDENTITY_DIR, else "
    "/var/lib/vitrina/identity.",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--offline", is_flag=True, help="Do not tell the back office (no network, or it is gone).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def decommission(
    *, config_file: Path, identity_dir: Path | None, yes: bool, offline: bool, as_json: bool
) -> None:
    """Take this device back to blank: its data, its catalogue, its identity and its secrets.

    First tells the back office (the retained status 'stopped', then the retained status and birth
    cleared), then removes every file the kiosk keeps (listed before it asks), walks the folders again
    and prints what went. Safe to run twice. Exits 1 if anything is left. Stop the kiosk first.

    \b
    Example:
      sudo systemctl stop vitrina-kiosk
      sudo provision decommission                  # lists what goes, asks, then does it
      sudo provision decommission --yes --json     # unattended
    """
    from kiosk.config import load_config
    from kiosk.errors import ConfigError
    from mqtt_bridge.identity import default_identity_dir

    try:
        config = load_config(config_file)
    except ConfigError as exc:
        raise click.ClickException(
            f"{exc}\nfix the configuration (kiosk validate-config), then run again"
        ) from exc
    if _kiosk_running():
        raise click.ClickException(
            f"the kiosk is running ({KIOSK_UNIT}) and would write its data again: "
            "sudo systemctl stop vitrina-kiosk, then run this again"
        )
    folder = identity_dir or config.identity.dir or default_identity_dir()
    plan = purge_plan(config, folder)
    try:
        check_plan(plan)
    except DecommissionRefusedError as exc:
        raise click.ClickException(str(exc)) from exc
    if not as_json:
        _echo_plan(plan)
    if not yes:
        click.confirm("Decommission this device?", abort=True)
    report = run_decommission(config, folder, tell=not offline)
    if as_json:
        click.echo(report.model_dump_json(indent=2))
    else:
        _echo_report(report)
    sys.exit(0 if report.blank else 1)
