"""The brain end to end, deterministic: a shopper approaches, engages, taps, rates, leaves; a frustrated
shopper gets help and a staff call; privacy modes; the camera going down ends visits."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kiosk.clock import ManualClock
from kiosk.config import KioskConfig, PrivacyConfig, StaffConfig
from kiosk.decisions.brain import Acknowledgement, KioskBrain, NpsAnswer, Redemption, ScreenState, ShowCode
from kiosk.decisions.engagement import MaintenanceSwitch, Touch
from kiosk.decisions.offers import OfferEngine, load_catalogue
from kiosk.perception.types import Box, Detection, Snapshot, Valence, ValenceReading
from mqtt_bridge.contract.events import (
    ConsentChanged,
    Event,
    Feedback,
    OfferRedeemed,
    OfferShown,
    OfferTapped,
    StaffCall,
    StaffCallAcknowledged,
    VisitEnded,
    VisitStarted,
)
from mqtt_bridge.contract.redemption import qr_payload

DT = 0.1


class Rig:
    def __init__(self, repo_root: Path, config: KioskConfig | None = None) -> None:
        self.config = config or KioskConfig()
        self.clock = ManualClock(datetime(2026, 1, 1, 6, 0, tzinfo=UTC))  # 09:00 in Moscow: morning
        self.events: list[Event] = []
        self.visit_ids: set[str] = set()
        rng = random.Random(11)
        engine = OfferEngine(
            load_catalogue(repo_root / "examples" / "catalogue.toml"), self.config.offers, rng
        )
        self.brain = KioskBrain(self.config, self.clock, rng, self.events.append, engine)
        self.brain.on_camera(True, self.clock.monotonic())

    def frames(self, seconds: float, faces: list[Detection]) -> None:
        for _ in range(round(seconds / DT)):
            t = self.clock.monotonic()
            self.brain.on_snapshot(Snapshot(t, tuple(faces)))
            self.visit_ids |= {tr.visit_id for tr in self.brain.tracker.tracks}
            self.brain.on_tick(t)
            self.clock.advance(DT)

    def touch(self, action: str, score: int | None = None) -> None:
        self.brain.on_external(Touch(self.clock.monotonic(), action, score))  # type: ignore[arg-type]

    def of(self, kind: type) -> list:  # type: ignore[type-arg]
        return [e for e in self.events if isinstance(e, kind)]


def _face(valence: Valence | None = "positive", distance: float = 1.2) -> Detection:
    reading = ValenceReading(valence, 0.9) if valence else None
    return Detection(Box(200, 100, 300, 200), distance_m=distance, yaw_deg=3.0, reading=reading)


@pytest.fixture
def rig(repo_root: Path) -> Rig:
    return Rig(repo_root)


def test_happy_visit_produces_joined_events_without_the_visit_id(rig: Rig) -> None:
    rig.frames(3.0, [_face()])
    assert rig.brain.screen.screen == "offer"
    (shown,) = rig.of(OfferShown)
    assert shown.offer_id == "coffee-morning" and shown.valence == "positive" and shown.language == "ru"
    rig.touch("tap")
    rig.touch("done")
    rig.touch("feedback", 5)
    assert rig.brain.screen.screen == "thanks"
    rig.frames(0.5, [_face()])
    rig.frames(2.0, [])
    (started,) = rig.of(VisitStarted)
    (ended,) = rig.of(VisitEnded)
    (tapped,) = rig.of(OfferTapped)
    (feedback,) = rig.of(Feedback)
    refs = {started.visit_ref, ended.visit_ref, shown.visit_ref, tapped.visit_ref, feedback.visit_ref}
    assert len(refs) == 1
    assert ended.watcher and ended.dwell_s > 3 and ended.valence.positive_s > 2
    assert (feedback.kind, feedback.score, feedback.offer_id) == ("csat", 5, "coffee-morning")
    stored = "".join(e.model_dump_json() for e in rig.events)
    assert rig.visit_ids and not any(vid in stored for vid in rig.visit_ids), "an ephemeral id leaked"
    assert rig.brain.tracker.tracks == () and rig.brain.refs._refs == {}
    assert rig.brain.stats.exposures[0].offer_id == "coffee-morning"


def test_frustrated_shopper_gets_help_and_a_staff_call(repo_root: Path) -> None:
    rig = Rig(repo_root, KioskConfig(staff=StaffConfig(negative_enter_s=4.0)))
    rig.frames(3.0, [_face("negative")])
    (shown,) = rig.of(OfferShown)
    assert shown.reason == "help" and shown.offer_id == "help-desk"
    assert rig.brain.screen.screen == "help"
    rig.frames(3.0, [_face("negative")])
    (call,) = rig.of(StaffCall)
    assert call.reason == "negative_valence" and call.zone == rig.config.device.zone


def test_shopper_request_raises_a_staff_call(rig: Rig) -> None:
    rig.frames(0.5, [_face()])
    rig.touch("call_staff")
    (call,) = rig.of(StaffCall)
    assert call.reason == "shopper_request" and rig.brain.screen.screen == "staff_coming"


@pytest.mark.parametrize("mode", ["presence_only", "opt_in"])
def test_privacy_modes_without_consent_never_read_valence(repo_root: Path, mode: str) -> None:
    rig = Rig(repo_root, KioskConfig(privacy=PrivacyConfig(mode=mode)))  # type: ignore[arg-type]
    rig.frames(10.0, [_face("negative")])
    rig.frames(2.0, [])
    assert not rig.of(StaffCall)
    (ended,) = rig.of(VisitEnded)
    assert ended.valence.negative_s == 0
    assert all(s.reason != "help" for s in rig.of(OfferShown))


def test_camera_down_ends_visits_and_drops_the_approach(rig: Rig) -> None:
    rig.frames(0.5, [_face(distance=1.5)])
    assert rig.brain.machine.state == "approach"
    rig.brain.on_camera(False, rig.clock.monotonic())
    assert len(rig.of(VisitEnded)) == 1 and rig.brain.machine.state == "attract"
    rig.brain.on_camera(True, rig.clock.monotonic())
    rig.frames(0.5, [_face(distance=1.5)])
    assert len(rig.of(VisitStarted)) == 2, "a new visit, never the old one resumed"
    assert rig.of(VisitStarted)[0].visit_ref != rig.of(VisitStarted)[1].visit_ref


def test_redemption_acknowledgement_and_maintenance_from_outside(rig: Rig) -> None:
    rig.frames(3.0, [_face()])
    rig.touch("tap")
    code = rig.brain.redemption_code
    assert code is not None
    rig.brain.on_external(Redemption(code))
    rig.brain.on_external(Redemption(code))  # a code redeems once
    (redeemed,) = rig.of(OfferRedeemed)
    assert redeemed.offer_id == "coffee-morning" and redeemed.code == code
    rig.touch("call_staff")
    (call,) = rig.of(StaffCall)
    rig.clock.advance(30)
    rig.brain.on_external(Acknowledgement(call.call_id))
    rig.brain.on_external(Acknowledgement("unknown"))
    (ack,) = rig.of(StaffCallAcknowledged)
    assert ack.call_id == call.call_id and ack.response_s == pytest.approx(30)
    rig.brain.on_external(MaintenanceSwitch(rig.clock.monotonic(), on=True))
    assert rig.brain.screen.screen == "maintenance"


def test_opt_in_reads_expression_only_after_consent_for_that_visit(repo_root: Path) -> None:
    rig = Rig(repo_root, KioskConfig(privacy=PrivacyConfig(mode="opt_in")))
    rig.frames(1.0, [_face("positive")])
    assert rig.brain.tracker.tracks[0].smoother.readings == 0
    rig.touch("consent")
    rig.frames(2.0, [_face("positive")])
    (consent,) = rig.of(ConsentChanged)
    assert consent.state == "opted_in" and consent.mode == "opt_in"
    rig.frames(2.0, [])
    (ended,) = rig.of(VisitEnded)
    assert ended.visit_ref == consent.visit_ref and ended.valence.positive_s > 0
    rig.frames(2.0, [_face("positive")])  # a new visit: consent does not carry over
    assert rig.brain.tracker.tracks[0].smoother.readings == 0


def test_notice_mode_stops_reading_when_the_shopper_declines(rig: Rig) -> None:
    rig.frames(1.0, [_face("positive")])
    read = rig.brain.tracker.tracks[0].smoother.readings
    assert read > 0
    rig.touch("decline")
    rig.frames(1.0, [_face("positive")])
    assert rig.brain.tracker.tracks[0].smoother.readings == read
    assert rig.of(ConsentChanged)[0].state == "opted_out"


def test_expression_gate_follows_the_mode_and_the_shoppers_choices(repo_root: Path) -> None:
    opt_in = Rig(repo_root, KioskConfig(privacy=PrivacyConfig(mode="opt_in")))
    assert not opt_in.brain.expression_wanted()  # nobody consented: the emotion model does not run
    opt_in.frames(1.0, [_face("positive")])
    assert not opt_in.brain.expression_wanted()
    opt_in.touch("consent")
    assert opt_in.brain.expression_wanted()
    opt_in.frames(2.0, [])  # they left: the next shopper starts unread
    assert not opt_in.brain.expression_wanted()

    notice = Rig(repo_root)
    assert notice.brain.expression_wanted()  # a newcomer is read by default, under the notice
    notice.frames(1.0, [_face("positive")])
    notice.touch("decline")
    assert not notice.brain.expression_wanted()

    presence = Rig(repo_root, KioskConfig(privacy=PrivacyConfig(mode="presence_only")))
    presence.frames(1.0, [_face("positive")])
    assert not presence.brain.expression_wanted()


def test_the_brain_builds_the_nps_answer_joined_to_the_csat_before_it(rig: Rig) -> None:
    rig.frames(3.0, [_face()])
    rig.touch("tap")
    rig.touch("done")
    rig.touch("feedback", 4)
    rig.brain.on_external(NpsAnswer(rig.clock.monotonic(), 11))  # out of range: refused, nothing recorded
    rig.brain.on_external(NpsAnswer(rig.clock.monotonic(), 9))
    csat, nps = rig.of(Feedback)
    assert (csat.kind, nps.kind, nps.score) == ("csat", "nps", 9)
    assert nps.offer_id == csat.offer_id == "coffee-morning" and nps.visit_ref == csat.visit_ref is not None
    assert list(rig.brain.stats.feedback) == [("csat", 4), ("nps", 9)]


def test_the_screen_state_is_the_brains_narrow_read_model(rig: Rig) -> None:
    assert rig.brain.screen_state() == ScreenState(screen="attract", offers_opt_out=True)
    rig.frames(3.0, [_face()])
    shown = rig.brain.screen_state()
    assert (shown.screen, shown.offer_id, shown.consent, shown.code_ready) == (
        "offer", "coffee-morning", "none", False,
    )  # fmt: skip
    rig.brain.on_external(ShowCode(rig.clock.monotonic()))
    assert rig.brain.screen_state().code is None, "no tap, no code"
    rig.touch("tap")
    ready = rig.brain.screen_state()
    assert ready.screen == "details" and ready.code_ready and ready.code is None
    rig.brain.on_external(ShowCode(rig.clock.monotonic()))
    code = rig.brain.screen_state().code
    assert code is not None and code == rig.brain.redemption_code
    assert rig.brain.screen_state().qr_payload == qr_payload(code)
    rig.touch("decline")
    declined = rig.brain.screen_state()
    assert declined.consent == "opted_out" and not declined.offers_opt_out and not declined.offers_opt_in
    rig.touch("done")
    assert rig.brain.screen_state().code is None and not rig.brain.screen_state().code_ready
    rig.touch("call_staff")
    assert rig.brain.screen_state().staff_acks == 0
    (call,) = rig.of(StaffCall)
    rig.brain.on_external(Acknowledgement(call.call_id))
    assert rig.brain.screen_state().staff_acks == 1
