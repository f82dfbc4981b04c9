"""Region detection: the whole frame now and then, small regions around the tracked faces in between.

The presence model's cost is fixed by its input (192x192 for full range), whatever the frame shows. When the
kiosk already follows a face, :class:`RegionDetector` looks for it only in a padded square around the box
where the tracker last saw it, with the cheaper short-range model (128x128; in a crop the face is large,
which is what short range is for). A whole-frame detection still runs

- at least every ``full_every_s`` (0.2 s by default: a face that enters is found within that),
- at once when the picture changes outside the regions (the motion trigger: someone entering),
- when a region loses its face (the face moved too far, turned away or left), on that same frame, and on
  every frame while the tracker still holds a face that was not seen on the last one (``lost_after_s``),
- when more faces are tracked than ``max_regions``,
- while the last whole-frame detection scored a face within ``marginal_score`` of its threshold (absent: 0.1
  for an int8 whole-frame model, 0.06 for a float one): there the
  whole-frame model may drop the face on the next frame while the region model still finds it, and the two
  would disagree (a face the kiosk's own reference does not see).

While nobody is tracked and nothing moves, frames between two whole-frame detections cost only the motion
check. The tracker is a seam (:class:`TrackBook`): the kiosk's own :class:`~kiosk.decisions.tracker.Tracker`
(pure), fed by this detector's answers in the perception thread, is what the kiosk wires in; the brain keeps
its own. Decisions stay pure: nothing here reaches into the brain.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np
import numpy.typing as npt

from edge_models.geometry import square_region
from edge_models.values import Box as ModelBox
from edge_models.values import Face
from kiosk.config import PerceptionConfig
from kiosk.perception.types import Box, Detection, Frame, Snapshot

#: The motion thumbnail (640x480 shrinks by 8). Bilinear: 37 us against area interpolation's 370 us on a
#: 2-core x86-64, and a moving person changes far more than one sample's worth of pixels.
THUMB_SIZE = (80, 60)
#: Two faces from overlapping regions with at least this IoU are one face.
DUPLICATE_IOU = 0.5
#: ``[perception] marginal_score`` when it is absent, by the whole-frame model's variant: the band above the
#: threshold where its scores flicker enough for regions to disagree with it, measured on the benchmark clip
#: and the entering-and-leaving clip (docs/edge-models-runtime.md, "Region detection"). The int8 model's
#: quantised scores flicker more: below 0.1 its agreement falls (0.05: precision 98.9 % on the benchmark
#: clip); the float model's 0.06 keeps both clips above 99.4 %.
MARGINAL_SCORE_INT8 = 0.1
MARGINAL_SCORE_FLOAT = 0.06


class FaceFinder(Protocol):
    """What the region detector needs from a presence model (``edge_models.presence.PresenceDetector``)."""

    score_threshold: float

    @property
    def quantized(self) -> bool:
        """Whether the model is the int8 variant (its scores flicker more near the threshold)."""
        ...

    def detect(self, frame: npt.NDArray[np.uint8]) -> list[Face]:
        """Faces in the whole frame."""
        ...

    def detect_in(self, frame: npt.NDArray[np.uint8], region: ModelBox) -> list[Face]:
        """Faces in one region of the frame, in frame pixels."""
        ...


class TrackedFace(Protocol):
    """One followed face, as the tracker keeps it."""

    @property
    def box(self) -> Box:
        """Where it was last seen."""
        ...

    @property
    def last_seen(self) -> float:
        """When it was last seen (monotonic seconds)."""
        ...


class TrackBook(Protocol):
    """The seam to the tracker: it takes each frame's faces and says where the faces are.

    :class:`kiosk.decisions.tracker.Tracker` is one (``update`` and ``tracks``).
    """

    def update(self, snapshot: Snapshot) -> object:
        """Take one frame's detections."""
        ...

    @property
    def tracks(self) -> Sequence[TrackedFace]:
        """Every live track."""
        ...


class MotionGate:
    """Says whether the picture changed outside some regions since the previous frame.

    Each frame is shrunk to an 80x60 gray thumbnail; a pixel moved when its gray level changed by at least
    ``level``; the gate opens when at least ``fraction`` of the thumbnail's pixels outside the regions moved.
    """

    def __init__(self, level: int, fraction: float) -> None:
        self._level = level
        self._fraction = fraction
        self._previous: npt.NDArray[np.uint8] | None = None
        self._thumb = np.empty((THUMB_SIZE[1], THUMB_SIZE[0], 3), dtype=np.uint8)
        self._mask = np.empty((THUMB_SIZE[1], THUMB_SIZE[0]), dtype=bool)

    def moved(self, frame: Frame, ignore: Sequence[ModelBox]) -> bool:
        """Whether ``frame`` differs from the previous one outside ``ignore`` (frame pixels)."""
        height, width = frame.shape[:2]
        cv2.resize(frame, THUMB_SIZE, dst=self._thumb, interpolation=cv2.INTER_LINEAR)
        gray = np.asarray(cv2.cvtColor(self._thumb, cv2.COLOR_BGR2GRAY), dtype=np.uint8)
        previous, self._previous = self._previous, gray
        if previous is None or previous.shape != gray.shape:
            return True
        changed = cv2.absdiff(gray, previous) >= self._level
        self._mask[:] = True
        sx, sy = THUMB_SIZE[0] / width, THUMB_SIZE[1] / height
        for r in ignore:
            x0, y0 = max(0, math.floor(r.xmin * sx)), max(0, math.floor(r.ymin * sy))
            x1, y1 = math.ceil(r.xmax * sx), math.ceil(r.ymax * sy)
            self._mask[y0:y1, x0:x1] = False
        outside = int(self._mask.sum())
        if outside == 0:
            return False
        return int(np.count_nonzero(changed & self._mask)) >= self._fraction * outside


