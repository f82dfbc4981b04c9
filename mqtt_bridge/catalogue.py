"""Signed offer catalogue releases: build and sign (the back office), verify (the device).

A :class:`~mqtt_bridge.contract.payloads.CatalogueRelease` is published retained on
``{prefix}/{store}/catalogue``.
It carries the catalogue document as JSON text (this package knows nothing of ``kiosk.decisions.offers``) and
every
file the catalogue refers to *inline*, base64url, with its sha256 and size: a device fetches nothing, so it
never has to trust a URL. :func:`verify_release` refuses, with a :class:`CatalogueRejectedError` naming the
problem, a payload that is

- larger than ``max_bytes`` (``too_large``), not JSON (``not_json``), not a valid release (``bad_schema``);
- unsigned (``unsigned``) or not signed by one of the back office's keys (``bad_signature``);
- for another store (``wrong_store``);
- carrying an asset whose bytes do not match its sha256 or size, or are not base64url (``asset_mismatch``).

The signature covers everything but itself (:func:`release_signing_bytes`), assets' bytes included.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import ValidationError

from mqtt_bridge.contract.payloads import CatalogueAsset, CatalogueRelease
from mqtt_bridge.errors import MqttBridgeError
from mqtt_bridge.signing import b64url_decode, b64url_encode, canonical_json, sign_bytes, signature_problem

#: Default bound on a release payload (bytes): the catalogue and its pictures, base64url (4/3 larger).
DEFAULT_MAX_RELEASE_BYTES: Final = 4 * 1024 * 1024

Problem = Literal[
    "too_large", "not_json", "bad_schema", "unsigned", "bad_signature", "wrong_store", "asset_mismatch"
]


class CatalogueRejectedError(MqttBridgeError):
    """A catalogue release was refused; ``problem`` says which check failed, the message says why."""

    def __init__(self, problem: Problem, message: str) -> None:
        super().__init__(f"{problem}: {message}")
        self.problem: Problem = problem
        self.detail = message


@dataclass(frozen=True)
class VerifiedRelease:
    """A release whose signature and inline assets checked out.

    ``files`` maps each inline asset's name to its bytes (already checked against its sha256 and size);
    an asset without ``data`` is not in it: the device must already hold a file with that sha256.
    """

    release: CatalogueRelease
    files: Mapping[str, bytes]


def release_signing_bytes(release: CatalogueRelease) -> bytes:
    """What is signed: the release's canonical JSON (sorted keys, no spaces, UTF-8) without ``signature``."""
    return canonical_json(release.model_dump(mode="json", exclude={"signature"}))


def build_release(
    store_id: str, version: int, issued_at: datetime, catalogue_text: str, files: Mapping[str, bytes]
) -> CatalogueRelease:
    """An unsigned release carrying ``files`` (name -> bytes) inline; raises ``ValidationError``."""
    assets = [
        CatalogueAsset(
            name=name, sha256=hashlib.sha256(data).hexdigest(), size=len(data), data=b64url_encode(data)
        )
        for name, data in sorted(files.items())
    ]
    return CatalogueRelease(
        store_id=store_id, version=version, issued_at=issued_at, catalogue=catalogue_text, assets=assets
    )


def sign_release(release: CatalogueRelease, key: Ed25519PrivateKey) -> CatalogueRelease:
    """The release with the back office's Ed25519 signature."""
    return release.model_copy(update={"signature": sign_bytes(release_signing_bytes(release), key)})


def verify_release(
    payload: bytes,
    public_keys: Sequence[Ed25519PublicKey],
    max_bytes: int = DEFAULT_MAX_RELEASE_BYTES,
    store_id: str | None = None,
) -> VerifiedRelease:
    """Check a release payload: size, JSON, schema, signature, store (when given), assets' bytes.

    Raises :class:`CatalogueRejectedError` naming the first problem found; never anything else.
    """
    if len(payload) > max_bytes:
        raise CatalogueRejectedError(
            "too_large", f"the release is {len(payload)} bytes, more than the limit of {max_bytes}"
        )
    try:
        json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise CatalogueRejectedError("not_json", "the payload is not JSON") from None
    try:
        release = CatalogueRelease.model_validate_json(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "payload"
        raise CatalogueRejectedError(
            "bad_schema", f"not a catalogue release: {where}: {first['msg']}"
        ) from None
    if release.signature is None:
        raise CatalogueRejectedError("unsigned", "the release is not signed by the back office")
    problem = signature_problem(release.signature, release_signing_bytes(release), public_keys)
    if problem:
        raise CatalogueRejectedError("bad_signature", problem)
    if store_id is not None and release.store_id != store_id:
        raise CatalogueRejectedError(
            "wrong_store", f"the release is for store {release.store_id!r}, this device is in {store_id!r}"
        )
    files: dict[str, bytes] = {}
    for asset in release.assets:
        if asset.data is None:
            continue
        try:
            data = b64url_decode(asset.data)
        except ValueError:
            raise CatalogueRejectedError("asset_mismatch", f"asset {asset.name!r} is not base64url") from None
        if len(data) != asset.size or hashlib.sha256(data).hexdigest() != asset.sha256:
            raise CatalogueRejectedError(
                "asset_mismatch", f"asset {asset.name!r} does not match its sha256 and size"
            )
        files[asset.name] = data
    return VerifiedRelease(release, files)
