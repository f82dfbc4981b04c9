"""The fleet's ``provision`` commands: ca, broker-config, backoffice, claim, token, serial, device new and
sign, serve, revoke, crl, fleet. Server side: they import nothing of the device side (installs with
``pip install '.[backoffice]'``)."""

from __future__ import annotations

import json
import logging
import secrets
import shlex
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from mqtt_bridge.contract.enrolment import FleetDeviceNotice, enrolment_uri
from mqtt_bridge.contract.identity import IdentityNameError, device_identity_name, parse_identity_name
from mqtt_bridge.errors import MqttBridgeError
from mqtt_bridge.identity import CA_FILE, CERT_FILE, CONFIG_FILE, KEY_FILE, serial_hex, write_bundle
from provisioning import pki
from provisioning.errors import ProvisioningError
from provisioning.fleet.authority import Fleet, FleetSettings
from provisioning.fleet.broker_config import (
    DEFAULT_MAX_QUEUED,
    BrokerOptions,
    broker_pid,
    refresh_brokers,
    reload_broker,
    write_broker_config,
)
from provisioning.fleet.notices import bundle_settings, publish_notice_once
from provisioning.fleet.registry import Role
from provisioning.fleet.revocation import crl_due, refresh_crl, revoke_identity

FLEET_OPTION = click.option(
    "--fleet",
    "fleet_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="The fleet folder (made by `provision ca init`).",
)
RELOAD_OPTION = click.option(
    "--reload-command",
    default="",
    help="Command that makes the broker re-read its ACL and CRL (e.g. 'systemctl reload mosquitto'); "
    "default: SIGHUP to the pid in each broker folder's mosquitto.pid.",
)


ROLES: dict[str, Role] = {"backoffice": "backoffice", "enrolment": "enrolment", "admin": "admin"}


def _now() -> datetime:
    return datetime.now(UTC)


