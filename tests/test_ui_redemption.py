"""Redemption codes as the screen shows them: issued by the device's issuer in the contract's format, tied
to the offer (not a person), checkable offline, with a QR code that carries the code alone."""

from __future__ import annotations

import random
import re
from datetime import date

import pytest

from kiosk.decisions.redemption import ALPHABET, CodeIssuer, MemoryCodeStore, normalise, qr_matrix
from mqtt_bridge.contract.redemption import QR_PREFIX, RedemptionSecretError, qr_payload, verify

SECRET = b"0123456789abcdef0123456789abcdef"
OFFERS = ["coffee-to-go", "croissant-pair", "family-box"]
CODE_RE = r"[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}"


def _issuer(secret: bytes = SECRET, seed: int = 1) -> CodeIssuer:
    return CodeIssuer(
        secret=secret,
        device_id="kiosk-1",
        valid_days=14,
        store=MemoryCodeStore(),
        rng=random.Random(seed),
        today=lambda: date(2026, 6, 1),
    )


def _code(issuer: CodeIssuer, offer_id: str) -> str:
    code = issuer.issue(offer_id, "bucket")
    assert code is not None
    return code


def test_codes_verify_for_their_offer_only() -> None:
    issuer = _issuer()
    code = _code(issuer, "coffee-to-go")
    assert re.fullmatch(CODE_RE, code)
    verdict = issuer.verify(code, OFFERS)
    assert verdict.ok and verdict.offer_id == "coffee-to-go"
    assert not issuer.verify(code, ["croissant-pair"]).ok
    assert _issuer(b"another-secret-of-32-bytes-xxxxx").verify(code, OFFERS).status == "bad_mac"


def test_a_verdict_cannot_be_mistaken_for_a_yes() -> None:
    verdict = _issuer().verify("ZZZZ", OFFERS)
    assert verdict.status == "malformed"
    with pytest.raises(TypeError, match=r"verdict\.ok"):
        bool(verdict)


def test_typing_slips_are_forgiven_and_garbage_refused() -> None:
    issuer = _issuer(seed=2)
    code = _code(issuer, "family-box")
    typed = code.lower().replace("-", " ").replace("0", "o").replace("1", "l")
    assert issuer.verify(typed, OFFERS).ok
    assert normalise("ab-cd") == "ABCD"
    assert issuer.verify("!!!!-????-!!!!-????", OFFERS).status == "malformed"


def test_every_issue_is_fresh_and_says_nothing_about_a_person() -> None:
    issuer = _issuer(seed=3)
    issued = [_code(issuer, "coffee-to-go") for _ in range(200)]
    assert len(set(issued)) == 200, "the issuer draws again for a nonce it already holds"
    assert qr_payload(issued[0]) == f"{QR_PREFIX}{issued[0]}"
    assert all(set(code.replace("-", "")) <= set(ALPHABET) for code in issued)
    today = date(2026, 6, 1)
    assert verify(issued[0], devices={"kiosk-1": SECRET}, offers=OFFERS, today=today).ok


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(RedemptionSecretError, match="16 are needed"):
        _issuer(b"short")


def test_qr_matrix_is_square_and_has_finder_patterns() -> None:
    pytest.importorskip("segno")
    rows = qr_matrix(qr_payload(_code(_issuer(), "coffee-to-go")))
    assert rows is not None
    assert all(len(r) == len(rows) for r in rows) and len(rows) >= 21
    assert rows[0][:7] == "1111111" and rows[6][:7] == "1111111"