@dataclass
class RegionStats:
    """What the region detector did, frame by frame (for run summaries and the bench)."""

    frames: int = 0
    full: Counter[str] = field(default_factory=Counter)  # why a whole-frame detection ran
    region_frames: int = 0  # frames answered from regions alone
    regions: int = 0  # region searches (region model invokes)
    idle_frames: int = 0  # nobody tracked, nothing moved: no model run

    @property
    def full_frames(self) -> int:
        """Frames with a whole-frame detection."""
        return sum(self.full.values())

    def as_dict(self) -> dict[str, object]:
        """Plain values, for JSON."""
        return {
            "frames": self.frames,
            "full_frames": self.full_frames,
            "full_by_reason": dict(sorted(self.full.items())),
            "region_frames": self.region_frames,
            "regions": self.regions,
            "idle_frames": self.idle_frames,
        }


def _to_model_box(box: Box) -> ModelBox:
    return ModelBox(box.xmin, box.ymin, box.xmax, box.ymax)


def _to_detection(face: Face) -> Detection:
    b = face.box
    return Detection(box=Box(b.xmin, b.ymin, b.xmax, b.ymax), score=face.score)


def drop_duplicates(faces: Sequence[Face], iou: float = DUPLICATE_IOU) -> list[Face]:
    """The faces best score first, each dropped when it overlaps a better one by ``iou`` or more (the same
    face seen from two overlapping regions)."""
    kept: list[Face] = []
    for face in sorted(faces, key=lambda f: -f.score):
        if all(face.box.iou(k.box) < iou for k in kept):
            kept.append(face)
    return kept


class RegionDetector:
    """Faces of each frame: whole-frame detection when needed, regions around the tracked faces otherwise.

    ``full`` detects on whole frames, ``region`` on crops (both :class:`FaceFinder`); ``tracks`` is the
    tracker this detector feeds and asks (see :class:`TrackBook`); ``motion`` is None when the motion trigger
    is off. Call :meth:`detect` with each frame in order and its time (the clock of the frames: a camera's
    capture time, or a clip's frame time).
    """

    def __init__(
        self,
        full: FaceFinder,
        region: FaceFinder,
        tracks: TrackBook,
        settings: PerceptionConfig,
        motion: MotionGate | None = None,
    ) -> None:
        self._full = full
        self._region = region
        self._tracks = tracks
        self._settings = settings
        self._motion = motion
        self._last_full: float | None = None
        self._last_t: float | None = None
        self._marginal = False
        if settings.marginal_score is not None:
            self.marginal_score = settings.marginal_score
        else:
            self.marginal_score = MARGINAL_SCORE_INT8 if full.quantized else MARGINAL_SCORE_FLOAT
        self.stats = RegionStats()

    def regions(self, width: int, height: int) -> list[ModelBox]:
        """The regions to search in the next frame: one around each face seen in the last frame."""
        s = self._settings
        return [
            square_region(_to_model_box(track.box), s.region_padding, width, height, s.region_min_px)
            for track in self._tracks.tracks
            if self._last_t is not None and track.last_seen >= self._last_t
        ]

    def detect(self, frame: Frame, t: float) -> list[Face]:
        """The faces of ``frame``, taken at ``t`` seconds, in frame pixels, best first."""
        height, width = frame.shape[:2]
        regions = self.regions(width, height)
        moved = self._motion.moved(frame, regions) if self._motion is not None else False
        reason = self._full_reason(t, moved, regions)
        faces: list[Face] = []
        if reason is None and regions:
            for region in regions:
                found = self._region.detect_in(frame, region)
                self.stats.regions += 1
                if not found:
                    reason = "lost"
                    break
                faces.extend(found)
            else:
                faces = drop_duplicates(faces)
                self.stats.region_frames += 1
        elif reason is None:
            self.stats.idle_frames += 1
        if reason is not None:
            faces = self._full.detect(frame)
            self._last_full = t
            floor = self._full.score_threshold + self.marginal_score
            self._marginal = any(f.score < floor for f in faces)
            self.stats.full[reason] += 1
        self.stats.frames += 1
        self._tracks.update(Snapshot(t, tuple(_to_detection(f) for f in faces), width, height))
        self._last_t = t
        return faces

    def _full_reason(self, t: float, moved: bool, regions: Sequence[ModelBox]) -> str | None:
        if self._last_full is None or t - self._last_full >= self._settings.full_every_s - 1e-9:
            return "interval"
        if moved:
            return "motion"
        if self._marginal and regions:
            return "marginal"
        if self._last_t is not None and any(tr.last_seen < self._last_t for tr in self._tracks.tracks):
            return "lost"
        if len(regions) > self._settings.max_regions:
            return "crowd"
        return None


def whole_frame(detect: Callable[[Frame], list[Face]]) -> Callable[[Frame, float], list[Face]]:
    """A ``(frame, t) -> faces`` that detects on the whole of every frame (region detection off)."""
    return lambda frame, _t: detect(frame)