@contextmanager
def _fleet(path: Path) -> Iterator[Fleet]:
    """Open a fleet folder; its errors (and any provisioning error inside) become click errors."""
    try:
        fleet = Fleet.open(path)
    except ProvisioningError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        yield fleet
    except (ProvisioningError, IdentityNameError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        fleet.close()


def _reload_command(text: str) -> list[str] | None:
    return shlex.split(text) if text else None


def _report_brokers(lines: list[str]) -> None:
    if not lines:
        click.echo(
            "no broker folder recorded yet: `provision broker-config` writes one (the ACL takes effect there)"
        )
    for line in lines:
        click.echo(f"broker {line}")


# -- ca -----------------------------------------------------------------------------------------------------


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def ca() -> None:
    """The fleet's certificate authority.

    \b
    Example:
      provision ca init --dir /srv/vitrina/fleet --name acme --broker-url mqtts://broker.acme.example:8883
    """


BACKUP_TEXT = """\
BACK UP NOW, offline (an encrypted USB key in a safe, not the same disk):
  {root}/ca/ca.key              the fleet's CA: without it no device can be enrolled, renewed or revoked;
                                anyone holding it can impersonate the broker and any device
  {root}/signing/commands.pem   signs commands and catalogues: anyone holding it commands every kiosk
  {root}/registry.sqlite        which certificates exist and which are revoked (back it up daily:
                                sqlite3 {root}/registry.sqlite ".backup /backup/registry.sqlite")
Keys are never overwritten; to rotate one, see docs/provisioning.md (Rotation)."""


@ca.command("init")
@click.option(
    "--dir", "root", type=click.Path(file_okay=False, path_type=Path), required=True, help="New fleet folder."
)
@click.option(
    "--name", default="vitrina", show_default=True, help="The fleet's name (letters, digits, . _ -)."
)
@click.option(
    "--broker-url",
    required=True,
    help="The broker as devices reach it: mqtts://host:port (written into every device's config).",
)
@click.option(
    "--host",
    "hosts",
    multiple=True,
    help="More names or addresses for the broker's certificate (its URL's host, localhost and 127.0.0.1 "
    "are always in it). Repeat for several.",
)
@click.option(
    "--ca-days", default=3650, show_default=True, type=click.IntRange(1, 36500), help="CA validity."
)
@click.option(
    "--device-days",
    default=365,
    show_default=True,
    type=click.IntRange(1, 3650),
    help="Device cert validity.",
)
@click.option(
    "--crl-days", default=7.0, show_default=True, type=click.FloatRange(0.01, 90), help="CRL validity."
)
@click.option("--prefix", default="vitrina/v1", show_default=True, help="Topic prefix of the fleet.")
def ca_init(
    *,
    root: Path,
    name: str,
    broker_url: str,
    hosts: tuple[str, ...],
    ca_days: int,
    device_days: int,
    crl_days: float,
    prefix: str,
) -> None:
    """Make a fleet: CA, broker certificate, back-office identities, command-signing key, claim identity.

    Writes FLEET/ (0700): ca/, broker/, backoffice/ (the back office's client identity bundle), enrolment/
    (for `provision serve`), admin/ (revocation notices), claim/ (the identity every new device boots
    with), signing/commands.pem (Ed25519, the `backoffice keygen` format: `backoffice send-command --key
    FLEET/signing/commands.pem`), registry.sqlite and crl.pem. Private keys are 0600 and never overwritten.

    \b
    Example:
      provision ca init --dir /srv/vitrina/fleet --name acme --broker-url mqtts://broker.acme.example:8883
    """
    from urllib.parse import urlsplit

    host = urlsplit(broker_url).hostname or ""
    all_hosts = list(dict.fromkeys([host, "localhost", "127.0.0.1", *hosts]))
    try:
        settings = FleetSettings(
            name=name,
            broker_url=broker_url,
            broker_hosts=[h for h in all_hosts if h],
            topic_prefix=prefix,
            device_days=device_days,
            crl_days=crl_days,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc).splitlines()[-1].strip(), param_hint="--name/--broker-url") from exc
    try:
        fleet = Fleet.init(root, settings, _now(), ca_days)
    except ProvisioningError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        _, ca_cert = fleet.ca()
        click.echo(f"fleet {name} in {root}")
        click.echo(
            f"  CA               {pki.common_name(ca_cert)} until {ca_cert.not_valid_after_utc:%Y-%m-%d}"
        )
        click.echo(
            f"  broker           {settings.broker_url} (certificate for {', '.join(settings.broker_hosts)})"
        )
        click.echo(f"  back office      {root / 'backoffice'}/ (ca.pem, cert.pem, key.pem)")
        click.echo(f"  enrolment        {root / 'enrolment'}/ (provision serve)")
        click.echo(
            f"  claim identity   {root / 'claim'}/ (copy into each device image: provision claim bundle)"
        )
        click.echo(f"  command signing  {fleet.signing_key_path} (public: {fleet.signing_public_keys()[0]})")
        click.echo("next: provision broker-config --fleet " + str(root) + " --out /etc/mosquitto/vitrina")
        click.echo("")
        click.echo(BACKUP_TEXT.format(root=root))
    finally:
        fleet.close()


# -- broker-config ------------------------------------------------------------------------------------------


@click.command("broker-config")
@FLEET_OPTION
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for the broker's files.",
)
@click.option("--port", type=click.IntRange(1, 65535), help="Listener port (default: the fleet URL's port).")
@click.option("--bind", help="Address to listen on (default: every address).")
@click.option(
    "--user", default="mosquitto", show_default=True, help="User Mosquitto drops to when started as root."
)
@click.option(
    "--max-queued",
    default=DEFAULT_MAX_QUEUED,
    show_default=True,
    type=click.IntRange(1000),
    help="Messages queued for a client that is away (the ingest during an outage): fleet messages a "
    "second x the ingest's session expiry (docs/provisioning.md).",
)
@click.option(
    "--reload/--no-reload", default=True, show_default=True, help="SIGHUP a running broker of this folder."
)
def broker_config(
    *,
    fleet_dir: Path,
    out: Path,
    port: int | None,
    bind: str | None,
    user: str,
    max_queued: int,
    reload: bool,
) -> None:
    """Write Mosquitto's config, ACL and CRL for the fleet: `mosquitto -c OUT/mosquitto.conf` runs it as is.

    TLS with client certificates required; the certificate's name is the user name and the client id; a
    CRL; one ACL block per identity in the registry (docs/provisioning.md says why). Run it again after a
    change: a new ACL and CRL take effect on a SIGHUP (sent here when the broker runs), nobody dropped; a
    changed mosquitto.conf (port, limits) needs a restart, and the command says so.

    \b
    Example:
      provision broker-config --fleet /srv/vitrina/fleet --out /etc/mosquitto/vitrina --port 8883
      mosquitto -c /etc/mosquitto/vitrina/mosquitto.conf
    """
    with _fleet(fleet_dir) as fleet:
        options = BrokerOptions(port=port or fleet.broker_port, bind=bind, user=user, max_queued=max_queued)
        written = write_broker_config(fleet, out, options, _now())
        click.echo(f"wrote {out}/mosquitto.conf, acl, crl.pem, ca.pem, server.pem, server.key")
        pid = broker_pid(out)
        if written.first_time or pid is None:
            click.echo(f"start it: mosquitto -c {out.resolve()}/mosquitto.conf")
        elif written.conf_changed:
            click.echo(
                "mosquitto.conf changed (listener or limits): RESTART the broker (systemctl restart "
                "mosquitto); "
                "a SIGHUP does not apply these (measured on Mosquitto 2.0.11)"
            )
        elif reload:
            click.echo(reload_broker(out) + ": the new ACL and CRL apply now, nobody dropped")


