"""The contract's side of campaigns: a catalogue that targets by a demographic or appearance attribute is
refused with the rule, and so cannot be saved (the draft, the page's JSON API), published (the publisher,
``backoffice publish-catalogue``) or installed (the kiosk's installer, with its signature good); device
redemption secrets derived from one master key; the catalogue version and the arm on the wire."""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from campaign_support import MASTER, make_desk, offer_doc, png
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from backoffice.campaigns.errors import InvalidOfferError
from backoffice.cli import main as backoffice_main
from backoffice.db import Database, open_database
from cloud_sync.anonymise import anonymise_event
from cloud_sync.settings import AnonymisationSettings
from kiosk.link.catalogue_sync import CatalogueInstaller, load_installed
from mqtt_bridge.catalogue import build_release, sign_release
from mqtt_bridge.contract import redemption as scheme
from mqtt_bridge.contract.allowlist import EVENT_ALLOWLIST
from mqtt_bridge.contract.catalogue import FORBIDDEN_RULE, Catalogue, names_forbidden_attribute
from mqtt_bridge.contract.events import Feedback, OfferEnded, OfferRedeemed, OfferShown
from mqtt_bridge.signing import canonical_json, public_key_text

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)

#: Targeting that names who the shopper is, every way a catalogue might try (synonyms, case, nesting,
#: camelCase, Russian, an attribute as a value under an unknown key).
FORBIDDEN_TARGETING = [
    {"age": [18, 35]},
    {"min_age": 18},
    {"ageGroup": "25-34"},
    {"gender": "female"},
    {"Sex": "m"},
    {"ethnicity": "x"},
    {"race": "x"},
    {"skin_tone": "light"},
    {"looks": "attractive"},
    {"appearance": {"hair": "blond"}},
    {"glasses": True},
    {"demographics": {"segment": "young"}},
    {"inferred_traits": ["x"]},
    {"возраст": "18-25"},
    {"filter": {"attribute": "gender", "equals": "f"}},
    {"segment": ["women"]},
]


def _catalogue(targeting: dict[str, object]) -> dict[str, object]:
    return {"offers": [{**offer_doc(), "image": "images/x.png", "targeting": targeting}]}


@pytest.mark.parametrize("targeting", FORBIDDEN_TARGETING)
def test_the_schema_names_and_refuses_demographic_and_appearance_targeting(
    targeting: dict[str, object],
) -> None:
    with pytest.raises(ValidationError) as caught:
        Catalogue.model_validate(_catalogue(targeting))
    text = str(caught.value)
    assert FORBIDDEN_RULE in text, text
    assert "Extra inputs are not permitted" not in text  # the rule, not a bare "extra field"


def test_an_offer_level_attribute_is_refused_with_the_rule_too() -> None:
    with pytest.raises(ValidationError, match="may not be targeted by demographic"):
        Catalogue.model_validate({"offers": [{**offer_doc(), "image": "x.png", "gender": "f"}]})


@pytest.mark.parametrize(
    "targeting",
    [
        {"zones": ["kids-corner", "entrance"]},  # a zone is a place, whatever its name
        {"valence": ["positive", "neutral"]},  # a momentary signal of this visit, not an appearance trait
        {"min_attention_s": 2, "min_dwell_s": 1.5, "max_dwell_s": 60, "min_crowd": 1, "max_crowd": 3},
        {"hours": ["07:00-11:00"]},
    ],
)
def test_moment_and_place_targeting_is_accepted(targeting: dict[str, object]) -> None:
    Catalogue.model_validate(_catalogue(targeting))


def test_the_words_are_matched_word_by_word_not_as_substrings() -> None:
    assert not names_forbidden_attribute("min_dwell_s")
    assert not names_forbidden_attribute("max_crowd")
    assert not names_forbidden_attribute("page")  # 'age' inside a word is not 'age'
    assert names_forbidden_attribute("targetAudienceGender")
    assert names_forbidden_attribute("hair-colour")
    assert names_forbidden_attribute("Возраст")


def test_an_age_restricted_offer_may_not_be_targeted_by_mood() -> None:
    offer = {**offer_doc(), "image": "x.png", "age_restricted": True, "targeting": {"valence": ["positive"]}}
    with pytest.raises(ValidationError, match="mood"):
        Catalogue.model_validate({"offers": [offer]})


