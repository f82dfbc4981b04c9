"""The fleet's public-key infrastructure, as pure functions over ``cryptography``: a CA, certificates for
the broker, back-office processes and devices, certificate signing requests and the CRL.

Every key is P-256 (ECDSA): fast to make (the 100-device enrolment test makes hundreds), small, and taken by
every TLS stack Mosquitto and paho link against. Times come in as ``now`` (no clock read here); serial
numbers are random (:func:`x509.random_serial_number`), 159 bits, as RFC 5280 advises.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mqtt_bridge.identity import (
    SigningKey,
    common_name,
    load_private_key,
    new_private_key,
    private_key_pem,
    public_key_id,
)
from provisioning.errors import CrlError, CsrError

__all__ = [
    "BACKDATE",
    "CertificateKind",
    "CrlEntry",
    "PublicKey",
    "SigningKey",
    "build_crl",
    "cert_pem",
    "certificate_public_key",
    "check_crl",
    "common_name",
    "crl_next_update",
    "csr_common_name",
    "csr_public_key",
    "issue_certificate",
    "load_certificate",
    "load_csr",
    "load_private_key",
    "make_ca",
    "new_private_key",
    "private_key_pem",
    "public_key_id",
]

#: Certificates are backdated this much so that a device whose clock is slightly behind accepts them.
BACKDATE: Final = timedelta(minutes=5)

CertificateKind = Literal["server", "client"]
PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


def _name(common: str, organisation: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common)]
    if organisation:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation))
    return x509.Name(attributes)


def cert_pem(cert: x509.Certificate) -> bytes:
    """The certificate as PEM."""
    return cert.public_bytes(serialization.Encoding.PEM)


def make_ca(fleet: str, now: datetime, days: int) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A new fleet CA: its key and its self-signed certificate (``CN=Vitrina fleet {fleet}``)."""
    key = new_private_key()
    subject = _name(f"Vitrina fleet {fleet}", "Vitrina")
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _san(names: Iterable[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for name in names:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            out.append(x509.DNSName(name))
    return out


def issue_certificate(
    ca_key: SigningKey,
    ca_cert: x509.Certificate,
    public_key: ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey,
    name: str,
    *,
    now: datetime,
    days: int,
    kind: CertificateKind = "client",
    hosts: Sequence[str] = (),
) -> x509.Certificate:
    """A certificate for ``public_key`` with common name ``name``, signed by the CA, valid ``days``.

    ``server``: the broker's (``hosts`` become its subject alternative names); ``client``: a device, a
    back-office process or the claim identity (the broker takes ``name`` as the user name).
    """
    usage = ExtendedKeyUsageOID.SERVER_AUTH if kind == "server" else ExtendedKeyUsageOID.CLIENT_AUTH
    not_after = min(now + timedelta(days=days), ca_cert.not_valid_after_utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=False,
                crl_sign=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(_ca_public(ca_cert)), critical=False
        )
    )
    if hosts:
        builder = builder.add_extension(x509.SubjectAlternativeName(_san(hosts)), critical=False)
    algorithm = hashes.SHA256() if isinstance(ca_key, ec.EllipticCurvePrivateKey) else None
    return builder.sign(ca_key, algorithm)


def _ca_public(ca_cert: x509.Certificate) -> ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey:
    key = ca_cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
        raise TypeError(f"the CA's key is a {type(key).__name__}; Vitrina's CA is P-256")
    return key


#: A CSR larger than this is refused unread (a P-256 CSR is about 400 bytes of PEM).
MAX_CSR_BYTES: Final = 8 * 1024


def load_csr(data: bytes) -> x509.CertificateSigningRequest:
    """Parse a PEM CSR and check its self-signature (the requester holds the key); :class:`CsrError`."""
    if len(data) > MAX_CSR_BYTES:
        raise CsrError(f"the CSR is {len(data)} bytes; a Vitrina CSR is under {MAX_CSR_BYTES}")
    try:
        csr = x509.load_pem_x509_csr(data)
    except ValueError as exc:
        raise CsrError(
            "not a PEM certificate signing request (make one with `provision device init`)"
        ) from exc
    if not csr.is_signature_valid:
        raise CsrError("the CSR's signature does not verify: it was not made with the key it carries")
    key = csr.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1 | ec.SECP384R1):
            raise CsrError(f"the CSR's key is on curve {key.curve.name}; use P-256")
    elif not isinstance(key, ed25519.Ed25519PublicKey):
        raise CsrError(f"the CSR's key is a {type(key).__name__}; use P-256 (provision device init)")
    return csr


