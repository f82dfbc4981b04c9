"""FER-2013 faces cropped the kiosk's way: BlazeFace finds the face, the eye aligner crops it.

FER-2013's 48x48 faces were centred by another detector; the kiosk feeds its emotion model the crops of
:func:`edge_models.pipeline.analyse_faces` (a BlazeFace box grown by ``crop_margin``, rotated so the eyes
are level). :func:`kiosk_crop` puts a FER face in a frame (upscaled ``scale`` times, so it is as large as a
near shopper's, on a mid-gray canvas ``pad`` face sides wide on every side), runs the kiosk's presence
model on it and crops the best face as the kiosk does, with the same eligibility rules (face width and
frontalness). :func:`evaluate_kiosk_crops` reports how many faces were found and eligible, and the model's
accuracy on those kiosk crops beside its accuracy on the same faces' FER crops.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from edge_models.config import EmotionSettings
from edge_models.emotion import EmotionClassifier
from edge_models.errors import ModelInputError
from edge_models.evaluation import confusion_matrix, per_class_recall
from edge_models.preprocess import crop_aligned, crop_matrix
from edge_models.presence import PresenceDetector
from edge_models.values import FER_CLASSES

#: Gray of the canvas around the face (mid-gray: no edge the detector could take for a face's border).
CANVAS_GRAY = 128


@dataclass(frozen=True, slots=True)
class KioskFraming:
    """How a FER face is put in a frame for the kiosk's detector."""

    scale: int = 3
    """Upscale factor of the 48x48 face (3: 144 px, a shopper about 1 m from a 640 px camera)."""
    pad: float = 1.0
    """Canvas border on every side, in face sides."""


def _border(shape: tuple[int, ...], framing: KioskFraming) -> tuple[int, int]:
    """The canvas border ``(top/bottom, left/right)`` in frame pixels around the upscaled face."""
    if len(shape) != 2:
        raise ModelInputError(f"expected a gray face [H, W], got shape {shape}")
    if framing.scale < 1 or framing.pad < 0:
        raise ModelInputError(f"scale must be >= 1 and pad >= 0, got {framing.scale} and {framing.pad}")
    h, w = shape
    return round(framing.pad * h * framing.scale), round(framing.pad * w * framing.scale)


def frame_for(face: npt.NDArray[np.uint8], framing: KioskFraming) -> npt.NDArray[np.uint8]:
    """A BGR frame holding ``face`` (gray) upscaled and centred on a mid-gray canvas."""
    py, px = _border(face.shape, framing)
    h, w = face.shape
    big = cv2.resize(face, (w * framing.scale, h * framing.scale), interpolation=cv2.INTER_LINEAR)
    canvas = cv2.copyMakeBorder(big, py, py, px, px, cv2.BORDER_CONSTANT, value=CANVAS_GRAY)
    return np.asarray(cv2.cvtColor(canvas, cv2.COLOR_GRAY2BGR), dtype=np.uint8)


def face_to_frame(shape: tuple[int, ...], framing: KioskFraming) -> npt.NDArray[np.float64]:
    """The 3x3 affine map from a face's pixels to :func:`frame_for`'s frame pixels.

    OpenCV's bilinear resize by an integer ``scale`` puts source pixel ``x`` at ``scale * x + (scale - 1)
    / 2`` (pixel centres line up), then the canvas border shifts it.
    """
    py, px = _border(shape, framing)
    s = float(framing.scale)
    offset = (s - 1.0) / 2.0
    return np.array([[s, 0.0, offset + px], [0.0, s, offset + py], [0.0, 0.0, 1.0]], dtype=np.float64)


