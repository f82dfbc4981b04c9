"""``provision renew``: renew this device's certificate over its own identity, on a connection of its own
(the kiosk renews by itself when running; stop it first, or a second connection under the same certificate
takes its session over). The client is :mod:`cloud_sync.renewal`."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import click

from cloud_sync.renewal import RENEW_WITHIN_DAYS, RenewalError, renew_once
from mqtt_bridge.identity import IdentityError, IdentityFolder, default_identity_dir


def _now() -> datetime:
    return datetime.now(UTC)


@click.command()
@click.option(
    "--identity",
    "identity_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="The identity folder (default $VITRINA_IDENTITY_DIR or /var/lib/vitrina/identity).",
)
@click.option(
    "--if-within",
    "within_days",
    type=click.FloatRange(min=0),
    help=f"Only when fewer than this many days are left (the kiosk uses {RENEW_WITHIN_DAYS:.0f}).",
)
@click.option(
    "--timeout", "timeout_s", default=30.0, show_default=True, help="Seconds to wait for the reply."
)
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as one JSON object.")
def renew(*, identity_dir: Path | None, within_days: float | None, timeout_s: float, as_json: bool) -> None:
    """On the device: renew its certificate over its own identity (a new key; the old one until then).

    Exit 0 when renewed (or not due with --if-within), 1 when it failed, 2 when the fleet refused.

    \b
    Example:
      provision renew
      provision renew --if-within 30 --json
    """
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    folder = IdentityFolder(identity_dir or default_identity_dir())
    now = _now()
    try:
        days = folder.load(now).days_left(now)
    except IdentityError as exc:
        raise click.ClickException(f"no identity to renew: {exc}") from exc
    if within_days is not None and days >= within_days:
        message = {"ok": True, "renewed": False, "days_left": round(days, 1)}
        click.echo(
            json.dumps(message) if as_json else f"{days:.0f} days left: not due (--if-within {within_days})"
        )
        return
    try:
        outcome = renew_once(folder, _now, timeout_s)
    except RenewalError as exc:
        raise click.ClickException(str(exc)) from exc
    if outcome.status != "renewed" or outcome.identity is None:
        text = f"renewal {outcome.status} ({outcome.reason_code or '-'}): {outcome.reason}"
        click.echo(
            json.dumps({"ok": False, "status": outcome.status, "reason": outcome.reason}) if as_json else text
        )
        raise SystemExit(2 if outcome.status == "refused" else 1)
    identity = outcome.identity
    result = {
        "ok": True,
        "renewed": True,
        "name": identity.name,
        "expires_at": identity.expires_at.isoformat(),
        "days_left": round(identity.days_left(_now()), 1),
    }
    click.echo(
        json.dumps(result) if as_json else f"renewed {identity.name} until {identity.expires_at:%Y-%m-%d}"
    )
