"""The demo's footage: a real photo walks up to the screen and away, and the real detector sees it do so."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_models.presence import PresenceDetector
from kiosk.perception.demo_media import BACKGROUND, PHOTO, WALK, frame_at, write_walk_in_clip


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    image = cv2.imread(str(PHOTO))
    assert image is not None, PHOTO
    return image


def test_nobody_before_and_after_the_walk(photo: np.ndarray) -> None:
    for t in (0.5, WALK[-1].end_s - 0.5):
        assert (frame_at(photo, t) == np.array(BACKGROUND, dtype=np.uint8)).all()


@pytest.mark.integration
def test_the_real_detector_sees_her_come_closer(photo: np.ndarray) -> None:
    with PresenceDetector() as detector:
        widths = []
        for t in (2.4, 3.2, 6.0):  # first seen at about 2.4 s, when her face is about 50 px wide
            faces = detector.detect(frame_at(photo, t))
            assert len(faces) == 1, t
            widths.append(faces[0].box.width)
        assert detector.detect(frame_at(photo, 0.5)) == []
    assert widths[0] < widths[1] < widths[2]


def test_clip_is_written_at_30_fps(tmp_path: Path) -> None:
    clip = write_walk_in_clip(tmp_path / "walk.avi")
    capture = cv2.VideoCapture(str(clip))
    try:
        assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(30.0)
        assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == round(WALK[-1].end_s * 30)
    finally:
        capture.release()