# --- cannot be saved, published or installed -----------------------------------------------------------


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return open_database(f"sqlite:///{tmp_path / 'bo.sqlite'}")


def test_such_an_offer_cannot_be_saved(db: Database) -> None:
    desk, _ = make_desk(db, lambda: NOW)
    image = desk.images.add(png(), "x.png", "marketer")
    with pytest.raises(InvalidOfferError) as caught:
        desk.drafts.save_offer(
            offer_doc(targeting={"age": [18, 35]}), stores=["s1"], image_sha256=image.sha256, by="marketer"
        )
    assert FORBIDDEN_RULE in str(caught.value)
    assert desk.drafts.snapshot().offers == ()


def test_such_an_offer_cannot_be_published_even_if_it_reached_the_draft(db: Database) -> None:
    desk, link = make_desk(db, lambda: NOW)
    image = desk.images.add(png(), "x.png", "marketer")
    desk.drafts.save_offer(offer_doc(), stores=["s1"], image_sha256=image.sha256, by="marketer")
    # Someone edits the store by hand: the publisher checks every store's catalogue with the contract.
    bad = {**offer_doc(), "image": image.asset_name, "targeting": {"gender": "female"}}
    db.execute("UPDATE campaign_offers SET document = ?", [json.dumps(bad)])
    with pytest.raises(InvalidOfferError) as caught:
        desk.publisher.request("s1", "marketer")
    assert FORBIDDEN_RULE in str(caught.value)
    assert link.releases == [] and desk.publisher.versions() == []


def test_publish_catalogue_refuses_such_a_catalogue_before_connecting(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "x.png").write_bytes(png())
    (tmp_path / "catalogue.json").write_text(json.dumps(_catalogue({"ethnicity": "x"})), encoding="utf-8")
    key = tmp_path / "bo.pem"
    assert CliRunner().invoke(backoffice_main, ["keygen", "--out", str(key)]).exit_code == 0
    result = CliRunner().invoke(
        backoffice_main,
        [
            "publish-catalogue",
            "--broker",
            "mqtt://127.0.0.1:1",  # never reached: the catalogue is refused first
            "--key",
            str(key),
            "--store",
            "s1",
            "--catalogue",
            str(tmp_path / "catalogue.json"),
            "--version",
            "1",
        ],
    )
    assert result.exit_code == 1
    assert "nothing published" in result.output and "demographic or appearance" in result.output


