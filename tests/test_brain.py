"""The brain end to end, deterministic: a shopper approaches, engages, taps, rates, leaves; a frustrated
shopper gets help and a staff call; privacy modes; the camera going down ends visits; the device-side
aggregates of event schema 2 (the bandit arm, offer_ended, frustration, the staff call's visit and offer)."""

from __future__ import annotations

from pathlib import Path

import pytest
from brain_rig import Rig, face

from kiosk.config import AudienceConfig, KioskConfig, PrivacyConfig, StaffConfig, TrackerConfig
from kiosk.decisions.brain import Acknowledgement, NpsAnswer, Redemption, ScreenState, ShowCode
from kiosk.decisions.engagement import MaintenanceSwitch
from kiosk.decisions.offers import load_catalogue
from mqtt_bridge.contract.events import (
    ConsentChanged,
    Feedback,
    OfferEnded,
    OfferRedeemed,
    OfferShown,
    OfferTapped,
    StaffCall,
    StaffCallAcknowledged,
    VisitEnded,
    VisitStarted,
)
from mqtt_bridge.contract.events import ValenceMix as EventValenceMix
from mqtt_bridge.contract.redemption import qr_payload


@pytest.fixture
def rig(repo_root: Path) -> Rig:
    return Rig(repo_root)


def test_happy_visit_produces_joined_events_without_the_visit_id(rig: Rig) -> None:
    rig.frames(3.0, [face()])
    assert rig.brain.screen.screen == "offer"
    (shown,) = rig.of(OfferShown)
    assert shown.offer_id == "coffee-morning" and shown.valence == "positive" and shown.language == "ru"
    rig.touch("tap")
    rig.touch("done")
    rig.touch("feedback", 5)
    assert rig.brain.screen.screen == "thanks"
    rig.frames(0.5, [face()])
    rig.frames(2.0, [])
    (started,) = rig.of(VisitStarted)
    (ended,) = rig.of(VisitEnded)
    (tapped,) = rig.of(OfferTapped)
    (feedback,) = rig.of(Feedback)
    refs = {started.visit_ref, ended.visit_ref, shown.visit_ref, tapped.visit_ref, feedback.visit_ref}
    assert len(refs) == 1
    assert ended.watcher and ended.dwell_s > 3 and ended.valence.positive_s > 2
    assert not ended.frustrated and ended.frustrated_after is None
    assert (feedback.kind, feedback.score, feedback.offer_id) == ("csat", 5, "coffee-morning")
    stored = "".join(e.model_dump_json() for e in rig.events)
    assert rig.visit_ids and not any(vid in stored for vid in rig.visit_ids), "an ephemeral id leaked"
    assert rig.brain.tracker.tracks == () and rig.brain.refs._refs == {}
    assert rig.brain.stats.exposures[0].offer_id == "coffee-morning"


def test_frustrated_shopper_gets_help_and_a_staff_call(repo_root: Path) -> None:
    rig = Rig(repo_root, KioskConfig(staff=StaffConfig(negative_enter_s=4.0)))
    rig.frames(3.0, [face("negative")])
    (shown,) = rig.of(OfferShown)
    assert shown.reason == "help" and shown.offer_id == "help-desk"
    assert rig.brain.screen.screen == "help"
    rig.frames(3.0, [face("negative")])
    (call,) = rig.of(StaffCall)
    assert call.reason == "negative_valence" and call.zone == rig.config.device.zone
    assert (call.visit_ref, call.offer_id) == (shown.visit_ref, "help-desk"), "the visit, the offer on screen"
    rig.frames(16.0, [face("negative")])  # the help leaves the screen; the shopper stays, then goes
    rig.frames(2.0, [])
    (ended,) = rig.of(OfferEnded)
    assert shown.arm is None and ended.arm is None, "help is chosen by rule: no arm learns from it"
    (visit,) = rig.of(VisitEnded)
    assert visit.frustrated and visit.frustrated_after is None, "help came after the negative run began"


def test_shopper_request_raises_a_staff_call(rig: Rig) -> None:
    rig.frames(0.5, [face()])
    rig.touch("call_staff")
    (call,) = rig.of(StaffCall)
    assert call.reason == "shopper_request" and rig.brain.screen.screen == "staff_coming"


