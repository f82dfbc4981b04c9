"""Data set loading and the pure evaluation metrics."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_models.datasets import image_files, load_emotion_dataset, pad_to
from edge_models.errors import DatasetError
from edge_models.evaluation import confusion_matrix, match_faces, per_class_recall
from edge_models.preprocess import shrink
from edge_models.values import Box, Face, Point


def test_npz_dataset_is_read_with_labels(tmp_path: Path) -> None:
    path = tmp_path / "faces.npz"
    x = np.arange(3 * 48 * 48, dtype=np.uint8).reshape(3, 48, 48)
    np.savez(path, x=x, y=np.array([3, 6, 0], dtype=np.uint8))
    data = load_emotion_dataset(path)
    assert len(data) == 3 and data.labels.tolist() == [3, 6, 0]
    assert np.array_equal(data.images[1], x[1])
    assert len(load_emotion_dataset(path, limit=2)) == 2


def test_image_folder_dataset_uses_class_folder_names(tmp_path: Path) -> None:
    for name, count in (("happy", 2), ("sad", 1)):
        (tmp_path / name).mkdir()
        for i in range(count):
            cv2.imwrite(str(tmp_path / name / f"{i}.png"), np.full((30, 40), 10 * i, np.uint8))
    (tmp_path / "happy" / "notes.txt").write_text("not an image")
    data = load_emotion_dataset(tmp_path)
    assert data.labels.tolist() == [3, 3, 4]  # happy, happy, sad in FER order
    assert data.images[0].shape == (30, 40)
    assert load_emotion_dataset(tmp_path, limit=1).labels.tolist() == [3, 4]


def test_bad_datasets_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="none of the class sub-folders"):
        load_emotion_dataset(tmp_path)
    np.savez(tmp_path / "bad.npz", images=np.zeros((1, 2, 2), np.uint8))
    with pytest.raises(DatasetError, match="no 'x' and 'y'"):
        load_emotion_dataset(tmp_path / "bad.npz")
    with pytest.raises(DatasetError, match="holds no images"):
        image_files(tmp_path)


def test_confusion_matrix_and_recall() -> None:
    cm = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 2, 0], classes=4)
    assert cm.tolist() == [[1, 1, 0, 0], [0, 1, 0, 0], [1, 0, 2, 0], [0, 0, 0, 0]]
    assert per_class_recall(cm) == [0.5, 1.0, pytest.approx(2 / 3), None]


def _face(x: float) -> Face:
    kp = (Point(0, 0),) * 6
    return Face(Box(x, 0, x + 10, 10), 0.9, kp, distance_m=1.0, yaw_deg=0.0)  # type: ignore[arg-type]


def test_match_faces_is_one_to_one_by_best_iou() -> None:
    a = [_face(0), _face(100)]
    b = [_face(101), _face(1), _face(50)]
    matches = match_faces(a, b)
    assert sorted((i, j) for i, j, _ in matches) == [(0, 1), (1, 0)]
    assert all(iou > 0.8 for _, _, iou in matches)
    assert match_faces(a, []) == []


def test_pad_to_centres_and_shrinks_to_fit() -> None:
    frame = np.full((360, 640, 3), 7, np.uint8)
    out = pad_to(frame, 640, 480)
    assert out.shape == (480, 640, 3)
    assert out[60:420].min() == 7 and out[:60].max() == 0 and out[420:].max() == 0
    assert pad_to(np.full((960, 1280, 3), 7, np.uint8), 640, 480).min() == 7


def test_shrink_keeps_a_flat_image_flat_and_hits_the_size() -> None:
    flat = np.full((480, 640, 3), 99, np.uint8)
    for size in ((192, 144), (320, 240), (700, 500)):
        out = shrink(flat, *size)
        assert out.shape == (size[1], size[0], 3) and out.min() == out.max() == 99