# -- back-office processes ----------------------------------------------------------------------------------


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def backoffice() -> None:
    """Certificates of back-office processes: one per process (two on one certificate kick each other off).

    \b
    Example:
      provision backoffice new --fleet /srv/vitrina/fleet --name ingest-1
    """


@backoffice.command("new")
@FLEET_OPTION
@click.option("--name", required=True, help="The process's name: ingest-1, web, ... (cert: backoffice-NAME).")
@click.option(
    "--role",
    type=click.Choice(sorted(ROLES)),
    default="backoffice",
    show_default=True,
    help="backoffice: read telemetry, send commands and catalogues; enrolment: `provision serve`; admin: "
    "fleet notices.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Bundle folder (default FLEET/processes/NAME).",
)
@click.option(
    "--signing-key",
    is_flag=True,
    help="Also copy the fleet's command-signing key into the bundle (commands.pem, 0600), for a process "
    "that signs: the web app (staff_ack), send-command, publish-catalogue. Not for an ingest.",
)
@RELOAD_OPTION
def backoffice_new(
    *, fleet_dir: Path, name: str, role: str, out: Path | None, signing_key: bool, reload_command: str
) -> None:
    """Issue a back-office process its own identity bundle (ca.pem, cert.pem, key.pem) and reload the ACL.

    The process connects with it by `--identity DIR` (backoffice ingest, serve, send-command,
    publish-catalogue). Give it to the process's user (chown -R) and keep it 0700.

    \b
    Example:
      provision backoffice new --fleet /srv/vitrina/fleet --name ingest-2
      provision backoffice new --fleet /srv/vitrina/fleet --name web --signing-key
    """
    if signing_key and role != "backoffice":
        raise click.BadParameter("only a backoffice process signs commands", param_hint="--signing-key")
    with _fleet(fleet_dir) as fleet:
        target = out or fleet.process_dir(name)
        cert = fleet.new_backoffice_bundle(name, ROLES[role], _now(), target)
        click.echo(f"{pki.common_name(cert)} ({role}) in {target}/ until {cert.not_valid_after_utc:%Y-%m-%d}")
        if signing_key:
            click.echo(f"the command-signing key in {fleet.add_signing_key(target)} (0600)")
        _report_brokers(refresh_brokers(fleet, _now(), _reload_command(reload_command)))


# -- claim identity -----------------------------------------------------------------------------------------


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def claim() -> None:
    """The shared claim identity new devices boot with: it may only ask the enrolment service to enrol.

    \b
    Example:
      provision claim bundle --fleet /srv/vitrina/fleet --out image/var/lib/vitrina/identity/claim
    """


@claim.command("bundle")
@FLEET_OPTION
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Where to copy it."
)
def claim_bundle(*, fleet_dir: Path, out: Path) -> None:
    """Copy the claim identity's bundle (ca.pem, cert.pem, key.pem, config.toml) for a device image.

    Put it in the image at IDENTITY/claim/ (/var/lib/vitrina/identity/claim); `provision enrol` uses it
    and removes it after the device first connected as itself.

    \b
    Example:
      provision claim bundle --fleet /srv/vitrina/fleet --out /mnt/sdcard/var/lib/vitrina/identity/claim
    """
    with _fleet(fleet_dir) as fleet:
        if out.exists() and any(out.iterdir()):
            raise click.ClickException(f"{out} is not empty; give an empty or new folder")
        files = {
            name: (fleet.claim_dir / name).read_bytes()
            for name in (CA_FILE, CERT_FILE, KEY_FILE, CONFIG_FILE)
        }
        write_bundle(out, files)
        click.echo(f"claim identity written to {out}/ (key.pem 0600)")


