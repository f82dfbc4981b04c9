"""The ``kiosk`` command: a thin click layer over the kiosk's library API."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from kiosk import __version__
from kiosk.config import KioskConfig, load_config
from kiosk.errors import ConfigError
from kiosk.logging_setup import configure_logging

log = logging.getLogger("kiosk")

EXIT_CONFIG_ERROR = 2


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kiosk")
def main() -> None:
    """Vitrina kiosk: the in-store screen that sees, decides, shows and reports.

    \b
    Examples:
      kiosk validate-config examples/kiosk.toml
      kiosk demo --seconds 10 --out demo-out
    """


@main.command("validate-config")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
def validate_config(file: Path) -> None:
    """Check a configuration FILE and print every problem with its dotted key path and a hint.

    Exits 0 when the file is valid, 2 when it is not.

    \b
    Example:
      kiosk validate-config examples/kiosk.toml
    """
    try:
        config = load_config(file)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_CONFIG_ERROR)
    click.echo(
        f"{file}: valid (store {config.device.store_id}, device {config.device.device_id}, "
        f"config hash {config.config_hash()})"
    )


@main.command()
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Configuration file; the embedded defaults when absent.",
)
@click.option(
    "--seconds",
    type=float,
    default=None,
    help="Stop after this many seconds (default: run until closed; 10 when headless).",
)
@click.option("--headless", is_flag=True, help="Render off screen even where a display exists.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("demo-out"),
    show_default=True,
    help="Where screenshots and summary.json are written.",
)
@click.option(
    "--camera",
    default=None,
    metavar="SOURCE",
    help="Watch a camera (0) or a video file instead of the scripted perception feed "
    "(needs the kiosk runtime and the perception models).",
)
def demo(
    config_file: Path | None, seconds: float | None, headless: bool, out_dir: Path, camera: str | None
) -> None:
    """Run the whole shopper's screen on embedded defaults, with a demo catalogue and pictures.

    Writes a screenshot of every screen reached and summary.json (frames, fps, visits, offers shown,
    feedback, staff calls, UI frame times). Without a display (or with --headless) it renders off screen
    and stops after --seconds.

    \b
    Examples:
      kiosk demo                       # a window, until closed (Escape)
      kiosk demo --headless --seconds 12 --out /tmp/vitrina-demo
    """
    config = _load_or_exit(config_file) if config_file else KioskConfig()
    configure_logging(config.logging)
    from kiosk.demo import DemoError, run_demo
    from kiosk.ui.display import has_display

    if seconds is None and (headless or not has_display()):
        seconds = 10.0
    try:
        summary = run_demo(config, seconds=seconds, headless=headless, out_dir=out_dir, camera=camera)
    except DemoError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    log.info(
        "demo finished: %d frames in %.1f s, screens %s; wrote %s",
        summary["frames"],
        summary["seconds"],
        ", ".join(summary["screens"]),
        out_dir,
    )


def _load_or_exit(path: Path) -> KioskConfig:
    try:
        return load_config(path)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_CONFIG_ERROR)


@main.group()
def events() -> None:
    """Read the kiosk's local event store.

    \b
    Example:
      kiosk events tail --follow --db var/events.sqlite
    """


@events.command("tail")
@click.option(
    "--db",
    "db_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="The event store; default: events.sqlite in storage.data_dir of --config (or of the defaults).",
)
@click.option("--config", "config_file", type=click.Path(path_type=Path, dir_okay=False), default=None)
@click.option("-n", "--lines", "count", type=click.IntRange(1, 100_000), default=20, show_default=True)
@click.option(
    "--follow", "-f", is_flag=True, help="Keep printing new events as they are stored (Ctrl-C stops)."
)
def events_tail(db_path: Path | None, config_file: Path | None, count: int, follow: bool) -> None:
    """Print the last events, one JSON object a line, oldest first.

    \b
    Example:
      kiosk events tail -n 50
      kiosk events tail --follow --db var/events.sqlite | jq .type
    """
    from kiosk.store import DB_NAME, StoreError, open_existing, tail

    if db_path is None:
        config = _load_or_exit(config_file) if config_file else KioskConfig()
        db_path = config.storage.data_dir / DB_NAME
    try:
        db = open_existing(db_path)
    except StoreError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    try:
        for row in tail(db, count, follow=follow):
            click.echo(row["json"])
    except KeyboardInterrupt:
        pass
    finally:
        db.close()
