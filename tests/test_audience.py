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
