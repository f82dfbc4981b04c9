"""The kiosk on its enrolled identity: ``[identity] dir`` names the identity folder (docs/deploy.md,
"Identity folder"), read and verified through :mod:`mqtt_bridge.identity`, and applied to the configuration.

:func:`apply_identity` returns the configuration the kiosk runs on: ``[device]`` store and device ids from
the signed ``config.toml``; ``[mqtt]`` enabled, host and port from its broker URL, TLS with the identity's
``ca.pem``, ``cert.pem`` and ``key.pem``, its topic prefix, and the back office's public keys in
``[mqtt.commands] public_keys``. An identity that is missing, expired, not yet valid, wrongly signed or
otherwise untrustworthy raises :class:`IdentityUnusableError`, whose message says what is wrong and what to
do; the kiosk then does not start (``kiosk run`` exits 2).
"""

from __future__ import annotations

from datetime import datetime

from kiosk.config import KioskConfig
from kiosk.errors import KioskError
from mqtt_bridge.identity import IdentityError, IdentityFolder, VerifiedIdentity

#: What to do, by what :func:`mqtt_bridge.identity.verify_bundle` found wrong.
_FIXES = {
    "no_identity": "enrol the device (`provision enrol`) or apply a bundle (`provision apply BUNDLE`)",
    "missing_file": "apply the bundle again (`provision apply BUNDLE`) or enrol the device again",
    "expired": "the certificate ran out before it was renewed: enrol the device again (`provision enrol`) "
    "or apply a new bundle from the fleet",
    "not_yet_valid": "set the device's clock right (`timedatectl set-ntp true`), then start again",
    "bad_signature": "config.toml was edited or does not come from this fleet: apply an untouched bundle "
    "(`provision apply BUNDLE`)",
    "bad_permissions": "restrict the key as the message says, then start again",
}
_DEFAULT_FIX = "apply a fresh bundle from the fleet (`provision apply BUNDLE`) or enrol again"


class IdentityUnusableError(KioskError):
    """``[identity] dir`` names an identity the kiosk cannot use; the message says why and what to do."""

    def __init__(self, message: str, problem: str) -> None:
        super().__init__(message)
        self.problem = problem


def load_identity(config: KioskConfig, now: datetime) -> VerifiedIdentity | None:
    """The verified device identity ``[identity] dir`` names; None when the configuration names none.
    Raises :class:`IdentityUnusableError`."""
    folder = config.identity.dir
    if folder is None:
        return None
    try:
        identity = IdentityFolder(folder).load(now)
    except IdentityError as exc:
        fix = _FIXES.get(exc.problem, _DEFAULT_FIX)
        raise IdentityUnusableError(
            f"the identity in {folder} ([identity] dir) cannot be used: {exc}. To fix: {fix}", exc.problem
        ) from exc
    if identity.config is None or identity.config.role != "device":
        role = identity.config.role if identity.config is not None else "a back-office process"
        raise IdentityUnusableError(
            f"the identity in {folder} is not a device's own (it is {role}'s): enrol the device "
            "(`provision enrol`) so it gets its own",
            "bad_config",
        )
    return identity


def apply_identity(config: KioskConfig, now: datetime) -> tuple[KioskConfig, VerifiedIdentity | None]:
    """``config`` with the identity of ``[identity] dir`` applied (module docstring), and that identity;
    ``config`` unchanged and None when no identity folder is configured."""
    identity = load_identity(config, now)
    if identity is None:
        return config, None
    assert identity.config is not None and identity.config.store_id and identity.config.device_id
    device = config.device.model_copy(
        update={"store_id": identity.config.store_id, "device_id": identity.config.device_id}
    )
    mqtt = identity.broker_settings(config.mqtt)
    return config.model_copy(update={"device": device, "mqtt": mqtt}), identity
