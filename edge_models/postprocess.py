"""Pure post-processing: BlazeFace decoding and weighted NMS, softmax, emotion-to-valence mapping."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge_models.errors import ModelInputError
from edge_models.values import FER_CLASSES, VALENCES, Box, Emotion, EmotionScores, Point, Valence

F32 = npt.NDArray[np.float32]

NUM_KEYPOINTS = 6
REGRESSOR_WIDTH = 4 + 2 * NUM_KEYPOINTS

#: Which valence each FER class counts towards. Surprise is neutral: its valence is ambiguous (a pleasant
#: or an unpleasant surprise), and counting it as positive would inflate "liked the offer" figures.
DEFAULT_VALENCE_MAP: Mapping[Emotion, Valence] = {
    "angry": "negative",
    "disgust": "negative",
    "fear": "negative",
    "sad": "negative",
    "happy": "positive",
    "surprise": "neutral",
    "neutral": "neutral",
}


@dataclass(frozen=True, slots=True)
class Detection:
    """One face found by the detector, in the coordinates of the model's input square."""

    box: Box
    score: float
    keypoints: tuple[Point, Point, Point, Point, Point, Point]


def sigmoid_scores(logits: npt.ArrayLike, clip: float = 100.0) -> F32:
    """BlazeFace scores: ``sigmoid(clip(logit, -clip, clip))``."""
    x = np.minimum(np.maximum(np.asarray(logits, dtype=np.float64), -clip), clip)
    return (1.0 / (1.0 + np.exp(-x))).astype(np.float32)


def decode_boxes(raw: npt.ArrayLike, anchors: npt.ArrayLike) -> tuple[F32, F32]:
    """Decode BlazeFace regressors ``[N, 16]`` against anchor centres ``[N, 2]`` (input pixels).

    Each row is (dx, dy, w, h) of the box centre and size, then (x, y) of six keypoints, all in input
    pixels and relative to the anchor centre. Returns boxes ``[N, 4]`` as (xmin, ymin, xmax, ymax) and
    keypoints ``[N, 6, 2]``, both in input pixels.
    """
    r = np.asarray(raw, dtype=np.float32)
    a = np.asarray(anchors, dtype=np.float32)
    if r.ndim != 2 or r.shape[1] != REGRESSOR_WIDTH or a.shape != (r.shape[0], 2):
        raise ModelInputError(
            f"expected regressors [N, {REGRESSOR_WIDTH}] and anchors [N, 2], got {r.shape} and {a.shape}"
        )
    centre = r[:, :2] + a
    half = r[:, 2:4] * np.float32(0.5)
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    keypoints = r[:, 4:].reshape(-1, NUM_KEYPOINTS, 2) + a[:, None, :]
    return boxes, keypoints


def iou_one_to_many(box: npt.ArrayLike, boxes: npt.ArrayLike) -> F32:
    """IoU of one (xmin, ymin, xmax, ymax) box with each row of ``boxes`` ``[N, 4]``."""
    b = np.asarray(box, dtype=np.float32)
    bs = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    iw = np.clip(np.minimum(b[2], bs[:, 2]) - np.maximum(b[0], bs[:, 0]), 0.0, None)
    ih = np.clip(np.minimum(b[3], bs[:, 3]) - np.maximum(b[1], bs[:, 1]), 0.0, None)
    inter = iw * ih
    area = max(0.0, float(b[2] - b[0])) * max(0.0, float(b[3] - b[1]))
    areas = np.clip(bs[:, 2] - bs[:, 0], 0.0, None) * np.clip(bs[:, 3] - bs[:, 1], 0.0, None)
    union = area + areas - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0).astype(np.float32)


def pairwise_iou(boxes: npt.ArrayLike) -> F32:
    """IoU of every pair of rows of ``boxes`` ``[N, 4]`` (xmin, ymin, xmax, ymax): an ``[N, N]`` matrix with
    the same float32 values as :func:`iou_one_to_many` row by row."""
    b = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    lo = np.maximum(b[:, None, :2], b[None, :, :2])
    hi = np.minimum(b[:, None, 2:], b[None, :, 2:])
    iw = np.clip(hi[..., 0] - lo[..., 0], 0.0, None)
    ih = np.clip(hi[..., 1] - lo[..., 1], 0.0, None)
    inter = iw * ih
    areas = np.clip(b[:, 2] - b[:, 0], 0.0, None) * np.clip(b[:, 3] - b[:, 1], 0.0, None)
    union = areas[:, None] + areas[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0).astype(np.float32)


