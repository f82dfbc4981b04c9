"""Calibration and accuracy maths in numpy: temperature scaling, expected calibration error, confusion.

Temperature scaling divides the logits by one scalar ``T`` chosen to minimise the negative
log-likelihood on the selection split (FER-2013 PublicTest); it leaves the top-1 class unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
Labels = npt.NDArray[np.int64]


def softmax(logits: npt.ArrayLike, temperature: float = 1.0) -> F64:
    """Row-wise softmax of ``logits / temperature``."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    out: F64 = e / e.sum(axis=-1, keepdims=True)
    return out


def ensemble_softmax(logits: npt.ArrayLike, temperature: float = 1.0) -> F64:
    """An ensemble's probabilities: the mean over the first axis (one member each) of
    ``softmax(logits / temperature)``."""
    out: F64 = softmax(logits, temperature).mean(axis=0)
    return out


def nll(logits: npt.ArrayLike, labels: Labels, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the true labels under ``softmax(logits / temperature)``."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return float(-log_p[np.arange(len(labels)), labels].mean())


def fit_temperature(
    logits: npt.ArrayLike, labels: Labels, low: float = 0.05, high: float = 20.0, iterations: int = 80
) -> float:
    """The temperature in ``[low, high]`` that minimises :func:`nll` (golden-section search on log T).

    The NLL is convex in ``1/T`` for fixed logits, hence unimodal in ``log T``, so the search finds the
    minimum within the bracket.
    """
    if len(labels) == 0:
        raise ValueError("cannot fit a temperature on no samples")
    a, b = math.log(low), math.log(high)
    ratio = (math.sqrt(5) - 1) / 2
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = nll(logits, labels, math.exp(c)), nll(logits, labels, math.exp(d))
    for _ in range(iterations):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = nll(logits, labels, math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = nll(logits, labels, math.exp(d))
    return math.exp((a + b) / 2)


def expected_calibration_error(probabilities: npt.ArrayLike, labels: Labels, bins: int = 15) -> float:
    """ECE: the confidence-weighted gap between top-1 confidence and accuracy, over equal-width bins.

    ``sum_b |B_b| / N * |accuracy(B_b) - mean confidence(B_b)|``, bins over (0, 1].
    """
    p = np.asarray(probabilities, dtype=np.float64)
    if len(p) == 0:
        raise ValueError("cannot measure calibration on no samples")
    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == labels).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = index == b
        if mask.any():
            total += mask.sum() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(total / len(p))


def confusion_matrix(labels: Labels, predictions: Labels, classes: int) -> npt.NDArray[np.int64]:
    """``[true, predicted]`` counts."""
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def per_class_recall(matrix: npt.NDArray[np.int64]) -> list[float | None]:
    """Recall of each true class from a confusion matrix; ``None`` for a class with no samples."""
    totals = matrix.sum(axis=1)
    return [float(matrix[i, i] / totals[i]) if totals[i] else None for i in range(len(matrix))]


def class_weights(labels: Labels, classes: int, scheme: str) -> F64:
    """Per-class loss weights: ``none`` gives ones; ``inverse_sqrt`` gives ``1/sqrt(count)``, scaled so that
    the mean weight over the training samples is 1 (classes absent from ``labels`` get weight 0)."""
    if scheme == "none":
        return np.ones(classes, dtype=np.float64)
    if scheme != "inverse_sqrt":
        raise ValueError(f"unknown class weighting {scheme!r}; use none or inverse_sqrt")
    counts = np.bincount(labels, minlength=classes).astype(np.float64)
    weights = np.where(counts > 0, 1.0 / np.sqrt(np.maximum(counts, 1.0)), 0.0)
    mean = float((weights * counts).sum() / counts.sum())
    out: F64 = weights / mean
    return out


def smooth_targets(labels: Labels, classes: int, smoothing: float) -> npt.NDArray[np.float32]:
    """One-hot targets with label smoothing: ``(1 - s) * onehot + s / classes``."""
    onehot = np.eye(classes, dtype=np.float32)[labels]
    return (onehot * np.float32(1 - smoothing) + np.float32(smoothing / classes)).astype(np.float32)


def accuracy(labels: Labels, predictions: Sequence[int] | Labels) -> float:
    """Fraction of predictions equal to the labels."""
    return float(np.mean(np.asarray(predictions) == labels)) if len(labels) else 0.0
