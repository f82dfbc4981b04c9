"""The device's identity commands: ``device init`` (a key and a CSR), ``apply`` (install a bundle, all or
nothing), ``show`` (what this device is, no secrets) and ``enrol`` (zero-touch, by claim). They stand on
``mqtt_bridge`` only, so they run on a device and on a workshop laptop alike."""

from __future__ import annotations

import json
import logging
import shutil
from datetime import UTC, datetime
from pathlib import Path

import click

from mqtt_bridge.contract.enrolment import parse_enrolment_uri
from mqtt_bridge.contract.identity import IdentityNameError, device_identity_name
from mqtt_bridge.identity import (
    CLAIM,
    KEY_FILE,
    IdentityError,
    IdentityFolder,
    VerifiedIdentity,
    common_name,
    default_identity_dir,
    fingerprint,
    make_csr,
    private_key_pem,
    read_bundle_files,
    serial_hex,
    write_file_atomically,
)
from provisioning import pki
from provisioning.errors import EnrolmentRefusedError, ProvisioningError

#: The key ``device init`` made, kept in the identity folder until ``apply`` installs its certificate.
CSR_KEY = ".csr-key.pem"

IDENTITY_OPTION = click.option(
    "--identity",
    "identity_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The identity folder (default $VITRINA_IDENTITY_DIR or /var/lib/vitrina/identity).",
)


def _now() -> datetime:
    return datetime.now(UTC)


def _folder(path: Path | None) -> IdentityFolder:
    return IdentityFolder(path or default_identity_dir())


@click.command("init")
@click.option("--store", "store_id", required=True, help="The store this device goes to.")
@click.option("--device", "device_id", required=True, help="This device's id.")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Where to write the CSR."
)
@IDENTITY_OPTION
def device_init(*, store_id: str, device_id: str, out: Path, identity_dir: Path | None) -> None:
    """On the device: make its private key (it never leaves the device) and write a CSR for the fleet.

    The key waits in the identity folder (0600) until `provision apply` installs the certificate the fleet
    signed (`provision device sign --csr`). Run again, it writes a CSR for the same key.

    \b
    Example:
      provision device init --store s1 --device k1 --out k1.csr
      # at the fleet: provision device sign --fleet FLEET --csr k1.csr --out k1-bundle
      provision apply k1-bundle
    """
    folder = _folder(identity_dir)
    try:
        name = device_identity_name(store_id, device_id)
    except IdentityNameError as exc:
        raise click.BadParameter(str(exc), param_hint="--store/--device") from exc
    path = folder.root / CSR_KEY
    try:
        folder.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        if path.exists():
            key = pki.load_private_key(path.read_bytes())
        else:
            key = pki.new_private_key()
            write_file_atomically(path, private_key_pem(key), 0o600)
        write_file_atomically(out, make_csr(key, name), 0o644)
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot make the key or CSR: {exc}") from exc
    click.echo(f"CSR for {name} written to {out}; the key stays in {path} (0600)")


def _describe(identity: VerifiedIdentity, now: datetime) -> dict[str, object]:
    config = identity.config
    return {
        "name": identity.name,
        "role": config.role if config else "backoffice",
        "fleet": config.fleet if config else None,
        "store_id": config.store_id if config else None,
        "device_id": config.device_id if config else None,
        "broker_url": config.broker_url if config else None,
        "topic_prefix": config.topic_prefix if config else None,
        "backoffice_public_keys": len(config.backoffice_public_keys) if config else 0,
        "certificate_serial": serial_hex(identity.certificate),
        "not_before": identity.certificate.not_valid_before_utc.isoformat(),
        "expires_at": identity.expires_at.isoformat(),
        "days_left": round(identity.days_left(now), 1),
        "ca": common_name(identity.ca),
        "ca_fingerprint": fingerprint(identity.ca),
        "folder": str(identity.folder),
    }


def _print(description: dict[str, object]) -> None:
    for key, value in description.items():
        click.echo(f"{key:24} {value}")


@click.command()
@click.argument("bundle", type=click.Path(file_okay=False, exists=True, path_type=Path))
@IDENTITY_OPTION
@click.option(
    "--new-fleet",
    is_flag=True,
    help="Accept a bundle of another fleet's CA than the one this device trusts (after a decommission).",
)
def apply(*, bundle: Path, identity_dir: Path | None, new_fleet: bool) -> None:
    """On the device: verify an identity bundle and install it as the device's identity, all or nothing.

    Checks the certificate against the bundle's CA (and that CA against the one the device already trusts),
    the key (0600) against the certificate, the fleet's signature on config.toml and its expiry; then
    writes a new folder and switches `current` to it in one rename. A bundle without key.pem (from `device
    sign`) takes the key `device init` made here.

    \b
    Example:
      provision apply k1-bundle
    """
    folder = _folder(identity_dir)
    now = _now()
    files = read_bundle_files(bundle)
    csr_key = folder.root / CSR_KEY
    if KEY_FILE not in files:
        if not csr_key.exists():
            raise click.ClickException(
                f"{bundle} has no key.pem and this device made no CSR key ({csr_key}): run "
                "`provision device init` here first, or apply the bundle of `provision device new`"
            )
        files[KEY_FILE] = csr_key.read_bytes()
    try:
        identity = folder.install(files, now, allow_new_ca=new_fleet)
    except IdentityError as exc:
        raise click.ClickException(
            f"not applied ({exc.problem}): {exc}; the identity in use is unchanged"
        ) from exc
    csr_key.unlink(missing_ok=True)
    click.echo(f"applied: this device is {identity.name}")
    _print(_describe(identity, now))


