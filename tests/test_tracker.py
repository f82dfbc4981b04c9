"""Anonymous visits: tracking, ephemeral ids, valence smoothing with hysteresis and abstention."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from kiosk.clock import ManualClock
from kiosk.config import TrackerConfig
from kiosk.decisions.tracker import Tracker, ValenceSmoother
from kiosk.decisions.visit_refs import VisitRefs
from kiosk.perception.types import Box, Detection, Snapshot, ValenceReading


def _det(x: float, reading: ValenceReading | None = None, w: float = 100.0) -> Detection:
    return Detection(box=Box(x, 100, x + w, 100 + w), distance_m=1.5, reading=reading)


def _run(tracker: Tracker, frames: list[list[Detection]], dt: float = 0.1, t0: float = 0.0) -> list:
    return [tracker.update(Snapshot(t=t0 + i * dt, detections=tuple(f))) for i, f in enumerate(frames)]


def test_one_face_moving_keeps_one_visit() -> None:
    tracker = Tracker(TrackerConfig(min_hits=2), random.Random(1))
    updates = _run(tracker, [[_det(100 + 20 * i)] for i in range(20)])
    started = [tr for u in updates for tr in u.started]
    assert len(started) == 1
    assert {tr.visit_id for u in updates for tr in u.active} == {started[0].visit_id}


def test_fast_mover_matched_by_centroid() -> None:
    tracker = Tracker(TrackerConfig(min_hits=1, max_centre_jump=0.9), random.Random(1))
    updates = _run(tracker, [[_det(100)], [_det(180)], [_det(260)]])  # no overlap with IoU >= 0.3
    assert sum(len(u.started) for u in updates) == 1


def test_two_faces_two_visits_and_ids_never_repeat() -> None:
    tracker = Tracker(TrackerConfig(min_hits=1, lost_after_s=0.5), random.Random(7))
    first = _run(tracker, [[_det(0), _det(400)]] * 5)
    ids_a = {tr.visit_id for tr in first[-1].active}
    assert len(ids_a) == 2
    gone = _run(tracker, [[]] * 10, t0=0.5)
    assert {tr.visit_id for u in gone for tr in u.ended} == ids_a
    again = _run(tracker, [[_det(0), _det(400)]] * 2, t0=2.0)
    ids_b = {tr.visit_id for tr in again[-1].active}
    assert len(ids_b) == 2 and not ids_a & ids_b, "a returning face must not get its old visit id"


def test_tentative_track_never_starts_a_visit() -> None:
    tracker = Tracker(TrackerConfig(min_hits=3, lost_after_s=0.2), random.Random(1))
    updates = _run(tracker, [[_det(0)], [_det(0)], [], [], [], []])
    assert not any(u.started or u.ended for u in updates)


def test_same_seed_same_ids_different_seed_different_ids() -> None:
    def ids(seed: int) -> set[str]:
        tr = Tracker(TrackerConfig(min_hits=1), random.Random(seed))
        return {t.visit_id for t in tr.update(Snapshot(0.0, (_det(0),))).active}

    assert ids(3) == ids(3) and ids(3) != ids(4)


def test_crowd_size_and_approach_growth() -> None:
    tracker = Tracker(TrackerConfig(min_hits=1), random.Random(1))
    frames = [[_det(100, w=100 + 10 * i), _det(500)] for i in range(11)]
    updates = _run(tracker, frames)
    assert updates[-1].crowd_size == 2
    growing = max(updates[-1].active, key=lambda tr: tr.box.width)
    assert growing.area_growth(1.0, 1.0) == pytest.approx((200 * 200) / (100 * 100))


CFG = TrackerConfig(min_confidence=0.6, valence_half_life_s=1.0, valence_min_evidence=1.0)


def _feed(
    smoother: ValenceSmoother, readings: list[ValenceReading | None], t0: float, dt: float = 0.2
) -> float:
    t = t0
    for reading in readings:
        smoother.observe(t, reading)
        t += dt
    return t - dt


def test_low_confidence_and_abstaining_readings_are_ignored() -> None:
    smoother = ValenceSmoother(CFG)
    t = _feed(
        smoother, [ValenceReading("negative", 0.5)] * 10 + [ValenceReading("negative", 0.9, True)] * 10, 0
    )
    assert smoother.valence(t) is None
    assert smoother.abstentions == 20 and smoother.readings == 0


def test_valence_needs_evidence_and_resists_one_odd_frame() -> None:
    smoother = ValenceSmoother(CFG)
    pos = ValenceReading("positive", 0.9)
    neg = ValenceReading("negative", 0.9)
    t = _feed(smoother, [pos], 0)
    assert smoother.valence(t) is None  # one reading is not enough evidence
    t = _feed(smoother, [pos] * 4, t + 0.2)
    assert smoother.valence(t) == "positive"
    t = _feed(smoother, [neg], t + 0.2)
    assert smoother.valence(t) == "positive"  # hysteresis: one negative frame does not flip it
    t = _feed(smoother, [neg] * 15, t + 0.2)
    assert smoother.valence(t) == "negative"


def test_valence_goes_stale_without_readings() -> None:
    smoother = ValenceSmoother(CFG)
    t = _feed(smoother, [ValenceReading("neutral", 0.9)] * 5, 0)
    assert smoother.valence(t) == "neutral"
    assert smoother.valence(t + CFG.valence_stale_s + 0.1) is None


def test_exit_share_must_be_below_enter_share() -> None:
    with pytest.raises(ValueError, match="hysteresis"):
        TrackerConfig(valence_enter_share=0.5, valence_exit_share=0.6)


def test_visit_refs_stable_within_visit_distinct_across_and_rotating_daily() -> None:
    clock = ManualClock(datetime(2026, 3, 1, 20, 0, tzinfo=UTC))
    refs = VisitRefs(clock, random.Random(5), ZoneInfo("Europe/Moscow"))
    a = refs.ref("visit-a")
    assert refs.ref("visit-a") == a and refs.ref("visit-b") != a
    assert "visit-a" not in a and len(a) == 24
    clock.advance(timedelta(hours=2).total_seconds())  # 01:00 next day in Moscow: rotated
    assert refs.ref("visit-a") == a, "a live visit keeps its ref across midnight"
    assert refs.rotations == 2
    refs.release("visit-a")
    assert refs.peek("visit-a") != a, "after the rotation the same id hashes to something else"
    assert refs.ref("visit-a") == refs.peek("visit-a")
    refs.release("visit-a")
    assert refs.peek("visit-a") == refs.peek("visit-a") and "visit-a" not in refs._refs, (
        "peeking keeps nothing"
    )


def test_visit_refs_depend_on_the_salt_not_only_the_id() -> None:
    clock = ManualClock()
    tz = ZoneInfo("UTC")
    assert VisitRefs(clock, random.Random(1), tz).ref("x") != VisitRefs(clock, random.Random(2), tz).ref("x")
