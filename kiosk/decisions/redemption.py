"""Redemption codes: short, human-typable, tied to the offer shown and never to a person.

A code is ``NNNN-MMMM`` in Crockford's base32 (no I, L, O or U: nothing to misread at a till): four
characters of a random nonce and four of an HMAC-SHA256 of ``offer id + nonce`` under the device's secret.
A till that knows the offer id checks a code with :meth:`RedemptionCodes.verify` without asking anyone;
nothing in it says who was in front of the screen. The QR code carries the same two facts.
"""

from __future__ import annotations

import hashlib
import hmac
import random
from dataclasses import dataclass

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PART = 4
_MISREAD = str.maketrans({"O": "0", "I": "1", "L": "1", "U": "V", "-": None, " ": None})


@dataclass(frozen=True)
class Redemption:
    """A code shown with an offer, and what its QR code carries."""

    offer_id: str
    code: str

    @property
    def qr_payload(self) -> str:
        """The text in the QR code: the offer and the code, nothing else."""
        return f"VITRINA:{self.offer_id}:{self.code}"


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, digit = divmod(value, 32)
        chars.append(ALPHABET[digit])
    return "".join(reversed(chars))


def normalise(code: str) -> str:
    """Upper-case, dashes and spaces gone, misreadable letters mapped (O->0, I/L->1, U->V)."""
    return code.upper().translate(_MISREAD)


class RedemptionCodes:
    """Issue and check codes under one device secret (at least 16 bytes)."""

    def __init__(self, secret: bytes, rng: random.Random) -> None:
        if len(secret) < 16:
            raise ValueError("the redemption secret must be at least 16 bytes")
        self._secret = secret
        self._rng = rng

    def _mac(self, offer_id: str, nonce: str) -> str:
        digest = hmac.new(self._secret, f"{offer_id}:{nonce}".encode(), hashlib.sha256).digest()
        return _encode(int.from_bytes(digest[:4], "big") >> (32 - 5 * _PART), _PART)

    def issue(self, offer_id: str) -> Redemption:
        """A fresh code for ``offer_id``."""
        nonce = _encode(self._rng.getrandbits(5 * _PART), _PART)
        return Redemption(offer_id, f"{nonce}-{self._mac(offer_id, nonce)}")

    def verify(self, offer_id: str, code: str) -> bool:
        """Whether ``code`` was issued for ``offer_id`` by this secret (typing slips forgiven)."""
        plain = normalise(code)
        if len(plain) != 2 * _PART or any(c not in ALPHABET for c in plain):
            return False
        nonce, mac = plain[:_PART], plain[_PART:]
        return hmac.compare_digest(mac, self._mac(offer_id, nonce))


def qr_matrix(payload: str) -> tuple[str, ...] | None:
    """The QR code of ``payload`` as rows of '1' (dark) and '0', without the quiet zone.

    None when :mod:`segno` (pure Python) is not installed: the screen then shows the code alone.
    """
    try:
        import segno
    except ImportError:
        return None
    qr = segno.make_qr(payload, error="m")
    return tuple("".join("1" if cell else "0" for cell in row) for row in qr.matrix)
