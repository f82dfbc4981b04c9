"""Detect, crop and classify every face of a frame: the whole on-device vision step."""

from __future__ import annotations

from collections.abc import Sequence
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
    classify: bool = True,
    max_classified: int | None = None,
) -> list[FaceAnalysis]:
    """Detect faces, then crop (eye-aligned) and classify the ones that matter.

    Those are the faces large (near) and frontal (attentive) enough, nearest first, at most
    ``max_classified`` of them (None: all). With ``classify`` False no face is classified (a frame between
    two scheduled readings). Faces come back in the detector's order.
    """
    return analyse_faces(
        classifier,
        frame,
        detector.detect(frame),
        crop_margin=crop_margin,
        min_face_px=min_face_px,
        min_frontalness=min_frontalness,
        classify=classify,
        max_classified=max_classified,
    )


def analyse_faces(
    classifier: EmotionClassifier,
    frame: npt.NDArray[np.uint8],
    faces: Sequence[Face],
    *,
    crop_margin: float = 0.1,
    min_face_px: int = 40,
    min_frontalness: float = 0.5,
    classify: bool = True,
    max_classified: int | None = None,
) -> list[FaceAnalysis]:
    """Crop (eye-aligned) and classify the faces that matter among ``faces`` already found in ``frame``
    (by a whole-frame detection or a search of regions around tracked faces); see :func:`analyse_frame`."""
    eligible = sorted(
        (
            i
            for i, face in enumerate(faces)
            if classify and face.box.width >= min_face_px and face.frontalness >= min_frontalness
        ),
        key=lambda i: -faces[i].box.width,  # a wider face is a nearer one
    )
    chosen = set(eligible if max_classified is None else eligible[:max_classified])
    out: list[FaceAnalysis] = []
    for i, face in enumerate(faces):
        emotion = None
        if i in chosen:
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
