"""The device's identity on the broker: verify an identity bundle, read and replace the identity folder.

A bundle is a folder of ``ca.pem``, ``cert.pem``, ``key.pem`` (0600) and ``config.toml``
(:class:`~mqtt_bridge.contract.identity.IdentityConfig`, signed by the fleet's CA). :func:`verify_bundle`
checks everything a device must check before it trusts one, and raises :class:`IdentityError` naming the
first problem: a file missing or unreadable, a key readable by others, a certificate not issued by the
bundle's CA (or a CA other than the one the device already trusts), out of its validity, a key that is not
the certificate's, a config whose signature does not verify under the CA, that names another certificate or
another device than the certificate's common name, or that expired.

The **identity folder** (default :data:`DEFAULT_IDENTITY_DIR`, or ``$VITRINA_IDENTITY_DIR``) holds one
folder per installed identity and a ``current`` symbolic link naming the one in use; installing a bundle
(:meth:`IdentityFolder.install`) writes a new folder, verifies it, and only then switches ``current`` with
one atomic rename, so a reader sees the old identity or the new one, never a mix. Readers resolve
``current`` once and read every file from that folder (:meth:`IdentityFolder.load`). docs/deploy.md
("Identity folder") has the layout.

This module imports ``cryptography`` (so it is not in the contract) and nothing of the device side, so the
kiosk, ``cloud_sync`` and ``provisioning`` all read identities through it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import shutil
import stat
import tomllib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final, Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID
from pydantic import ValidationError

from mqtt_bridge.contract.identity import IdentityConfig, IdentityNameError, parse_identity_name
from mqtt_bridge.errors import BrokerUrlError, MqttBridgeError
from mqtt_bridge.settings import BrokerSettings, TlsSettings, broker_settings_from_url
from mqtt_bridge.signing import canonical_json

#: Where a device keeps its identity unless ``$VITRINA_IDENTITY_DIR`` or an option says otherwise.
DEFAULT_IDENTITY_DIR: Final = Path("/var/lib/vitrina/identity")
#: The environment variable that moves the identity folder (tests, a second kiosk on one machine).
IDENTITY_DIR_ENV: Final = "VITRINA_IDENTITY_DIR"

CA_FILE: Final = "ca.pem"
CERT_FILE: Final = "cert.pem"
KEY_FILE: Final = "key.pem"
CONFIG_FILE: Final = "config.toml"
#: The files of a bundle; ``config.toml`` is absent only from a back-office process's bundle.
BUNDLE_FILES: Final = (CA_FILE, CERT_FILE, KEY_FILE, CONFIG_FILE)
#: In a back-office process's bundle, when it signs commands and catalogues: the fleet's Ed25519
#: command-signing key (0600, ``provision backoffice new --signing-key``; the ``backoffice keygen`` format).
SIGNING_KEY_FILE: Final = "commands.pem"

#: In the identity folder: the link to the identity in use, the claim identity, an identity not yet proven.
CURRENT: Final = "current"
CLAIM: Final = "claim"
PENDING: Final = "pending"

#: Identities kept in the folder: the current one and the one before it (to look back at, never used).
KEEP_GENERATIONS: Final = 2

Problem = Literal[
    "missing_file",
    "bad_permissions",
    "bad_certificate",
    "wrong_ca",
    "not_yet_valid",
    "expired",
    "key_mismatch",
    "bad_config",
    "bad_signature",
    "serial_mismatch",
    "name_mismatch",
    "no_identity",
]


class IdentityError(MqttBridgeError):
    """An identity bundle or folder cannot be trusted or used; ``problem`` says which check failed."""

    def __init__(self, problem: Problem, message: str) -> None:
        super().__init__(message)
        self.problem: Problem = problem


def default_identity_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$VITRINA_IDENTITY_DIR`` when set, else :data:`DEFAULT_IDENTITY_DIR`."""
    value = (os.environ if environ is None else environ).get(IDENTITY_DIR_ENV)
    return Path(value) if value else DEFAULT_IDENTITY_DIR


# -- signatures ---------------------------------------------------------------------------------------


