"""Detect, crop and classify every face of a frame: the whole on-device vision step."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge_models.emotion import EmotionClassifier
from edge_models.preprocess import crop_aligned
from edge_models.presence import PresenceDetector
from edge_models.values import EmotionScores, Face


@dataclass(frozen=True, slots=True)
class FaceAnalysis:
    """One face and, when it was classified, its emotion."""

    face: Face
    emotion: EmotionScores | None


def analyse_frame(
    detector: PresenceDetector,
    classifier: EmotionClassifier,
    frame: npt.NDArray[np.uint8],
    *,
    crop_margin: float = 0.1,
    min_face_px: int = 40,
    min_frontalness: float = 0.5,
) -> list[FaceAnalysis]:
    """Detect faces, then crop (eye-aligned) and classify each one large and frontal enough."""
    out: list[FaceAnalysis] = []
    for face in detector.detect(frame):
        emotion = None
        if face.box.width >= min_face_px and face.frontalness >= min_frontalness:
            crop = crop_aligned(
                frame,
                face.box,
                face.right_eye,
                face.left_eye,
                margin=crop_margin,
                out_size=classifier.input_size,
            )
            emotion = classifier.classify(crop)
        out.append(FaceAnalysis(face, emotion))
    return out
