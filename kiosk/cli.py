"""The ``kiosk`` command: a thin click layer over the kiosk's library API."""

from __future__ import annotations

import logging
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import click

from kiosk import __version__
from kiosk.assistant.cli import assistant
from kiosk.config import KioskConfig, load_config
from kiosk.errors import ConfigError
from kiosk.logging_setup import configure_logging
from kiosk.perception.types import Detector

if TYPE_CHECKING:
    from mqtt_bridge.contract.catalogue import Catalogue

log = logging.getLogger("kiosk")

EXIT_CONFIG_ERROR = 2


#: ``--config FILE`` of every command that runs on a configuration (the embedded defaults without one).
config_option = click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Configuration file; the embedded defaults when absent.",
)


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
@config_option
@click.option(
    "--seconds",
    type=float,
    default=None,
    help="Stop after this many seconds (default: until closed; 30 when headless, two visitors).",
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
    help="Watch this camera (0) or video file. Default: the shipped footage, a real photo of a person "
    "walking up to the screen and away (docs/demo-media.md).",
)
@click.option(
    "--scripted", is_flag=True, help="Use the scripted perception feed: reaches every screen, no models."
)
@click.option(
    "--broker",
    default=None,
    metavar="URL",
    help="Publish telemetry to this MQTT broker (mqtt://host:1883) and answer its commands, as [mqtt] "
    "enabled does; the outbox lives under --out.",
)
@click.option(
    "--chat",
    is_flag=True,
    help="Turn the FAQ assistant on (the demo's FAQ unless [assistant] names one): every second visitor "
    "opens 'Questions?', asks, and asks for a person; with --broker the hand-off reaches the operator "
    "console.",
)
def demo(
    *,
    config_file: Path | None,
    seconds: float | None,
    headless: bool,
    out_dir: Path,
    camera: str | None,
    scripted: bool,
    broker: str | None,
    chat: bool,
) -> None:
    """Run the whole kiosk on embedded defaults, with a demo catalogue and pictures, and its screen.

    Writes a screenshot of every screen reached and summary.json (frames, fps, visits, offers shown,
    feedback, staff calls, UI frame times). Without a display (or with --headless) it renders off screen
    and stops after --seconds.

    \b
    Examples:
      kiosk demo                       # a window, until closed (Escape)
      kiosk demo --camera 0            # the webcam
      kiosk demo --headless --scripted --seconds 12 --out /tmp/vitrina-demo
      kiosk demo --headless --seconds 20 --broker mqtt://127.0.0.1:1883   # mosquitto_sub -v -t 'vitrina/#'
      kiosk demo --chat --broker mqtt://127.0.0.1:1883   # chats reach the back office's operator console
    """
    config = _load_or_exit(config_file) if config_file else KioskConfig()
    if broker is not None:
        config = _with_broker(config, broker, out_dir)
    configure_logging(config.logging)
    from kiosk.app.demo import DemoError, run_demo
    from kiosk.perception.demo_media import write_walk_in_clip
    from kiosk.ui.display import has_display

    if seconds is None and (headless or not has_display()):
        seconds = 30.0
    if scripted:
        camera = None
    try:
        with tempfile.TemporaryDirectory(prefix="vitrina-demo-") as footage:
            if not scripted and camera is None:
                # The shipped footage: a real, public-domain photo of a person walking up and away.
                camera = str(write_walk_in_clip(Path(footage) / "walk-in.avi"))
            summary = run_demo(
                config, seconds=seconds, headless=headless, out_dir=out_dir, camera=camera, chat=chat
            )
    except DemoError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    log.info(
        "demo finished: %d frames in %.1f s, screens %s; wrote %s",
        summary.frames,
        summary.seconds,
        ", ".join(summary.screen.screens if summary.screen is not None else ()),
        out_dir,
    )


#: Seconds between metrics (and health events) in a demo with --broker: several within a short run.
DEMO_METRICS_S = 5.0


