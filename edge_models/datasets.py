"""Reading evaluation data: FER-style emotion sets (image folder or ``.npz``), videos and image folders."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from edge_models.errors import DatasetError
from edge_models.values import FER_CLASSES

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})


@dataclass(frozen=True, slots=True)
class EmotionDataset:
    """Labelled face crops: gray uint8 images (any size; colour files are read as gray) and their class
    index in :data:`FER_CLASSES`."""

    images: tuple[npt.NDArray[np.uint8], ...]
    labels: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.images)


def load_emotion_dataset(path: Path, limit: int | None = None) -> EmotionDataset:
    """Load an emotion set: an image folder with one sub-folder per FER class, or an ``.npz`` with
    ``x`` (uint8 ``[N, H, W]``) and ``y`` (class indices). ``limit`` keeps the first N (``.npz``) or the
    first N of each class (folder, in file name order)."""
    if path.is_file() and path.suffix == ".npz":
        with np.load(path) as data:
            if "x" not in data or "y" not in data:
                raise DatasetError(f"{path} has no 'x' and 'y' arrays (found: {', '.join(data.files)})")
            x, y = data["x"], data["y"]
        if x.ndim != 3 or x.dtype != np.uint8 or len(x) != len(y):
            raise DatasetError(
                f"{path}: expected x uint8 [N,H,W] and y [N], got {x.dtype} {x.shape}, {y.shape}"
            )
        if limit is not None:
            x, y = x[:limit], y[:limit]
        return EmotionDataset(tuple(np.ascontiguousarray(img) for img in x), y.astype(np.int64))
    if not path.is_dir():
        raise DatasetError(f"{path} is neither an image folder nor an .npz file")
    present = [c for c in FER_CLASSES if (path / c).is_dir()]
    if not present:
        raise DatasetError(f"{path} has none of the class sub-folders {', '.join(FER_CLASSES)}")
    images: list[npt.NDArray[np.uint8]] = []
    labels: list[int] = []
    for label, name in enumerate(FER_CLASSES):
        folder = path / name
        if not folder.is_dir():
            continue
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        for file in files[:limit]:
            img = cv2.imread(str(file), cv2.IMREAD_GRAYSCALE)
            if img is None:
                raise DatasetError(f"cannot read image {file}")
            images.append(np.asarray(img, dtype=np.uint8))
            labels.append(label)
    return EmotionDataset(tuple(images), np.asarray(labels, dtype=np.int64))


def read_video(path: Path, max_frames: int | None = None) -> Iterator[npt.NDArray[np.uint8]]:
    """BGR frames of a video file, in order."""
    if not path.is_file():
        raise DatasetError(f"video {path} not found")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise DatasetError(f"cannot open video {path} (OpenCV has no decoder for it?)")
    try:
        n = 0
        while max_frames is None or n < max_frames:
            ok, frame = cap.read()
            if not ok:
                break
            n += 1
            yield np.asarray(frame, dtype=np.uint8)
    finally:
        cap.release()


def video_frame_count(path: Path) -> int:
    """The frame count a video's header states (may be approximate)."""
    cap = cv2.VideoCapture(str(path))
    try:
        return int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        cap.release()


def image_files(folder: Path) -> list[Path]:
    """Image files of a folder, sorted by name."""
    if not folder.is_dir():
        raise DatasetError(f"image folder {folder} not found")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DatasetError(f"{folder} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return files


def read_image(path: Path) -> npt.NDArray[np.uint8]:
    """A BGR image (gray images are expanded to three channels, alpha is dropped)."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise DatasetError(f"cannot read image {path}")
    return np.asarray(img, dtype=np.uint8)


def pad_to(frame: npt.NDArray[np.uint8], width: int, height: int) -> npt.NDArray[np.uint8]:
    """Centre ``frame`` on a black ``width`` x ``height`` canvas, resizing it down first if it is larger
    (keeps the aspect ratio): turns a 640x360 clip into the 640x480 frames of a 4:3 kiosk camera."""
    h, w = frame.shape[:2]
    scale = min(1.0, width / w, height / h)
    if scale < 1.0:
        frame = np.asarray(
            cv2.resize(frame, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA),
            dtype=np.uint8,
        )
        h, w = frame.shape[:2]
    out = np.zeros((height, width, *frame.shape[2:]), dtype=np.uint8)
    y0, x0 = (height - h) // 2, (width - w) // 2
    out[y0 : y0 + h, x0 : x0 + w] = frame
    return out
