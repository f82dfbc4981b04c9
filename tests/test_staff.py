"""Staff escalation: sustained negative valence with hysteresis, shopper requests, acknowledgement."""

from __future__ import annotations

import pytest

from kiosk.clock import ManualClock
from kiosk.config import DeviceConfig, StaffConfig
from kiosk.decisions.staff import NegativeValenceWatch, StaffCalls
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


def test_disabled_never_calls() -> None:
    assert _feed(NegativeValenceWatch(StaffConfig(enabled=False)), [("negative", 30.0)]) == []


def test_call_carries_place_and_time_and_ack_measures_response() -> None:
    clock = ManualClock()
    device = DeviceConfig(store_id="s1", device_id="k1", zone="bakery")
    calls = StaffCalls(clock, device)
    call = calls.raise_call("negative_valence")
    assert isinstance(parse_event(call.model_dump_json()), StaffCall)
    assert (call.store_id, call.device_id, call.zone, call.ts) == ("s1", "k1", "bakery", clock.now())
    assert StaffCall.priority == "alert" and calls.open_calls == [call.call_id]
    clock.advance(42.5)
    assert calls.waiting_s(call.call_id) == pytest.approx(42.5)
    ack = calls.acknowledge(call.call_id)
    assert ack is not None and ack.response_s == pytest.approx(42.5) and ack.call_id == call.call_id
    assert calls.acknowledge(call.call_id) is None and calls.open_calls == []
    assert list(calls.response_times) == [pytest.approx(42.5)]
