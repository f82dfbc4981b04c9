"""Redemption codes: the one scheme, issued by a kiosk and checked at a till without asking the kiosk.

A code is 16 characters of Crockford's base32 (``0-9 A-Z`` without I, L, O and U), shown in four groups::

    OODD-EENN-MMMM-MMMM

* ``OO``: the offer reference, the first 10 bits of SHA-256 of the offer id (public; several offers of a
  catalogue may share one, the MAC tells them apart);
* ``DD``: the device reference, the first 10 bits of SHA-256 of the device id (public, likewise);
* ``EE``: the last day the code is good for, as days since 1970-01-01 modulo 1024; it is read as the one
  such day within 512 days of the till's today (codes live for weeks, so this is never ambiguous);
* ``NN``: a 10-bit nonce, drawn by the kiosk, which draws again while a code it holds has the same text;
* ``MMMMMMMM``: 40 bits of HMAC-SHA256, under the device's redemption secret, of the version, the full
  device id, the full offer id, the full expiry date and the eight characters before it.

**Device secrets** are derived from one fleet key (:func:`device_secret`): HMAC-SHA256 under the back
office's redemption master key of the scheme's derivation label, the store id and the device id, written
as base64url without padding (43 characters). The device is given that text as its ``[redemption] secret``
and keys its MACs with the text's UTF-8 bytes (:func:`secret_bytes`); the back office, holding only the
master key, derives any device's secret when a code comes to the till. A derived secret says nothing about
the master key or any other device's secret.

The till knows its store's devices with their secrets and the catalogue's offers; :func:`verify` tries the
(device, offer) pairs whose references match, so a guessed code is accepted with a chance of at most
``pairs * 2**-40`` (about 9.1e-13 for one pair). Nothing in a code says who was in front of the screen.
A QR code carries the same code (:func:`qr_payload`); :func:`normalise` also takes what a scanner reads.

Standard library and pydantic only.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import random
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from mqtt_bridge.contract.errors import ContractError

#: Crockford's base32 alphabet: nothing a person at a till could misread (no I, L, O or U).
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
#: What a scanner reads from the QR code before the code itself.
QR_PREFIX = "VITRINA:R1:"
#: Characters of a code, without the dashes.
CODE_LENGTH = 16
#: Bits of the MAC (eight characters).
MAC_BITS = 40
#: Shortest device secret accepted, in bytes.
MIN_SECRET_BYTES = 16
#: Expiry days are carried modulo this; a code may not live longer than half of it.
DAY_WRAP = 1024
MAX_VALID_DAYS = DAY_WRAP // 2 - 1

_VERSION = b"vitrina-redemption/1"
_EPOCH = date(1970, 1, 1)
_SLIPS = str.maketrans({"O": "0", "I": "1", "L": "1", "-": None, " ": None})
_VALUES = {c: i for i, c in enumerate(ALPHABET)}

Status = Literal["ok", "malformed", "wrong_device", "unknown_offer", "bad_mac", "expired"]

#: The command a back office sends a device when a till redeemed one of its codes: args ``{"code": ...}``;
#: the device rewards the code's bandit arm once and records ``offer_redeemed`` (docs/mqtt.md).
REDEEM_COMMAND: Final = "redeem"
#: Shortest redemption master key accepted, in bytes.
MIN_MASTER_BYTES = 32
_DERIVATION = b"vitrina-redemption-device/1"


class RedemptionSecretError(ContractError):
    """A device's redemption secret (or the fleet's master key) is too short to key the MAC."""


def check_master(master: bytes) -> None:
    """Raise :class:`RedemptionSecretError` when ``master`` is too short to derive device secrets from."""
    if len(master) < MIN_MASTER_BYTES:
        raise RedemptionSecretError(
            f"the redemption master key is {len(master)} bytes, at least {MIN_MASTER_BYTES} are needed; make "
            "one with `python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
        )


def device_secret(master: bytes, store_id: str, device_id: str) -> str:
    """The redemption secret of ``device_id`` in ``store_id``, derived from the fleet's master key:
    base64url (no padding) of HMAC-SHA256(master, label NUL store NUL device). Give the device this text as
    its ``[redemption] secret``; both sides key the MAC with :func:`secret_bytes` of it."""
    check_master(master)
    if not store_id or not device_id or "\0" in store_id or "\0" in device_id:
        raise ContractError("a device secret needs a store id and a device id (no NUL characters)")
    digest = hmac.new(
        master, b"\0".join([_DERIVATION, store_id.encode(), device_id.encode()]), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def secret_bytes(secret_text: str) -> bytes:
    """The MAC key of a secret as configured (``[redemption] secret``): its UTF-8 bytes."""
    return secret_text.encode("utf-8")


class Verdict(BaseModel):
    """What a till learns from checking a code: whether to honour it, and if not, why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: Status = Field(
        description="'ok': honour it; 'malformed': not 16 code characters; 'wrong_device': made by no device "
        "of this store; 'unknown_offer': for no offer of this catalogue; 'bad_mac': mistyped or forged; "
        "'expired': genuine, but past its last day."
    )
    code: str = Field(description="The code as normalised (grouped XXXX-XXXX-XXXX-XXXX when well-formed).")
    offer_id: str | None = Field(default=None, description="The offer it is for (ok and expired only).")
    device_id: str | None = Field(
        default=None, description="The device that issued it (ok and expired only)."
    )
    expires: date | None = Field(default=None, description="Its last valid day (ok and expired only).")
    message: str = Field(description="What was found and what to do, for the person at the till.")

    @property
    def ok(self) -> bool:
        """Whether the till should honour the code."""
        return self.status == "ok"

    def __bool__(self) -> bool:
        # ``if verify(...)`` would honour every code, refused ones included (a model is always truthy).
        raise TypeError("a Verdict is not a yes or no: test verdict.ok, or look at verdict.status")


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, digit = divmod(value, 32)
        chars.append(ALPHABET[digit])
    return "".join(reversed(chars))