def config_signing_bytes(config: IdentityConfig) -> bytes:
    """What the fleet signs: the config's canonical JSON (sorted keys, no spaces) without ``signature``."""
    return canonical_json(config.model_dump(mode="json", exclude={"signature"}, exclude_none=True))


SigningKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sign_config(config: IdentityConfig, ca_key: SigningKey) -> IdentityConfig:
    """The config signed by the fleet CA's private key (ECDSA P-256 / SHA-256, or Ed25519)."""
    message = config_signing_bytes(config)
    if isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raw = ca_key.sign(message, ec.ECDSA(hashes.SHA256()))
    else:
        raw = ca_key.sign(message)
    return config.model_copy(update={"signature": _b64url(raw)})


def config_signature_problem(config: IdentityConfig, ca: x509.Certificate) -> str:
    """Why ``config`` is not signed by ``ca``'s key; '' when it is."""
    if config.signature is None:
        return "config.toml is not signed by the fleet"
    try:
        raw = base64.b64decode(config.signature + "=" * (-len(config.signature) % 4), altchars=b"-_")
    except (binascii.Error, ValueError):
        return "config.toml's signature is not base64url"
    key = ca.public_key()
    message = config_signing_bytes(config)
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(raw, message, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(raw, message)
        else:
            return f"the CA's key type ({type(key).__name__}) cannot sign a config"
    except InvalidSignature:
        return (
            "config.toml's signature does not verify under ca.pem: it was edited, or not made by this fleet"
        )
    return ""


# -- reading ------------------------------------------------------------------------------------------


def common_name(cert: x509.Certificate) -> str:
    """The subject's common name, '' when it has none."""
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def serial_hex(cert: x509.Certificate) -> str:
    """The certificate's serial number in lowercase hex (as ``certificate_serial`` names it)."""
    return format(cert.serial_number, "x")


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 fingerprint of a certificate, lowercase hex."""
    return cert.fingerprint(hashes.SHA256()).hex()


def read_config(path: Path) -> IdentityConfig:
    """Parse ``config.toml``; :class:`IdentityError` (``bad_config``) naming the problem."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise IdentityError("missing_file", f"cannot read {path}: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise IdentityError("bad_config", f"{path} is not TOML: {exc}") from exc
    try:
        return IdentityConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "(file)"
        raise IdentityError("bad_config", f"{path}: {where}: {first['msg']}") from exc


def _read_cert(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except OSError as exc:
        raise IdentityError("missing_file", f"cannot read {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise IdentityError("bad_certificate", f"{path} is not a PEM certificate") from exc


def _read_key(path: Path) -> SigningKey:
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except OSError as exc:
        raise IdentityError("missing_file", f"cannot read {path}: {exc.strerror}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise IdentityError(
            "bad_permissions",
            f"{path} is readable by others (mode {stat.S_IMODE(mode):o}); a private key must be 0600: "
            f"chmod 600 {path}",
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise IdentityError("bad_certificate", f"{path} is not an unencrypted PEM private key") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        raise IdentityError("bad_certificate", f"{path} holds a {type(key).__name__}; use P-256 or Ed25519")
    return key


def _public_bytes(key: object) -> bytes:
    assert isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey)
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def check_issued_by(cert: x509.Certificate, ca: x509.Certificate, where: str) -> None:
    """:class:`IdentityError` (``wrong_ca``) unless ``ca`` signed ``cert``."""
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise IdentityError(
            "wrong_ca", f"{where} was not issued by this fleet's CA ({common_name(ca)!r}): {exc}"
        ) from exc


def check_validity(cert: x509.Certificate, now: datetime, where: str) -> None:
    """:class:`IdentityError` (``not_yet_valid``, ``expired``) outside the certificate's validity."""
    if now < cert.not_valid_before_utc:
        raise IdentityError(
            "not_yet_valid",
            f"{where} is valid only from {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC: is the clock right?",
        )
    if now >= cert.not_valid_after_utc:
        raise IdentityError(
            "expired",
            f"{where} expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC; enrol the device again "
            "(provision enrol) or apply a new bundle",
        )


@dataclass(frozen=True)
class VerifiedIdentity:
    """A bundle that passed every check: its folder, config (None for a back office's) and certificate."""

    folder: Path
    config: IdentityConfig | None
    certificate: x509.Certificate
    ca: x509.Certificate

    @property
    def name(self) -> str:
        """The certificate's common name: the MQTT user name and client id on the fleet's broker."""
        return common_name(self.certificate)

    @property
    def expires_at(self) -> datetime:
        """The certificate's notAfter (UTC)."""
        return self.certificate.not_valid_after_utc

    def days_left(self, now: datetime) -> float:
        """Days until the certificate expires (negative after)."""
        return (self.expires_at - now).total_seconds() / 86400.0

    def tls(self) -> TlsSettings:
        """TLS settings with this folder's files (resolved: a later switch of ``current`` cannot mix them)."""
        return bundle_tls(self.folder)

    @property
    def signing_key_file(self) -> Path | None:
        """The command-signing key this bundle carries (:data:`SIGNING_KEY_FILE`), None when it has none."""
        path = self.folder / SIGNING_KEY_FILE
        return path if path.is_file() else None

    def broker_settings(
        self, base: BrokerSettings | None = None, *, broker_url: str | None = None
    ) -> BrokerSettings:
        """``base`` (the ``[mqtt]`` section; defaults otherwise) with the broker, TLS, topic prefix and the
        back office's public keys this identity names: what a kiosk connects with.

        ``broker_url`` overrides the config's broker; a back-office process's bundle (no config.toml) must
        give it, and keeps ``base``'s topic prefix and command settings."""
        if self.config is None:
            if broker_url is None:
                raise IdentityError(
                    "bad_config",
                    f"{self.folder} has no config.toml (a back-office process's bundle): give the broker's "
                    "URL (--broker mqtts://HOST:PORT)",
                )
            return bundle_broker_settings(broker_url, self.folder, base)
        base = base or BrokerSettings()
        commands = base.commands
        if self.config.backoffice_public_keys:
            commands = commands.model_copy(update={"public_keys": list(self.config.backoffice_public_keys)})
        settings = bundle_broker_settings(broker_url or self.config.broker_url, self.folder, base)
        return settings.model_copy(update={"topic_prefix": self.config.topic_prefix, "commands": commands})


def bundle_tls(folder: Path) -> TlsSettings:
    """Mutual TLS with a bundle's ``ca.pem``, ``cert.pem`` and ``key.pem`` (paths only, nothing read)."""
    return TlsSettings(ca_file=folder / CA_FILE, cert_file=folder / CERT_FILE, key_file=folder / KEY_FILE)


def bundle_broker_settings(
    broker_url: str, folder: Path, base: BrokerSettings | None = None
) -> BrokerSettings:
    """``base`` (defaults otherwise), enabled, on ``broker_url`` (``mqtts://HOST:PORT``) with the bundle's
    certificate as the client's: the broker takes its common name as user name and client id, so no
    password is sent. The files are not read here (:func:`verify_bundle` checks them); raises
    :class:`~mqtt_bridge.errors.BrokerUrlError` for a URL without TLS (a client certificate needs
    ``mqtts://``) or one that does not parse."""
    url = broker_settings_from_url(broker_url, ca_file=folder / CA_FILE)
    if url.tls is None:
        raise BrokerUrlError(
            f"{broker_url!r}: a client certificate ({folder}) needs TLS: use mqtts://HOST:PORT"
        )
    return (base or BrokerSettings()).model_copy(
        update={
            "enabled": True,
            "host": url.host,
            "port": url.port,
            "tls": bundle_tls(folder),
            "username": None,
            "password": None,
        }
    )


def verify_bundle(
    folder: Path,
    now: datetime,
    *,
    trusted_ca: x509.Certificate | None = None,
    require_config: bool = True,
) -> VerifiedIdentity:
    """Every check a device makes before it trusts a bundle (module docstring); raises :class:`IdentityError`.

    ``trusted_ca``: the CA the device already trusts (its current or claim identity's); a bundle from
    another CA is refused (``wrong_ca``).
    """
    for name in BUNDLE_FILES if require_config else BUNDLE_FILES[:3]:
        if not (folder / name).is_file():
            raise IdentityError(
                "missing_file", f"{folder} has no {name}: an identity bundle holds {BUNDLE_FILES}"
            )
    ca = _read_cert(folder / CA_FILE)
    cert = _read_cert(folder / CERT_FILE)
    key = _read_key(folder / KEY_FILE)
    if trusted_ca is not None and fingerprint(ca) != fingerprint(trusted_ca):
        raise IdentityError(
            "wrong_ca",
            f"{folder / CA_FILE} is not the fleet CA this device trusts ({common_name(trusted_ca)!r}); a "
            "bundle of another fleet is applied only after `provision decommission`",
        )
    check_issued_by(cert, ca, f"{folder / CERT_FILE}")
    check_validity(cert, now, f"the certificate {folder / CERT_FILE}")
    if _public_bytes(key.public_key()) != _public_bytes(cert.public_key()):
        raise IdentityError("key_mismatch", f"{folder / KEY_FILE} is not the key of {folder / CERT_FILE}")
    config = None
    if (folder / CONFIG_FILE).is_file():
        config = read_config(folder / CONFIG_FILE)
        problem = config_signature_problem(config, ca)
        if problem:
            raise IdentityError("bad_signature", f"{folder / CONFIG_FILE}: {problem}")
        if config.certificate_serial != serial_hex(cert):
            raise IdentityError(
                "serial_mismatch",
                f"{folder / CONFIG_FILE} belongs to certificate {config.certificate_serial}, not to "
                f"{folder / CERT_FILE} ({serial_hex(cert)})",
            )
        if config.identity_name != common_name(cert):
            raise IdentityError(
                "name_mismatch",
                f"{folder / CONFIG_FILE} names {config.identity_name!r} but the certificate is "
                f"{common_name(cert)!r}",
            )
        if now >= config.expires_at:
            raise IdentityError("expired", f"{folder / CONFIG_FILE} expired on {config.expires_at:%Y-%m-%d}")
    try:
        parse_identity_name(common_name(cert))
    except IdentityNameError as exc:
        raise IdentityError("name_mismatch", f"{folder / CERT_FILE}: {exc}") from exc
    return VerifiedIdentity(folder, config, cert, ca)


# -- writing ------------------------------------------------------------------------------------------


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file_atomically(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``path`` through a temporary file in its folder (created with ``mode``), fsync, rename.

    A reader sees the old content or the new one; a private key is never readable by others, not even
    for an instant (the temporary file is created with ``mode``).
    """
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.chmod(mode)  # the umask may have narrowed it
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def write_bundle(folder: Path, files: Mapping[str, bytes]) -> None:
    """Write a bundle's files into ``folder`` (created 0700; ``key.pem`` 0600, the rest 0644)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name, data in files.items():
        if name not in BUNDLE_FILES:
            raise ValueError(f"{name} is not a file of an identity bundle")
        write_file_atomically(folder / name, data, 0o600 if name == KEY_FILE else 0o644)


def _switch_link(link: Path, target: str) -> None:
    """Point the symbolic link ``link`` at ``target`` with one atomic rename."""
    tmp = link.with_name(f".{link.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.symlink_to(target)
    try:
        tmp.replace(link)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(link.parent)


class IdentityFolder:
    """The device's identity folder: installed identities, the ``current`` link, ``claim`` and ``pending``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def claim_dir(self) -> Path:
        """The claim identity (a bundle), kept until the device first connected as itself."""
        return self.root / CLAIM

    def _link(self, name: str) -> Path | None:
        link = self.root / name
        if not link.is_symlink():
            return None
        return (self.root / link.readlink()).resolve()

    def current_dir(self) -> Path | None:
        """The folder ``current`` points at now (resolved), or None when nothing is installed."""
        return self._link(CURRENT)

    def pending_dir(self) -> Path | None:
        """An identity received but not yet proven by a connection as itself (enrolment), or None."""
        return self._link(PENDING)

    def load(self, now: datetime) -> VerifiedIdentity:
        """The current identity, verified (:func:`verify_bundle`); ``no_identity`` when there is none."""
        folder = self.current_dir()
        if folder is None:
            raise IdentityError(
                "no_identity",
                f"no identity is installed in {self.root}: enrol the device (provision enrol) or apply a "
                "bundle (provision apply BUNDLE)",
            )
        return verify_bundle(folder, now)

    def trusted_ca(self) -> x509.Certificate | None:
        """The CA this device trusts already (its current identity's, else its claim identity's), or None."""
        for folder in (self.current_dir(), self.claim_dir):
            if folder is not None and (folder / CA_FILE).is_file():
                return _read_cert(folder / CA_FILE)
        return None

    def stage(
        self, files: Mapping[str, bytes], now: datetime, *, allow_new_ca: bool = False
    ) -> VerifiedIdentity:
        """Write a bundle's files into a new folder of the identity folder and verify it there; nothing in
        use changes. Raises :class:`IdentityError` (and removes the new folder) when it does not verify."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder = self.root / f"id-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        try:
            write_bundle(folder, files)
            trusted = None if allow_new_ca else self.trusted_ca()
            return verify_bundle(folder, now, trusted_ca=trusted)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise

    def set_pending(self, identity: VerifiedIdentity) -> None:
        """Remember a staged identity as ``pending`` (received, not yet proven by a connection)."""
        _switch_link(self.root / PENDING, identity.folder.name)

    def activate(self, identity: VerifiedIdentity) -> None:
        """Make a staged identity ``current`` (one atomic rename), forget ``pending``, prune old folders."""
        if identity.folder.parent.resolve() != self.root.resolve():
            raise ValueError(f"{identity.folder} is not in {self.root}: stage it first")
        _switch_link(self.root / CURRENT, identity.folder.name)
        pending = self.root / PENDING
        if pending.is_symlink() and self.pending_dir() == identity.folder.resolve():
            pending.unlink()
        self.prune()

    def install(
        self, files: Mapping[str, bytes], now: datetime, *, allow_new_ca: bool = False
    ) -> VerifiedIdentity:
        """Stage and activate a bundle: all or nothing (the current identity stays until the switch)."""
        identity = self.stage(files, now, allow_new_ca=allow_new_ca)
        self.activate(identity)
        return identity

    def drop_claim(self) -> bool:
        """Remove the claim identity (after the first successful connection as itself); True if removed."""
        if not self.claim_dir.exists():
            return False
        shutil.rmtree(self.claim_dir)
        return True

    def prune(self) -> list[Path]:
        """Remove installed folders beyond the newest :data:`KEEP_GENERATIONS` (never current or pending)."""
        keep = {p for p in (self.current_dir(), self.pending_dir()) if p is not None}
        folders = sorted(
            (p for p in self.root.glob("id-*") if p.is_dir() and not p.is_symlink()), reverse=True
        )
        removed = []
        for folder in folders[KEEP_GENERATIONS:]:
            if folder.resolve() in keep:
                continue
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
        return removed


def read_bundle_files(folder: Path) -> dict[str, bytes]:
    """The files of a bundle folder, by name (those present)."""
    files = {}
    for name in BUNDLE_FILES:
        with contextlib.suppress(FileNotFoundError):
            files[name] = (folder / name).read_bytes()
    return files


# -- keys and requests (the device makes its own) -----------------------------------------------------


def new_private_key() -> ec.EllipticCurvePrivateKey:
    """A new P-256 key: what every Vitrina identity uses (fast to make, small, every TLS stack takes it)."""
    return ec.generate_private_key(ec.SECP256R1())


def private_key_pem(key: SigningKey) -> bytes:
    """The key as unencrypted PKCS#8 PEM (``key.pem``; write it 0600)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def make_csr(key: SigningKey, name: str) -> bytes:
    """A certificate signing request (PEM) for ``key`` with common name ``name`` ('' for none)."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)] if name else [])
    algorithm = hashes.SHA256() if isinstance(key, ec.EllipticCurvePrivateKey) else None
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, algorithm)
    return csr.public_bytes(serialization.Encoding.PEM)


def load_private_key(data: bytes) -> SigningKey:
    """Parse an unencrypted PEM private key of a kind Vitrina uses (ValueError otherwise)."""
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        raise ValueError(f"a {type(key).__name__} key; Vitrina uses P-256")
    return key


def public_key_id(key: ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey) -> str:
    """SHA-256 of a public key (SubjectPublicKeyInfo DER), hex: a key's identity in the fleet's registry."""
    digest = hashes.Hash(hashes.SHA256())
    digest.update(
        key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return digest.finalize().hex()
