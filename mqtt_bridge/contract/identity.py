"""A device's identity on the broker: the names of identities, and the signed ``config.toml`` of a bundle.

An **identity bundle** is a folder with ``ca.pem`` (the fleet's CA), ``cert.pem`` (this identity's
certificate), ``key.pem`` (its private key, mode 0600) and, for a device or the claim identity,
``config.toml``: an :class:`IdentityConfig`, signed by the fleet's CA (its signature checked by
:mod:`mqtt_bridge.identity`, which also reads and installs the device's identity folder).

Names (the certificate's common name, which the broker takes as the MQTT user name and client id):

- a device: ``{store}.{device}`` (:func:`device_identity_name`): two topic levels joined by a dot, which
  neither level may contain, so the name maps back onto the topic path ``{prefix}/{store}/{device}``;
- the shared claim identity of devices not enrolled yet: :data:`CLAIM_IDENTITY`;
- a back-office process: ``backoffice-{name}`` (:func:`backoffice_identity_name`); no dot, so it is never a
  device's name.

This module is pydantic and the standard library only, like the rest of the contract.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from mqtt_bridge.contract.errors import ContractError

#: The common name (and MQTT user name) of the claim identity every new device boots with.
CLAIM_IDENTITY: Final = "vitrina-claim"

#: Common names of back-office processes start with this (``backoffice-ingest-1``).
BACKOFFICE_PREFIX: Final = "backoffice-"

#: A store or device id: one topic level (the same rule as :mod:`mqtt_bridge.contract.topics`).
ID_PATTERN: Final = r"^[a-z0-9][a-z0-9_-]{0,63}$"
#: A back-office process's name (after :data:`BACKOFFICE_PREFIX`).
PROCESS_PATTERN: Final = r"^[a-z0-9][a-z0-9_-]{0,47}$"
#: A fleet's name.
FLEET_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"

_ID = re.compile(ID_PATTERN)
_PROCESS = re.compile(PROCESS_PATTERN)

IdentityRole = Literal["device", "claim", "backoffice"]


class IdentityNameError(ContractError):
    """A name is not a valid identity name (device, claim or back office)."""


def device_identity_name(store_id: str, device_id: str) -> str:
    """The certificate common name of a device: ``{store}.{device}``."""
    for what, value in (("store id", store_id), ("device id", device_id)):
        if not _ID.fullmatch(value):
            raise IdentityNameError(
                f"{what} {value!r} is not valid: use 1-64 characters of a-z, 0-9, '_' and '-', starting "
                "with a letter or digit"
            )
    return f"{store_id}.{device_id}"


def backoffice_identity_name(process: str) -> str:
    """The certificate common name of a back-office process: ``backoffice-{process}``."""
    if not _PROCESS.fullmatch(process):
        raise IdentityNameError(
            f"back-office process name {process!r} is not valid: use 1-48 characters of a-z, 0-9, '_' and "
            "'-', starting with a letter or digit (e.g. 'ingest-1', 'web', 'enrolment')"
        )
    return BACKOFFICE_PREFIX + process


def parse_identity_name(name: str) -> tuple[IdentityRole, str, str]:
    """``(role, store, device)`` of a common name; store and device are '' for the claim and back office.

    Raises :class:`IdentityNameError` for a name that is none of the three kinds.
    """
    if name == CLAIM_IDENTITY:
        return "claim", "", ""
    if name.startswith(BACKOFFICE_PREFIX) and _PROCESS.fullmatch(name[len(BACKOFFICE_PREFIX) :]):
        return "backoffice", "", ""
    store, dot, device = name.partition(".")
    if dot and _ID.fullmatch(store) and _ID.fullmatch(device):
        return "device", store, device
    raise IdentityNameError(
        f"{name!r} is not an identity name: a device is 'store.device', a back-office process "
        f"'{BACKOFFICE_PREFIX}name', the claim identity '{CLAIM_IDENTITY}'"
    )


class IdentityConfig(BaseModel):
    """``config.toml`` of an identity bundle: who this is, where its broker is, whom it trusts.

    Signed by the fleet's CA (``signature``: ECDSA P-256 with SHA-256, DER, base64url, over the canonical
    JSON of every other field, :func:`mqtt_bridge.identity.config_signing_bytes`), bound to one certificate
    (``certificate_serial``), and it expires with that certificate. A device refuses a config whose
    signature does not verify under the bundle's ``ca.pem``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = Field(default=1, description="Version of this file's schema.")
    role: Literal["device", "claim"] = Field(
        default="device",
        description="'device': a kiosk's own identity; 'claim': the shared one a new device enrols with.",
    )
    fleet: str = Field(pattern=FLEET_PATTERN, description="Name of the fleet (its CA) this identity is in.")
    store_id: str | None = Field(
        default=None, pattern=ID_PATTERN, description="The device's store (a device only)."
    )
    device_id: str | None = Field(
        default=None, pattern=ID_PATTERN, description="The device's id within its store (a device only)."
    )
    broker_url: str = Field(
        pattern=r"^mqtts://[^\s/@]+(:[0-9]{1,5})?$",
        description="The fleet's broker: mqtts://host:port (TLS with this bundle's certificate).",
    )
    topic_prefix: str = Field(
        default="vitrina/v1", description="Prefix of every topic ([mqtt] topic_prefix)."
    )
    backoffice_public_keys: list[str] = Field(
        default_factory=list,
        description="The back office's Ed25519 command-signing public keys (raw, base64url): signed commands "
        "and catalogue releases must verify under one of them ([mqtt.commands] public_keys).",
    )
    certificate_serial: str = Field(
        pattern=r"^[0-9a-f]{1,40}$", description="Serial number (lowercase hex) of the bundle's cert.pem."
    )
    issued_at: AwareDatetime = Field(description="When the fleet issued this config (with a time zone).")
    expires_at: AwareDatetime = Field(
        description="When it expires: the certificate's notAfter; renew before (provision renew)."
    )
    signature: str | None = Field(
        default=None, max_length=256, description="The fleet CA's signature (base64url) over the rest."
    )

    @model_validator(mode="after")
    def _names_fit_the_role(self) -> IdentityConfig:
        if self.role == "device" and (self.store_id is None or self.device_id is None):
            raise ValueError("a device's config needs store_id and device_id")
        if self.role == "claim" and (self.store_id is not None or self.device_id is not None):
            raise ValueError("the claim identity's config has no store_id or device_id")
        if self.expires_at <= self.issued_at:
            raise ValueError("expires_at must be after issued_at")
        return self

    @property
    def identity_name(self) -> str:
        """The common name the certificate must carry: ``store.device``, or the claim identity's."""
        if self.role == "claim":
            return CLAIM_IDENTITY
        assert self.store_id is not None and self.device_id is not None
        return device_identity_name(self.store_id, self.device_id)

    def to_toml(self) -> str:
        """The config as TOML text (``config.toml``), in field order; reading it back gives the same model."""
        lines = ["# Vitrina identity: signed by the fleet's CA; any edit breaks the signature.\n"]
        for name, value in self.model_dump(exclude_none=True).items():
            lines.append(f"{name} = {_toml_value(value)}\n")
        return "".join(lines)


def _toml_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    if any(ord(c) < 0x20 or c == "\x7f" for c in escaped):
        raise ValueError("control characters are not written into config.toml")
    return f'"{escaped}"'


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} into config.toml")