def _decode(chars: str) -> int:
    value = 0
    for char in chars:
        value = value * 32 + _VALUES[char]
    return value


def _ref(kind: bytes, name: str) -> str:
    digest = hashlib.sha256(kind + b"\0" + name.encode()).digest()
    return _encode(int.from_bytes(digest[:2], "big") >> 6, 2)


@functools.lru_cache(maxsize=4096)
def offer_ref(offer_id: str) -> str:
    """The two characters that stand for ``offer_id`` in a code."""
    return _ref(b"offer", offer_id)


@functools.lru_cache(maxsize=4096)
def device_ref(device_id: str) -> str:
    """The two characters that stand for ``device_id`` in a code."""
    return _ref(b"device", device_id)


def check_secret(secret: bytes) -> None:
    """Raise :class:`RedemptionSecretError` when ``secret`` is too short to key the MAC."""
    if len(secret) < MIN_SECRET_BYTES:
        raise RedemptionSecretError(
            f"the redemption secret is {len(secret)} bytes, at least {MIN_SECRET_BYTES} are needed; make one "
            "with `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
        )


def _mac(secret: bytes, device_id: str, offer_id: str, expires: date, head: str) -> str:
    message = b"\0".join(
        [_VERSION, device_id.encode(), offer_id.encode(), expires.isoformat().encode(), head.encode()]
    )
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return _encode(int.from_bytes(digest[:5], "big"), MAC_BITS // 5)


def _group(plain: str) -> str:
    return "-".join(plain[i : i + 4] for i in range(0, len(plain), 4))


def issue(*, secret: bytes, device_id: str, offer_id: str, expires: date, rng: random.Random) -> str:
    """A fresh code (grouped ``XXXX-XXXX-XXXX-XXXX``) for ``offer_id`` from ``device_id``, good through
    ``expires``. The nonce comes from ``rng``; the caller draws again if it already holds the same text."""
    check_secret(secret)
    day = _encode((expires - _EPOCH).days % DAY_WRAP, 2)
    head = offer_ref(offer_id) + device_ref(device_id) + day + _encode(rng.getrandbits(10), 2)
    return _group(head + _mac(secret, device_id, offer_id, expires, head))


def normalise(code: str) -> str:
    """Forgive typing slips: case, spaces, dashes, O for 0, I or L for 1; a scanned QR prefix is dropped.

    A well-formed code comes back grouped (``XXXX-XXXX-XXXX-XXXX``); anything else comes back cleaned but
    ungrouped, and :func:`verify` calls it malformed."""
    text = code.strip().upper()
    if text.startswith(QR_PREFIX):
        text = text[len(QR_PREFIX) :]
    plain = text.translate(_SLIPS)
    if len(plain) == CODE_LENGTH and all(c in _VALUES for c in plain):
        return _group(plain)
    return plain


def _expiry(chars: str, today: date) -> date:
    """The day within ``DAY_WRAP // 2`` days of ``today`` whose number ends in ``chars``."""
    offset = (_decode(chars) - (today - _EPOCH).days) % DAY_WRAP
    if offset >= DAY_WRAP // 2:
        offset -= DAY_WRAP
    return today + timedelta(days=offset)


def verify(code: str, *, devices: Mapping[str, bytes], offers: Iterable[str], today: date) -> Verdict:
    """Check ``code`` against the store's ``devices`` (device id -> redemption secret) and the catalogue's
    ``offers`` (ids) on ``today`` (the store's local date). Typing slips are forgiven (:func:`normalise`)."""
    grouped = normalise(code)
    plain = grouped.replace("-", "")
    if len(plain) != CODE_LENGTH or any(c not in _VALUES for c in plain):
        return Verdict(
            status="malformed",
            code=grouped,
            message=f"a code is {CODE_LENGTH} characters (0-9 and letters, no I, L, O or U), "
            f"got {len(plain)}; check it against the screen or scan the QR code",
        )
    head, mac = plain[:8], plain[8:]
    device_ids = [d for d in devices if device_ref(d) == head[2:4]]
    if not device_ids:
        return Verdict(
            status="wrong_device",
            code=grouped,
            message="no device of this store issued this code; it comes from another store, or is mistyped",
        )
    offer_ids = [o for o in offers if offer_ref(o) == head[0:2]]
    if not offer_ids:
        return Verdict(
            status="unknown_offer",
            code=grouped,
            message="the code is for no offer of the current catalogue; check the code, or the offer ended",
        )
    expires = _expiry(head[4:6], today)
    for device_id in device_ids:
        secret = devices[device_id]
        check_secret(secret)
        for offer_id in offer_ids:
            if hmac.compare_digest(mac, _mac(secret, device_id, offer_id, expires, head)):
                late = today > expires
                return Verdict(
                    status="expired" if late else "ok",
                    code=grouped,
                    offer_id=offer_id,
                    device_id=device_id,
                    expires=expires,
                    message=f"the code was good through {expires}; do not honour it"
                    if late
                    else f"valid for {offer_id} through {expires}",
                )
    return Verdict(
        status="bad_mac",
        code=grouped,
        message="the code does not check out: it is mistyped or forged; type it again or scan the QR code",
    )


def qr_payload(code: str) -> str:
    """The text of the QR code shown with ``code``: the prefix and the code, nothing else (alphanumeric
    QR mode). Raises :class:`ContractError` for a malformed code."""
    grouped = normalise(code)
    if len(grouped) != CODE_LENGTH + 3 or "-" not in grouped:
        raise ContractError(f"{code!r} is not a redemption code; pass one that issue() returned")
    return QR_PREFIX + grouped
