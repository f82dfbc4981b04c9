"""The engagement state machine: every path of the happy flow, timeouts, staff calls, camera, maintenance."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk.config import EngagementConfig
from kiosk.decisions.engagement import (
    ALL,
    TIMEOUTS,
    TRANSITIONS,
    CallStaff,
    CameraChanged,
    ChooseOffer,
    Consent,
    EngagementMachine,
    Input,
    MaintenanceSwitch,
    OfferEnded,
    OfferReady,
    Primary,
    Record,
    Seen,
    ShowScreen,
    Tick,
    Touch,
)

CFG = EngagementConfig()


def _seen(t: float, distance: float = 1.5, attention: float = 0.0, growth: float = 1.0) -> Seen:
    return Seen(t, 1, Primary("v1", distance, growth, attention))


def _engage(m: EngagementMachine) -> None:
    m.step(_seen(0.0))
    assert m.state == "approach"
    effects = m.step(_seen(1.0, attention=2.0))
    assert m.state == "engaged" and ChooseOffer("v1") in effects


def test_happy_path_to_thanks_and_back_to_attract() -> None:
    m = EngagementMachine(CFG)
    assert m.step(_seen(0.0)) == [ShowScreen("welcome")]
    _engage_effects = m.step(_seen(1.0, attention=2.0))
    assert _engage_effects == [ChooseOffer("v1")]
    shown = m.step(OfferReady(1.1, "coffee"))
    assert shown == [Record("offer_shown", "coffee", "v1"), ShowScreen("offer", "coffee")]
    tapped = m.step(Touch(2.0, "tap"))
    assert Record("offer_tapped", "coffee", "v1") in tapped and m.state == "interaction"
    done = m.step(Touch(3.0, "done"))
    assert OfferEnded("coffee") in done and m.state == "feedback"
    thanks = m.step(Touch(4.0, "feedback", score=5))
    assert Record("feedback", "coffee", "v1", score=5) in thanks and m.state == "thanks"
    m.step(Tick(4.0 + CFG.thanks_s))
    assert m.state == "cooldown"
    m.step(_seen(4.0 + CFG.thanks_s + 0.5))
    assert m.state == "cooldown", "no new approach during cooldown"
    m.step(Tick(4.0 + CFG.thanks_s + CFG.cooldown_s))
    assert m.state == "attract"


def test_far_face_not_approaching_unless_growing() -> None:
    m = EngagementMachine(CFG)
    m.step(_seen(0.0, distance=5.0))
    assert m.state == "attract"
    m.step(_seen(0.5, distance=5.0, growth=1.5))
    assert m.state == "approach"


def test_offer_timeout_and_audience_lost() -> None:
    m = EngagementMachine(CFG)
    _engage(m)
    m.step(OfferReady(1.0, "coffee"))
    assert m.step(Tick(1.0 + CFG.lost_grace_s - 0.1)) == []
    effects = m.step(Tick(1.0 + CFG.lost_grace_s + 0.1))
    assert m.state == "cooldown" and OfferEnded("coffee") in effects

    m2 = EngagementMachine(CFG)
    _engage(m2)
    m2.step(OfferReady(1.0, "coffee"))
    for k in range(1, int(CFG.offer_timeout_s) + 2):
        m2.step(_seen(1.0 + k))
        m2.step(Tick(1.0 + k))
    assert m2.state == "cooldown"


def test_approach_that_never_engages_times_out() -> None:
    m = EngagementMachine(CFG)
    m.step(_seen(0.0))
    m.step(_seen(CFG.approach_timeout_s - 1))
    m.step(Tick(CFG.approach_timeout_s))
    assert m.state == "attract"


def test_nothing_eligible_goes_to_cooldown_and_help_shows_help_screen() -> None:
    m = EngagementMachine(CFG)
    _engage(m)
    m.step(OfferReady(1.1, None))
    assert m.state == "cooldown"
    m2 = EngagementMachine(CFG)
    _engage(m2)
    effects = m2.step(OfferReady(1.1, "help-desk", help=True))
    assert ShowScreen("help", "help-desk") in effects
    assert Record("offer_shown", "help-desk", "v1", help=True) in effects


@pytest.mark.parametrize("state_path", [[], ["approach"], ["approach", "engaged", "offer"]])
def test_shopper_can_call_staff_from_anywhere(state_path: list[str]) -> None:
    m = EngagementMachine(CFG)
    if state_path:
        m.step(_seen(0.0))
    if "engaged" in state_path:
        m.step(_seen(0.5, attention=2.0))
        m.step(OfferReady(0.6, "coffee"))
    effects = m.step(Touch(1.0, "call_staff"))
    assert m.state == "thanks"
    assert ShowScreen("staff_coming") in effects
    assert any(isinstance(e, CallStaff) and e.reason == "shopper_request" for e in effects)


def test_camera_down_drops_watching_but_keeps_a_touch_session() -> None:
    m = EngagementMachine(CFG)
    m.step(_seen(0.0))
    m.step(CameraChanged(0.5, ok=False))
    assert m.state == "attract" and not m.ctx.camera_ok
    m.step(Touch(1.0, "tap"))  # touch still works without a camera
    assert m.state == "engaged"
    m.step(OfferReady(1.1, "coffee"))
    m.step(CameraChanged(1.2, ok=False))
    assert m.state == "offer"


def test_maintenance_from_any_state_and_back() -> None:
    m = EngagementMachine(CFG)
    _engage(m)
    assert m.step(MaintenanceSwitch(2.0, on=True)) == [ShowScreen("maintenance")]
    m.step(_seen(3.0))
    m.step(Touch(3.0, "tap"))
    m.step(Tick(1000.0))
    assert m.state == "maintenance"
    m.step(MaintenanceSwitch(1001.0, on=False))
    assert m.state == "attract"


def test_invalid_feedback_score_is_ignored() -> None:
    m = EngagementMachine(CFG)
    _engage(m)
    m.step(OfferReady(1.0, "coffee"))
    m.step(Touch(1.5, "tap"))
    m.step(Touch(2.0, "done"))
    assert m.step(Touch(2.5, "feedback", score=None)) == []
    assert m.step(Touch(2.6, "feedback", score=9)) == []  # CSAT is 1-5
    assert m.state == "feedback"


def test_table_is_well_formed() -> None:
    targets = {row.target for row in TRANSITIONS} | {target for _, target in TIMEOUTS.values()}
    assert targets - {None} <= ALL
    reachable = {"attract"} | (targets - {None})
    assert reachable == ALL, f"unreachable: {ALL - reachable}"


def _inputs() -> st.SearchStrategy[list[tuple[float, Input]]]:
    primary = st.builds(
        Primary,
        visit_id=st.sampled_from(["a", "b"]),
        distance_m=st.one_of(st.none(), st.floats(0.2, 6.0)),
        area_growth=st.floats(0.5, 2.0),
        attention_s=st.floats(0.0, 5.0),
        valence=st.sampled_from([None, "negative", "neutral", "positive"]),
    )
    actions = st.sampled_from(["tap", "call_staff", "done", "dismiss", "feedback", "consent", "decline"])
    event: st.SearchStrategy[Input] = st.one_of(
        st.builds(Seen, t=st.just(0.0), faces=st.integers(1, 3), primary=primary),
        st.builds(Seen, t=st.just(0.0), faces=st.just(0), primary=st.none()),
        st.builds(Touch, t=st.just(0.0), action=actions, score=st.one_of(st.none(), st.integers(0, 10))),
        st.builds(Tick, t=st.just(0.0)),
        st.builds(CameraChanged, t=st.just(0.0), ok=st.booleans()),
        st.builds(OfferReady, t=st.just(0.0), offer_id=st.sampled_from([None, "x"]), help=st.booleans()),
        st.builds(MaintenanceSwitch, t=st.just(0.0), on=st.booleans()),
    )
    return st.lists(st.tuples(st.floats(0.0, 20.0), event), max_size=60)


@given(_inputs())
def test_any_input_sequence_keeps_the_machine_consistent(steps: list[tuple[float, Input]]) -> None:
    m = EngagementMachine(CFG)
    t = 0.0
    shown: str | None = None
    for dt, template in steps:
        t += dt
        effects = m.step(dataclasses.replace(template, t=t))
        assert m.state in ALL
        for effect in effects:
            if isinstance(effect, Record) and effect.kind == "offer_shown":
                assert shown is None, "an offer shown while another is still on screen"
                shown = effect.offer_id
            if isinstance(effect, OfferEnded):
                assert effect.offer_id == shown
                shown = None
        if m.state not in ("offer", "interaction"):
            assert shown is None, f"offer left on the books in {m.state}"
        if m.state in ("attract", "cooldown", "maintenance"):
            assert m.ctx.visit_id is None and m.ctx.offer_id is None


def test_consent_buttons_emit_consent_without_changing_state() -> None:
    m = EngagementMachine(CFG)
    m.step(_seen(0.0))
    assert m.step(Touch(0.5, "consent")) == [Consent("v1", True)]
    assert m.step(Touch(0.6, "decline")) == [Consent("v1", False)]
    assert m.state == "approach"
