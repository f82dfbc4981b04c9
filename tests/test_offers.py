"""Offers: catalogue validation, rules, the negative-valence policy, and the Thompson bandit."""

from __future__ import annotations

import random
import re
from datetime import date, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from kiosk.config import OffersConfig
from kiosk.decisions.offers import (
    OfferContext,
    OfferEngine,
    ThompsonBandit,
    context_bucket,
    eligible,
    load_catalogue,
)
from kiosk.decisions.redemption import CodeIssuer, MemoryCodeStore
from kiosk.errors import ConfigError
from mqtt_bridge.contract.catalogue import Catalogue
from mqtt_bridge.contract.events import OfferShown


@pytest.fixture
def catalogue(repo_root: Path) -> Catalogue:
    return load_catalogue(repo_root / "examples" / "catalogue.toml")


def _ctx(hour: int = 9, valence: str | None = "neutral", dwell: float = 3.0, crowd: int = 1) -> OfferContext:
    return OfferContext(datetime(2026, 5, 8, hour, 30), valence, dwell, crowd)  # type: ignore[arg-type]


def test_example_catalogue_is_valid_with_its_images(repo_root: Path, catalogue: Catalogue) -> None:
    assert {o.id for o in catalogue.offers} >= {"coffee-morning", "help-desk", "wine-tasting"}
    assert catalogue.missing_images(repo_root / "examples") == []
    assert any(o.kind == "help" for o in catalogue.offers)


def test_json_catalogue_loads(tmp_path: Path, catalogue: Catalogue) -> None:
    path = tmp_path / "c.json"
    path.write_text(catalogue.model_dump_json())
    assert load_catalogue(path) == catalogue


@pytest.mark.parametrize(
    ("patch", "path"),
    [
        ({"valid_to": "2025-01-01"}, "offers.0"),
        ({"age_restricted": True, "targeting": {"valence": ["positive"]}}, "offers.0"),
        ({"dayparts": ["brunch"]}, "(root)"),
        ({"colour": "red"}, "offers.0.colour"),
        ({"title": {"ru": "только русский"}}, "offers.0.title.en"),
    ],
)
def test_bad_catalogues_are_refused_with_a_path(tmp_path: Path, patch: dict[str, object], path: str) -> None:
    offer: dict[str, object] = {
        "id": "x",
        "title": {"ru": "т", "en": "t"},
        "body": {"ru": "т", "en": "t"},
        "image": "x.png",
        "valid_from": "2026-01-01",
        "valid_to": "2026-12-31",
    }
    offer.update(patch)
    file = tmp_path / "bad.json"
    file.write_text(__import__("json").dumps({"offers": [offer]}))
    with pytest.raises(ConfigError) as caught:
        load_catalogue(file)
    assert path in {issue.path for issue in caught.value.issues}


def test_rules_filter_by_daypart_dwell_crowd_valence_and_dates(catalogue: Catalogue) -> None:
    ids = lambda ctx: {o.id for o in eligible(catalogue, ctx)}  # noqa: E731
    assert ids(_ctx(hour=9)) == {"coffee-morning", "croissant-pair"}
    assert ids(_ctx(hour=9, dwell=1.0)) == {"coffee-morning"}
    assert ids(_ctx(hour=9, valence=None)) == {"coffee-morning"}
    assert ids(_ctx(hour=12, crowd=3)) == {"croissant-pair", "family-box"}
    assert ids(_ctx(hour=19)) == {"wine-tasting"}
    assert ids(_ctx(hour=3)) == set()
    late = OfferContext(datetime(2028, 1, 1, 9, 0), "neutral", 3.0, 1)
    assert eligible(catalogue, late) == []


def test_frustrated_shopper_gets_help_never_an_upsell(catalogue: Catalogue) -> None:
    engine = OfferEngine(catalogue, OffersConfig(), random.Random(0))
    for hour in (9, 12, 19):
        choice = engine.choose(_ctx(hour=hour, valence="negative", crowd=3))
        assert choice.help and choice.reason == "help" and choice.offer_id == "help-desk"


def test_age_restricted_bucket_ignores_valence(catalogue: Catalogue) -> None:
    wine = next(o for o in catalogue.offers if o.id == "wine-tasting")
    happy = context_bucket(catalogue, wine, _ctx(hour=19, valence="positive"), 5.0)
    sad = context_bucket(catalogue, wine, _ctx(hour=19, valence="neutral"), 5.0)
    assert happy == sad and happy.startswith("any/")


def test_single_eligible_offer_is_a_rules_choice(catalogue: Catalogue) -> None:
    engine = OfferEngine(catalogue, OffersConfig(), random.Random(0))
    choice = engine.choose(_ctx(hour=19))
    assert choice.offer_id == "wine-tasting" and choice.reason == "rules"
    assert choice.arm == ThompsonBandit.key("wine-tasting", choice.bucket), "its arm still learns"
    engine.settle(tapped=True)
    assert engine.bandit.arms == {choice.arm: [2.0, 1.0]}
    assert engine.choose(_ctx(hour=9, valence="negative")).arm is None, "help: no arm"


