"""``provision check`` and ``provision decommission``: the device's self-test and its return to blank.

Registered in :data:`provisioning.cli.COMMANDS` (imported only when one of them runs).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

import click

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
def check(
    *,
    config_file: Path,
    as_json: bool,
    language: Literal["en", "ru"],
    source: str | None,
    models_dir: Path | None,
    no_display: bool,
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
    """
    from kiosk.ui.display_probe import DisplayProbe
    from provisioning.device.selftest import Probes, run_selftest

    seams = Probes(models_dir=models_dir, camera_source=source)
    if no_display:
        seams = Probes(
            models_dir=models_dir,
            camera_source=source,
            display=lambda _size, _full: DisplayProbe("skipped", "not tried: --no-display"),
        )
    report = run_selftest(config_file, seams=seams)
    click.echo(render_json(report) if as_json else render_table(report, language))
    sys.exit(0 if report.ok else 1)