# -- tokens and serials -------------------------------------------------------------------------------------


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def token() -> None:
    """Single-use enrolment tokens, bound to one device, that expire; shown as text and as a QR code.

    \b
    Example:
      provision token new --fleet /srv/vitrina/fleet --store s1 --device k1 --qr k1.png
    """


def _parse_ttl(text: str) -> timedelta:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        if text[-1] in units:
            return timedelta(seconds=float(text[:-1]) * units[text[-1]])
        return timedelta(seconds=float(text))
    except (ValueError, IndexError):
        raise click.BadParameter(f"{text!r}: use seconds or a number with s, m, h or d (e.g. 2h)") from None


@token.command("new")
@FLEET_OPTION
@click.option("--store", "store_id", required=True, help="The device's store.")
@click.option("--device", "device_id", required=True, help="The device's id.")
@click.option("--ttl", default="24h", show_default=True, help="How long it may be used: 30m, 2h, 1d.")
@click.option(
    "--qr", "qr_path", type=click.Path(dir_okay=False, path_type=Path), help="Write its QR code (PNG or SVG)."
)
@click.option("--terminal", is_flag=True, help="Also draw the QR code in this terminal.")
def token_new(
    *, fleet_dir: Path, store_id: str, device_id: str, ttl: str, qr_path: Path | None, terminal: bool
) -> None:
    """Make an enrolment token for one device: single use, expiring; print it and its QR code.

    The QR code holds `vitrina-enrol:STORE/DEVICE/TOKEN`; `provision enrol --code` takes that text (from a
    phone or the kiosk's camera), or `--token` with `--store` and `--device`.

    \b
    Example:
      provision token new --fleet /srv/vitrina/fleet --store s1 --device k1 --ttl 2h --qr k1.png
    """
    lifetime = _parse_ttl(ttl)
    with _fleet(fleet_dir) as fleet:
        device_identity_name(store_id, device_id)
        identity = fleet.registry.identity(device_identity_name(store_id, device_id))
        if identity is not None and identity.state == "revoked":
            raise click.ClickException(f"{identity.name} was revoked; a revoked name is never issued again")
        value = secrets.token_urlsafe(24)
        now = _now()
        fleet.registry.add_token(value, store_id, device_id, now, now + lifetime)
        uri = enrolment_uri(store_id, device_id, value)
        click.echo(f"token   {value}")
        click.echo(f"code    {uri}")
        click.echo(
            f"expires {now + lifetime:%Y-%m-%d %H:%M} UTC; single use; for {store_id}/{device_id} only"
        )
        if qr_path is not None or terminal:
            import segno

            qr = segno.make(uri, error="m")
            if qr_path is not None:
                qr.save(str(qr_path), scale=8, border=4)
                click.echo(f"QR code written to {qr_path}")
            if terminal:
                qr.terminal(compact=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def serial() -> None:
    """Allow-list hardware serials: a device whose serial is listed enrols with no token (zero-touch).

    A serial is not a secret (it is printed on the board): use it where the claim identity itself is kept
    from strangers, e.g. devices imaged in your own workshop.

    \b
    Example:
      provision serial allow --fleet /srv/vitrina/fleet --serial 10000000abcdef01 --store s1 --device k1
    """


@serial.command("allow")
@FLEET_OPTION
@click.option(
    "--serial", "hardware_serial", required=True, help="The board's serial (e.g. /proc/cpuinfo Serial)."
)
@click.option("--store", "store_id", required=True, help="The store it goes to.")
@click.option("--device", "device_id", required=True, help="The device id it becomes.")
def serial_allow(*, fleet_dir: Path, hardware_serial: str, store_id: str, device_id: str) -> None:
    """Allow one hardware serial to enrol, once, as one device.

    \b
    Example:
      provision serial allow --fleet /srv/vitrina/fleet --serial 10000000abcdef01 --store s1 --device k1
    """
    with _fleet(fleet_dir) as fleet:
        device_identity_name(store_id, device_id)
        fleet.registry.allow_serial(hardware_serial, store_id, device_id, _now())
        click.echo(f"serial {hardware_serial} may enrol once as {store_id}/{device_id}")


# -- device bundles made at the fleet -----------------------------------------------------------------------


def _write_device_bundle(
    fleet: Fleet, out: Path, cert_pem: bytes, *, store_id: str, device_id: str, key_pem: bytes | None
) -> None:
    cert = pki.load_certificate(cert_pem)
    config = fleet.device_config(cert, store_id, device_id, _now())
    files = {CA_FILE: fleet.ca_pem, CERT_FILE: cert_pem, CONFIG_FILE: config.to_toml().encode("utf-8")}
    if key_pem is not None:
        files[KEY_FILE] = key_pem
    write_bundle(out, files)


@click.command("new")
@FLEET_OPTION
@click.option("--store", "store_id", required=True, help="The device's store.")
@click.option("--device", "device_id", required=True, help="The device's id.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Bundle folder.")
@RELOAD_OPTION
def device_new(*, fleet_dir: Path, store_id: str, device_id: str, out: Path, reload_command: str) -> None:
    """Make a device's key and certificate here (a workshop with no network path): a complete bundle.

    The key exists only in OUT/key.pem (0600): carry the bundle to the device and `provision apply` it,
    then delete it here. Prefer the CSR path (device init / device sign) or enrolment by claim, where the
    key never leaves the device.

    \b
    Example:
      provision device new --fleet /srv/vitrina/fleet --store s1 --device k1 --out k1-bundle
      provision apply k1-bundle    # on the device
    """
    if out.exists() and any(out.iterdir()):
        raise click.ClickException(f"{out} is not empty; give an empty or new folder")
    with _fleet(fleet_dir) as fleet:
        name = device_identity_name(store_id, device_id)
        key = pki.new_private_key()
        cert = fleet.issue(
            name, "device", key.public_key(), _now(), via="new", store_id=store_id, device_id=device_id
        )
        _write_device_bundle(
            fleet,
            out,
            pki.cert_pem(cert),
            store_id=store_id,
            device_id=device_id,
            key_pem=pki.private_key_pem(key),
        )
        click.echo(
            f"bundle for {store_id}/{device_id} in {out}/ (certificate {serial_hex(cert)}, "
            f"until {cert.not_valid_after_utc:%Y-%m-%d}); its key.pem is shown once: apply it, then delete it"
        )
        _report_brokers(refresh_brokers(fleet, _now(), _reload_command(reload_command)))


@click.command("sign")
@FLEET_OPTION
@click.option(
    "--csr",
    "csr_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    required=True,
    help="The CSR `provision device init` wrote on the device.",
)
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Bundle folder (no key)."
)
@RELOAD_OPTION
def device_sign(*, fleet_dir: Path, csr_path: Path, out: Path, reload_command: str) -> None:
    """Sign a device's CSR: a bundle of ca.pem, cert.pem and config.toml (the key stays on the device).

    The CSR's common name must be 'store.device' (`provision device init --store S --device D` makes it so).

    \b
    Example:
      provision device sign --fleet /srv/vitrina/fleet --csr k1.csr --out k1-bundle
      provision apply k1-bundle    # on the device that made k1.csr
    """
    if out.exists() and any(out.iterdir()):
        raise click.ClickException(f"{out} is not empty; give an empty or new folder")
    with _fleet(fleet_dir) as fleet:
        csr = pki.load_csr(csr_path.read_bytes())
        role, store_id, device_id = parse_identity_name(pki.csr_common_name(csr))
        if role != "device":
            raise click.ClickException(
                "the CSR does not name a device ('store.device'): make it with provision device init"
            )
        cert = fleet.issue(
            pki.csr_common_name(csr),
            "device",
            pki.csr_public_key(csr),
            _now(),
            via="csr",
            store_id=store_id,
            device_id=device_id,
        )
        _write_device_bundle(
            fleet, out, pki.cert_pem(cert), store_id=store_id, device_id=device_id, key_pem=None
        )
        click.echo(
            f"bundle for {store_id}/{device_id} in {out}/ (certificate {serial_hex(cert)}); apply it "
            "on the device"
        )
        _report_brokers(refresh_brokers(fleet, _now(), _reload_command(reload_command)))


