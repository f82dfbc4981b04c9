"""The redemption-code scheme of the wire contract: what a till accepts, and what it refuses."""

from __future__ import annotations

import random
import re
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mqtt_bridge.contract.errors import ContractError
from mqtt_bridge.contract.redemption import (
    ALPHABET,
    MAX_VALID_DAYS,
    QR_PREFIX,
    RedemptionSecretError,
    device_ref,
    issue,
    normalise,
    offer_ref,
    qr_payload,
    verify,
)

SECRET = b"kiosk-1 redemption secret, 32 b"
OTHER = b"kiosk-2 redemption secret, 32 b"
OFFERS = ["coffee-morning", "croissant-pair", "wine-tasting", "family-box", "help-desk"]
TODAY = date(2026, 6, 1)
EXPIRES = TODAY + timedelta(days=14)
CODE_RE = re.compile(r"[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}")

secrets_st = st.binary(min_size=16, max_size=64)
ids_st = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,20}", fullmatch=True)


def _issue(
    offer: str = "coffee-morning", device: str = "kiosk-1", secret: bytes = SECRET, seed: int = 0
) -> str:
    return issue(secret=secret, device_id=device, offer_id=offer, expires=EXPIRES, rng=random.Random(seed))


def test_an_issued_code_verifies_with_its_offer_device_and_expiry() -> None:
    code = _issue("wine-tasting")
    assert CODE_RE.fullmatch(code)
    verdict = verify(code, devices={"kiosk-1": SECRET, "kiosk-2": OTHER}, offers=OFFERS, today=TODAY)
    assert verdict.ok
    assert (verdict.offer_id, verdict.device_id, verdict.expires) == ("wine-tasting", "kiosk-1", EXPIRES)
    assert code.startswith(offer_ref("wine-tasting") + device_ref("kiosk-1"))


def test_a_million_random_codes_verify_zero_times() -> None:
    # Forgeries with the public part right (a real offer's and device's references, a plausible expiry):
    # each one reaches the MAC comparison, the only thing standing between a guess and a free coffee.
    rng = random.Random(20261204)
    devices = {"kiosk-1": SECRET}
    prefixes = [offer_ref(o) + device_ref("kiosk-1") for o in OFFERS]
    accepted = 0
    statuses: set[str] = set()
    for _ in range(1_000_000):
        tail = "".join(rng.choices(ALPHABET, k=12))
        verdict = verify(rng.choice(prefixes) + tail, devices=devices, offers=OFFERS, today=TODAY)
        statuses.add(verdict.status)
        accepted += verdict.status in ("ok", "expired")
    assert accepted == 0
    assert statuses == {"bad_mac"}


@given(st.text(alphabet=ALPHABET + "-", min_size=16, max_size=19))
def test_arbitrary_strings_never_verify(text: str) -> None:
    assert not verify(text, devices={"kiosk-1": SECRET}, offers=OFFERS, today=TODAY).ok


@given(secrets_st, secrets_st, st.sampled_from(OFFERS), st.integers(0, 2**32))
def test_no_code_verifies_under_another_devices_secret(
    own: bytes, other: bytes, offer: str, seed: int
) -> None:
    code = _issue(offer, secret=own, seed=seed)
    assert verify(code, devices={"kiosk-1": own}, offers=OFFERS, today=TODAY).ok
    if other != own:
        assert verify(code, devices={"kiosk-1": other}, offers=OFFERS, today=TODAY).status == "bad_mac"


def test_a_code_of_a_device_not_in_this_store_is_the_wrong_device() -> None:
    assert device_ref("kiosk-1") != device_ref("kiosk-2")
    code = _issue(device="kiosk-1")
    verdict = verify(code, devices={"kiosk-2": OTHER}, offers=OFFERS, today=TODAY)
    assert verdict.status == "wrong_device" and "another store" in verdict.message
    assert verify(code, devices={"kiosk-1": SECRET}, offers=["family-box"], today=TODAY).status in (
        "unknown_offer",
        "bad_mac",  # only if the two offers' references happen to collide
    )


@given(st.integers(0, 15), st.sampled_from(ALPHABET), st.integers(0, 2**32))
def test_any_one_character_changed_is_refused(position: int, char: str, seed: int) -> None:
    plain = _issue(seed=seed).replace("-", "")
    tampered = plain[:position] + char + plain[position + 1 :]
    verdict = verify(tampered, devices={"kiosk-1": SECRET}, offers=OFFERS, today=TODAY)
    assert verdict.ok == (tampered == plain)


