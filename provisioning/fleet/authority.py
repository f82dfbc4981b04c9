"""The fleet's authority: the ``FLEET`` folder with its CA, the broker's certificate, the back office's
identities and command-signing key, the claim identity, the registry and the CRL.

::

    FLEET/                         0700
      fleet.toml                   the fleet's name, broker URL and hosts, topic prefix, validity periods
      ca/ca.pem  ca/ca.key         the CA (key 0600): signs every certificate, every config.toml, the CRL
      broker/server.pem server.key the broker's certificate (key 0600), copied by `broker-config`
      backoffice/                  the back office's client identity bundle (backoffice-main)
      enrolment/                   the enrolment service's bundle (backoffice-enrolment, `provision serve`)
      admin/                       the fleet tools' bundle (backoffice-admin: revocation notices)
      processes/{name}/            one bundle per back-office process (`provision backoffice new`;
                                   with --signing-key also commands.pem, a copy of signing/commands.pem)
      claim/                       the shared claim identity devices boot with (a bundle, role "claim")
      signing/commands.pem         the back office's Ed25519 command-signing key (0600; the
                                   `backoffice keygen` format, read by `backoffice send-command --key`);
                                   commands.pub is its public half
      registry.sqlite              identities, certificates, tokens, serials (provisioning.fleet.registry)
      crl.pem                      the CRL, re-signed before its nextUpdate (`provision crl refresh`)

Private keys are created with ``O_EXCL`` and mode 0600: a key that exists is never overwritten.
"""

from __future__ import annotations

import os
import sqlite3
import tomllib
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mqtt_bridge.contract.identity import (
    CLAIM_IDENTITY,
    FLEET_PATTERN,
    IdentityConfig,
    backoffice_identity_name,
    device_identity_name,
)
from mqtt_bridge.identity import (
    CA_FILE,
    CERT_FILE,
    CONFIG_FILE,
    KEY_FILE,
    SIGNING_KEY_FILE,
    SigningKey,
    serial_hex,
    sign_config,
    write_file_atomically,
)
from mqtt_bridge.signing import public_key_text
from provisioning import pki
from provisioning.errors import FleetError
from provisioning.fleet.registry import Registry, Role

FLEET_FILE: Final = "fleet.toml"

#: The back-office identities ``ca init`` makes: folder -> (process name, role).
BUILTIN_PROCESSES: Final[dict[str, tuple[str, Role]]] = {
    "backoffice": ("main", "backoffice"),
    "enrolment": ("enrolment", "enrolment"),
    "admin": ("admin", "admin"),
}

ROTATE_HINT: Final = (
    "keys are never overwritten. To rotate the CA, make a new fleet folder (provision ca init --dir NEW) "
    "and enrol the devices into it; to rotate the command-signing key, make a new one with `backoffice "
    "keygen`, add its public key to the devices' config (renewal carries fleet.toml's signing keys) and "
    "retire the old one after every device renewed (docs/provisioning.md, Rotation)"
)