def csr_public_key(
    csr: x509.CertificateSigningRequest,
) -> ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey:
    """The CSR's public key (checked by :func:`load_csr`)."""
    key = csr.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey)
    return key


def certificate_public_key(cert: x509.Certificate) -> PublicKey:
    """A certificate's public key, of a kind Vitrina issues (TypeError otherwise)."""
    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
        raise TypeError(f"a {type(key).__name__} key; Vitrina issues P-256")
    return key


def csr_common_name(csr: x509.CertificateSigningRequest) -> str:
    """The common name the CSR asks for, '' when it names none."""
    names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


@dataclass(frozen=True)
class CrlEntry:
    """One revoked certificate: its serial number and when it was revoked."""

    serial: int
    revoked_at: datetime


def build_crl(
    ca_key: SigningKey,
    ca_cert: x509.Certificate,
    entries: Iterable[CrlEntry],
    *,
    now: datetime,
    valid_days: float,
    number: int,
) -> bytes:
    """The fleet's CRL (PEM), valid until ``now + valid_days`` (its nextUpdate), numbered ``number``."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now - BACKDATE)
        .next_update(now + timedelta(days=valid_days))
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(_ca_public(ca_cert)), critical=False
        )
    )
    for entry in entries:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(entry.serial)
            .revocation_date(entry.revoked_at)
            .build()
        )
    algorithm = hashes.SHA256() if isinstance(ca_key, ec.EllipticCurvePrivateKey) else None
    crl = builder.sign(ca_key, algorithm)
    return crl.public_bytes(serialization.Encoding.PEM)


def check_crl(
    data: bytes, ca_cert: x509.Certificate, now: datetime, must_revoke: Iterable[int] = ()
) -> x509.CertificateRevocationList:
    """Check a CRL before it replaces the broker's: PEM, issued and signed by the CA, within its validity,
    listing every serial in ``must_revoke``. Raises :class:`CrlError` naming what is wrong."""
    try:
        crl = x509.load_pem_x509_crl(data)
    except ValueError as exc:
        raise CrlError("the new CRL is not a PEM CRL") from exc
    if crl.issuer != ca_cert.subject:
        raise CrlError(f"the new CRL is issued by {crl.issuer.rfc4514_string()}, not by the fleet's CA")
    try:
        valid = crl.is_signature_valid(_ca_public(ca_cert))
    except (InvalidSignature, TypeError):
        valid = False
    if not valid:
        raise CrlError("the new CRL's signature does not verify under the fleet's CA")
    next_update = crl.next_update_utc
    if next_update is None or next_update <= now:
        raise CrlError("the new CRL has no nextUpdate in the future: the broker would refuse every device")
    missing = [s for s in must_revoke if crl.get_revoked_certificate_by_serial_number(s) is None]
    if missing:
        raise CrlError(f"the new CRL leaves out {len(missing)} revoked certificate(s), e.g. {missing[0]:x}")
    return crl


def crl_next_update(data: bytes) -> datetime | None:
    """The nextUpdate of a PEM CRL, or None when it cannot be read."""
    try:
        return x509.load_pem_x509_crl(data).next_update_utc
    except ValueError:
        return None


def load_certificate(data: bytes) -> x509.Certificate:
    """Parse a PEM certificate (ValueError when it is not one)."""
    return x509.load_pem_x509_certificate(data)