@click.command()
@IDENTITY_OPTION
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def show(*, identity_dir: Path | None, as_json: bool) -> None:
    """On the device: what it is (store, device, fleet, broker, certificate and its expiry); never a key.

    Exit 1 when no identity is installed or it does not verify (the reason is printed).

    \b
    Example:
      provision show
      provision show --json
    """
    folder = _folder(identity_dir)
    now = _now()
    extra = {
        "claim_identity": folder.claim_dir.is_dir(),
        "pending_enrolment": folder.pending_dir() is not None,
    }
    try:
        identity = folder.load(now)
    except IdentityError as exc:
        if as_json:
            click.echo(json.dumps({"ok": False, "problem": exc.problem, "reason": str(exc), **extra}))
        else:
            click.echo(f"no usable identity ({exc.problem}): {exc}")
        raise SystemExit(1) from None
    description = {"ok": True, **_describe(identity, now), **extra}
    if as_json:
        click.echo(json.dumps(description))
    else:
        _print(description)


def _entitlement(
    code: str | None, token: str | None, store_id: str | None, device_id: str | None, serial: str | None
) -> tuple[str | None, str | None, str | None, str | None]:
    """``(store, device, token, serial)`` from enrol's options, checked; usage errors say what to give."""
    from provisioning.claim import hardware_serial as board_serial

    if code:
        try:
            store_id, device_id, token = parse_enrolment_uri(code)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--code") from exc
    if serial == "auto":
        serial = board_serial()
        if serial is None:
            raise click.ClickException("this board has no serial number to read; enrol with a token")
    if (token is None) == (serial is None):
        raise click.UsageError("give a token (--code, or --token with --store and --device) or --serial")
    if token is not None and not (store_id and device_id):
        raise click.UsageError("--token needs --store and --device (or use --code)")
    return store_id, device_id, token, serial


@click.command()
@IDENTITY_OPTION
@click.option(
    "--claim",
    "claim_source",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="A claim bundle to copy into IDENTITY/claim first (default: the one already there).",
)
@click.option("--code", help="The enrolment code from the QR: vitrina-enrol:STORE/DEVICE/TOKEN.")
@click.option("--token", help="The enrolment token (with --store and --device).")
@click.option("--store", "store_id", help="The store the token is for.")
@click.option("--device", "device_id", help="The device id the token is for.")
@click.option(
    "--serial",
    "hardware_serial",
    help=(
        "Enrol by allow-listed hardware serial instead of a token: the serial, or 'auto' to read the board's."
    ),
)
@click.option(
    "--timeout", "timeout_s", default=60.0, show_default=True, help="Seconds to wait, all steps together."
)
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as one JSON object.")
def enrol(
    *,
    identity_dir: Path | None,
    claim_source: Path | None,
    code: str | None,
    token: str | None,
    store_id: str | None,
    device_id: str | None,
    hardware_serial: str | None,
    timeout_s: float,
    as_json: bool,
) -> None:
    """On the device: enrol by claim. A new key here, a CSR to the fleet's enrolment service with a token
    or the board's serial, the certificate back, a first connection as itself and its birth.

    The claim identity stays until that first connection succeeds; a refusal prints the service's reason
    (and exits 2); run it again after a lost reply: it asks again with the same key.

    \b
    Example:
      provision enrol --code vitrina-enrol:s1/k1/Xy3...        # the text of the QR code
      provision enrol --token Xy3... --store s1 --device k1
      provision enrol --serial auto                            # an allow-listed board
    """
    from provisioning.claim import enrol as run_enrolment

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    store_id, device_id, token, hardware_serial = _entitlement(
        code, token, store_id, device_id, hardware_serial
    )
    folder = _folder(identity_dir)
    if claim_source is not None and not folder.claim_dir.exists():
        folder.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        shutil.copytree(claim_source, folder.root / (CLAIM + ".tmp"), dirs_exist_ok=True)
        (folder.root / (CLAIM + ".tmp")).rename(folder.claim_dir)
    try:
        done = run_enrolment(
            folder,
            store_id=store_id,
            device_id=device_id,
            token=token,
            serial=hardware_serial,
            clock=_now,
            timeout_s=timeout_s,
        )
    except EnrolmentRefusedError as exc:
        if as_json:
            click.echo(json.dumps({"ok": False, "reason_code": exc.code, "reason": str(exc)}))
        else:
            click.echo(str(exc), err=True)
        raise SystemExit(2) from None
    except (ProvisioningError, IdentityError, IdentityNameError) as exc:
        raise click.ClickException(str(exc)) from exc
    outcome = {
        "ok": True,
        **_describe(done.identity, _now()),
        "reply_s": round(done.reply_s, 3),
        "birth_s": round(done.birth_s, 3),
        "total_s": round(done.total_s, 3),
    }
    if as_json:
        click.echo(json.dumps(outcome))
    else:
        click.echo(f"enrolled: this device is {done.identity.name}, birth published in {done.total_s:.1f} s")
        _print(_describe(done.identity, _now()))
