"""The ``cloud-sync`` command: the outbox on the device and ingest in the back office."""

from __future__ import annotations

import json
import secrets
import signal
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from cloud_sync import __version__
from cloud_sync.errors import CloudSyncError
from cloud_sync.ingest import Ingest, open_store
from cloud_sync.settings import IngestSettings
from mqtt_bridge.commands import public_key_text, sign
from mqtt_bridge.errors import BrokerUrlError, MqttBridgeError
from mqtt_bridge.payloads import CommandEnvelope, CommandResult
from mqtt_bridge.schemas import stale_schemas, write_schemas
from mqtt_bridge.settings import BrokerSettings
from mqtt_bridge.settings import broker_settings_from_url as settings_from_url
from mqtt_bridge.topics import DeviceTopics
from mqtt_bridge.transport import MqttTransport, drain_queue


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
    """:func:`mqtt_bridge.settings.broker_settings_from_url`, its errors as click's ``BadParameter``."""
    try:
        return settings_from_url(url, ca_file=ca_file, password_env=password_env)
    except BrokerUrlError as exc:
        raise click.BadParameter(str(exc), param_hint=exc.option) from exc


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


@main.command()
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Private key file."
)
def keygen(out: Path) -> None:
    """Create the back office's Ed25519 key for signing commands; print its public key.

    The private key is written as PEM (mode 600). Put the printed public key in the devices'
    [mqtt.commands] public_keys.

    \b
    Example:
      cloud-sync keygen --out backoffice-commands.pem
    """
    if out.exists():
        raise click.ClickException(f"{out} exists; refusing to overwrite a key")
    key = Ed25519PrivateKey.generate()
    out.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    out.chmod(0o600)
    click.echo(public_key_text(key))


def _load_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot read an Ed25519 PEM key from {path}: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise click.ClickException(f"{path} is not an Ed25519 key; create one with `cloud-sync keygen`")
    return key


@main.command("send-command")
@click.option("--broker", required=True, help="Broker URL: mqtt://host:1883.")
@click.option("--key", "key_path", type=click.Path(dir_okay=False, path_type=Path), help="Signing key (PEM).")
@click.option("--store", "store_id", required=True, help="Store id of the device.")
@click.option("--device", "device_id", required=True, help="Device id.")
@click.option("--name", required=True, help="Command name (purge, catalogue, configure, ...).")
@click.option("--args", "args_json", default="{}", show_default=True, help="Arguments as a JSON object.")
@click.option("--ttl", default=300, show_default=True, help="Seconds until the command expires.")
@click.option("--wait", "wait_s", default=10.0, show_default=True, help="Seconds to wait for the result.")
@click.option("--prefix", default=BrokerSettings().topic_prefix, show_default=True, help="Topic prefix.")
def send_command(
    *,
    broker: str,
    key_path: Path | None,
    store_id: str,
    device_id: str,
    name: str,
    args_json: str,
    ttl: int,
    wait_s: float,
    prefix: str,
) -> None:
    """Sign (with --key) and send a command to one device; print its result.

    \b
    Example:
      cloud-sync send-command --broker mqtt://127.0.0.1:1883 --key bo.pem \\
        --store demo-store --device demo-kiosk --name purge --args '{"scope": "today"}'
    """
    try:
        args = json.loads(args_json)
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--args") from exc
    now = datetime.now(UTC)
    try:
        envelope = CommandEnvelope.model_validate(
            {
                "command_id": uuid.uuid4().hex,
                "name": name,
                "issued_at": now,
                "expires_at": now + timedelta(seconds=ttl),
                "nonce": secrets.token_urlsafe(24),
                "args": args,
            }
        )
    except ValidationError as exc:
        raise click.ClickException(f"not a valid command: {exc.errors()[0]['msg']}") from exc
    if key_path is not None:
        envelope = sign(envelope, _load_key(key_path))
    settings = broker_settings_from_url(broker).model_copy(update={"topic_prefix": prefix})
    topics = DeviceTopics(prefix, store_id, device_id)
    transport = MqttTransport(
        settings, client_id=f"bo-cmd-{uuid.uuid4().hex[:8]}", subscriptions=[(topics.command_result(name), 1)]
    )
    transport.start()
    try:
        transport.wait_connected(wait_s)
        time.sleep(0.2)  # the SUBACK
        transport.publish(topics.command(name), envelope.model_dump_json().encode(), qos=1).wait(wait_s)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            for message in drain_queue(transport.inbound, 0.1):
                result = CommandResult.model_validate_json(message.payload)
                if result.command_id == envelope.command_id:
                    click.echo(result.model_dump_json())
                    if result.status == "refused":
                        raise SystemExit(1)
                    return
        raise click.ClickException(f"no result within {wait_s} s: is the device online?")
    except MqttBridgeError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        transport.stop()
