"""Affine int8/uint8 quantisation, ``real = scale * (q - zero_point)``, and pixel look-up tables."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from edge_models.errors import ModelInputError

#: Fraction of a quantisation step within which a value counts as a tie (see :func:`quantize`).
TIE_TOLERANCE = 1e-4

_INT_RANGES: dict[str, tuple[int, int]] = {"int8": (-128, 127), "uint8": (0, 255)}


def quantize(
    values: npt.ArrayLike, scale: float, zero_point: int, dtype: npt.DTypeLike = np.int8
) -> npt.NDArray[np.integer]:
    """Map real values to integers: ``clip(round(values / scale) + zero_point)`` in the dtype's range.

    Ties round up, with a tolerance of ``TIE_TOLERANCE`` steps so that float noise on an exact tie does
    not send neighbouring ties different ways: with the emotion and BlazeFace int8 inputs (scale 2/255,
    zero point -1) every pixel value falls on a tie, and this maps pixel ``p`` to ``p - 128`` for all 256.
    """
    kind = np.dtype(dtype).name
    if kind not in _INT_RANGES:
        raise ModelInputError(f"can only quantise to int8 or uint8, not {kind}")
    if scale <= 0:
        raise ModelInputError(f"quantisation scale must be positive, got {scale}")
    lo, hi = _INT_RANGES[kind]
    q = np.floor(np.asarray(values, dtype=np.float64) / scale + 0.5 + TIE_TOLERANCE) + zero_point
    out: npt.NDArray[np.integer] = np.clip(q, lo, hi).astype(dtype)
    return out


def dequantize(values: npt.ArrayLike, scale: float, zero_point: int) -> npt.NDArray[np.float32]:
    """Map integers back to real values: ``scale * (values - zero_point)``."""
    return (np.float32(scale) * (np.asarray(values).astype(np.float32) - np.float32(zero_point))).astype(
        np.float32
    )


def pixel_lut(
    scale: float | None, zero_point: int, dtype: npt.DTypeLike, low: float = -1.0, high: float = 1.0
) -> npt.NDArray[np.generic]:
    """A 256-entry table from a uint8 pixel to the model's input value.

    Pixel ``p`` maps to the real value ``low + p * (high - low) / 255``; for a quantised input
    (``scale`` given) that value is then quantised to ``dtype``, for a float input it is kept as float32.
    """
    real = low + np.arange(256, dtype=np.float64) * (high - low) / 255.0
    if scale is None:
        return real.astype(np.float32)
    return quantize(real, scale, zero_point, dtype)
