"""Ed25519 signing helpers shared by signed commands (:mod:`mqtt_bridge.commands`) and catalogue releases
(:mod:`mqtt_bridge.catalogue`): base64url, canonical JSON, configured public keys, verification.

A public key is configured as its raw 32 bytes in base64url (:func:`public_key_text`); a signature is the
raw 64 bytes in base64url, over the canonical JSON (sorted keys, no spaces, UTF-8) of what it signs.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Sequence

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import JsonValue

from mqtt_bridge.errors import MqttBridgeError


def b64url_encode(data: bytes) -> str:
    """URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Inverse of :func:`b64url_encode`; raises ``ValueError`` on bad input."""
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64url") from exc


def canonical_json(data: JsonValue) -> bytes:
    """Canonical JSON bytes: sorted keys, no spaces, UTF-8 (not ASCII-escaped)."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def public_key_text(key: Ed25519PrivateKey) -> str:
    """The public half of ``key`` as devices configure it (raw, base64url)."""
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return b64url_encode(raw)


def load_public_keys(texts: Iterable[str], setting: str) -> list[Ed25519PublicKey]:
    """Parse configured public keys; :class:`MqttBridgeError` naming ``setting`` for a bad entry."""
    keys = []
    for text in texts:
        try:
            keys.append(Ed25519PublicKey.from_public_bytes(b64url_decode(text)))
        except ValueError as exc:
            raise MqttBridgeError(
                f"{setting} has an entry that is not a raw Ed25519 key in base64url "
                f"({text[:12]}...); export it with `public_key_text` (printed by `backoffice keygen`)"
            ) from exc
    return keys


def sign_bytes(message: bytes, key: Ed25519PrivateKey) -> str:
    """The Ed25519 signature of ``message`` in base64url."""
    return b64url_encode(key.sign(message))


def signature_problem(signature: str | None, message: bytes, keys: Sequence[Ed25519PublicKey]) -> str:
    """Why ``signature`` is not a valid signature of ``message`` by one of ``keys``; '' when it is."""
    if signature is None:
        return "unsigned: it must be signed by the back office"
    if not keys:
        return "no back-office public key is configured on this device"
    try:
        raw = b64url_decode(signature)
    except ValueError:
        return "signature is not base64url"
    for key in keys:
        try:
            key.verify(raw, message)
        except InvalidSignature:
            continue
        return ""
    return "bad signature"