def warp_face(
    face: npt.NDArray[np.uint8], matrix: npt.NDArray[np.float64], out_size: int
) -> npt.NDArray[np.uint8]:
    """``face`` (gray) warped by a 2x3 face-to-crop ``matrix`` (:attr:`KioskCrop.matrix`) into an
    ``out_size`` square, mid-gray outside the face (the canvas of :func:`frame_for`).

    The same crop as :func:`kiosk_crop`'s to a grey level or two inside the face (one bilinear
    interpolation instead of the frame's upscale and the crop's); within about a face pixel of the face's
    edge they differ more: the frame's upscale repeats the edge pixels for a third of a face pixel before
    the canvas, this warp blends the edge pixels into the gray over one face pixel.
    """
    crop = cv2.warpAffine(
        face,
        np.asarray(matrix, dtype=np.float64),
        (out_size, out_size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=CANVAS_GRAY,
    )
    return np.asarray(crop, dtype=np.uint8)


@dataclass(frozen=True, slots=True)
class KioskCrop:
    """What the kiosk's detector made of one FER face."""

    found: bool
    """The detector found a face."""
    eligible: bool
    """That face passes the kiosk's width and frontalness rules, so the kiosk would classify it."""
    crop: npt.NDArray[np.uint8] | None
    """The eye-aligned crop (BGR) of the best face, when one was found."""
    matrix: npt.NDArray[np.float64] | None = None
    """The 2x3 affine map from the FER face's pixels straight to ``crop``'s (the frame's upscale and
    offset, then the kiosk's crop), when a face was found: :func:`warp_face` makes the crop from the face."""


def kiosk_crop(
    detector: PresenceDetector,
    face: npt.NDArray[np.uint8],
    out_size: int,
    settings: EmotionSettings,
    framing: KioskFraming,
) -> KioskCrop:
    """Detect the face in ``face``'s frame and crop its best detection as the kiosk does."""
    frame = frame_for(face, framing)
    faces = detector.detect(frame)
    if not faces:
        return KioskCrop(found=False, eligible=False, crop=None)
    best = faces[0]
    eligible = best.box.width >= settings.min_face_px and best.frontalness >= settings.min_frontalness
    crop = crop_aligned(
        frame, best.box, best.right_eye, best.left_eye, margin=settings.crop_margin, out_size=out_size
    )
    to_crop = crop_matrix(
        best.box, best.right_eye, best.left_eye, margin=settings.crop_margin, out_size=out_size
    )
    matrix = to_crop @ face_to_frame(face.shape, framing)
    return KioskCrop(found=True, eligible=eligible, crop=crop, matrix=matrix)


@dataclass(frozen=True, slots=True)
class KioskCropReport:
    """Accuracy of an emotion model on kiosk-style crops of a labelled FER set."""

    model: str
    presence_model: str
    n: int
    found: int
    """Faces the detector found."""
    eligible: int
    """Found faces the kiosk would classify (width and frontalness rules)."""
    found_per_class: dict[str, int]
    accuracy: float | None
    """On the eligible faces' kiosk crops (None when none was eligible)."""
    fer_crop_accuracy_same_faces: float | None
    """The same model on the same eligible faces' original FER crops: the gap is the cropping's."""
    fer_crop_accuracy_all: float
    """The same model on every face's FER crop."""
    per_class_recall: dict[str, float | None]
    confusion: list[list[int]]
    scale: int
    pad: float
    crop_margin: float
    mean_ms: float
    """Mean detection + crop + classification time per face, one thread."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the ``--json`` output)."""
        return asdict(self)


def evaluate_kiosk_crops(
    classifier: EmotionClassifier,
    detector: PresenceDetector,
    images: Sequence[npt.NDArray[np.uint8]],
    labels: npt.NDArray[np.int64],
    *,
    model: str,
    presence_model: str,
    settings: EmotionSettings | None = None,
    framing: KioskFraming | None = None,
    progress: Callable[[int], None] | None = None,
) -> KioskCropReport:
    """Re-crop every FER face the kiosk's way and classify the eligible ones (see the module docstring)."""
    settings = settings if settings is not None else EmotionSettings()
    framing = framing if framing is not None else KioskFraming()
    fer_preds = np.empty(len(images), dtype=np.int64)
    kiosk_preds = np.full(len(images), -1, dtype=np.int64)
    found = np.zeros(len(images), dtype=bool)
    eligible = np.zeros(len(images), dtype=bool)
    elapsed = 0.0
    for i, image in enumerate(images):
        gray = np.asarray(
            image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), dtype=np.uint8
        )
        fer_preds[i] = int(np.argmax(classifier.probabilities(gray)))
        started = time.perf_counter()
        result = kiosk_crop(detector, gray, classifier.input_size, settings, framing)
        if result.eligible and result.crop is not None:
            kiosk_preds[i] = int(np.argmax(classifier.probabilities(result.crop)))
        elapsed += time.perf_counter() - started
        found[i], eligible[i] = result.found, result.eligible
        if progress is not None:
            progress(1)
    chosen = eligible
    cm = confusion_matrix(labels[chosen], kiosk_preds[chosen], len(FER_CLASSES))
    per_class_found: dict[str, int] = {
        name: int(np.sum(found & (labels == c))) for c, name in enumerate(FER_CLASSES)
    }
    n_chosen = int(chosen.sum())
    return KioskCropReport(
        model=model,
        presence_model=presence_model,
        n=len(images),
        found=int(found.sum()),
        eligible=n_chosen,
        found_per_class=per_class_found,
        accuracy=float(np.mean(kiosk_preds[chosen] == labels[chosen])) if n_chosen else None,
        fer_crop_accuracy_same_faces=float(np.mean(fer_preds[chosen] == labels[chosen]))
        if n_chosen
        else None,
        fer_crop_accuracy_all=float(np.mean(fer_preds == labels)) if len(images) else 0.0,
        per_class_recall=dict(zip(FER_CLASSES, per_class_recall(cm), strict=True)),
        confusion=cm.tolist(),
        scale=framing.scale,
        pad=framing.pad,
        crop_margin=settings.crop_margin,
        mean_ms=1000 * elapsed / len(images) if len(images) else 0.0,
    )
