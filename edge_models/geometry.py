"""Pure estimates from a face's box and keypoints: distance from the camera and head yaw."""

from __future__ import annotations

import math

from edge_models.errors import ModelInputError
from edge_models.values import Box, Point

#: Typical adult face width (bizygomatic breadth about 14 cm; BlazeFace boxes are a little wider).
DEFAULT_FACE_WIDTH_M = 0.15


def focal_length_px(frame_width_px: float, hfov_deg: float) -> float:
    """Pinhole focal length in pixels of a camera with horizontal field of view ``hfov_deg``."""
    if frame_width_px <= 0 or not 0 < hfov_deg < 180:
        raise ModelInputError(
            f"need a positive frame width and 0 < hfov < 180, got {frame_width_px}, {hfov_deg}"
        )
    return (frame_width_px / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)


def estimate_distance_m(
    face_width_px: float, frame_width_px: float, hfov_deg: float, face_width_m: float = DEFAULT_FACE_WIDTH_M
) -> float:
    """Distance to a face of real width ``face_width_m`` that spans ``face_width_px`` pixels (pinhole model).

    Returns ``inf`` for an empty box. Accuracy is that of the face-width assumption, about +-20 %.
    """
    if face_width_px <= 0:
        return math.inf
    return face_width_m * focal_length_px(frame_width_px, hfov_deg) / face_width_px


def estimate_yaw_deg(nose: Point, right_ear: Point, left_ear: Point) -> float:
    """Head yaw from the nose tip and the two ear tragions, degrees in (-90, 90).

    Model: the ears sit at +-90 degrees from the nose on a circle around the head's vertical axis, so the
    nose's offset from the ears' midpoint over half the ear distance is ``tan(yaw)``. Positive when the nose
    is to the image right of the midpoint. Roll is removed first by measuring along the ear line.
    """
    ex, ey = left_ear.x - right_ear.x, left_ear.y - right_ear.y
    half = math.hypot(ex, ey) / 2.0
    if half == 0:
        return 0.0
    ux, uy = ex / (2.0 * half), ey / (2.0 * half)
    mx, my = (left_ear.x + right_ear.x) / 2.0, (left_ear.y + right_ear.y) / 2.0
    along = (nose.x - mx) * ux + (nose.y - my) * uy
    return math.degrees(math.atan2(along, half))


def square_region(
    box: Box, padding: float, frame_width: int, frame_height: int, min_side: float = 0.0
) -> Box:
    """The square of side ``padding`` times the box's longer side (at least ``min_side``), centred on the
    box, moved inside the frame where it can be and clipped to it where it cannot."""
    side = max(min_side, padding * max(box.width, box.height))
    c = box.center
    x0 = min(max(c.x - side / 2.0, 0.0), max(0.0, frame_width - side))
    y0 = min(max(c.y - side / 2.0, 0.0), max(0.0, frame_height - side))
    return Box(x0, y0, x0 + side, y0 + side).clip(frame_width, frame_height)