# -- serve --------------------------------------------------------------------------------------------------


@click.command()
@FLEET_OPTION
@click.option("--broker", help="Broker URL the service connects to (default: the fleet's broker URL).")
@click.option(
    "--identity",
    "identity_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="The service's own bundle (default FLEET/enrolment, role enrolment).",
)
@RELOAD_OPTION
@click.option(
    "--renew-min-interval",
    "renew_min_s",
    default=3600.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds after a device's last certificate before it may have one for another key.",
)
@click.option(
    "--log-level", default="INFO", show_default=True, type=click.Choice(["DEBUG", "INFO", "WARNING"])
)
def serve(
    *,
    fleet_dir: Path,
    broker: str | None,
    identity_dir: Path | None,
    reload_command: str,
    renew_min_s: float,
    log_level: str,
) -> None:
    """Run the enrolment and renewal service on the fleet's broker until Ctrl-C or SIGTERM.

    Answers claims (a CSR with a single-use token or an allow-listed serial) and renewals (a CSR over the
    device's own identity); every refusal is logged with its reason and sent to the device. Each enrolment
    rewrites the brokers' ACL and reloads them before the reply leaves. Run it where it can signal the
    broker (as root, as the broker's user, or with --reload-command).

    \b
    Example:
      provision serve --fleet /srv/vitrina/fleet --broker mqtts://127.0.0.1:8883
    """
    from provisioning.fleet.service import EnrolmentService

    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with _fleet(fleet_dir) as fleet:
        bundle = identity_dir or fleet.bundle_dir("enrolment")
        settings = bundle_settings(broker or fleet.settings.broker_url, bundle, fleet.settings.topic_prefix)
        folders = fleet.registry.broker_configs()
        if not folders and not reload_command:
            logging.getLogger(__name__).warning(
                "no broker folder is recorded (provision broker-config): devices enrolled now cannot publish "
                "until their ACL reaches the broker"
            )
        service = EnrolmentService(
            fleet,
            settings,
            clock=_now,
            reload_command=_reload_command(reload_command),
            renew_min_interval=timedelta(seconds=renew_min_s),
        )
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            service.start()
        except MqttBridgeError as exc:
            service.stop()
            raise click.ClickException(str(exc)) from exc
        click.echo(
            f"enrolment service for fleet {fleet.settings.name} on {settings.host}:{settings.port}; "
            "Ctrl-C to stop",
            err=True,
        )
        try:
            service.run(stop)
        except KeyboardInterrupt:
            stop.set()
        finally:
            service.stop()
            c = service.counters
            click.echo(
                f"stopped: {c.issued} enrolled, {c.reissued} re-sent, {c.renewed} renewed, {c.times} time "
                f"replies, refused {c.refused}",
                err=True,
            )