def test_a_signed_release_with_such_a_catalogue_is_not_installed(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    installer = CatalogueInstaller(tmp_path / "catalogue", [public_key_text(key)], store_id="s1")
    good = canonical_json({"offers": [{**offer_doc(), "image": "images/x.png"}]}).decode()
    first = sign_release(build_release("s1", 1, NOW, good, {"images/x.png": png()}), key)
    assert installer.install(first.model_dump_json().encode()).status == "installed"
    bad = canonical_json(_catalogue({"looks": "attractive"})).decode()
    second = sign_release(build_release("s1", 2, NOW, bad, {"images/x.png": png()}), key)
    result = installer.install(second.model_dump_json().encode())
    assert result.status == "refused" and result.version == 2
    assert "may not be targeted by demographic or appearance" in result.reason
    assert installer.installed_version == 1  # the previous catalogue stays
    kept = load_installed(tmp_path / "catalogue")
    assert kept is not None and kept[0].offers[0].id == "o1"


# --- device secrets ------------------------------------------------------------------------------------


def test_device_secrets_are_derived_from_the_master_key() -> None:
    a = scheme.device_secret(MASTER, "s1", "d1")
    assert a == scheme.device_secret(MASTER, "s1", "d1") and len(a) == 43
    others = {scheme.device_secret(MASTER, s, d) for s, d in [("s1", "d2"), ("s2", "d1"), ("s1d", "1")]}
    assert a not in others and len(others) == 3
    assert scheme.device_secret(b"another-master-key-of-32-bytes!!", "s1", "d1") != a
    with pytest.raises(scheme.RedemptionSecretError, match="at least 32"):
        scheme.device_secret(b"short", "s1", "d1")
    # A kiosk keyed with the derived text issues codes the back office verifies holding only the master.
    code = scheme.issue(
        secret=scheme.secret_bytes(a),
        device_id="d1",
        offer_id="o1",
        expires=date(2026, 6, 20),
        rng=random.Random(2),
    )
    secret = scheme.secret_bytes(scheme.device_secret(MASTER, "s1", "d1"))
    assert scheme.verify(code, devices={"d1": secret}, offers=["o1"], today=date(2026, 6, 1)).ok
    wrong = scheme.secret_bytes(scheme.device_secret(MASTER, "s2", "d1"))  # same device id, other store
    assert (
        scheme.verify(code, devices={"d1": wrong}, offers=["o1"], today=date(2026, 6, 1)).status == "bad_mac"
    )


def test_the_command_prints_the_derived_secret(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VITRINA_TEST_MASTER", MASTER.decode())
    result = CliRunner().invoke(
        backoffice_main,
        ["redemption-secret", "--store", "s1", "--device", "d1", "--master-env", "VITRINA_TEST_MASTER"],
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == scheme.device_secret(MASTER, "s1", "d1")
    (tmp_path / "master").write_text(MASTER.decode() + "\n")
    from_file = CliRunner().invoke(
        backoffice_main,
        ["redemption-secret", "--store", "s1", "--device", "d1", "--master-file", str(tmp_path / "master")],
    )
    assert from_file.output.strip() == result.output.strip()
    monkeypatch.setenv("VITRINA_TEST_MASTER", "short")
    refused = CliRunner().invoke(
        backoffice_main,
        ["redemption-secret", "--store", "s1", "--device", "d1", "--master-env", "VITRINA_TEST_MASTER"],
    )
    assert refused.exit_code == 1 and "at least 32" in refused.output


# --- on the wire ---------------------------------------------------------------------------------------


def test_catalogue_version_and_the_redeemed_arm_travel_and_survive_anonymisation() -> None:
    events = [
        OfferShown(
            store_id="s1", device_id="d1", offer_id="o1", reason="bandit", language="ru", catalogue_version=7
        ),
        OfferEnded(store_id="s1", device_id="d1", offer_id="o1", shown_s=4.0, catalogue_version=7),
        Feedback(store_id="s1", device_id="d1", kind="csat", score=5, offer_id="o1", catalogue_version=7),
        OfferRedeemed(store_id="s1", device_id="d1", offer_id="o1", code="AAAA-BBBB-CCCC-DDDD", arm="o1|x"),
    ]
    for event in events:
        assert {"catalogue_version", "arm"} & EVENT_ALLOWLIST[event.type]
        kept = anonymise_event(event, AnonymisationSettings(), b"salt", random.Random(1))
        for name in ("catalogue_version", "arm"):
            if name in type(event).model_fields:
                assert kept[name] == getattr(event, name), (event.type, name)
    with pytest.raises(ValidationError):
        OfferShown(
            store_id="s1", device_id="d1", offer_id="o1", reason="bandit", language="ru", catalogue_version=0
        )


def test_the_pages_json_api_refuses_such_an_offer_with_the_rule(db: Database) -> None:
    from web_helpers import MovableClock, csrf, make_app, sign_in

    app, _ = make_app(db, MovableClock(NOW))
    client = sign_in(app, "marketer-user")
    uploaded = client.post(
        "/campaigns/images", files={"picture": ("p.png", png(), "image/png")}, headers=csrf(client)
    )
    assert uploaded.status_code == 200, uploaded.text
    sha = uploaded.json()["sha256"]
    body = {"offer": offer_doc(targeting={"gender": "female"}), "stores": ["s1"], "image_sha256": sha}
    refused = client.post("/campaigns/offers.json", json=body, headers=csrf(client))
    assert refused.status_code == 400
    assert FORBIDDEN_RULE in refused.json()["error"]
    assert refused.json()["issues"][0]["where"] == "targeting"
    assert client.get("/campaigns/offers.csv").text.count("\n") == 1  # the header alone: nothing saved
    body["offer"] = offer_doc()
    assert client.post("/campaigns/offers.json", json=body, headers=csrf(client)).status_code == 200
    rows = client.get("/campaigns.json").json()["tables"]["offers"]["rows"]
    assert [r["offer_id"] for r in rows] == ["o1"]
