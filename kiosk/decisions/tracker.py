"""Anonymous visits: a small IoU/centroid tracker with ephemeral visit ids and smoothed valence.

A visit id is random (from the injected :class:`random.Random`), lives only in memory while its face is in
view, and is never reused, written or derived from the face: two visits cannot be linked. Valence readings
under the confidence floor, or where the model abstained, are ignored; the rest feed an exponentially
decaying evidence score per valence group, and the visit's valence changes only through a two-threshold
(hysteresis) rule, so one odd frame does not flip it.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from kiosk.config import TrackerConfig
from kiosk.perception.types import VALENCES, Box, Detection, Snapshot, Valence, ValenceReading


class ValenceSmoother:
    """Decaying per-group evidence with hysteresis: enter a valence above one share, leave below another."""

    def __init__(self, config: TrackerConfig) -> None:
        self._config = config
        self._scores: dict[Valence, float] = dict.fromkeys(VALENCES, 0.0)
        self._last_t: float | None = None
        self._last_valid_t: float | None = None
        self._label: Valence | None = None
        self.abstentions = 0
        self.readings = 0

    def observe(self, t: float, reading: ValenceReading | None) -> None:
        """Take one frame's reading (or its absence) at monotonic time ``t``."""
        if reading is None:
            return
        if reading.abstain or reading.confidence < self._config.min_confidence:
            self.abstentions += 1
            return
        self.readings += 1
        if self._last_t is not None:
            decay = math.pow(0.5, max(0.0, t - self._last_t) / self._config.valence_half_life_s)
            for key in self._scores:
                self._scores[key] *= decay
        self._scores[reading.valence] += reading.confidence
        self._last_t = self._last_valid_t = t
        self._relabel()

    def _relabel(self) -> None:
        total = sum(self._scores.values())
        if total < self._config.valence_min_evidence:
            return
        shares = {k: v / total for k, v in self._scores.items()}
        if self._label is not None and shares[self._label] >= self._config.valence_exit_share:
            return
        leader = max(VALENCES, key=lambda k: shares[k])
        if shares[leader] >= self._config.valence_enter_share:
            self._label = leader
        elif self._label is not None and shares[self._label] < self._config.valence_exit_share:
            self._label = None

    def valence(self, t: float) -> Valence | None:
        """The smoothed valence, or None when unknown or when no valid reading came for a while."""
        if self._last_valid_t is None or t - self._last_valid_t > self._config.valence_stale_s:
            return None
        return self._label


@dataclass
class Track:
    """One face followed across frames. ``visit_id`` is ephemeral: memory only, never stored."""

    visit_id: str
    box: Box
    first_seen: float
    last_seen: float
    smoother: ValenceSmoother
    distance_m: float | None = None
    yaw_deg: float = 0.0
    hits: int = 1
    confirmed: bool = False
    seen_now: bool = True
    areas: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=64))

    @property
    def dwell_s(self) -> float:
        """Seconds from first to last sighting."""
        return self.last_seen - self.first_seen

    def valence(self, t: float) -> Valence | None:
        """Smoothed valence at ``t``."""
        return self.smoother.valence(t)

    def area_growth(self, t: float, window_s: float) -> float:
        """Box area now over the area about ``window_s`` ago (>1: coming closer)."""
        past = next((a for ts, a in self.areas if ts >= t - window_s), None)
        if not past or not self.areas:
            return 1.0
        return self.areas[-1][1] / past


@dataclass(frozen=True)
class TrackerUpdate:
    """What one frame changed: visits started and ended, and every confirmed visit now in view."""

    t: float
    started: tuple[Track, ...]
    ended: tuple[Track, ...]
    active: tuple[Track, ...]

    @property
    def crowd_size(self) -> int:
        """Confirmed faces in view."""
        return len(self.active)