# -- revoke and the CRL -------------------------------------------------------------------------------------


def _identity_name(store_id: str | None, device: str) -> tuple[str, str, str]:
    """``(name, store, device)``: a device by --store and --device, or any identity's name in --device
    (STORE.DEVICE, vitrina-claim, backoffice-NAME); store and device are '' for a non-device."""
    if store_id is not None:
        return device_identity_name(store_id, device), store_id, device
    try:
        parse_identity_name(device)
    except IdentityNameError as exc:
        raise click.BadParameter(f"{exc}; or give --store", param_hint="--device") from exc
    _, store, dev = parse_identity_name(device)
    return device, store, dev


@click.command()
@FLEET_OPTION
@click.option("--store", "store_id", help="The device's store (or give --device as STORE.DEVICE).")
@click.option(
    "--device",
    required=True,
    help="The device's id (with --store), or STORE.DEVICE; or another identity's name: vitrina-claim (the "
    "claim identity), backoffice-NAME (a back-office process).",
)
@click.option(
    "--reason", default="revoked by the fleet operator", show_default=True, help="Why (logged, told)."
)
@RELOAD_OPTION
@click.option("--broker", help="Broker URL for the back office's notice (default: the fleet's broker URL).")
@click.option(
    "--notify/--no-notify", default=True, show_default=True, help="Tell the back office (fleet topic)."
)
def revoke(
    *,
    fleet_dir: Path,
    store_id: str | None,
    device: str,
    reason: str,
    reload_command: str,
    broker: str | None,
    notify: bool,
) -> None:
    """Revoke a device: its certificates in the CRL, `topic deny #` in the ACL, the broker reloaded.

    From then on the device cannot connect, and a session it still has open receives nothing and may
    publish nothing (Mosquitto keeps the session open; the ACL shuts it). The back office is told by a
    retained notice on vitrina/v1/_fleet/devices/STORE/DEVICE. A revoked name is never issued again.
    The claim identity (vitrina-claim) and back-office processes are revoked the same way.

    \b
    Example:
      provision revoke --fleet /srv/vitrina/fleet --device s1.k1 --reason "stolen"
      provision revoke --fleet /srv/vitrina/fleet --device vitrina-claim --reason "image leaked"
    """
    name, store, dev = _identity_name(store_id, device)
    with _fleet(fleet_dir) as fleet:
        now = _now()
        done = revoke_identity(
            fleet, name, now, reason=reason, reload_command=_reload_command(reload_command)
        )
        click.echo(
            f"revoked {done.name}: {len(done.serials)} certificate(s) in the CRL (valid until "
            f"{done.crl_next_update:%Y-%m-%d %H:%M} UTC)"
        )
        _report_brokers(done.brokers)
        if notify and store:
            settings = bundle_settings(
                broker or fleet.settings.broker_url, fleet.bundle_dir("admin"), fleet.settings.topic_prefix
            )
            certs = fleet.registry.certificates(done.name)
            notice = FleetDeviceNotice(
                store_id=store,
                device_id=dev,
                state="revoked",
                event="revoked",
                certificate_serial=certs[-1].serial if certs else None,
                reason=reason[:300],
                ts=now,
            )
            click.echo(publish_notice_once(settings, notice))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def crl() -> None:
    """The fleet's CRL: re-sign it before its nextUpdate, or the broker refuses every device.

    \b
    Example:
      provision crl refresh --fleet /srv/vitrina/fleet     # daily, from a timer
    """


