"""Distance and yaw estimates."""

import math

import pytest

from edge_models.errors import ModelInputError
from edge_models.geometry import estimate_distance_m, estimate_yaw_deg, focal_length_px
from edge_models.values import Box, Face, Point


def test_distance_follows_the_pinhole_model() -> None:
    # 90 degree HFOV, 640 px: focal length 320 px; a 0.15 m face 48 px wide is 1 m away.
    assert focal_length_px(640, 90) == pytest.approx(320)
    assert estimate_distance_m(48, 640, 90, face_width_m=0.15) == pytest.approx(1.0)
    assert estimate_distance_m(24, 640, 90, face_width_m=0.15) == pytest.approx(2.0)
    assert estimate_distance_m(0, 640, 90) == math.inf
    with pytest.raises(ModelInputError):
        focal_length_px(640, 180)


def test_yaw_is_zero_for_a_frontal_face_and_signed_when_turned() -> None:
    right_ear, left_ear = Point(80, 100), Point(120, 100)
    assert estimate_yaw_deg(Point(100, 105), right_ear, left_ear) == pytest.approx(0)
    assert estimate_yaw_deg(Point(120, 105), right_ear, left_ear) == pytest.approx(45)
    assert estimate_yaw_deg(Point(90, 105), right_ear, left_ear) == pytest.approx(
        -math.degrees(math.atan(0.5))
    )
    # Roll does not change yaw: the same face rotated by 90 degrees.
    assert estimate_yaw_deg(Point(95, 120), Point(100, 80), Point(100, 120)) == pytest.approx(45)


def test_face_frontalness_is_cos_yaw() -> None:
    kp = (Point(0, 0),) * 6
    face = Face(Box(0, 0, 10, 10), 0.9, kp, distance_m=1.0, yaw_deg=60.0)  # type: ignore[arg-type]
    assert face.frontalness == pytest.approx(0.5)
