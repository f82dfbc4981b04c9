"""Distance and yaw estimates."""

import math

import pytest

from edge_models.errors import ModelInputError
from edge_models.geometry import estimate_distance_m, estimate_yaw_deg, focal_length_px
from edge_models.postprocess import Detection
from edge_models.preprocess import letterbox_transform
from edge_models.presence import detection_to_face
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


def test_detection_maps_back_to_frame_pixels_with_estimates() -> None:
    lb = letterbox_transform(640, 480, 192)  # scale 0.3, 24 px bars top and bottom
    kps = (Point(60, 54), Point(84, 54), Point(72, 66), Point(72, 78), Point(48, 60), Point(96, 60))
    det = Detection(Box(-12, 24, 36, 72), 0.9, kps)  # runs off the frame's left edge
    face = detection_to_face(det, lb, hfov_deg=90.0, face_width_m=0.16)
    box = face.box
    assert (box.xmin, box.ymin, box.xmax, box.ymax) == pytest.approx((0, 0, 120, 160), abs=1e-3)  # clipped
    assert (face.keypoints[0].x, face.keypoints[0].y) == pytest.approx((200, 100), abs=1e-3)
    assert face.yaw_deg == pytest.approx(0, abs=1e-3)
    # Distance from the unclipped width (160 px): 0.16 m * 320 px / 160 px.
    assert face.distance_m == pytest.approx(0.32)
