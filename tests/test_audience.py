"""Audience metrics: OTS, dwell, attention, watcher, glance, valence mix per visit and per offer, crowd."""

from __future__ import annotations

import random

import pytest

from kiosk.config import AudienceConfig, TrackerConfig
from kiosk.decisions.audience import AudienceMeter, VisitMetrics
from kiosk.decisions.tracker import Tracker
from kiosk.perception.types import Box, Detection, Snapshot, ValenceReading

DT = 0.1


def _face(x: float, yaw: float, reading: ValenceReading | None = None) -> Detection:
    return Detection(box=Box(x, 0, x + 100, 100), yaw_deg=yaw, reading=reading)


class Scene:
    def __init__(self) -> None:
        self.tracker = Tracker(
            TrackerConfig(min_hits=1, lost_after_s=0.3, valence_min_evidence=0.5), random.Random(0)
        )
        self.meter = AudienceMeter(AudienceConfig(attention_yaw_deg=30, watcher_s=1.0, glance_max_s=2.0))
        self.t = 0.0
        self.ended: list[VisitMetrics] = []

    def frames(self, n: int, faces: list[Detection]) -> None:
        for _ in range(n):
            update = self.tracker.update(Snapshot(self.t, tuple(faces)))
            self.ended += self.meter.observe(update)
            self.t += DT


def test_passer_by_looking_away_is_only_an_opportunity_to_see() -> None:
    scene = Scene()
    scene.frames(20, [_face(0, yaw=70)])
    scene.frames(5, [])
    (visit,) = scene.ended
    assert visit.dwell_s == pytest.approx(1.9)
    assert visit.attention_s == 0 and not visit.watcher and not visit.glance
    assert scene.meter.totals.opportunities_to_see == 1


def test_glance_then_watcher() -> None:
    scene = Scene()
    scene.frames(6, [_face(0, yaw=5)])  # ~0.5 s frontal
    scene.frames(5, [])
    scene.frames(31, [_face(0, yaw=-10)])  # ~3 s frontal
    scene.frames(5, [])
    glance, watcher = scene.ended
    assert glance.glance and not glance.watcher and glance.attention_s == pytest.approx(0.5)
    assert watcher.watcher and not watcher.glance and watcher.attention_s == pytest.approx(3.0)
    totals = scene.meter.totals
    assert (totals.opportunities_to_see, totals.watchers, totals.glances) == (2, 1, 1)


def test_attention_counts_only_frontal_time_and_never_exceeds_dwell() -> None:
    scene = Scene()
    scene.frames(11, [_face(0, yaw=0)])
    scene.frames(10, [_face(0, yaw=60)])
    scene.frames(5, [])
    (visit,) = scene.ended
    assert visit.attention_s == pytest.approx(1.0)
    assert visit.attention_s <= visit.dwell_s


def test_valence_mix_of_visit_and_offer_and_crowd() -> None:
    scene = Scene()
    happy = ValenceReading("positive", 0.9)
    scene.frames(5, [_face(0, 0, happy), _face(400, 0)])
    scene.meter.start_offer("coffee", scene.t)
    scene.frames(10, [_face(0, 0, happy), _face(400, 0)])
    exposure = scene.meter.end_offer(scene.t)
    scene.frames(5, [])
    assert exposure is not None and exposure.offer_id == "coffee"
    assert exposure.seconds == pytest.approx(1.0)
    # Ten frames 0.1 s apart span 0.9 s of observed time: the mix counts time between sightings.
    assert exposure.valence.positive_s == pytest.approx(0.9)
    assert exposure.valence.negative_s == 0 and exposure.peak_crowd == 2
    happy_visit = max(scene.ended, key=lambda v: v.valence.positive_s)
    assert happy_visit.valence.positive_s > 1.0
    assert scene.meter.totals.peak_crowd == 2
    assert scene.meter.end_offer(scene.t) is None


# ---- an offer's exposure to the visit it was shown to (offer_ended) -------------------------------------

NEGATIVE, NEUTRAL, POSITIVE = (ValenceReading(v, 0.9) for v in ("negative", "neutral", "positive"))
EMPTY = {"negative_s": 0.0, "neutral_s": 0.0, "positive_s": 0.0}


