"""How a ``backoffice`` command reaches the fleet's broker: one set of options for every command that
connects (``ingest``, ``serve``, ``send-command``, ``publish-catalogue``) and one function that turns them
into :class:`~mqtt_bridge.settings.BrokerSettings`.

- ``--broker mqtt://host:1883`` alone: a plain connection (a development broker, ``make demo``);
  ``user@`` in the URL and ``--password-env`` for a broker with passwords.
- ``--broker mqtts://host:8883 --ca-file ca.pem``: TLS, the broker checked against the CA, no client
  certificate.
- ``--broker mqtts://host:8883 --identity DIR``: the fleet's broker, which requires a client certificate.
  ``DIR`` is a back-office process's identity bundle (``ca.pem``, ``cert.pem``, ``key.pem`` 0600;
  ``provision backoffice new --name N``), verified before connecting (:func:`mqtt_bridge.identity.
  verify_bundle`: issued by its CA, within its dates, the key the certificate's); the broker takes the
  certificate's name as the user name and the client id. A bundle made with ``--signing-key`` also holds
  the fleet's command-signing key (``commands.pem``), which the commands that sign use when ``--key`` is
  not given.

Every process needs its own bundle: with ``use_username_as_clientid`` two connections on one certificate
take the session from each other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import click

from mqtt_bridge.errors import BrokerUrlError
from mqtt_bridge.identity import IdentityError, VerifiedIdentity, verify_bundle
from mqtt_bridge.settings import BrokerSettings, broker_settings_from_url

F = TypeVar("F", bound=Callable[..., object])


@dataclass(frozen=True)
class BrokerAccess:
    """The settings a command connects with, and the identity bundle they came from (None without one)."""

    settings: BrokerSettings
    identity: VerifiedIdentity | None = None

    def signing_key(self, key_path: Path | None) -> Path | None:
        """``--key`` when given, else the command-signing key the identity bundle carries, else None."""
        if key_path is not None:
            return key_path
        return self.identity.signing_key_file if self.identity is not None else None


def broker_options(func: F) -> F:
    """Add ``--broker``, ``--identity``, ``--ca-file`` and ``--password-env`` to a click command (its
    parameters ``broker``, ``identity_dir``, ``ca_file``, ``password_env``); read them with
    :func:`broker_access`."""
    options = (
        click.option(
            "--broker",
            required=True,
            help="Broker URL: mqtt://host:1883, mqtts://host:8883 (with --identity or --ca-file); user@ "
            "allowed.",
        ),
        click.option(
            "--identity",
            "identity_dir",
            type=click.Path(file_okay=False, path_type=Path),
            help="This process's identity bundle (ca.pem, cert.pem, key.pem; `provision backoffice new "
            "--name N`): the client certificate the fleet's broker requires. Each process its own.",
        ),
        click.option(
            "--ca-file",
            type=click.Path(dir_okay=False, path_type=Path),
            help="CA certificate for mqtts:// without a client certificate (with --identity: its ca.pem).",
        ),
        click.option("--password-env", help="Environment variable holding the broker password."),
    )
    for option in reversed(options):
        func = option(func)
    return func


def broker_access(
    broker: str,
    *,
    identity_dir: Path | None,
    ca_file: Path | None,
    password_env: str | None,
    prefix: str,
    now: datetime | None = None,
) -> BrokerAccess:
    """The options of :func:`broker_options` as settings on ``prefix``; click errors that name the option
    to fix (a bundle that does not verify says what is wrong with it and what to do)."""
    if identity_dir is None:
        try:
            settings = broker_settings_from_url(broker, ca_file=ca_file, password_env=password_env)
        except BrokerUrlError as exc:
            raise click.BadParameter(str(exc), param_hint=exc.option) from exc
        return BrokerAccess(settings.model_copy(update={"topic_prefix": prefix}))
    for given, option in ((ca_file, "--ca-file"), (password_env, "--password-env")):
        if given is not None:
            raise click.BadParameter(
                f"{option} and --identity do not go together: the identity's certificate is the "
                "credential, and its ca.pem checks the broker",
                param_hint=option,
            )
    try:
        identity = verify_bundle(identity_dir, now or datetime.now(UTC), require_config=False)
    except IdentityError as exc:
        raise click.BadParameter(str(exc), param_hint="--identity") from exc
    base = BrokerSettings(topic_prefix=prefix)
    try:
        settings = identity.broker_settings(base, broker_url=broker)
    except BrokerUrlError as exc:
        raise click.BadParameter(str(exc), param_hint="--broker") from exc
    return BrokerAccess(settings, identity)
