"""The ``cloud-sync`` command: the outbox on the device and ingest in the back office."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from urllib.parse import urlsplit

import click

from cloud_sync import __version__
from cloud_sync.errors import CloudSyncError
from cloud_sync.ingest import Ingest, open_store
from cloud_sync.settings import IngestSettings
from mqtt_bridge.schemas import stale_schemas, write_schemas
from mqtt_bridge.settings import BrokerSettings, SecretRef, TlsSettings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cloud-sync")
def main() -> None:
    """Vitrina cloud sync: durable outbox, anonymisation, catalogue sync and back-office ingest.

    \b
    Example:
      cloud-sync --version
    """


@main.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("docs/schemas"),
    show_default=True,
    help="Folder to write the JSON Schemas into.",
)
@click.option("--check", is_flag=True, help="Write nothing; exit 1 when the files differ from the models.")
def schemas(out: Path, check: bool) -> None:
    """Generate the JSON Schemas of every MQTT payload from the wire models.

    \b
    Example:
      cloud-sync schemas --out docs/schemas
      cloud-sync schemas --check
    """
    if check:
        stale = stale_schemas(out)
        if stale:
            raise click.ClickException(
                f"schemas in {out} are out of date: {', '.join(stale)}; run `cloud-sync schemas --out {out}`"
            )
        click.echo(f"schemas in {out} match the models")
        return
    for path in write_schemas(out):
        click.echo(f"wrote {path}")


def broker_settings_from_url(
    url: str, *, ca_file: Path | None = None, password_env: str | None = None
) -> BrokerSettings:
    """``mqtt://[user@]host[:port]`` or ``mqtts://...`` (TLS, needs ``ca_file``) -> BrokerSettings."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise click.BadParameter(f"{url!r}: use mqtt://host:1883 or mqtts://host:8883", param_hint="--broker")
    tls = None
    if parts.scheme == "mqtts":
        if ca_file is None:
            raise click.BadParameter("an mqtts:// broker needs --ca-file", param_hint="--ca-file")
        tls = TlsSettings(ca_file=ca_file)
    return BrokerSettings(
        enabled=True,
        host=parts.hostname,
        port=parts.port or (8883 if tls else 1883),
        username=parts.username,
        password=SecretRef(env=password_env) if password_env else None,
        tls=tls,
    )


@main.command()
@click.option(
    "--broker", required=True, help="Broker URL: mqtt://host:1883, mqtts://host:8883, user@ allowed."
)
@click.option(
    "--db", "db_url", required=True, help="Store: sqlite:///path/backoffice.sqlite or postgresql://..."
)
@click.option(
    "--group",
    default=IngestSettings().share_group,
    show_default=True,
    help="Shared subscription group; '' for a plain subscription (one consumer).",
)
@click.option("--prefix", default=BrokerSettings().topic_prefix, show_default=True, help="Topic prefix.")
@click.option(
    "--ca-file", type=click.Path(dir_okay=False, path_type=Path), help="CA certificate for mqtts://."
)
@click.option("--password-env", help="Environment variable holding the broker password.")
def ingest(
    *, broker: str, db_url: str, group: str, prefix: str, ca_file: Path | None, password_env: str | None
) -> None:
    """Store every device's events, status, birth and metrics; run several to split the load.

    Runs until interrupted (Ctrl-C or SIGTERM). Each event is stored once, whatever is redelivered.

    \b
    Example:
      cloud-sync ingest --broker mqtt://127.0.0.1:1883 --db sqlite:///backoffice.sqlite
      cloud-sync ingest --broker mqtt://broker:1883 --db postgresql://vitrina@db/vitrina --group ingest
    """
    settings = broker_settings_from_url(broker, ca_file=ca_file, password_env=password_env)
    settings = settings.model_copy(update={"topic_prefix": prefix})
    try:
        store = open_store(db_url)
    except CloudSyncError as exc:
        raise click.ClickException(str(exc)) from exc
    consumer = Ingest(settings, IngestSettings(share_group=group or None, db_url=db_url), store)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    consumer.start()
    click.echo(f"ingesting from {broker} into {db_url} (group {group}); Ctrl-C to stop", err=True)
    try:
        consumer.run(stop)
    except KeyboardInterrupt:
        stop.set()
    finally:
        store.close()
