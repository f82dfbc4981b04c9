"""The kiosk's side of campaigns: the brain reports the installed release's version on every offer shown,
ended and answered about (the version it was shown from, also after a swap), the zone and attention so far
decide targeting, and a redemption rewards the arm of the tap that issued the code and names it on
``offer_redeemed``."""

from __future__ import annotations

import random
from datetime import datetime
from pathlib import Path

import pytest
from brain_rig import Rig, face

from kiosk.config import OffersConfig
from kiosk.decisions.brain import NpsAnswer, Redemption
from kiosk.decisions.offers import OfferContext, OfferEngine, eligible
from mqtt_bridge.contract.catalogue import Catalogue
from mqtt_bridge.contract.events import Feedback, OfferEnded, OfferRedeemed, OfferShown


@pytest.fixture
def rig(repo_root: Path) -> Rig:
    return Rig(repo_root)


def test_offers_carry_the_version_of_the_release_they_were_shown_from(rig: Rig) -> None:
    engine = rig.brain.engine
    assert engine is not None
    engine.replace_catalogue(engine.catalogue, 4)
    rig.frames(3.0, [face()])
    (shown,) = rig.of(OfferShown)
    engine.replace_catalogue(engine.catalogue, 5)  # a new release while the offer is on screen
    rig.touch("tap")
    rig.touch("done")
    rig.touch("feedback", 5)
    rig.brain.on_external(NpsAnswer(rig.clock.monotonic(), 9))
    (ended,) = rig.of(OfferEnded)
    csat, nps = rig.of(Feedback)
    assert shown.catalogue_version == ended.catalogue_version == 4
    assert csat.catalogue_version == nps.catalogue_version == 4  # about the offer as it was shown
    rig.frames(0.5, [face()])
    rig.frames(30.0, [])  # the shopper leaves; the next visit sees release 5
    rig.frames(3.0, [face()])
    assert [s.catalogue_version for s in rig.of(OfferShown)] == [4, 5]


def test_a_file_catalogue_has_no_version(rig: Rig) -> None:
    rig.frames(3.0, [face()])
    (shown,) = rig.of(OfferShown)
    assert shown.catalogue_version is None


def test_a_redemption_names_and_rewards_the_arm_of_its_tap(rig: Rig) -> None:
    rig.frames(3.0, [face()])
    (shown,) = rig.of(OfferShown)
    rig.touch("tap")
    code = rig.brain.redemption_code
    assert code is not None and shown.arm is not None
    engine = rig.brain.engine
    assert engine is not None
    before = engine.bandit.arms[shown.arm]
    rig.brain.on_external(Redemption(code))
    (redeemed,) = rig.of(OfferRedeemed)
    assert (redeemed.offer_id, redeemed.code, redeemed.arm) == (shown.offer_id, code, shown.arm)
    weight = rig.config.offers.redemption_weight
    assert engine.bandit.arms[shown.arm] == [before[0] + weight, before[1]]
    assert rig.brain.redeem(code) is None  # once


def test_zone_and_attention_so_far_decide_targeting() -> None:
    catalogue = Catalogue.model_validate(
        {
            "offers": [
                {
                    "id": "entrance-only",
                    "title": {"ru": "т", "en": "t"},
                    "body": {"ru": "т", "en": "t"},
                    "image": "x.png",
                    "valid_from": "2026-01-01",
                    "valid_to": "2026-12-31",
                    "targeting": {"zones": ["entrance"], "min_attention_s": 2},
                }
            ]
        }
    )
    moment = datetime(2026, 5, 8, 12, 0)

    def ids(zone: str | None, attention: float) -> list[str]:
        ctx = OfferContext(moment, "neutral", 5.0, 1, attention_s=attention, zone=zone)
        return [o.id for o in eligible(catalogue, ctx)]

    assert ids("entrance", 2.5) == ["entrance-only"]
    assert ids("entrance", 1.0) == []  # not looked long enough yet
    assert ids("checkout", 5.0) == []  # another zone
    assert ids(None, 5.0) == []  # zone unknown: a zone-targeted offer is out
    engine = OfferEngine(catalogue, OffersConfig(), random.Random(1), catalogue_version=9)
    assert engine.catalogue_version == 9
