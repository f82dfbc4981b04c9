"""The ``backoffice`` command: ingest, signed commands, catalogue publishing and the wire schemas."""

from __future__ import annotations

import json
import logging
import secrets
import signal
import threading
import time
import tomllib
import uuid
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path, PurePosixPath

import click
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import JsonValue, ValidationError

from backoffice import __version__
from backoffice.broker_access import broker_access, broker_options
from backoffice.db import Database, open_database
from backoffice.errors import BackofficeError
from backoffice.ingest import Ingest, open_store
from backoffice.retention import run_retention
from backoffice.rollups import rebuild as rebuild_rollups
from backoffice.schema import migrate_all
from backoffice.settings import IngestSettings, RetentionSettings
from mqtt_bridge.catalogue import DEFAULT_MAX_RELEASE_BYTES, build_release, sign_release
from mqtt_bridge.commands import sign
from mqtt_bridge.contract.catalogue import Catalogue
from mqtt_bridge.contract.errors import ContractError
from mqtt_bridge.contract.payloads import CatalogueResult, CommandEnvelope, CommandResult
from mqtt_bridge.contract.schemas import stale_schemas, write_schemas
from mqtt_bridge.contract.topics import CATALOGUE_QOS, CATALOGUE_RETAIN, DeviceTopics, StoreTopics
from mqtt_bridge.errors import MqttBridgeError
from mqtt_bridge.settings import BrokerSettings
from mqtt_bridge.signing import canonical_json, public_key_text
from mqtt_bridge.transport import MqttTransport, drain_queue


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="backoffice")
def main() -> None:
    """Vitrina's back office: ingest the fleet's telemetry, send signed commands, publish signed catalogues.

    \b
    Example:
      backoffice --version
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
      backoffice schemas --out docs/schemas
      backoffice schemas --check
    """
    if check:
        stale = stale_schemas(out)
        if stale:
            raise click.ClickException(
                f"schemas in {out} are out of date: {', '.join(stale)}; run `backoffice schemas --out {out}`"
            )
        click.echo(f"schemas in {out} match the models")
        return
    for path in write_schemas(out):
        click.echo(f"wrote {path}")


