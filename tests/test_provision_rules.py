"""The enrolment service's decisions, as pure functions of a request and the registry's rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mqtt_bridge.contract.enrolment import EnrolmentRequest
from provisioning.errors import EnrolmentRefusedError
from provisioning.fleet.enrolment import decide_claim, decide_renewal
from provisioning.fleet.registry import Certificate, Identity, SerialRow, TokenRow

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
TOKEN = "T" * 32
KEY = "key-1"


def _request(store: str | None = "s1", device: str | None = "k1", **kw: str) -> EnrolmentRequest:
    fields: dict[str, object] = {"request_id": "r" * 16, "store_id": store, "device_id": device, "csr": "x"}
    fields.update(kw)
    if "hardware_serial" not in kw:
        fields.setdefault("token", TOKEN)
    return EnrolmentRequest.model_validate(fields)


def _token(
    used_at: str | None = None, used_key: str | None = None, expires: datetime = NOW + timedelta(hours=1)
) -> TokenRow:
    return TokenRow("s1", "k1", expires, used_at, used_key, "abc" if used_at else None)


def _identity(state: str = "active") -> Identity:
    return Identity("s1.k1", "device", "s1", "k1", state, None, NOW.isoformat(), None, None)  # type: ignore[arg-type]


def _refused(**kw: object) -> str:
    with pytest.raises(EnrolmentRefusedError) as refused:
        decide_claim(**kw)  # type: ignore[arg-type]
    return refused.value.code


def test_a_fresh_token_for_the_named_device_is_granted() -> None:
    grant = decide_claim(_request(), "s1.k1", KEY, token=_token(), serial=None, identity=None, now=NOW)
    assert (grant.name, grant.via, grant.reissue) == ("s1.k1", "token", None)
    # A CSR with no name is fine: the certificate gets the token's.
    assert (
        decide_claim(_request(), "", KEY, token=_token(), serial=None, identity=None, now=NOW).name == "s1.k1"
    )


def test_every_refusal_has_its_code() -> None:
    common = {"serial": None, "identity": None, "now": NOW}
    assert _refused(request=_request(), csr_name="s1.k1", key_id=KEY, token=None, **common) == "unknown_token"
    assert (
        _refused(request=_request(device="k2"), csr_name="s1.k2", key_id=KEY, token=_token(), **common)
        == "name_mismatch"
    )
    assert (
        _refused(request=_request(), csr_name="s1.k9", key_id=KEY, token=_token(), **common)
        == "name_mismatch"
    )
    assert (
        _refused(
            request=_request(),
            csr_name="s1.k1",
            key_id=KEY,
            token=_token("2026-12-07T09:00", "other"),
            **common,
        )
        == "token_used"
    )
    assert (
        _refused(request=_request(), csr_name="s1.k1", key_id=KEY, token=_token(expires=NOW), **common)
        == "token_expired"
    )
    revoked = {"serial": None, "identity": _identity("revoked"), "now": NOW}
    assert _refused(request=_request(), csr_name="s1.k1", key_id=KEY, token=_token(), **revoked) == "revoked"


def test_the_same_key_asking_again_gets_its_certificate_again() -> None:
    used = _token("2026-12-07T09:00", KEY)
    grant = decide_claim(_request(), "s1.k1", KEY, token=used, serial=None, identity=_identity(), now=NOW)
    assert grant.reissue == "abc"
    # Even after the token's time is up: the certificate was issued while it was valid.
    late = TokenRow("s1", "k1", NOW - timedelta(hours=1), "2026-12-07T09:00", KEY, "abc")
    assert (
        decide_claim(_request(), "s1.k1", KEY, token=late, serial=None, identity=None, now=NOW).reissue
        == "abc"
    )


def test_allow_listed_serials() -> None:
    row = SerialRow("0000cafe", "s2", "k9", None, None, None)
    request = _request(store=None, device=None, hardware_serial="0000cafe")
    grant = decide_claim(request, "", KEY, token=None, serial=row, identity=None, now=NOW)
    assert (grant.name, grant.via) == ("s2.k9", "serial")
    common = {"token": None, "identity": None, "now": NOW}
    assert _refused(request=request, csr_name="", key_id=KEY, serial=None, **common) == "unknown_serial"
    wrong = _request(store="s2", device="k1", hardware_serial="0000cafe")
    assert _refused(request=wrong, csr_name="", key_id=KEY, serial=row, **common) == "name_mismatch"
    used = SerialRow("0000cafe", "s2", "k9", "2026-12-07T09:00", "other", "abc")
    assert _refused(request=request, csr_name="", key_id=KEY, serial=used, **common) == "serial_used"


def test_a_request_names_exactly_one_entitlement() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        EnrolmentRequest(request_id="r" * 16, csr="x")
    with pytest.raises(ValueError, match="names its store_id"):
        EnrolmentRequest(request_id="r" * 16, csr="x", token=TOKEN)


def test_renewal() -> None:
    latest = Certificate(
        "abc", "s1.k1", "old-key", "2027-01-01", (NOW - timedelta(days=300)).isoformat(), "token", None
    )
    args = {"identity": _identity(), "latest": latest, "now": NOW, "min_interval": timedelta(hours=1)}
    assert decide_renewal("s1", "k1", "s1.k1", KEY, **args).reissue is None  # type: ignore[arg-type]
    assert decide_renewal("s1", "k1", "s1.k1", "old-key", **args).reissue == "abc"  # type: ignore[arg-type]
    fresh = Certificate("abd", "s1.k1", "key-0", "2027-01-01", NOW.isoformat(), "renew", None)
    for kwargs, code in [
        ({**args, "latest": fresh}, "too_soon"),
        ({**args, "identity": _identity("revoked")}, "revoked"),
        ({**args, "identity": None}, "bad_request"),
    ]:
        with pytest.raises(EnrolmentRefusedError) as refused:
            decide_renewal("s1", "k1", "s1.k1", KEY, **kwargs)  # type: ignore[arg-type]
        assert refused.value.code == code
    with pytest.raises(EnrolmentRefusedError) as other:
        decide_renewal("s1", "k1", "s1.k2", KEY, **args)  # type: ignore[arg-type]
    assert other.value.code == "name_mismatch"