@pytest.mark.parametrize("mode", ["presence_only", "opt_in"])
def test_privacy_modes_without_consent_never_read_valence(repo_root: Path, mode: str) -> None:
    rig = Rig(repo_root, KioskConfig(privacy=PrivacyConfig(mode=mode)))  # type: ignore[arg-type]
    rig.frames(10.0, [face("negative")])
    rig.frames(2.0, [])
    assert not rig.of(StaffCall)
    (ended,) = rig.of(VisitEnded)
    assert ended.valence.negative_s == 0
    assert all(s.reason != "help" for s in rig.of(OfferShown))


def test_camera_down_ends_visits_and_drops_the_approach(rig: Rig) -> None:
    rig.frames(0.5, [face(distance=1.5)])
    assert rig.brain.machine.state == "approach"
    rig.brain.on_camera(False, rig.clock.monotonic())
    assert len(rig.of(VisitEnded)) == 1 and rig.brain.machine.state == "attract"
    rig.brain.on_camera(True, rig.clock.monotonic())
    rig.frames(0.5, [face(distance=1.5)])
    assert len(rig.of(VisitStarted)) == 2, "a new visit, never the old one resumed"
    assert rig.of(VisitStarted)[0].visit_ref != rig.of(VisitStarted)[1].visit_ref


def test_redemption_acknowledgement_and_maintenance_from_outside(rig: Rig) -> None:
    rig.frames(3.0, [face()])
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
    rig.frames(1.0, [face("positive")])
    assert rig.brain.tracker.tracks[0].smoother.readings == 0
    rig.touch("consent")
    rig.frames(2.0, [face("positive")])
    (consent,) = rig.of(ConsentChanged)
    assert consent.state == "opted_in" and consent.mode == "opt_in"
    rig.frames(2.0, [])
    (ended,) = rig.of(VisitEnded)
    assert ended.visit_ref == consent.visit_ref and ended.valence.positive_s > 0
    rig.frames(2.0, [face("positive")])  # a new visit: consent does not carry over
    assert rig.brain.tracker.tracks[0].smoother.readings == 0


def test_notice_mode_stops_reading_when_the_shopper_declines(rig: Rig) -> None:
    rig.frames(1.0, [face("positive")])
    read = rig.brain.tracker.tracks[0].smoother.readings
    assert read > 0
    rig.touch("decline")
    rig.frames(1.0, [face("positive")])
    assert rig.brain.tracker.tracks[0].smoother.readings == read
    assert rig.of(ConsentChanged)[0].state == "opted_out"


def test_expression_gate_follows_the_mode_and_the_shoppers_choices(repo_root: Path) -> None:
    opt_in = Rig(repo_root, KioskConfig(privacy=PrivacyConfig(mode="opt_in")))
    assert not opt_in.brain.expression_wanted()  # nobody consented: the emotion model does not run
    opt_in.frames(1.0, [face("positive")])
    assert not opt_in.brain.expression_wanted()
    opt_in.touch("consent")
    assert opt_in.brain.expression_wanted()
    opt_in.frames(2.0, [])  # they left: the next shopper starts unread
    assert not opt_in.brain.expression_wanted()

    notice = Rig(repo_root)
    assert notice.brain.expression_wanted()  # a newcomer is read by default, under the notice
    notice.frames(1.0, [face("positive")])
    notice.touch("decline")
    assert not notice.brain.expression_wanted()

    presence = Rig(repo_root, KioskConfig(privacy=PrivacyConfig(mode="presence_only")))
    presence.frames(1.0, [face("positive")])
    assert not presence.brain.expression_wanted()


def test_the_brain_builds_the_nps_answer_joined_to_the_csat_before_it(rig: Rig) -> None:
    rig.frames(3.0, [face()])
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
    rig.frames(3.0, [face()])
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


# ---- event schema 2: the aggregates computed on the device ----------------------------------------------

#: The smoothed valence follows each reading at once (a tiny half-life), so valence seconds are known by hand.
FAST_VALENCE = TrackerConfig(valence_half_life_s=0.01, valence_min_evidence=0.5)


