"""``backoffice redemption-secret``: a device's redemption secret, derived from the fleet's master key, for
its configuration (``[redemption] secret``). Registered on the ``backoffice`` group by backoffice/cli.py."""

from __future__ import annotations

import os
from pathlib import Path

import click

from mqtt_bridge.contract.errors import ContractError
from mqtt_bridge.contract.redemption import device_secret


@click.command("redemption-secret")
@click.option("--store", "store_id", required=True, help="The device's store id.")
@click.option("--device", "device_id", required=True, help="The device id.")
@click.option(
    "--master-env",
    default=None,
    help="Environment variable holding the fleet's redemption master key (the back office's "
    "[campaigns] redemption_master_key).",
)
@click.option(
    "--master-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="File holding the master key instead (a trailing newline is ignored).",
)
def redemption_secret(
    store_id: str, device_id: str, master_env: str | None, master_file: Path | None
) -> None:
    """Print a device's redemption secret, derived from the fleet's redemption master key.

    Put the printed text in the device's configuration as its [redemption] secret (through an environment
    variable or a file, never in the TOML itself): the back office's till, holding only the master key,
    then checks every code the device issues. The secret is printed, never logged; the master key is
    never printed.

    \b
    Example:
      export VITRINA_REDEMPTION_MASTER="$(python -c 'import secrets; print(secrets.token_urlsafe(48))')"
      backoffice redemption-secret --store store-12 --device kiosk-3 --master-env VITRINA_REDEMPTION_MASTER \\
        > /etc/vitrina/redemption.secret
    """
    if (master_env is None) == (master_file is None):
        raise click.UsageError("give the master key with exactly one of --master-env or --master-file")
    if master_env is not None:
        value = os.environ.get(master_env)
        if value is None:
            raise click.ClickException(f"environment variable {master_env} is not set; export it first")
    else:
        assert master_file is not None
        value = master_file.read_text(encoding="utf-8").rstrip("\r\n")
    try:
        click.echo(device_secret(value.encode("utf-8"), store_id, device_id))
    except ContractError as exc:
        raise click.ClickException(str(exc)) from exc
