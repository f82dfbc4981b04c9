"""Staff escalation: sustained negative valence with hysteresis, shopper requests, acknowledgement."""

from __future__ import annotations

import pytest

from kiosk.clock import ManualClock
from kiosk.config import DeviceConfig, StaffConfig
from kiosk.decisions.staff import Frustration, NegativeValenceWatch, StaffCalls
from kiosk.perception.types import Valence
from mqtt_bridge.contract.events import StaffCall, parse_event

CFG = StaffConfig(negative_enter_s=5.0, negative_exit_s=2.0, repeat_after_s=60.0)


def _feed(
    watch: NegativeValenceWatch, pattern: list[tuple[Valence | None, float]], t0: float = 0.0
) -> list[float]:
    """Feed (valence, seconds) spans at 10 Hz; return the times a call was raised."""
    calls, step = [], 0
    for valence, seconds in pattern:
        for _ in range(round(seconds * 10)):
            t = t0 + step / 10
            if watch.observe(t, "v", valence):
                calls.append(t)
            step += 1
    return calls


def test_sustained_negative_raises_one_call() -> None:
    calls = _feed(NegativeValenceWatch(CFG), [("negative", 10.0)])
    assert calls == [pytest.approx(5.0)]


def test_short_calm_spell_does_not_reset_but_long_one_does() -> None:
    brief = _feed(NegativeValenceWatch(CFG), [("negative", 3.0), ("neutral", 1.0), ("negative", 1.5)])
    assert brief == [pytest.approx(5.0)], "a 1 s calm spell (< exit 2 s) keeps the run going"
    long = _feed(NegativeValenceWatch(CFG), [("negative", 3.0), ("positive", 2.5), ("negative", 4.0)])
    assert long == []


def test_unknown_valence_is_no_evidence_and_repeat_is_guarded() -> None:
    calls = _feed(NegativeValenceWatch(CFG), [("negative", 3.0), (None, 3.0), ("negative", 60.0)])
    assert len(calls) == 1
    again = _feed(NegativeValenceWatch(CFG), [("negative", 70.0)])
    assert len(again) == 2 and again[1] - again[0] == pytest.approx(60.0)


def test_disabled_never_calls_but_still_sees_the_frustration() -> None:
    watch = NegativeValenceWatch(StaffConfig(enabled=False, negative_enter_s=5.0))
    assert _feed(watch, [("negative", 30.0)]) == []
    assert watch.frustration("v") == Frustration(since=0.0, after=None)


def test_frustration_is_the_first_sustained_run_and_names_the_offer_shown_before_it_began() -> None:
    watch = NegativeValenceWatch(CFG)
    _feed(watch, [("positive", 1.0)])
    watch.offer_shown("v", "coffee")  # at 1.0
    _feed(watch, [("positive", 1.0), ("negative", 3.0)], t0=1.0)  # a short run (3 s < enter 5 s)
    assert watch.frustration("v") is None and watch.last_offer("v") == "coffee"
    watch.offer_shown("v", "croissant")  # at 5.0, while the run goes on: it does not precede the run
    _feed(watch, [("negative", 3.0)], t0=5.0)  # the run began at 2.0 and reaches 5 s at 7.0
    assert watch.frustration("v") == Frustration(since=pytest.approx(2.0), after="coffee")
    assert watch.last_offer("v") == "croissant"
    watch.offer_shown("v", "help")
    _feed(watch, [("positive", 3.0), ("negative", 10.0)], t0=8.0)
    assert watch.frustration("v") == Frustration(since=pytest.approx(2.0), after="coffee"), "the first one"
    watch.forget("v")
    assert watch.frustration("v") is None and watch.last_offer("v") is None
    watch.offer_shown("v", "coffee")  # the visit ended: nothing is kept for it
    assert watch._runs == {}


def test_a_reset_run_takes_the_offer_shown_before_the_next_one() -> None:
    watch = NegativeValenceWatch(CFG)
    _feed(watch, [("negative", 3.0), ("positive", 2.5)])  # reset by 2.5 s of calm (exit 2 s)
    watch.offer_shown("v", "coffee")
    calls = _feed(watch, [("negative", 6.0)], t0=5.5)
    assert calls == [pytest.approx(10.5)]
    assert watch.frustration("v") == Frustration(since=pytest.approx(5.5), after="coffee")


def test_call_carries_place_and_time_and_ack_measures_response() -> None:
    clock = ManualClock()
    device = DeviceConfig(store_id="s1", device_id="k1", zone="bakery")
    calls = StaffCalls(clock, device)
    call = calls.raise_call("negative_valence", visit_ref="r1", offer_id="coffee")
    assert isinstance(parse_event(call.model_dump_json()), StaffCall)
    assert (call.store_id, call.device_id, call.zone, call.ts) == ("s1", "k1", "bakery", clock.now())
    assert (call.visit_ref, call.offer_id) == ("r1", "coffee")
    assert StaffCall.priority == "alert" and calls.open_calls == [call.call_id]
    clock.advance(42.5)
    assert calls.waiting_s(call.call_id) == pytest.approx(42.5)
    ack = calls.acknowledge(call.call_id)
    assert ack is not None and ack.response_s == pytest.approx(42.5) and ack.call_id == call.call_id
    assert calls.acknowledge(call.call_id) is None and calls.open_calls == []
    assert list(calls.response_times) == [pytest.approx(42.5)]
