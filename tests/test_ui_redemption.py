"""Redemption codes: short, typable, tied to the offer (not a person), checkable offline."""

from __future__ import annotations

import random
import re

import pytest

from kiosk.decisions.redemption import ALPHABET, RedemptionCodes, normalise, qr_matrix

SECRET = b"0123456789abcdef0123456789abcdef"


def test_codes_verify_for_their_offer_only() -> None:
    codes = RedemptionCodes(SECRET, random.Random(1))
    issued = codes.issue("coffee-to-go")
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}", issued.code)
    assert codes.verify("coffee-to-go", issued.code)
    assert not codes.verify("croissant-pair", issued.code)
    other = RedemptionCodes(b"another-secret-of-32-bytes-xxxxx", random.Random(1))
    assert not other.verify("coffee-to-go", issued.code)


def test_typing_slips_are_forgiven_and_garbage_refused() -> None:
    codes = RedemptionCodes(SECRET, random.Random(2))
    code = codes.issue("family-box").code
    typed = code.lower().replace("-", " ").replace("0", "o").replace("1", "l")
    assert codes.verify("family-box", typed)
    assert normalise("ab-cd") == "ABCD"
    assert not codes.verify("family-box", "ZZZZ")
    assert not codes.verify("family-box", "!!!!-????")


def test_every_issue_is_fresh_and_says_nothing_about_a_person() -> None:
    codes = RedemptionCodes(SECRET, random.Random(3))
    issued = {codes.issue("coffee-to-go").code for _ in range(200)}
    assert len(issued) > 190
    one = codes.issue("coffee-to-go")
    assert one.qr_payload == f"VITRINA:coffee-to-go:{one.code}"
    assert set(one.code.replace("-", "")) <= set(ALPHABET)


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        RedemptionCodes(b"short", random.Random(0))


def test_qr_matrix_is_square_and_has_finder_patterns() -> None:
    pytest.importorskip("segno")
    rows = qr_matrix("VITRINA:coffee-to-go:ABCD-EFGH")
    assert rows is not None
    assert all(len(r) == len(rows) for r in rows) and len(rows) >= 21
    assert rows[0][:7] == "1111111" and rows[6][:7] == "1111111"