@main.command()
@broker_options
@click.option(
    "--db", "db_url", required=True, help="Store: sqlite:///path/backoffice.sqlite or postgresql://..."
)
@click.option(
    "--client-id",
    default=IngestSettings().client_id,
    show_default=True,
    help="This consumer's MQTT client id: keep it the same across restarts (the broker queues what "
    "arrives meanwhile under it). Two consumers running at once, in one group or not, need different ids.",
)
@click.option(
    "--group",
    default="",
    show_default=True,
    help="Shared subscription group, for scale: consumers in it split the load, each with its own "
    "--client-id. '' (the default): a plain subscription, which loses nothing across a broker restart; a "
    "group on Mosquitto 2.0.11 loses what is published between a broker restart and its reconnection "
    "(docs/mqtt.md).",
)
@click.option(
    "--session-expiry",
    "session_expiry_s",
    type=click.IntRange(min=0),
    default=IngestSettings().session_expiry_s,
    show_default=True,
    help="Seconds the broker keeps this consumer's session and queue while it is away.",
)
@click.option("--prefix", default=BrokerSettings().topic_prefix, show_default=True, help="Topic prefix.")
def ingest(
    *,
    broker: str,
    identity_dir: Path | None,
    ca_file: Path | None,
    password_env: str | None,
    db_url: str,
    client_id: str,
    group: str,
    session_expiry_s: int,
    prefix: str,
) -> None:
    """Store every device's events, status, birth and metrics; restart it with the same --client-id.

    Runs until interrupted (Ctrl-C or SIGTERM). Each event is stored once, whatever is redelivered; what
    devices publish while it is stopped or killed waits in its broker session and is stored when it comes
    back with the same --client-id (within --session-expiry).

    \b
    Example:
      backoffice ingest --broker mqtt://127.0.0.1:1883 --db sqlite:///backoffice.sqlite
      # two consumers splitting the load: one group, two ids
      backoffice ingest --broker mqtt://broker:1883 --db postgresql://vitrina@db/vitrina \\
        --group ingest --client-id vitrina-ingest-1
      backoffice ingest --broker mqtt://broker:1883 --db postgresql://vitrina@db/vitrina \\
        --group ingest --client-id vitrina-ingest-2
      # on the fleet's broker, with this process's own certificate (provision backoffice new --name ingest-1)
      backoffice ingest --broker mqtts://broker:8883 --identity /etc/vitrina/identity/ingest-1 \\
        --db postgresql://vitrina@db/vitrina --client-id backoffice-ingest-1
    """
    access = broker_access(
        broker, identity_dir=identity_dir, ca_file=ca_file, password_env=password_env, prefix=prefix
    )
    settings = access.settings
    try:
        ingest_settings = IngestSettings(
            client_id=client_id,
            share_group=group or None,
            db_url=db_url,
            session_expiry_s=session_expiry_s,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        option = {"client_id": "--client-id", "share_group": "--group"}.get(str(first["loc"][0]), "--db")
        raise click.BadParameter(str(first["msg"]).removeprefix("Value error, "), param_hint=option) from exc
    try:
        store = open_store(db_url)
    except BackofficeError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        consumer = Ingest(settings, ingest_settings, store)
    except ContractError as exc:
        store.close()
        raise click.BadParameter(str(exc), param_hint="--group/--prefix") from exc
    # Refusals, session resumption and a client id taken over by another consumer are logged.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    consumer.start()
    how = f"group {group}" if group else "plain subscription"
    click.echo(f"ingesting from {broker} into {db_url} as {client_id} ({how}); Ctrl-C to stop", err=True)
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
    """Create the back office's Ed25519 key for signing commands and catalogues; print its public key.

    The private key is written as PEM (mode 600). Put the printed public key in the devices'
    [mqtt.commands] public_keys: devices refuse every unsigned command and every unsigned catalogue.

    \b
    Example:
      backoffice keygen --out backoffice-commands.pem
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
        raise click.ClickException(f"{path} is not an Ed25519 key; create one with `backoffice keygen`")
    return key


@main.command("send-command")
@broker_options
@click.option(
    "--key",
    "key_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Signing key (PEM, `backoffice keygen`; default: the --identity bundle's commands.pem, if it has "
    "one). Devices refuse unsigned commands.",
)
@click.option("--store", "store_id", required=True, help="Store id of the device.")
@click.option("--device", "device_id", required=True, help="Device id.")
@click.option("--name", required=True, help="Command name: staff_ack or maintenance (what a kiosk answers).")
@click.option("--args", "args_json", default="{}", show_default=True, help="Arguments as a JSON object.")
@click.option("--ttl", default=300, show_default=True, help="Seconds until the command expires.")
@click.option("--wait", "wait_s", default=10.0, show_default=True, help="Seconds to wait for the result.")
@click.option("--prefix", default=BrokerSettings().topic_prefix, show_default=True, help="Topic prefix.")
def send_command(
    *,
    broker: str,
    identity_dir: Path | None,
    ca_file: Path | None,
    password_env: str | None,
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

    A kiosk answers staff_ack ({"call_id": "..."}, the staff_call event's call_id) and maintenance
    ({"on": true} or {"on": false}); each must be signed with a key whose public half is in the
    device's [mqtt.commands] public_keys. Exits 1 when the device refuses the command.

    \b
    Example:
      backoffice send-command --broker mqtt://127.0.0.1:1883 --key bo.pem \\
        --store demo-store --device demo-kiosk --name maintenance --args '{"on": true}'
      # on the fleet's broker: a bundle made by `provision backoffice new ... --signing-key`
      backoffice send-command --broker mqtts://broker:8883 --identity /etc/vitrina/identity/ops \\
        --store s1 --device k1 --name maintenance --args '{"on": false}'
    """
    access = broker_access(
        broker, identity_dir=identity_dir, ca_file=ca_file, password_env=password_env, prefix=prefix
    )
    key_path = access.signing_key(key_path)
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
    try:
        topics = DeviceTopics(prefix, store_id, device_id)
        result_topic = topics.command_result(name)
    except ContractError as exc:
        raise click.BadParameter(str(exc), param_hint="--store/--device/--name/--prefix") from exc
    transport = MqttTransport(
        access.settings, client_id=f"bo-cmd-{uuid.uuid4().hex[:8]}", subscriptions=[(result_topic, 1)]
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


def _json_ready(value: object) -> JsonValue:
    """TOML values as JSON: dates and times become ISO 8601 text."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, date | dt_time):  # datetime is a date
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise click.ClickException(f"the catalogue holds a value JSON cannot carry: {value!r}")


def read_catalogue_files(path: Path) -> tuple[str, dict[str, bytes]]:
    """A catalogue file (TOML or JSON) as canonical JSON text, and every offer's image, read relative to it.

    The catalogue's full validation is the device's (``kiosk.decisions.offers.Catalogue``); this reads what a
    release
    needs and refuses what it cannot carry: an image that is missing, or outside the catalogue's folder.
    """
    try:
        raw = path.read_bytes()
        data = json.loads(raw) if path.suffix == ".json" else tomllib.loads(raw.decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot read the catalogue {path}: {exc}") from exc
    document = _json_ready(data)
    offers = document.get("offers") if isinstance(document, dict) else None
    if not isinstance(offers, list):
        raise click.ClickException(f"{path} has no [[offers]]: is it a catalogue (see kiosk/demo_assets)?")
    files: dict[str, bytes] = {}
    for offer in offers:
        image = offer.get("image") if isinstance(offer, dict) else None
        if not isinstance(image, str):
            continue  # the device refuses the catalogue and says why
        name = PurePosixPath(image).as_posix()
        try:
            files[name] = (path.parent / name).read_bytes()
        except OSError as exc:
            raise click.ClickException(f"image {image!r} of {path}: {exc}") from exc
    return canonical_json(document).decode("utf-8"), files


@main.command("publish-catalogue")
@broker_options
@click.option(
    "--key",
    "key_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Signing key (PEM, `backoffice keygen`); default: the --identity bundle's commands.pem.",
)
@click.option("--store", "store_id", required=True, help="Store id: every device of the store installs it.")
@click.option(
    "--catalogue",
    "catalogue_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    required=True,
    help="Catalogue file (.toml or .json); offers' images are read relative to it.",
)
@click.option(
    "--version",
    "version",
    type=click.IntRange(min=1),
    required=True,
    help="Release number, above the last one.",
)
@click.option("--prefix", default=BrokerSettings().topic_prefix, show_default=True, help="Topic prefix.")
@click.option(
    "--max-bytes",
    default=DEFAULT_MAX_RELEASE_BYTES,
    show_default=True,
    help="Refuse to publish a release larger than this (the devices' limit).",
)
@click.option(
    "--wait",
    "wait_s",
    default=0.0,
    show_default=True,
    help="Seconds to print the devices' results (catalogue/result) after publishing.",
)
def publish_catalogue(
    *,
    broker: str,
    identity_dir: Path | None,
    ca_file: Path | None,
    password_env: str | None,
    key_path: Path | None,
    store_id: str,
    catalogue_path: Path,
    version: int,
    prefix: str,
    max_bytes: int,
    wait_s: float,
) -> None:
    """Sign a store's offer catalogue with its images and publish it, retained, to every device of the store.

    The catalogue is first checked as a kiosk checks it (the contract's schema: a demographic or appearance
    attribute in an offer's targeting is refused); nothing is published when it fails. The release carries
    the catalogue and every image inline (devices fetch nothing), signed with --key (Ed25519, `backoffice
    keygen`). Devices install it only when --version is above the one they have, and keep their previous
    catalogue when anything is wrong. Results are printed one JSON line each.

    \b
    Example:
      backoffice publish-catalogue --broker mqtt://127.0.0.1:1883 --key bo.pem \\
        --store demo-store --catalogue kiosk/demo_assets/catalogue.toml --version 3 --wait 10
      # on the fleet's broker, with the signing key in the bundle (provision backoffice new --signing-key)
      backoffice publish-catalogue --broker mqtts://broker:8883 --identity /etc/vitrina/identity/ops \\
        --store s1 --catalogue catalogue.toml --version 4
    """
    access = broker_access(
        broker, identity_dir=identity_dir, ca_file=ca_file, password_env=password_env, prefix=prefix
    )
    signing_key = access.signing_key(key_path)
    if signing_key is None:
        raise click.UsageError(
            "a catalogue must be signed: give --key KEY (backoffice keygen), or an --identity bundle made "
            "with `provision backoffice new --signing-key`"
        )
    key = _load_key(signing_key)
    try:
        topics = StoreTopics(prefix, store_id)
    except ContractError as exc:
        raise click.BadParameter(str(exc), param_hint="--store/--prefix") from exc
    text, files = read_catalogue_files(catalogue_path)
    try:
        # Every offer is checked as a kiosk checks it (demographic or appearance targeting refused).
        Catalogue.model_validate_json(text)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {str(e['msg']).removeprefix('Value error, ')}"
            for e in exc.errors(include_url=False)
        )
        raise click.ClickException(
            f"{catalogue_path} is not a valid catalogue, nothing published: {problems}"
        ) from None
    try:
        release = build_release(store_id, version, datetime.now(UTC), text, files)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise click.ClickException(f"cannot build the release: {where}: {first['msg']}") from exc
    payload = sign_release(release, key).model_dump_json().encode("utf-8")
    if len(payload) > max_bytes:
        raise click.ClickException(
            f"the release is {len(payload)} bytes, more than --max-bytes {max_bytes}: shrink the images"
        )
    subscriptions = [(topics.catalogue_result_filter, 1)] if wait_s > 0 else []
    transport = MqttTransport(
        access.settings, client_id=f"bo-catalogue-{uuid.uuid4().hex[:8]}", subscriptions=subscriptions
    )
    transport.start()
    try:
        transport.wait_connected(10)
        if wait_s > 0:
            time.sleep(0.2)  # the SUBACK, so no result is missed
        handle = transport.publish(topics.catalogue, payload, qos=CATALOGUE_QOS, retain=CATALOGUE_RETAIN)
        if not handle.wait(10):
            raise click.ClickException("the broker did not acknowledge the release within 10 s")
        click.echo(
            f"published catalogue version {version} for store {store_id} "
            f"({len(files)} images, {len(payload)} bytes) on {topics.catalogue}",
            err=True,
        )
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            for message in drain_queue(transport.inbound, 0.1):
                try:
                    result = CatalogueResult.model_validate_json(message.payload)
                except ValidationError:
                    continue
                click.echo(result.model_dump_json())
    except MqttBridgeError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        transport.stop()


# --- the data layer's commands: retention and the rollups (issue #16) -------------------------------------


def _open_migrated(db_url: str) -> Database:
    try:
        db = open_database(db_url)
        migrate_all(db)
    except BackofficeError as exc:
        raise click.ClickException(str(exc)) from exc
    return db


@main.command()
@click.option(
    "--db", "db_url", required=True, help="Store: sqlite:///path/backoffice.sqlite or postgresql://..."
)
@click.option(
    "--days",
    type=click.FloatRange(min=0, min_open=True),
    default=RetentionSettings().raw_days,
    show_default=True,
    help="Delete raw data older than this many days (by the event's or payload's ts, a call's raised time).",
)
@click.option(
    "--chat-days",
    type=click.FloatRange(min=0, min_open=True),
    default=RetentionSettings().chat_transcript_days,
    show_default=True,
    help="Delete chat transcripts of conversations older than this many days (docs/chat.md); the chat's "
    "KPIs stay.",
)
@click.option("--dry-run", is_flag=True, help="Delete nothing; print what would be deleted.")
def retention(db_url: str, days: float, chat_days: float, dry_run: bool) -> None:
    """Delete raw events, metrics payloads and staff-call records older than --days (storage limitation,
    152-FZ and GDPR); the hourly rollups that counted them stay, so every KPI page keeps its figures.

    `backoffice serve` runs the same deletion on a schedule; this command is for cron or a first clean-up.

    \b
    Example:
      backoffice retention --db sqlite:///backoffice.sqlite --dry-run
      backoffice retention --db postgresql://vitrina@db/vitrina --days 30 --chat-days 7
    """
    db = _open_migrated(db_url)
    try:
        settings = RetentionSettings(raw_days=days, chat_transcript_days=chat_days)
        result = run_retention(db, datetime.now(UTC), settings, dry_run=dry_run)
    finally:
        db.close()
    verb = "would delete" if dry_run else "deleted"
    click.echo(
        f"{verb} {result.events} events, {result.metrics} metrics payloads and {result.staff_calls} "
        f"staff-call records older than {result.cutoff.isoformat(timespec='seconds')} ({days:g} days)"
    )
    if result.chat_cutoff is not None:
        click.echo(
            f"{verb} {result.chat_messages} chat messages of transcripts older than "
            f"{result.chat_cutoff.isoformat(timespec='seconds')} and {result.chat_conversations} chat "
            "conversation records with the raw data"
        )


@main.group("rollups")
def rollups_group() -> None:
    """The hourly rollups the KPI pages read (docs/backoffice-data.md).

    \b
    Example:
      backoffice rollups rebuild --db sqlite:///backoffice.sqlite
    """


@rollups_group.command("rebuild")
@click.option(
    "--db", "db_url", required=True, help="Store: sqlite:///path/backoffice.sqlite or postgresql://..."
)
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]),
    default=None,
    help="Recount only hours from this UTC time on. Default: every hour whose raw events retention has "
    "not deleted (the first whole hour after its latest cut-off), or every hour if it never ran.",
)
def rollups_rebuild(db_url: str, since: datetime | None) -> None:
    """Recount the hourly rollups from the raw events, metrics payloads and staff-call records in the store.

    The ingest keeps the rollups up to date as it stores events, and fills them once when it opens a store
    made before them; run this after restoring raw rows from a backup, or to check the counts. Hours
    older than retention's cut-off are kept as they are (their raw events are gone). The ingest's writes
    wait while it runs.

    \b
    Example:
      backoffice rollups rebuild --db sqlite:///backoffice.sqlite
      backoffice rollups rebuild --db postgresql://vitrina@db/vitrina --since 2026-11-01
    """
    db = _open_migrated(db_url)
    try:
        result = rebuild_rollups(db, since=since.replace(tzinfo=UTC) if since is not None else None)
    finally:
        db.close()
    scope = f"hours from {result.since.isoformat(timespec='minutes')}" if result.since else "every hour"
    skipped = f"; {result.skipped} stored rows that do not validate were left out" if result.skipped else ""
    click.echo(
        f"rebuilt the rollups of {scope} from {result.events} events, {result.metrics} metrics payloads "
        f"and {result.staff_calls} staff calls{skipped}"
    )


# The web application's commands (backoffice/web/cli.py): `backoffice serve` and `backoffice user add`.
from backoffice.web.cli import serve, user  # noqa: E402

main.add_command(serve)
main.add_command(user)

# Campaigns (#18): a device's redemption secret, derived from the fleet's master key.
from backoffice.campaigns.cli import redemption_secret  # noqa: E402

main.add_command(redemption_secret)