@pytest.mark.parametrize("tap", [True, False])
def test_the_arm_on_shown_tapped_and_ended_is_the_bandit_key_that_learnt(rig: Rig, tap: bool) -> None:
    rig.frames(2.0, [face(distance=3.0)])  # dwelling far away: long enough for the croissant too
    rig.frames(0.2, [face()])  # approach, engaged: the bandit chooses between two offers
    (shown,) = rig.of(OfferShown)
    assert shown.reason == "bandit" and shown.arm is not None and shown.arm.startswith(f"{shown.offer_id}|")
    assert rig.brain.engine is not None and rig.brain.engine.bandit.arms == {}
    rig.touch("tap" if tap else "dismiss")
    if tap:
        (tapped,) = rig.of(OfferTapped)
        assert tapped.arm == shown.arm
        rig.touch("done")
    (ended,) = rig.of(OfferEnded)
    assert (ended.arm, ended.tapped, ended.offer_id) == (shown.arm, tap, shown.offer_id)
    assert rig.brain.engine.bandit.arms == {shown.arm: [2.0, 1.0] if tap else [1.0, 2.0]}


@pytest.mark.parametrize("mode", ["notice", "presence_only", "opt_in"])
def test_offer_ended_measures_time_attention_and_valence_before_and_during(
    repo_root: Path, mode: str
) -> None:
    config = KioskConfig(
        tracker=FAST_VALENCE,
        audience=AudienceConfig(uplift_window_s=1.0),
        privacy=PrivacyConfig(mode=mode),  # type: ignore[arg-type]
    )
    rig = Rig(repo_root, config)
    rig.frames(2.0, [face("neutral", distance=3.0)])  # t 0.0-1.9: neutral, too far to approach
    rig.frames(0.2, [face("positive")])  # 2.0: positive, approaching; 2.1: engaged, the offer shows
    (shown,) = rig.of(OfferShown)
    rig.frames(0.9, [face("positive")])  # 2.2-3.0: frontal
    rig.frames(0.5, [face("positive", yaw=60)])  # 3.1-3.5: looking away
    rig.touch("dismiss")  # at 3.6
    (ended,) = rig.of(OfferEnded)
    assert (ended.offer_id, ended.visit_ref) == (shown.offer_id, shown.visit_ref)
    assert ended.shown_s == pytest.approx(1.5) and ended.attention_s == pytest.approx(0.9)
    assert not ended.attended and not ended.tapped  # 0.9 s: under the watcher threshold, 1 s
    before, during = ended.valence_before, ended.valence_during
    if mode == "notice":
        # The window [1.1, 2.1] before the offer: neutral until 1.9 (clipped at 1.1), positive from 1.9.
        assert (before.negative_s, before.neutral_s, before.positive_s) == (0, 0.8, 0.2)
        assert (during.negative_s, during.neutral_s, during.positive_s) == (0, 0, 1.4)
    else:  # expression not read: presence only, or opt-in without consent
        assert before == during == EventValenceMix()


def _exit_by(rig: Rig, how: str) -> None:
    now = rig.clock.monotonic
    match how:
        case "dismiss" | "call_staff":
            rig.touch(how)
        case "timeout":
            rig.frames(16.0, [face()])  # offer_timeout_s 15
        case "audience lost":
            rig.frames(3.0, [])  # lost_grace_s 2
        case "camera lost":
            rig.brain.on_camera(False, now())
            rig.ticks(3.0)
        case "done":
            rig.touch("tap")
            rig.touch("done")
        case "maintenance":
            rig.brain.on_external(MaintenanceSwitch(now(), on=True))
        case "finish":
            rig.brain.finish(now())


@pytest.mark.parametrize(
    "how",
    ["dismiss", "call_staff", "timeout", "audience lost", "camera lost", "done", "maintenance", "finish"],
)
def test_every_way_off_the_screen_ends_the_offer_once(rig: Rig, how: str) -> None:
    rig.frames(3.0, [face()])
    (shown,) = rig.of(OfferShown)
    assert not rig.of(OfferEnded)
    _exit_by(rig, how)
    (ended,) = rig.of(OfferEnded)
    assert (ended.offer_id, ended.visit_ref, ended.arm) == (shown.offer_id, shown.visit_ref, shown.arm)
    assert ended.tapped == (how == "done") and ended.shown_s > 0
    rig.ticks(30.0)
    rig.brain.finish(rig.clock.monotonic())
    assert len(rig.of(OfferEnded)) == 1 and len(rig.brain.stats.exposures) == 1


