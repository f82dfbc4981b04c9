"""A small BlazeFace decoder, used only to measure int8 against float at build time.

The kiosk's production decoder lives in :mod:`edge_models.postprocess`; this one is deliberately
minimal and self-contained, so the build's figures do not depend on code that may change.

Facts it encodes (MediaPipe's face detection graphs):

- outputs: regressors ``[1, N, 16]`` (box ``dx, dy, w, h`` then 6 keypoints ``x, y``, all in input
  pixels, offsets relative to the anchor centre) and score logits ``[1, N, 1]``;
- anchors: short range (128x128) strides 8, 16, 16, 16 with 2 anchors a cell (896 anchors);
  full range (192x192) stride 4, 1 anchor a cell (2304 anchors); anchor size is fixed (1x1);
- score = ``sigmoid(clip(logit, -100, 100))``; overlapping boxes are merged by weighted NMS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge_models.build._arrays import FloatArray


@dataclass(frozen=True)
class AnchorSpec:
    """MediaPipe SSD anchor options for one BlazeFace variant."""

    input_size: int
    strides: tuple[int, ...]
    anchors_per_layer: int

    def anchors(self) -> FloatArray:
        """Anchor centres ``[N, 2]`` as ``(x, y)`` in [0, 1], in the model's output order.

        Consecutive layers with the same stride share one grid; each contributes its anchors to every
        cell of that grid (so the three stride-16 layers of short range give 6 anchors a cell).
        """
        centres: list[tuple[float, float]] = []
        layer = 0
        while layer < len(self.strides):
            stride = self.strides[layer]
            repeats = 0
            while layer < len(self.strides) and self.strides[layer] == stride:
                repeats += self.anchors_per_layer
                layer += 1
            cells = int(np.ceil(self.input_size / stride))
            for y in range(cells):
                for x in range(cells):
                    centres.extend([((x + 0.5) / cells, (y + 0.5) / cells)] * repeats)
        return np.asarray(centres, dtype=np.float32)


SHORT_RANGE_ANCHORS = AnchorSpec(input_size=128, strides=(8, 16, 16, 16), anchors_per_layer=2)
FULL_RANGE_ANCHORS = AnchorSpec(input_size=192, strides=(4,), anchors_per_layer=1)


@dataclass(frozen=True)
class Detection:
    """One face: box corners in [0, 1] of the (square, letterboxed) model input, and its score."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float


def iou(a: Detection, b: Detection) -> float:
    """Intersection over union of two boxes."""
    width = max(0.0, min(a.x1, b.x1) - max(a.x0, b.x0))
    height = max(0.0, min(a.y1, b.y1) - max(a.y0, b.y0))
    inter = width * height
    union = (a.x1 - a.x0) * (a.y1 - a.y0) + (b.x1 - b.x0) * (b.y1 - b.y0) - inter
    return inter / union if union > 0 else 0.0


def sigmoid_scores(logits: FloatArray) -> FloatArray:
    """Scores in [0, 1] from score logits: ``sigmoid(clip(logit, -100, 100))``."""
    clipped = np.clip(np.asarray(logits, dtype=np.float64), -100.0, 100.0)  # float64: exp(100) fits
    return np.asarray(1.0 / (1.0 + np.exp(-clipped)), dtype=np.float32)


def decode(
    regressors: FloatArray,
    logits: FloatArray,
    spec: AnchorSpec,
    threshold: float,
    nms_iou: float = 0.3,
) -> list[Detection]:
    """Boxes above ``threshold`` from one frame's outputs, merged by weighted non-maximum suppression."""
    anchors = spec.anchors()
    raw = regressors.reshape(-1, 16)
    scores = sigmoid_scores(logits).reshape(-1)
    cx = raw[:, 0] / spec.input_size + anchors[:, 0]
    cy = raw[:, 1] / spec.input_size + anchors[:, 1]
    half_w = raw[:, 2] / spec.input_size / 2
    half_h = raw[:, 3] / spec.input_size / 2
    keep = np.flatnonzero(scores >= threshold)
    candidates = [
        Detection(
            float(cx[i] - half_w[i]),
            float(cy[i] - half_h[i]),
            float(cx[i] + half_w[i]),
            float(cy[i] + half_h[i]),
            float(scores[i]),
        )
        for i in keep[np.argsort(-scores[keep], kind="stable")]
    ]
    merged: list[Detection] = []
    while candidates:
        top = candidates[0]
        group = [c for c in candidates if iou(top, c) > nms_iou]
        candidates = [c for c in candidates if iou(top, c) <= nms_iou]
        weights = np.asarray([c.score for c in group])
        corners = np.asarray([(c.x0, c.y0, c.x1, c.y1) for c in group])
        x0, y0, x1, y1 = (weights @ corners) / weights.sum()
        merged.append(Detection(float(x0), float(y0), float(x1), float(y1), top.score))
    return merged


def match(reference: list[Detection], other: list[Detection]) -> list[float]:
    """Greedy one-to-one matching by IoU (highest first); returns the IoU of every matched pair."""
    pairs = sorted(
        ((iou(a, b), i, j) for i, a in enumerate(reference) for j, b in enumerate(other)), reverse=True
    )
    used_a: set[int] = set()
    used_b: set[int] = set()
    matched: list[float] = []
    for value, i, j in pairs:
        if value <= 0 or i in used_a or j in used_b:
            continue
        used_a.add(i)
        used_b.add(j)
        matched.append(value)
    return matched
