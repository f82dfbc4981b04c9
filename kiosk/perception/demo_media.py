"""The demo's footage: a real photograph of a person, walking up to the screen and away, made into a clip.

Vitrina ships one real photo with a licence that allows redistribution (docs/demo-media.md): NASA's
portrait of the astronaut Eileen Collins, public domain, the same picture as scikit-image's ``astronaut``.
:func:`write_walk_in_clip` moves and scales it over a plain background, frame by frame, so that the
camera-driven demo sees a person come closer, stay, and leave, twice a loop, with no download and no
footage of unknown origin. The motion is made here; the face is real.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

PHOTO = Path(__file__).resolve().parent.parent / "demo_assets" / "people" / "astronaut.jpg"
WIDTH, HEIGHT, FPS = 640, 480, 30.0
BACKGROUND = (96, 100, 104)


@dataclass(frozen=True)
class Beat:
    """One stretch of the walk: from ``start_s`` to ``end_s`` the photo goes from one scale and
    horizontal offset to another (scale 0: nobody in view)."""

    start_s: float
    end_s: float
    scale: tuple[float, float]
    offset_x: tuple[float, float]


#: One visit: nobody, walk in (growing), stay (a slight sway), walk out, nobody.
WALK: tuple[Beat, ...] = (
    Beat(0.0, 1.5, (0.0, 0.0), (0.0, 0.0)),
    Beat(1.5, 4.0, (0.35, 0.95), (-0.35, 0.0)),
    Beat(4.0, 12.0, (0.95, 1.0), (0.0, 0.02)),
    Beat(12.0, 13.0, (1.0, 1.0), (0.0, 0.9)),
    Beat(13.0, 15.0, (0.0, 0.0), (0.0, 0.0)),
)


def frame_at(photo: npt.NDArray[np.uint8], t: float, walk: tuple[Beat, ...] = WALK) -> npt.NDArray[np.uint8]:
    """The 640x480 BGR frame ``t`` seconds into the walk."""
    canvas = np.empty((HEIGHT, WIDTH, 3), dtype=np.uint8)
    canvas[:] = BACKGROUND
    beat = next((b for b in walk if b.start_s <= t < b.end_s), None)
    if beat is None or beat.scale == (0.0, 0.0):
        return canvas
    k = (t - beat.start_s) / (beat.end_s - beat.start_s)
    scale = beat.scale[0] + k * (beat.scale[1] - beat.scale[0])
    offset = beat.offset_x[0] + k * (beat.offset_x[1] - beat.offset_x[0])
    size = max(8, round(HEIGHT * scale))
    person = cv2.resize(photo, (size, size), interpolation=cv2.INTER_AREA)
    left = round((WIDTH - size) / 2 + offset * WIDTH)
    top = HEIGHT - size  # standing on the bottom edge, as a person in front of a screen does
    x0, y0 = max(0, left), max(0, top)
    x1, y1 = min(WIDTH, left + size), min(HEIGHT, top + size)
    if x1 > x0 and y1 > y0:
        canvas[y0:y1, x0:x1] = person[y0 - top : y1 - top, x0 - left : x1 - left]
    return canvas


def write_walk_in_clip(target: Path, photo_path: Path = PHOTO) -> Path:
    """Write one walk (about 15 s at 30 fps, 640x480, MJPG) to ``target``; the demo plays it in a loop."""
    read = cv2.imread(str(photo_path))
    if read is None:
        raise FileNotFoundError(f"demo photo {photo_path} is missing or unreadable; reinstall Vitrina")
    photo = np.asarray(read, dtype=np.uint8)
    target.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(target), cv2.VideoWriter.fourcc(*"MJPG"), FPS, (WIDTH, HEIGHT))
    try:
        for i in range(round(WALK[-1].end_s * FPS)):
            writer.write(frame_at(photo, i / FPS))
    finally:
        writer.release()
    return target