def test_a_catalogue_swap_keeps_the_offer_on_screen(rig: Rig, repo_root: Path) -> None:
    rig.frames(3.0, [face()])
    assert rig.brain.engine is not None
    rig.brain.engine.replace_catalogue(load_catalogue(repo_root / "examples" / "catalogue.toml"))
    rig.frames(1.0, [face()])
    assert not rig.of(OfferEnded) and rig.brain.screen.screen == "offer"
    rig.touch("dismiss")
    assert len(rig.of(OfferEnded)) == 1


def test_frustration_without_a_call_is_reported_with_the_offer_it_followed(repo_root: Path) -> None:
    config = KioskConfig(tracker=FAST_VALENCE, staff=StaffConfig(enabled=False, negative_enter_s=2.0))
    rig = Rig(repo_root, config)
    rig.frames(3.0, [face("positive")])
    (shown,) = rig.of(OfferShown)
    rig.frames(3.0, [face("negative")])  # sustained for 2 s at 5.0: frustrated, but calls are off
    rig.frames(2.0, [])
    assert not rig.of(StaffCall)
    (visit,) = rig.of(VisitEnded)
    assert visit.frustrated and visit.frustrated_after == shown.offer_id
    assert visit.visit_ref == shown.visit_ref


def test_a_staff_call_names_its_visit_and_the_offer_on_screen_or_last_shown(repo_root: Path) -> None:
    rig = Rig(repo_root, KioskConfig(tracker=FAST_VALENCE, staff=StaffConfig(negative_enter_s=2.0)))
    rig.frames(3.0, [face("positive")])
    (shown,) = rig.of(OfferShown)
    rig.touch("call_staff")  # from the offer: it leaves the screen as the call goes out
    (request,) = rig.of(StaffCall)
    assert (request.reason, request.visit_ref, request.offer_id) == (
        "shopper_request", shown.visit_ref, shown.offer_id,
    )  # fmt: skip
    assert rig.events.index(rig.of(OfferEnded)[0]) < rig.events.index(request)
    rig.frames(10.0, [face("positive", distance=5.0)])  # thanks, cooldown, attract: no offer on screen
    assert rig.brain.machine.ctx.offer_id is None
    rig.frames(3.0, [face("negative", distance=5.0)])  # the same shopper, stepped back, turns negative
    _, frustrated = rig.of(StaffCall)
    assert (frustrated.reason, frustrated.visit_ref, frustrated.offer_id) == (
        "negative_valence", shown.visit_ref, shown.offer_id,
    )  # fmt: skip


def test_a_staff_call_with_nobody_in_view_names_the_offer_on_screen(rig: Rig) -> None:
    rig.touch("tap")  # a touch on the attract screen, nobody tracked: an offer for no visit
    (shown,) = rig.of(OfferShown)
    assert shown.visit_ref is None and shown.offer_id is not None
    rig.touch("call_staff")
    (call,) = rig.of(StaffCall)
    assert (call.visit_ref, call.offer_id) == (None, shown.offer_id)
    (ended,) = rig.of(OfferEnded)
    assert ended.visit_ref is None and ended.attention_s == 0 and not ended.attended


def test_a_session_that_outlives_its_visit_keeps_no_ephemeral_id(rig: Rig) -> None:
    rig.frames(0.5, [face(distance=1.5)])
    rig.frames(1.5, [])  # the face left: its visit ended, the approach is still within its grace
    (left,) = rig.of(VisitEnded)
    rig.touch("tap")  # an offer for the visit that ended
    rig.touch("call_staff")
    (shown,), (ended,), (call,) = rig.of(OfferShown), rig.of(OfferEnded), rig.of(StaffCall)
    assert shown.visit_ref == ended.visit_ref == call.visit_ref == left.visit_ref, "still joinable"
    assert rig.brain.refs._refs == {} and rig.brain.staff_watch._runs == {}, "nothing kept for it"