def test_the_longest_arm_fits_the_events_and_a_longer_daypart_name_is_refused() -> None:
    offer = {
        "id": "o" * 64,
        "title": {"ru": "т", "en": "t"},
        "body": {"ru": "т", "en": "t"},
        "image": "x.png",
        "valid_from": "2026-01-01",
        "valid_to": "2026-12-31",
    }
    daypart = {"start": "00:00", "end": "23:59"}
    longest = Catalogue.model_validate({"dayparts": {"d" * 40: daypart}, "offers": [offer]})
    arms = [
        ThompsonBandit.key(
            offer["id"], context_bucket(longest, longest.offers[0], _ctx(0, v, dwell, crowd), 5.0)
        )
        for v in ("positive", "neutral", None)
        for dwell in (1.0, 9.0)
        for crowd in (1, 3)
    ]
    limit = OfferShown.model_fields["arm"].metadata[0].max_length
    assert max(len(a) for a in arms) == 64 + 22 + 40 <= limit  # '|positive/short/group/' is 22
    for arm in arms:
        OfferShown(offer_id="o", reason="bandit", language="en", arm=arm, store_id="s", device_id="d")
    with pytest.raises(ValidationError, match="at most 40 characters"):
        Catalogue.model_validate({"dayparts": {"d" * 41: daypart}, "offers": [offer]})


def test_bandit_learns_the_better_offer(catalogue: Catalogue) -> None:
    rng = random.Random(42)
    truth = {"coffee-morning": 0.1, "croissant-pair": 0.5}
    engine = OfferEngine(catalogue, OffersConfig(explore_floor=0.05), rng)
    world = random.Random(7)
    shown: list[str] = []
    for _ in range(400):
        choice = engine.choose(_ctx(hour=9))
        assert choice.offer_id is not None and choice.reason == "bandit"
        shown.append(choice.offer_id)
        engine.settle(tapped=world.random() < truth[choice.offer_id])
    late = shown[-200:]
    assert late.count("croissant-pair") / len(late) > 0.8
    # Exploration is bounded below: the worse offer is still tried now and then.
    assert late.count("coffee-morning") > 0


def test_bandit_is_deterministic_for_a_seed(catalogue: Catalogue) -> None:
    def run(seed: int) -> list[str | None]:
        engine = OfferEngine(catalogue, OffersConfig(), random.Random(seed))
        out = []
        for i in range(30):
            out.append(engine.choose(_ctx(hour=9)).offer_id)
            engine.settle(tapped=i % 3 == 0)
        return out

    assert run(1) == run(1)


def test_evidence_is_capped_so_it_keeps_adapting() -> None:
    bandit = ThompsonBandit(random.Random(0), max_evidence=100)
    for _ in range(1000):
        bandit.update("a", "b", 1, 0)
    alpha, beta = bandit.posterior("a", "b")
    assert alpha + beta - 2 == pytest.approx(100)


def test_redemption_rewards_the_arm_and_state_persists(tmp_path: Path, catalogue: Catalogue) -> None:
    engine = OfferEngine(catalogue, OffersConfig(redemption_weight=3), random.Random(0))
    choice = engine.choose(_ctx(hour=19))
    assert engine.last_code() is None, "no tap, no code"
    engine.settle(tapped=True)
    code = engine.last_code()
    assert code is not None and re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}", code)
    found = engine.redeemed(code.lower())  # typed at a till: slips forgiven
    assert found is not None and (found.offer_id, found.bucket, found.code) == (
        "wine-tasting",
        choice.bucket,
        code,
    )
    assert engine.redeemed(code) is None, "a code redeems once"
    assert engine.redeemed("0000-0000-0000-0000") is None
    assert engine.bandit.posterior("wine-tasting", choice.bucket) == (5.0, 1.0)
    state = tmp_path / "state" / "bandit.json"
    engine.bandit.save(state)
    again = ThompsonBandit(random.Random(0))
    again.load(state)
    assert again.arms == engine.bandit.arms


def test_damaged_state_starts_afresh(tmp_path: Path) -> None:
    state = tmp_path / "bandit.json"
    state.write_text("{not json")
    bandit = ThompsonBandit(random.Random(0))
    bandit.load(state)
    assert bandit.arms == {}


def test_oldest_unredeemed_codes_are_forgotten_past_the_memory_bound(catalogue: Catalogue) -> None:
    store = MemoryCodeStore(max_codes=2)
    issuer = CodeIssuer(
        secret=b"s" * 32,
        device_id="k1",
        valid_days=14,
        store=store,
        rng=random.Random(0),
        today=lambda: date(2026, 5, 8),
    )
    engine = OfferEngine(catalogue, OffersConfig(), random.Random(0), issuer)
    codes = []
    for _ in range(3):
        engine.choose(_ctx(hour=19))
        engine.settle(tapped=True)
        codes.append(engine.last_code())
    assert store.dropped == 1
    assert engine.redeemed(str(codes[0])) is None
    found = engine.redeemed(str(codes[2]))
    assert found is not None and found.offer_id == "wine-tasting"
