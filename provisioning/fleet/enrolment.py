"""What the enrolment service decides, as pure functions of a request and the registry's rows.

A claim (:func:`decide_claim`) is granted when its token is one the fleet issued, for the device the request
names, unused and unexpired (or its allow-listed hardware serial, unused), the CSR asks for that device's
name or for none, and the device is not revoked. A token or serial already used **by the same key** is a
device asking again after a lost reply: it gets the same certificate again, and nothing else changes
(anyone who replays the request gets a certificate for a key they do not hold, which is useless).

A renewal (:func:`decide_renewal`) arrives on the device's own topic, which the broker lets only that device
publish on; it is granted unless the device is revoked or unknown, the CSR names another device, or another
key was certified for it less than ``min_interval`` ago (a device cannot mint certificates in a loop).

Every refusal is an :class:`~provisioning.errors.EnrolmentRefusedError` with a code from the contract
(:data:`~mqtt_bridge.contract.enrolment.RefusalCode`) and a sentence that says what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from mqtt_bridge.contract.enrolment import EnrolmentRequest
from mqtt_bridge.contract.identity import device_identity_name
from provisioning.errors import EnrolmentRefusedError
from provisioning.fleet.registry import Certificate, Identity, SerialRow, TokenRow


@dataclass(frozen=True)
class Grant:
    """A request the service may answer with a certificate.

    ``reissue``: the serial of the certificate already issued to this very key (send it again), or None
    (sign a new one).
    """

    store_id: str
    device_id: str
    via: Literal["token", "serial", "renew"]
    reissue: str | None = None

    @property
    def name(self) -> str:
        """The certificate's common name."""
        return device_identity_name(self.store_id, self.device_id)


def _check_csr_name(csr_name: str, store_id: str, device_id: str, what: str) -> None:
    wanted = device_identity_name(store_id, device_id)
    if csr_name not in ("", wanted):
        raise EnrolmentRefusedError(
            "name_mismatch",
            f"the CSR asks for {csr_name!r} but {what} is for {wanted!r}: make the CSR for {wanted!r}",
        )


def decide_claim(
    request: EnrolmentRequest,
    csr_name: str,
    key_id: str,
    *,
    token: TokenRow | None,
    serial: SerialRow | None,
    identity: Identity | None,
    now: datetime,
) -> Grant:
    """Grant or refuse a claim (module docstring). ``token``/``serial``: the registry's row for what the
    request carries (None: the fleet never issued it); ``identity``: the registry's row for the device."""
    if request.token is not None:
        if token is None:
            raise EnrolmentRefusedError(
                "unknown_token", "this fleet never issued that enrolment token: ask for a new one (token new)"
            )
        store_id, device_id = token.store_id, token.device_id
        if (request.store_id, request.device_id) != (store_id, device_id):
            raise EnrolmentRefusedError(
                "name_mismatch",
                f"the token is for {store_id}/{device_id}, the request asks for "
                f"{request.store_id}/{request.device_id}: enrol with the store and device the token "
                "was made for",
            )
        if token.used_at is not None:
            if token.used_key_id == key_id and token.used_serial:
                return Grant(store_id, device_id, "token", reissue=token.used_serial)
            raise EnrolmentRefusedError(
                "token_used",
                f"the token was used on {token.used_at[:16]}; a token enrols once: ask for a new one",
            )
        if now >= token.expires_at:
            raise EnrolmentRefusedError(
                "token_expired",
                f"the token expired on {token.expires_at:%Y-%m-%d %H:%M} UTC: ask for a new one",
            )
        what = "the token"
    else:
        if serial is None:
            raise EnrolmentRefusedError(
                "unknown_serial",
                f"hardware serial {request.hardware_serial} is not on the fleet's allow-list: ask the fleet "
                "operator to allow it (provision serial allow) or enrol with a token",
            )
        store_id, device_id = serial.store_id, serial.device_id
        named = (request.store_id, request.device_id)
        if named not in ((None, None), (store_id, device_id)):
            raise EnrolmentRefusedError(
                "name_mismatch",
                f"serial {serial.hardware_serial} is allowed as {store_id}/{device_id}, the request asks for "
                f"{request.store_id}/{request.device_id}",
            )
        if serial.used_at is not None:
            if serial.used_key_id == key_id and serial.used_serial:
                return Grant(store_id, device_id, "serial", reissue=serial.used_serial)
            raise EnrolmentRefusedError(
                "serial_used",
                f"serial {serial.hardware_serial} enrolled on {serial.used_at[:16]}; allow it again to "
                "re-enrol",
            )
        what = f"serial {serial.hardware_serial}"
    _check_csr_name(csr_name, store_id, device_id, what)
    if identity is not None and identity.state == "revoked":
        raise EnrolmentRefusedError(
            "revoked",
            f"{identity.name} was revoked; a revoked name is never issued again: use a new device id",
        )
    return Grant(store_id, device_id, "token" if request.token is not None else "serial")


def decide_renewal(
    store_id: str,
    device_id: str,
    csr_name: str,
    key_id: str,
    *,
    identity: Identity | None,
    latest: Certificate | None,
    now: datetime,
    min_interval: timedelta,
) -> Grant:
    """Grant or refuse a renewal (module docstring)."""
    name = device_identity_name(store_id, device_id)
    if identity is None or identity.role != "device":
        raise EnrolmentRefusedError("bad_request", f"{name} is not a device in the fleet's registry")
    if identity.state == "revoked":
        raise EnrolmentRefusedError("revoked", f"{name} was revoked; it cannot renew")
    _check_csr_name(csr_name, store_id, device_id, "this device's topic")
    if latest is not None:
        if latest.key_id == key_id:
            return Grant(store_id, device_id, "renew", reissue=latest.serial)
        issued = datetime.fromisoformat(latest.issued_at)
        if now - issued < min_interval:
            raise EnrolmentRefusedError(
                "too_soon",
                f"{name} got a certificate at {issued:%Y-%m-%d %H:%M} UTC; renew again after "
                f"{issued + min_interval:%Y-%m-%d %H:%M} UTC",
            )
    return Grant(store_id, device_id, "renew")