@crl.command("refresh")
@FLEET_OPTION
@click.option(
    "--if-within",
    "within_days",
    type=click.FloatRange(min=0),
    help="Only when the CRL's nextUpdate is this many days away or less (default: always re-sign).",
)
@RELOAD_OPTION
def crl_refresh(*, fleet_dir: Path, within_days: float | None, reload_command: str) -> None:
    """Re-sign the CRL (checked before it replaces the good one), copy it to every broker folder, reload.

    \b
    Example:
      provision crl refresh --fleet /srv/vitrina/fleet
      provision crl refresh --fleet /srv/vitrina/fleet --if-within 3
    """
    with _fleet(fleet_dir) as fleet:
        now = _now()
        if within_days is not None and not crl_due(fleet, now, timedelta(days=within_days)):
            click.echo(f"the CRL is valid for more than {within_days} days; nothing to do")
            return
        next_update = refresh_crl(fleet, now)
        click.echo(f"CRL re-signed, valid until {next_update:%Y-%m-%d %H:%M} UTC")
        _report_brokers(refresh_brokers(fleet, now, _reload_command(reload_command)))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def fleet() -> None:
    """The fleet's registry.

    \b
    Example:
      provision fleet list --fleet /srv/vitrina/fleet
    """


@fleet.command("list")
@FLEET_OPTION
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
def fleet_list(*, fleet_dir: Path, as_json: bool) -> None:
    """Every identity: name, role, store, device, state, hardware serial, newest certificate's expiry.

    \b
    Example:
      provision fleet list --fleet /srv/vitrina/fleet
    """
    with _fleet(fleet_dir) as opened:
        for identity in opened.registry.identities():
            certs = opened.registry.certificates(identity.name)
            row = {
                "name": identity.name,
                "role": identity.role,
                "store_id": identity.store_id,
                "device_id": identity.device_id,
                "state": identity.state,
                "hardware_serial": identity.hardware_serial,
                "certificates": len(certs),
                "expires": certs[-1].not_after[:10] if certs else None,
                "revoked_at": identity.revoked_at,
            }
            if as_json:
                click.echo(json.dumps(row))
            else:
                click.echo(
                    f"{identity.name:32} {identity.role:10} {identity.state:8} expires {row['expires']}"
                )