class Exposure(Scene):
    """A scene whose smoothed valence follows each reading at once (a tiny half-life), so that the
    seconds of each valence are known by hand: frame k is at t = 0.1 k and accounts (t - 0.1, t]."""

    def __init__(self, window_s: float = 1.5, reads: bool = True) -> None:
        super().__init__()
        self.tracker = Tracker(
            TrackerConfig(min_hits=1, lost_after_s=0.3, valence_min_evidence=0.5, valence_half_life_s=0.01),
            random.Random(0),
            lambda _visit_id: reads,
        )
        self.meter = AudienceMeter(AudienceConfig(watcher_s=0.5, uplift_window_s=window_s))

    @property
    def last_t(self) -> float:
        """The time of the latest frame (the brain starts and ends offers in the step of a frame)."""
        return self.t - DT

    def visit_at(self, x: float) -> str:
        return next(tr.visit_id for tr in self.tracker.tracks if tr.box.xmin == x)


def test_an_exposure_measures_the_addressed_visit_before_and_while_the_offer_shows() -> None:
    scene = Exposure(window_s=1.5)
    bystander = _face(400, 0, NEGATIVE)  # frontal and negative throughout: never the addressed visit's
    scene.frames(10, [_face(0, 0, NEGATIVE), bystander])  # t 0.0-0.9: negative (0, 0.9]
    scene.frames(10, [_face(0, 0, NEUTRAL), bystander])  # t 1.0-1.9: neutral (0.9, 1.9]
    scene.meter.start_offer("coffee", scene.last_t, scene.visit_at(0))  # at 1.9: window [0.4, 1.9]
    scene.frames(5, [_face(0, 0, POSITIVE), bystander])  # t 2.0-2.4: positive and frontal
    scene.frames(5, [_face(0, 60, NEUTRAL), bystander])  # t 2.5-2.9: neutral, looking away
    exposure = scene.meter.end_offer(scene.last_t)  # at 2.9
    assert exposure is not None and exposure.offer_id == "coffee"
    assert exposure.seconds == pytest.approx(1.0)
    assert exposure.attention_s == pytest.approx(0.5) and exposure.attended  # watcher_s 0.5: reached
    before, during = exposure.valence_before, exposure.valence_during
    assert before.negative_s == pytest.approx(0.5), "clipped at the window's start, 0.4"
    assert (before.neutral_s, before.positive_s) == (pytest.approx(1.0), 0.0)
    assert (during.negative_s, during.neutral_s, during.positive_s) == (
        0.0,
        pytest.approx(0.5),
        pytest.approx(0.5),
    )
    assert exposure.valence.negative_s == pytest.approx(1.0), "the bystander counts in the all-faces mix only"


def test_an_exposure_without_an_addressed_visit_or_without_reading_has_empty_mixes() -> None:
    nobody = Exposure()
    nobody.frames(20, [_face(0, 0, POSITIVE)])
    nobody.meter.start_offer("coffee", nobody.last_t)
    nobody.frames(20, [_face(0, 0, POSITIVE)])
    unaddressed = nobody.meter.end_offer(nobody.last_t)
    assert unaddressed is not None and unaddressed.seconds == pytest.approx(2.0)
    assert unaddressed.attention_s == 0 and not unaddressed.attended
    assert unaddressed.valence_before.as_dict() == unaddressed.valence_during.as_dict() == EMPTY

    unread = Exposure(reads=False)  # presence only, or no consent: the tracker never reads expression
    unread.frames(20, [_face(0, 0, POSITIVE)])
    unread.meter.start_offer("coffee", unread.last_t, unread.visit_at(0))
    unread.frames(20, [_face(0, 0, POSITIVE)])
    exposure = unread.meter.end_offer(unread.last_t)
    assert exposure is not None and exposure.attention_s == pytest.approx(2.0) and exposure.attended
    assert exposure.valence_before.as_dict() == exposure.valence_during.as_dict() == EMPTY


def test_a_visits_valence_history_is_bounded_by_the_window_and_forgotten_with_the_visit() -> None:
    scene = Exposure(window_s=2.0)
    for _ in range(300):  # 30 s, the valence changing every frame: one span a frame
        scene.frames(1, [_face(0, 0, NEUTRAL if round(scene.t * 10) % 2 else POSITIVE)])
    visit = scene.visit_at(0)
    recent = scene.meter._visits[visit].recent
    assert 19 <= len(recent) <= 21 and recent[0][0] >= scene.last_t - 2.0 - 1e-9
    scene.frames(5, [])
    assert scene.ended and visit not in scene.meter._visits


def test_a_steady_valence_is_one_span() -> None:
    scene = Exposure(window_s=2.0)
    scene.frames(100, [_face(0, 0, POSITIVE)])
    (span,) = scene.meter._visits[scene.visit_at(0)].recent
    assert span[2] == "positive" and span[1] - span[0] == pytest.approx(2.0), "nothing older than the window"
