"""Evaluation of the emotion and presence models on labelled or reference data.

The metric functions are pure; :func:`evaluate_emotion` and :func:`compare_presence` run models.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from edge_models.emotion import EmotionClassifier
from edge_models.postprocess import DEFAULT_VALENCE_MAP, choose_abstain_threshold, valence_probabilities
from edge_models.presence import PresenceDetector
from edge_models.values import FER_CLASSES, VALENCES, Face

Progress = Callable[[int], None]


def confusion_matrix(
    labels: npt.ArrayLike, predictions: npt.ArrayLike, classes: int
) -> npt.NDArray[np.int64]:
    """``[classes, classes]`` counts: row = true class, column = predicted class."""
    cm = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(labels, dtype=np.int64), np.asarray(predictions, dtype=np.int64)), 1)
    return cm


def per_class_recall(cm: npt.NDArray[np.int64]) -> list[float | None]:
    """Recall of each class (diagonal over row sum); None for a class with no examples."""
    rows = cm.sum(axis=1)
    return [float(cm[i, i] / rows[i]) if rows[i] else None for i in range(cm.shape[0])]


@dataclass(frozen=True, slots=True)
class EmotionReport:
    """Accuracy of an emotion model on a labelled set, and the valence abstain calibration on it."""

    model: str
    n: int
    accuracy: float
    per_class_recall: dict[str, float | None]
    confusion: list[list[int]]
    valence_accuracy: float
    abstain_threshold: float
    target_accuracy: float
    kept_valence_accuracy: float
    coverage: float
    mean_ms: float
    reference: str | None = None
    """Float model the predictions were compared with, if any."""
    reference_accuracy: float | None = None
    top1_agreement: float | None = None
    """Share of images where this model's top class equals the reference's."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the ``--json`` output)."""
        return asdict(self)


def evaluate_emotion(
    classifier: EmotionClassifier,
    images: Sequence[npt.NDArray[np.uint8]],
    labels: npt.NDArray[np.int64],
    *,
    target_accuracy: float = 0.8,
    progress: Progress | None = None,
    reference: EmotionClassifier | None = None,
) -> EmotionReport:
    """Run the classifier on every image; report accuracy, recall, confusion, valence accuracy, the abstain
    threshold that reaches ``target_accuracy`` valence accuracy on the answers kept, and mean ms per crop
    (pre-processing and inference). With a ``reference`` (float) classifier, also its accuracy and the
    top-1 agreement of the two."""
    probs = np.empty((len(images), len(FER_CLASSES)), dtype=np.float32)
    ref_preds = np.zeros(len(images), dtype=np.int64)
    elapsed = 0.0
    for i, img in enumerate(images):
        start = time.perf_counter()
        probs[i] = classifier.probabilities(img)
        elapsed += time.perf_counter() - start
        if reference is not None:
            ref_preds[i] = int(reference.probabilities(img).argmax())
        if progress is not None:
            progress(1)
    preds = probs.argmax(axis=1)
    cm = confusion_matrix(labels, preds, len(FER_CLASSES))
    true_valence = np.array([VALENCES.index(DEFAULT_VALENCE_MAP[FER_CLASSES[y]]) for y in labels])
    groups = np.array([[valence_probabilities(p)[v] for v in VALENCES] for p in probs])
    pred_valence = groups.argmax(axis=1)
    correct = pred_valence == true_valence
    threshold, kept_acc, coverage = choose_abstain_threshold(groups.max(axis=1), correct, target_accuracy)
    recall = per_class_recall(cm)
    return EmotionReport(
        model=classifier.model.entry.name,
        n=len(images),
        accuracy=float((preds == labels).mean()) if len(images) else 0.0,
        per_class_recall=dict(zip(FER_CLASSES, recall, strict=True)),
        confusion=cm.tolist(),
        valence_accuracy=float(correct.mean()) if len(images) else 0.0,
        abstain_threshold=threshold,
        target_accuracy=target_accuracy,
        kept_valence_accuracy=kept_acc,
        coverage=coverage,
        mean_ms=1000.0 * elapsed / max(1, len(images)),
        reference=reference.model.entry.name if reference is not None else None,
        reference_accuracy=float((ref_preds == labels).mean())
        if reference is not None and len(images)
        else None,
        top1_agreement=float((ref_preds == preds).mean()) if reference is not None and len(images) else None,
    )


def match_faces(a: Sequence[Face], b: Sequence[Face], min_iou: float = 0.3) -> list[tuple[int, int, float]]:
    """Greedy one-to-one matching of two face lists by box IoU: ``(index in a, index in b, iou)``."""
    pairs = sorted(
        ((a[i].box.iou(b[j].box), i, j) for i in range(len(a)) for j in range(len(b))), reverse=True
    )
    used_a: set[int] = set()
    used_b: set[int] = set()
    out: list[tuple[int, int, float]] = []
    for iou, i, j in pairs:
        if iou < min_iou:
            break
        if i in used_a or j in used_b:
            continue
        used_a.add(i)
        used_b.add(j)
        out.append((i, j, iou))
    return out


@dataclass(frozen=True, slots=True)
class PresenceReport:
    """Faces per frame of a model, and its agreement with a reference (float) model on the same frames."""

    model: str
    reference: str | None
    frames: int
    faces_per_frame_histogram: dict[int, int]
    mean_faces_per_frame: float
    reference_faces_per_frame_histogram: dict[int, int] | None
    face_count_agreement: float | None
    mean_matched_iou: float | None
    mean_ms: float

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the ``--json`` output)."""
        return asdict(self)


def _histogram(counts: Sequence[int]) -> dict[int, int]:
    values, freq = np.unique(np.asarray(counts, dtype=int), return_counts=True)
    return {int(k): int(v) for k, v in zip(values, freq, strict=True)}


def compare_presence(
    detector: PresenceDetector,
    reference: PresenceDetector | None,
    frames: Iterable[npt.NDArray[np.uint8]],
    progress: Progress | None = None,
) -> PresenceReport:
    """Detect faces on every frame with ``detector`` (and ``reference`` when given) and compare."""
    counts: list[int] = []
    ref_counts: list[int] = []
    ious: list[float] = []
    same = 0
    elapsed = 0.0
    for frame in frames:
        start = time.perf_counter()
        faces = detector.detect(frame)
        elapsed += time.perf_counter() - start
        counts.append(len(faces))
        if reference is not None:
            ref_faces = reference.detect(frame)
            ref_counts.append(len(ref_faces))
            same += len(ref_faces) == len(faces)
            ious += [iou for _, _, iou in match_faces(faces, ref_faces)]
        if progress is not None:
            progress(1)
    n = len(counts)
    return PresenceReport(
        model=detector.model.entry.name,
        reference=reference.model.entry.name if reference is not None else None,
        frames=n,
        faces_per_frame_histogram=_histogram(counts),
        mean_faces_per_frame=float(np.mean(counts)) if n else 0.0,
        reference_faces_per_frame_histogram=_histogram(ref_counts) if reference is not None else None,
        face_count_agreement=same / n if reference is not None and n else None,
        mean_matched_iou=float(np.mean(ious)) if ious else None,
        mean_ms=1000.0 * elapsed / max(1, n),
    )