class Tracker:
    """Greedy IoU matching, then centroid distance for fast movers; tracks end after ``lost_after_s``."""

    def __init__(
        self,
        config: TrackerConfig,
        rng: random.Random,
        reads_valence: Callable[[str], bool] = lambda _visit_id: True,
    ) -> None:
        self._config = config
        self._rng = rng
        self._tracks: list[Track] = []
        self._reads_valence = reads_valence

    @property
    def tracks(self) -> tuple[Track, ...]:
        """Every live track, tentative ones included."""
        return tuple(self._tracks)

    def _new_id(self) -> str:
        return f"{self._rng.getrandbits(64):016x}"

    def update(self, snapshot: Snapshot) -> TrackerUpdate:
        """Match one frame's detections to tracks and report what changed."""
        t = snapshot.t
        for track in self._tracks:
            track.seen_now = False
        unmatched = self._match(list(snapshot.detections), t)
        started: list[Track] = []
        for det in unmatched:
            track = Track(
                visit_id=self._new_id(),
                box=det.box,
                first_seen=t,
                last_seen=t,
                smoother=ValenceSmoother(self._config),
            )
            self._apply(track, det, t, new=True)
            self._tracks.append(track)
        for track in self._tracks:
            if not track.confirmed and track.hits >= self._config.min_hits:
                track.confirmed = True
                started.append(track)
        ended = [tr for tr in self._tracks if t - tr.last_seen > self._config.lost_after_s]
        self._tracks = [tr for tr in self._tracks if tr not in ended]
        return TrackerUpdate(
            t=t,
            started=tuple(started),
            ended=tuple(tr for tr in ended if tr.confirmed),
            active=tuple(tr for tr in self._tracks if tr.confirmed),
        )

    def flush(self, t: float) -> TrackerUpdate:
        """End every visit (shutdown, camera lost): report the confirmed ones as ended."""
        ended = tuple(tr for tr in self._tracks if tr.confirmed)
        self._tracks = []
        return TrackerUpdate(t=t, started=(), ended=ended, active=())

    def _match(self, detections: list[Detection], t: float) -> list[Detection]:
        pairs = sorted(
            (
                (track.box.iou(det.box), ti, di)
                for ti, track in enumerate(self._tracks)
                for di, det in enumerate(detections)
            ),
            reverse=True,
        )
        used_tracks: set[int] = set()
        used_dets: set[int] = set()
        for iou, ti, di in pairs:
            if iou < self._config.iou_match:
                break
            if ti in used_tracks or di in used_dets:
                continue
            used_tracks.add(ti)
            used_dets.add(di)
            self._apply(self._tracks[ti], detections[di], t)
        # Fast movers: nearest centre within a fraction of the box width.
        for di, det in enumerate(detections):
            if di in used_dets:
                continue
            best: tuple[float, int] | None = None
            for ti, track in enumerate(self._tracks):
                if ti in used_tracks:
                    continue
                jump = _centre_distance(track.box, det.box) / max(track.box.width, det.box.width, 1.0)
                if jump <= self._config.max_centre_jump and (best is None or jump < best[0]):
                    best = (jump, ti)
            if best is not None:
                used_tracks.add(best[1])
                used_dets.add(di)
                self._apply(self._tracks[best[1]], det, t)
        return [det for di, det in enumerate(detections) if di not in used_dets]

    def _apply(self, track: Track, det: Detection, t: float, new: bool = False) -> None:
        if not new:
            track.hits += 1
        track.box = det.box
        track.last_seen = t
        track.seen_now = True
        track.distance_m = det.distance_m
        track.yaw_deg = det.yaw_deg
        track.areas.append((t, det.box.area))
        if self._reads_valence(track.visit_id):  # privacy: presence only, or no consent for this visit
            track.smoother.observe(t, det.reading)


def _centre_distance(a: Box, b: Box) -> float:
    (ax, ay), (bx, by) = a.center, b.center
    return math.hypot(ax - bx, ay - by)