class FleetSettings(BaseModel):
    """``fleet.toml``: what the fleet is and the defaults its commands use."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        pattern=FLEET_PATTERN, description="The fleet's name (in its CA's name and every config)."
    )
    broker_url: str = Field(
        pattern=r"^mqtts://[^\s/@]+(:[0-9]{1,5})?$",
        description="The broker's URL as devices reach it (mqtts://host:port); written into every config.",
    )
    broker_hosts: list[str] = Field(
        description="Host names and addresses in the broker certificate's subject alternative names."
    )
    topic_prefix: str = Field(default="vitrina/v1", description="Prefix of every topic.")
    device_days: int = Field(
        default=365, ge=1, le=3650, description="Validity of a device certificate, days."
    )
    backoffice_days: int = Field(
        default=825, ge=1, le=3650, description="Validity of a back-office certificate."
    )
    claim_days: int = Field(
        default=1825, ge=1, le=3650, description="Validity of the claim certificate, days."
    )
    crl_days: float = Field(
        default=7.0,
        gt=0,
        le=90,
        description="The CRL's validity (nextUpdate); `crl refresh` re-signs it daily.",
    )
    token_ttl_s: int = Field(
        default=86400, ge=60, description="Default lifetime of an enrolment token, seconds."
    )
    extra_signing_keys: list[str] = Field(
        default_factory=list,
        description=(
            "More back-office public keys devices trust (raw Ed25519, base64url): a key being rotated in."
        ),
    )


def _write_new_file(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` with ``mode``; refuse (FleetError) if it exists: keys are never overwritten."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise FleetError(f"{path} exists; {ROTATE_HINT}") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


class Fleet:
    """An initialised fleet folder. :meth:`init` makes one, :meth:`open` opens one."""

    def __init__(self, root: Path, settings: FleetSettings) -> None:
        self.root = root
        self.settings = settings
        self._registry: Registry | None = None
        self._ca: tuple[SigningKey, x509.Certificate] | None = None

    # -- paths ------------------------------------------------------------------------------------------

    @property
    def ca_cert_path(self) -> Path:
        """The CA's certificate."""
        return self.root / "ca" / "ca.pem"

    @property
    def ca_key_path(self) -> Path:
        """The CA's private key (0600): the fleet's most precious file."""
        return self.root / "ca" / "ca.key"

    @property
    def server_cert_path(self) -> Path:
        """The broker's certificate."""
        return self.root / "broker" / "server.pem"

    @property
    def server_key_path(self) -> Path:
        """The broker's private key."""
        return self.root / "broker" / "server.key"

    @property
    def signing_key_path(self) -> Path:
        """The back office's Ed25519 command-signing key (PEM, 0600)."""
        return self.root / "signing" / "commands.pem"

    @property
    def crl_path(self) -> Path:
        """The CRL the broker checks client certificates against."""
        return self.root / "crl.pem"

    @property
    def claim_dir(self) -> Path:
        """The claim identity's bundle."""
        return self.root / "claim"

    def bundle_dir(self, folder: str) -> Path:
        """A built-in back-office bundle (``backoffice``, ``enrolment``, ``admin``)."""
        return self.root / folder

    def process_dir(self, process: str) -> Path:
        """The bundle of a back-office process made by ``provision backoffice new``."""
        return self.root / "processes" / process

    # -- opening ----------------------------------------------------------------------------------------

    @classmethod
    def open(cls, root: Path) -> Fleet:
        """Open an initialised fleet folder; :class:`FleetError` saying how to make one."""
        path = root / FLEET_FILE
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FleetError(
                f"{root} is not a fleet folder (no {FLEET_FILE}); make one with `provision ca init "
                f"--dir {root}`"
            ) from None
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise FleetError(f"cannot read {path}: {exc}") from exc
        try:
            settings = FleetSettings.model_validate(data)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            raise FleetError(f"{path}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from exc
        return cls(root, settings)

    @property
    def registry(self) -> Registry:
        """The registry (opened on first use)."""
        if self._registry is None:
            self._registry = Registry(self.root / "registry.sqlite")
        return self._registry

    def close(self) -> None:
        """Close the registry."""
        if self._registry is not None:
            self._registry.close()
            self._registry = None

    def ca(self) -> tuple[SigningKey, x509.Certificate]:
        """The CA's key and certificate (read once)."""
        if self._ca is None:
            try:
                key = pki.load_private_key(self.ca_key_path.read_bytes())
                cert = pki.load_certificate(self.ca_cert_path.read_bytes())
            except (OSError, ValueError) as exc:
                raise FleetError(
                    f"cannot read the fleet's CA ({self.ca_key_path}, {self.ca_cert_path}): {exc}; "
                    "restore them "
                    "from the backup `provision ca init` asked you to make"
                ) from exc
            self._ca = (key, cert)
        return self._ca

    @property
    def ca_pem(self) -> bytes:
        """The CA's certificate, PEM (``ca.pem`` of every bundle)."""
        return self.ca_cert_path.read_bytes()

    def signing_public_keys(self) -> list[str]:
        """The back office's public signing keys devices trust: the fleet's key, then any being rotated in."""
        try:
            key = serialization.load_pem_private_key(self.signing_key_path.read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise FleetError(f"cannot read the command-signing key {self.signing_key_path}: {exc}") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise FleetError(f"{self.signing_key_path} is not an Ed25519 key")
        return [public_key_text(key), *self.settings.extra_signing_keys]

    @property
    def broker_port(self) -> int:
        """The port of the broker URL (8883 when it names none)."""
        return urlsplit(self.settings.broker_url).port or 8883

    # -- making -----------------------------------------------------------------------------------------

    @classmethod
    def init(cls, root: Path, settings: FleetSettings, now: datetime, ca_days: int = 3650) -> Fleet:
        """Make a fleet folder: CA, broker certificate, back-office bundles, signing key, claim identity,
        registry, CRL. Refuses (:class:`FleetError`) when the folder already holds any key."""
        for existing in (root / FLEET_FILE, root / "ca" / "ca.key"):
            if existing.exists():
                raise FleetError(f"{root} already holds a fleet ({existing}); {ROTATE_HINT}")
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        root.chmod(0o700)
        ca_key, ca_cert = pki.make_ca(settings.name, now, ca_days)
        _write_new_file(root / "ca" / "ca.key", pki.private_key_pem(ca_key), 0o600)
        _write_new_file(root / "ca" / "ca.pem", pki.cert_pem(ca_cert), 0o644)
        fleet = cls(root, settings)
        fleet._ca = (ca_key, ca_cert)
        server_key = pki.new_private_key()
        server = pki.issue_certificate(
            ca_key,
            ca_cert,
            server_key.public_key(),
            f"Vitrina broker {settings.name}",
            now=now,
            days=settings.backoffice_days,
            kind="server",
            hosts=settings.broker_hosts,
        )
        _write_new_file(fleet.server_key_path, pki.private_key_pem(server_key), 0o600)
        _write_new_file(fleet.server_cert_path, pki.cert_pem(server), 0o644)
        signing = Ed25519PrivateKey.generate()
        _write_new_file(
            fleet.signing_key_path,
            signing.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
            0o600,
        )
        _write_new_file(
            fleet.signing_key_path.with_suffix(".pub"), (public_key_text(signing) + "\n").encode(), 0o644
        )
        for folder, (process, role) in BUILTIN_PROCESSES.items():
            fleet.new_backoffice_bundle(process, role, now, fleet.bundle_dir(folder))
        fleet.new_claim_bundle(now)
        write_file_atomically(root / FLEET_FILE, fleet_toml(settings).encode("utf-8"), 0o644)
        from provisioning.fleet.revocation import refresh_crl  # the CRL needs the registry made above

        refresh_crl(fleet, now)
        return fleet

    def issue(
        self,
        name: str,
        role: Role,
        public_key: pki.PublicKey,
        now: datetime,
        *,
        via: str,
        days: int | None = None,
        store_id: str | None = None,
        device_id: str | None = None,
        hardware_serial: str | None = None,
    ) -> x509.Certificate:
        """Issue a client certificate and record it (one registry transaction)."""
        ca_key, ca_cert = self.ca()
        days = days or {
            "device": self.settings.device_days,
            "claim": self.settings.claim_days,
        }.get(role, self.settings.backoffice_days)
        cert = pki.issue_certificate(ca_key, ca_cert, public_key, name, now=now, days=days)
        with self.registry.transaction() as conn:
            self.record(
                conn,
                cert,
                role,
                now,
                via=via,
                store_id=store_id,
                device_id=device_id,
                hardware_serial=hardware_serial,
            )
        return cert

    def record(
        self,
        conn: sqlite3.Connection,
        cert: x509.Certificate,
        role: Role,
        now: datetime,
        *,
        via: str,
        store_id: str | None = None,
        device_id: str | None = None,
        hardware_serial: str | None = None,
    ) -> None:
        """Record an issued certificate and its identity inside an open registry transaction."""
        name = pki.common_name(cert)
        Registry.add_identity(
            conn, name, role, now, store_id=store_id, device_id=device_id, hardware_serial=hardware_serial
        )
        Registry.add_certificate(
            conn,
            serial_hex(cert),
            name,
            pki.public_key_id(pki.certificate_public_key(cert)),
            pki.cert_pem(cert),
            not_after=cert.not_valid_after_utc,
            now=now,
            via=via,
        )

    def sign_device_certificate(
        self, public_key: pki.PublicKey, store_id: str, device_id: str, now: datetime
    ) -> x509.Certificate:
        """A device certificate, not yet recorded (the caller records it in its own transaction)."""
        ca_key, ca_cert = self.ca()
        return pki.issue_certificate(
            ca_key,
            ca_cert,
            public_key,
            device_identity_name(store_id, device_id),
            now=now,
            days=self.settings.device_days,
        )

    def device_config(
        self, cert: x509.Certificate, store_id: str, device_id: str, now: datetime
    ) -> IdentityConfig:
        """The signed ``config.toml`` of a device's bundle for ``cert``."""
        ca_key, _ = self.ca()
        config = IdentityConfig(
            role="device",
            fleet=self.settings.name,
            store_id=store_id,
            device_id=device_id,
            broker_url=self.settings.broker_url,
            topic_prefix=self.settings.topic_prefix,
            backoffice_public_keys=self.signing_public_keys(),
            certificate_serial=serial_hex(cert),
            issued_at=now.replace(microsecond=0),
            expires_at=cert.not_valid_after_utc,
        )
        return sign_config(config, ca_key)

    def new_backoffice_bundle(self, process: str, role: Role, now: datetime, out: Path) -> x509.Certificate:
        """A back-office process's bundle (ca.pem, cert.pem, key.pem) in ``out``; never overwrites a key."""
        name = backoffice_identity_name(process)
        if self.registry.identity(name) is not None:
            raise FleetError(
                f"{name} already has a certificate; every process gets its own name (two processes on one "
                "certificate disconnect each other): pick another --name"
            )
        key = pki.new_private_key()
        _write_new_file(out / KEY_FILE, pki.private_key_pem(key), 0o600)
        cert = self.issue(name, role, key.public_key(), now, via="fleet")
        write_file_atomically(out / CERT_FILE, pki.cert_pem(cert))
        write_file_atomically(out / CA_FILE, self.ca_pem)
        return cert

    def add_signing_key(self, out: Path) -> Path:
        """Copy the command-signing key into a back-office process's bundle (``commands.pem``, 0600), for a
        process that signs commands or catalogues (``backoffice serve``, ``send-command``,
        ``publish-catalogue``): its ``--identity`` then finds it. Never overwrites a file."""
        try:
            data = self.signing_key_path.read_bytes()
        except OSError as exc:
            raise FleetError(f"cannot read the command-signing key {self.signing_key_path}: {exc}") from exc
        target = out / SIGNING_KEY_FILE
        _write_new_file(target, data, 0o600)
        return target

    def new_claim_bundle(self, now: datetime) -> x509.Certificate:
        """The claim identity's bundle in ``FLEET/claim/``, with its signed config (where to enrol)."""
        key = pki.new_private_key()
        _write_new_file(self.claim_dir / KEY_FILE, pki.private_key_pem(key), 0o600)
        cert = self.issue(CLAIM_IDENTITY, "claim", key.public_key(), now, via="fleet")
        ca_key, _ = self.ca()
        config = IdentityConfig(
            role="claim",
            fleet=self.settings.name,
            broker_url=self.settings.broker_url,
            topic_prefix=self.settings.topic_prefix,
            backoffice_public_keys=self.signing_public_keys(),
            certificate_serial=serial_hex(cert),
            issued_at=now.replace(microsecond=0),
            expires_at=cert.not_valid_after_utc,
        )
        write_file_atomically(self.claim_dir / CERT_FILE, pki.cert_pem(cert))
        write_file_atomically(self.claim_dir / CA_FILE, self.ca_pem)
        write_file_atomically(self.claim_dir / CONFIG_FILE, sign_config(config, ca_key).to_toml().encode())
        return cert

    def crl_valid_until(self, now: datetime) -> datetime:
        """When a CRL signed now stops being valid."""
        return now + timedelta(days=self.settings.crl_days)


def fleet_toml(settings: FleetSettings) -> str:
    """``fleet.toml``'s text."""
    lines = ["# Vitrina fleet (provision ca init). Edit broker_url or the periods; never the name.\n"]
    for key, value in settings.model_dump().items():
        if isinstance(value, str):
            lines.append(f'{key} = "{value}"\n')
        elif isinstance(value, list):
            lines.append(f"{key} = [{', '.join(f'{chr(34)}{v}{chr(34)}' for v in value)}]\n")
        else:
            lines.append(f"{key} = {value}\n")
    return "".join(lines)