def _with_broker(config: KioskConfig, url: str, out_dir: Path) -> KioskConfig:
    """``config`` linked to the broker at ``url``, its outbox under ``out_dir``, metrics every few seconds."""
    from mqtt_bridge.errors import BrokerUrlError
    from mqtt_bridge.settings import broker_settings_from_url

    try:
        settings = broker_settings_from_url(url)
    except BrokerUrlError as exc:
        raise click.BadParameter(str(exc), param_hint=exc.option) from exc
    mqtt = config.mqtt.model_copy(
        update={"enabled": True, "host": settings.host, "port": settings.port, "username": settings.username}
    )
    return config.model_copy(
        update={
            "mqtt": mqtt,
            "outbox": config.outbox.model_copy(update={"path": out_dir / "store" / "outbox.sqlite"}),
            "offers": config.offers.model_copy(update={"installed_dir": out_dir / "store" / "catalogue"}),
            "runtime": config.runtime.model_copy(update={"health_interval_s": DEMO_METRICS_S}),
        }
    )


def _start_catalogue(config: KioskConfig) -> tuple[Catalogue | None, Path | None, int | None]:
    """The catalogue to start with, its pictures' folder and its release version: the last release
    installed from the back office (``[offers] installed_dir``), else the configured file (no version),
    else none (attract only). Exits 2 on a bad file."""
    from kiosk.decisions.offers import load_catalogue
    from kiosk.link.catalogue_sync import load_installed_release

    installed = load_installed_release(config.offers.installed_dir)
    if installed is not None:
        log.info("catalogue: release %d installed in %s", installed.version, config.offers.installed_dir)
        return installed.catalogue, installed.image_base, installed.version
    path = config.offers.catalogue
    if path is None:
        return None, None, None
    try:
        catalogue = load_catalogue(path)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_CONFIG_ERROR)
    for missing in catalogue.missing_images(path.parent):
        log.warning("offer image missing: %s (the offer shows without its picture)", missing)
    return catalogue, path.parent, None


def _load_or_exit(path: Path) -> KioskConfig:
    try:
        return load_config(path)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_CONFIG_ERROR)


main.add_command(assistant)


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
@config_option
@click.option(
    "-n",
    "--lines",
    "count",
    type=click.IntRange(1, 100_000),
    default=20,
    show_default=True,
    help="How many of the latest events to print first.",
)
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
    from kiosk.link.store import DB_NAME, StoreError, open_existing, tail

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


@main.command()
@config_option
@click.option(
    "--headless", is_flag=True, help="No screen: run camera, perception, decisions and the store only."
)
@click.option(
    "--source", default=None, help="Camera source, overriding camera.source (a video file, folder, index)."
)
@click.option("--loop/--no-loop", default=None, help="Loop a video file or folder (overrides camera.loop).")
@click.option(
    "--seconds", type=float, default=None, help="Stop after this many seconds (default: until signalled)."
)
@click.option(
    "--summary",
    "summary_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write the run summary (frames, fps, visits, offers_shown, ...) to this JSON file.",
)
@click.option(
    "--detector",
    type=click.Choice(["models", "none"]),
    default="models",
    show_default=True,
    help="'models': the on-device vision models (edge_models); 'none': presence off, nobody is ever seen.",
)
@click.option(
    "--broker",
    default=None,
    metavar="URL",
    help="Publish telemetry to this MQTT broker (mqtt://host:1883) and answer its commands, as [mqtt] "
    "enabled does; TLS files and the password stay as [mqtt] configures them.",
)
def run(
    *,
    config_file: Path | None,
    headless: bool,
    source: str | None,
    loop: bool | None,
    seconds: float | None,
    summary_file: Path | None,
    detector: str,
    broker: str | None,
) -> None:
    """Run the kiosk: camera, perception, engagement, offers, staff calls and the local event store.

    Workers start in order and stop in reverse on SIGTERM or SIGINT, without losing an event. The
    shopper's screen runs in this process unless --headless (where there is no display, SDL's dummy
    driver draws it off screen).

    \b
    Example:
      kiosk run --config examples/kiosk.toml --headless --source clip.mp4 --seconds 20 --summary out.json
      kiosk run --config examples/kiosk.toml --broker mqtt://127.0.0.1:1883
    """
    import signal
    import threading

    from kiosk.app.root import KioskApp
    from kiosk.errors import KioskError
    from mqtt_bridge.contract.errors import ContractError
    from mqtt_bridge.errors import MqttBridgeError

    config = _run_config(config_file, source, loop)
    configure_logging(config.logging)
    config = _with_identity(config)
    if broker is not None:
        config = _linked(config, broker)
    catalogue, image_base, version = _start_catalogue(config)
    chosen = _open_detector(detector, config)
    try:
        app = KioskApp(config, chosen, catalogue=catalogue, image_base=image_base, catalogue_version=version)
    except (MqttBridgeError, ContractError, KioskError) as exc:  # a secret, key or store that cannot be used
        click.echo(f"cannot start the kiosk: {exc}", err=True)
        sys.exit(EXIT_CONFIG_ERROR)
    stop = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        if headless:
            summary = app.run(seconds, stop)
        else:  # the screen in this (main) thread; the workers start once its first frame is up
            from kiosk.app.screen_port import run_screen
            from kiosk.app.summary import screen_summary

            _ui, stats = run_screen(app, seconds=seconds, stop=stop.is_set)
            summary = app.summary(screen_summary(stats))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        close = getattr(chosen, "close", None)
        if callable(close):
            close()
    if summary_file is not None:
        summary.write(summary_file)
    log.info(
        "run finished: %d frames, %.1f fps, %d visits, %d offers, %d staff calls, %d events",
        summary.frames,
        summary.fps,
        summary.visits,
        summary.offers_shown,
        summary.staff_calls,
        summary.events_recorded or 0,
    )
    if summary.fatal:
        click.echo(f"kiosk stopped: {summary.fatal}", err=True)
        sys.exit(1)
    if app.camera.health.missing:  # the source never delivered: it is not there
        click.echo(f"kiosk stopped: {app.camera.health.last_error}", err=True)
        sys.exit(1)