def weighted_nms(
    boxes: npt.ArrayLike,
    scores: npt.ArrayLike,
    keypoints: npt.ArrayLike,
    iou_threshold: float = 0.3,
    max_detections: int | None = None,
) -> list[Detection]:
    """MediaPipe's weighted non-maximum suppression.

    Candidates are taken best score first; every remaining candidate whose IoU with the best exceeds
    ``iou_threshold`` joins its cluster, and the cluster is replaced by the score-weighted mean of its
    boxes and keypoints, keeping the best score. Returns detections best first.

    The candidates of a frame are a few dozen at most (8 on a typical face), so the clusters are formed in
    plain Python floats (IoU in double precision) over one list of rows, and each cluster's weighted mean is
    one matrix product: a frame with a face costs a few tens of microseconds, not a numpy round trip per
    pair or per cluster.
    """
    b = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    s = np.asarray(scores, dtype=np.float32).reshape(-1)
    k = np.asarray(keypoints, dtype=np.float32).reshape(-1, NUM_KEYPOINTS, 2)
    if not (b.shape[0] == s.shape[0] == k.shape[0]):
        raise ModelInputError(
            f"boxes, scores and keypoints disagree in length: {b.shape}, {s.shape}, {k.shape}"
        )
    order = np.argsort(-s, kind="stable")
    table = np.concatenate([b, k.reshape(-1, 2 * NUM_KEYPOINTS)], axis=1, dtype=np.float64)[order]
    rows: list[list[float]] = table.tolist()
    weights: list[float] = s[order].tolist()
    areas = [max(0.0, r[2] - r[0]) * max(0.0, r[3] - r[1]) for r in rows]
    remaining = list(range(len(rows)))
    out: list[Detection] = []
    while remaining:
        if max_detections is not None and len(out) >= max_detections:
            break
        best = remaining[0]
        x0, y0, x1, y1 = rows[best][:4]
        best_area = areas[best]
        members = [best]
        rest: list[int] = []
        for j in remaining[1:]:
            r = rows[j]
            iw = min(x1, r[2]) - max(x0, r[0])
            ih = min(y1, r[3]) - max(y0, r[1])
            inter = iw * ih if iw > 0.0 and ih > 0.0 else 0.0
            union = best_area + areas[j] - inter
            if union > 0.0 and inter / union > iou_threshold:
                members.append(j)
            else:
                rest.append(j)
        remaining = rest
        if len(members) == 1:
            values = rows[best]
        else:
            total = sum(weights[m] for m in members)
            w = (
                np.array([weights[m] / total for m in members])
                if total > 0
                else np.full(len(members), 1.0 / len(members))
            )
            values = (w @ table[members]).tolist()
        kps = tuple(Point(values[i], values[i + 1]) for i in range(4, 4 + 2 * NUM_KEYPOINTS, 2))
        out.append(
            Detection(
                box=Box(values[0], values[1], values[2], values[3]),
                score=weights[best],
                keypoints=(kps[0], kps[1], kps[2], kps[3], kps[4], kps[5]),
            )
        )
    return out


def softmax(logits: npt.ArrayLike, axis: int = -1) -> F32:
    """Numerically stable softmax along ``axis``."""
    x = np.asarray(logits, dtype=np.float64)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    out: F32 = (e / e.sum(axis=axis, keepdims=True)).astype(np.float32)
    return out


def normalise_probabilities(values: npt.ArrayLike) -> F32:
    """Clip to >= 0 and rescale to sum 1 (undoes the small drift of int8-quantised softmax outputs)."""
    p = np.clip(np.asarray(values, dtype=np.float64).reshape(-1), 0.0, None)
    total = p.sum()
    if total <= 0:
        return np.full(p.shape, 1.0 / p.size, dtype=np.float32)
    out: F32 = (p / total).astype(np.float32)
    return out


def valence_probabilities(
    probabilities: Sequence[float] | npt.NDArray[np.floating],
    valence_map: Mapping[Emotion, Valence] = DEFAULT_VALENCE_MAP,
) -> dict[Valence, float]:
    """Sum the class probabilities (in :data:`FER_CLASSES` order) into the three valence groups."""
    p = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    if p.size != len(FER_CLASSES):
        raise ModelInputError(f"expected {len(FER_CLASSES)} class probabilities, got {p.size}")
    groups: dict[Valence, float] = dict.fromkeys(VALENCES, 0.0)
    for emotion, prob in zip(FER_CLASSES, p, strict=True):
        groups[valence_map[emotion]] += float(prob)
    return groups


def emotion_scores(
    probabilities: Sequence[float] | npt.NDArray[np.floating],
    abstain_below: float,
    valence_map: Mapping[Emotion, Valence] = DEFAULT_VALENCE_MAP,
) -> EmotionScores:
    """Turn 7 class probabilities into :class:`EmotionScores`.

    The valence is the group with the largest summed probability; ``confidence`` is that sum, and the
    answer abstains when it is below ``abstain_below`` (chosen on PublicTest, see
    :func:`choose_abstain_threshold`).
    """
    p = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    groups = valence_probabilities(p, valence_map)
    valence = max(VALENCES, key=lambda v: groups[v])
    confidence = groups[valence]
    return EmotionScores(
        probabilities=tuple(float(v) for v in p),
        label=FER_CLASSES[int(np.argmax(p))],
        valence=valence,
        confidence=confidence,
        abstain=confidence < abstain_below,
    )


def choose_abstain_threshold(
    confidences: npt.ArrayLike, correct: npt.ArrayLike, target_accuracy: float
) -> tuple[float, float, float]:
    """The smallest abstain threshold whose kept answers reach ``target_accuracy``.

    ``confidences`` are valence confidences on a labelled calibration set and ``correct`` whether each
    valence was right. Keeping the answers with confidence >= t, this returns
    ``(t, accuracy_kept, coverage)`` for the smallest t whose kept accuracy is at least the target (the
    most answers at that accuracy); when no t reaches it, the t with the best kept accuracy.
    """
    c = np.asarray(confidences, dtype=np.float64).reshape(-1)
    ok = np.asarray(correct, dtype=bool).reshape(-1)
    if c.size == 0 or c.size != ok.size:
        raise ModelInputError(f"need equally many confidences and outcomes, got {c.size} and {ok.size}")
    order = np.argsort(-c, kind="stable")
    c_sorted, ok_sorted = c[order], ok[order]
    kept = np.arange(1, c.size + 1)
    acc = np.cumsum(ok_sorted) / kept
    # Only cut between distinct confidence values: ties are kept or dropped together.
    last_of_value = np.append(c_sorted[1:] != c_sorted[:-1], True)
    candidates = np.flatnonzero(last_of_value)
    reaching = candidates[acc[candidates] >= target_accuracy]
    i = int(reaching[-1]) if reaching.size else int(candidates[np.argmax(acc[candidates])])
    return float(c_sorted[i]), float(acc[i]), float(kept[i] / c.size)
