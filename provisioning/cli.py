"""The ``provision`` command: the fleet's authority and store staff's tools to bring a device to life.

Its subcommands live in three places, by the side of the wire that runs them:

- ``provisioning.fleet``: the server side (certificate authority, broker access, enrolment service,
  revocation); installs and runs with ``pip install '.[backoffice]'``, never imports the device side;
- ``provisioning`` itself (``pki``, ``bundle``, ``identity_cli``, ``claim``): pure modules both sides share,
  standing on ``mqtt_bridge`` only (identity bundles, CSRs, the claim client);
- ``provisioning.device``: the device side (self-test, renewal, decommission), which may import the kiosk.

The group loads a subcommand's module only when that subcommand runs (click's lazy-group recipe), and shows
``provision --help`` from the registry below without importing anything, so a server never imports device
code, and a device without the server's extras still lists every command.

To add a command, add one line to :data:`COMMANDS` (or to a nested group's registry): its name, the
``module:attribute`` of its click command, and the one-line help shown in ``provision --help``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import click

from provisioning import __version__


@dataclass(frozen=True)
class LazyCommand:
    """A subcommand known by name: where its click command lives, and its one-line help."""

    target: str  # "package.module:attribute"
    help: str
    #: What to install when the module cannot be imported here (shown instead of a traceback).
    needs: str = ""


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use (click's lazy-loading recipe)."""

    def __init__(self, *args: Any, lazy: dict[str, LazyCommand] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = self.lazy.get(cmd_name)
        if entry is None:
            return super().get_command(ctx, cmd_name)
        module_name, _, attribute = entry.target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            hint = f"; install {entry.needs}" if entry.needs else ""
            raise click.ClickException(
                f"`{ctx.command_path} {cmd_name}` cannot run here: {exc}{hint}"
            ) from exc
        command = getattr(module, attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{entry.target} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from the registry's help lines: ``--help`` imports no subcommand."""
        rows = [(name, self.lazy[name].help) for name in sorted(self.lazy)]
        for name in super().list_commands(ctx):
            command = super().get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(formatter.width)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(sorted(rows))


_KIOSK = "the device's extras: pip install '.[kiosk]'"

#: ``provision device ...``: a device's identity made at the fleet (new, sign) or on the device (init).
DEVICE_COMMANDS: dict[str, LazyCommand] = {
    "new": LazyCommand(
        "provisioning.fleet.commands:device_new", "Make a device's key and certificate here: a bundle."
    ),
    "sign": LazyCommand(
        "provisioning.fleet.commands:device_sign", "Sign a device's CSR: a bundle without the key."
    ),
    "init": LazyCommand(
        "provisioning.identity_cli:device_init", "On the device: make its key and write a CSR."
    ),
}

#: Every top-level subcommand of ``provision``. One line each; the module is imported only when it runs.
COMMANDS: dict[str, LazyCommand] = {
    # The fleet's side (provisioning.fleet): installs with '.[backoffice]'.
    "ca": LazyCommand("provisioning.fleet.commands:ca", "The fleet's certificate authority (ca init)."),
    "broker-config": LazyCommand(
        "provisioning.fleet.commands:broker_config", "Write Mosquitto's config, ACL and CRL for the fleet."
    ),
    "backoffice": LazyCommand(
        "provisioning.fleet.commands:backoffice", "Certificates of back-office processes (backoffice new)."
    ),
    "claim": LazyCommand(
        "provisioning.fleet.commands:claim", "The shared claim identity for devices' images (claim bundle)."
    ),
    "token": LazyCommand(
        "provisioning.fleet.commands:token", "Single-use enrolment tokens and their QR codes (token new)."
    ),
    "serial": LazyCommand(
        "provisioning.fleet.commands:serial", "Allow-list hardware serials for zero-touch enrolment."
    ),
    "serve": LazyCommand(
        "provisioning.fleet.commands:serve", "The enrolment and renewal service on the fleet's broker."
    ),
    "revoke": LazyCommand(
        "provisioning.fleet.commands:revoke", "Revoke a device: CRL and ACL updated, the broker reloaded."
    ),
    "crl": LazyCommand(
        "provisioning.fleet.commands:crl", "Re-sign the CRL before its nextUpdate (crl refresh, a timer)."
    ),
    "fleet": LazyCommand(
        "provisioning.fleet.commands:fleet", "List the fleet's registry: devices, stores, states."
    ),
    # Both sides: an identity bundle, on the device (``provision device ...`` is the nested group below).
    "apply": LazyCommand(
        "provisioning.identity_cli:apply", "On the device: verify a bundle and install it, all or nothing."
    ),
    "show": LazyCommand(
        "provisioning.identity_cli:show", "On the device: what it is (store, device, expiry), no secrets."
    ),
    "enrol": LazyCommand(
        "provisioning.identity_cli:enrol", "On the device: enrol by claim (token or serial), zero-touch."
    ),
    # The device's side (provisioning.device): may import the kiosk.
    "renew": LazyCommand(
        "provisioning.device.renew:renew",
        "On the device: renew its certificate over its own identity.",
        _KIOSK,
    ),
    "check": LazyCommand("provisioning.device.cli:check", "On the device: the self-test, a table.", _KIOSK),
    "decommission": LazyCommand("provisioning.device.cli:decommission", "On the device: wipe it.", _KIOSK),
}


@click.group(
    cls=LazyGroup,
    lazy=DEVICE_COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
def device() -> None:
    """A device's identity bundle: made at the fleet (new, sign) or from a key made on the device (init).

    \b
    Example:
      provision device new --fleet /srv/vitrina/fleet --store s1 --device k1 --out k1-bundle
      provision device init --store s1 --device k1 --out k1.csr   # on the device
      provision device sign --fleet /srv/vitrina/fleet --csr k1.csr --out k1-bundle
    """


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="provision")
def main() -> None:
    """Vitrina provisioning: the fleet's authority, broker access, enrolment, renewal and revocation.

    A fleet operator runs `ca init`, `broker-config`, `serve`; store staff run `enrol` (or `apply` a bundle)
    on the device. docs/provisioning.md explains the roles and the flow.

    \b
    Example:
      provision ca init --dir /srv/vitrina/fleet --broker-url mqtts://broker.example:8883
      provision broker-config --fleet /srv/vitrina/fleet --out /etc/mosquitto/vitrina
      provision token new --fleet /srv/vitrina/fleet --store s1 --device k1 --qr k1.png
      provision enrol --claim /boot/vitrina-claim --token TOKEN --store s1 --device k1   # on the device
    """


main.add_command(device)