def test_a_tampered_offer_or_expiry_fails_the_mac() -> None:
    code = _issue("coffee-morning").replace("-", "")
    as_wine = offer_ref("wine-tasting") + code[2:]
    assert verify(as_wine, devices={"kiosk-1": SECRET}, offers=OFFERS, today=TODAY).status == "bad_mac"
    later = (
        code[:4]
        + issue(
            secret=SECRET,
            device_id="kiosk-1",
            offer_id="coffee-morning",
            expires=EXPIRES + timedelta(days=30),
            rng=random.Random(0),
        ).replace("-", "")[4:6]
        + code[6:]
    )
    assert later != code
    assert verify(later, devices={"kiosk-1": SECRET}, offers=OFFERS, today=TODAY).status == "bad_mac"


def test_an_expired_code_is_refused_and_the_last_day_is_still_good() -> None:
    code = _issue()
    devices = {"kiosk-1": SECRET}
    assert verify(code, devices=devices, offers=OFFERS, today=EXPIRES).ok
    late = verify(code, devices=devices, offers=OFFERS, today=EXPIRES + timedelta(days=1))
    assert late.status == "expired" and late.expires == EXPIRES and not late.ok
    assert "good through 2026-06-15" in late.message


@given(st.integers(0, MAX_VALID_DAYS), st.integers(-MAX_VALID_DAYS, 0))
def test_the_expiry_day_is_read_back_exactly_within_the_window(valid: int, since: int) -> None:
    issued_on = TODAY + timedelta(days=since)
    expires = issued_on + timedelta(days=valid)
    code = issue(
        secret=SECRET, device_id="kiosk-1", offer_id="help-desk", expires=expires, rng=random.Random(1)
    )
    verdict = verify(code, devices={"kiosk-1": SECRET}, offers=OFFERS, today=issued_on)
    assert verdict.ok and verdict.expires == expires


def test_typing_slips_and_a_scanned_qr_code_are_forgiven() -> None:
    code = _issue("family-box", seed=5)
    devices = {"kiosk-1": SECRET}
    typed = [
        code.lower(),
        code.replace("-", " "),
        code.replace("-", ""),
        code.replace("0", "O").replace("1", "I"),
        code.replace("1", "l").lower(),
        f"  {code}  ",
        qr_payload(code),
    ]
    for text in typed:
        verdict = verify(text, devices=devices, offers=OFFERS, today=TODAY)
        assert verdict.ok, text
        assert verdict.code == code
    assert normalise("ab-cd") == "ABCD"


def test_malformed_codes_say_what_a_code_is() -> None:
    for text in ["", "ABCD-EFGH", "ABCD-EFGH-JKMN-PQRST", "UUUU-UUUU-UUUU-UUUU", "!!!!-????-!!!!-????"]:
        verdict = verify(text, devices={"kiosk-1": SECRET}, offers=OFFERS, today=TODAY)
        assert verdict.status == "malformed" and "16 characters" in verdict.message


def test_the_qr_code_carries_the_code_alone() -> None:
    code = _issue()
    assert qr_payload(code) == QR_PREFIX + code
    assert re.fullmatch(r"[0-9A-Z $%*+\-./:]+", qr_payload(code)), "QR alphanumeric mode"
    with pytest.raises(ContractError, match="not a redemption code"):
        qr_payload("ABCD")


def test_a_short_secret_is_refused_with_the_fix() -> None:
    with pytest.raises(RedemptionSecretError, match=r"at least 16 .*secrets\.token_urlsafe"):
        _issue(secret=b"short")
    with pytest.raises(RedemptionSecretError):
        verify(_issue(), devices={"kiosk-1": b"short"}, offers=OFFERS, today=TODAY)


def test_nonces_differ_so_codes_differ() -> None:
    rng = random.Random(3)
    codes = {
        issue(secret=SECRET, device_id="kiosk-1", offer_id="coffee-morning", expires=EXPIRES, rng=rng)
        for _ in range(200)
    }
    assert len(codes) > 170  # 10-bit nonces: a few collide; the device draws again for those