def _with_identity(config: KioskConfig) -> KioskConfig:
    """``config`` on the identity ``[identity] dir`` names (kiosk.app.identity); exits 2 when it is
    missing, expired or its signature is wrong, saying which and what to do."""
    from datetime import UTC, datetime

    from kiosk.app.identity import IdentityUnusableError, apply_identity

    try:
        applied, identity = apply_identity(config, datetime.now(UTC))
    except IdentityUnusableError as exc:
        click.echo(f"cannot start the kiosk: {exc}", err=True)
        sys.exit(EXIT_CONFIG_ERROR)
    if identity is not None:
        log.info(
            "identity %s from %s, certificate valid for %.0f more days",
            identity.name,
            identity.folder,
            identity.days_left(datetime.now(UTC)),
        )
    return applied


def _linked(config: KioskConfig, url: str) -> KioskConfig:
    """``config`` with ``[mqtt]`` enabled towards the broker at ``url`` (host, port, and user when the URL
    names one); an ``mqtts://`` URL keeps the TLS files of ``[mqtt.tls]``, an ``mqtt://`` one drops TLS."""
    from mqtt_bridge.errors import BrokerUrlError
    from mqtt_bridge.settings import broker_settings_from_url

    tls = config.mqtt.tls
    try:
        settings = broker_settings_from_url(url, ca_file=tls.ca_file if tls is not None else None)
    except BrokerUrlError as exc:
        if exc.option == "--ca-file":
            raise click.BadParameter(
                f"{url!r}: an mqtts:// broker needs [mqtt.tls] ca_file in --config", param_hint="--broker"
            ) from exc
        raise click.BadParameter(str(exc), param_hint="--broker") from exc
    update: dict[str, object] = {
        "enabled": True,
        "host": settings.host,
        "port": settings.port,
        "tls": tls if settings.tls is not None else None,
    }
    if settings.username is not None:
        update["username"] = settings.username
    return config.model_copy(update={"mqtt": config.mqtt.model_copy(update=update)})


def _run_config(config_file: Path | None, source: str | None, loop: bool | None) -> KioskConfig:
    config = _load_or_exit(config_file) if config_file else KioskConfig()
    camera_update: dict[str, object] = {}
    if source is not None:
        camera_update["source"] = source
    if loop is not None:
        camera_update["loop"] = loop
    if camera_update:
        config = config.model_copy(update={"camera": config.camera.model_copy(update=camera_update)})
    return config


def _open_detector(name: str, config: KioskConfig) -> Detector:
    """The configured vision models; attract-only (no detector) when the presence model is refused."""
    from kiosk.app.root import NoDetector

    if name == "none":
        return NoDetector()
    from edge_models.errors import EdgeModelsError
    from kiosk.perception.detector import open_model_detector

    try:
        return open_model_detector(
            config.presence,
            config.emotion,
            read_expression=config.privacy.mode != "presence_only",
            perception=config.perception,
            tracker=config.tracker,
            data_dir=config.storage.data_dir,
        )
    except EdgeModelsError as exc:
        log.error("presence model refused, running attract-only: %s", exc)
        return NoDetector()
