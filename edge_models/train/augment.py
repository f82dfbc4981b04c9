"""Seeded augmentation of gray face crops, in numpy and OpenCV (no TensorFlow).

Every random draw comes from the :class:`numpy.random.Generator` passed in, which the trainer seeds from
``(seed, epoch)``; the same seed and epoch therefore give the same augmented faces, whether or not the
run was stopped and resumed in between.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from edge_models.kiosk_crops import warp_face
from edge_models.train.recipe import Augmentation

U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


def to_model_input(crops: U8) -> F32:
    """uint8 crops ``[N, H, W]`` -> float32 model input ``[N, H, W, 1]`` in [-1, 1] (``p / 127.5 - 1``)."""
    out: F32 = (crops.astype(np.float32) / np.float32(127.5) - np.float32(1.0))[..., np.newaxis]
    return out


def resize_crops(crops: U8, size: int) -> U8:
    """Resize crops ``[N, H, W]`` to ``size`` x ``size`` (bilinear); returned unchanged when already so."""
    if crops.shape[1:] == (size, size):
        return crops
    return np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_LINEAR) for c in crops])


def _affine(crop: U8, rng: np.random.Generator, aug: Augmentation) -> U8:
    side = crop.shape[0]
    angle = rng.uniform(-aug.max_rotation_deg, aug.max_rotation_deg)
    scale = 1.0 + rng.uniform(-aug.max_scale, aug.max_scale)
    dx, dy = rng.uniform(-aug.max_shift, aug.max_shift, size=2) * side
    matrix = cv2.getRotationMatrix2D(((side - 1) / 2, (side - 1) / 2), angle, scale)
    matrix[:, 2] += (dx, dy)
    return np.asarray(
        cv2.warpAffine(crop, matrix, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101),
        dtype=np.uint8,
    )


def _erase(face: F32, rng: np.random.Generator, aug: Augmentation) -> None:
    side = face.shape[0]
    low, high = aug.erase_area
    area = rng.uniform(low, high) * side * side
    aspect = math.exp(rng.uniform(math.log(0.3), math.log(1 / 0.3)))
    h = min(side, max(1, round(math.sqrt(area * aspect))))
    w = min(side, max(1, round(math.sqrt(area / aspect))))
    y = int(rng.integers(0, side - h + 1))
    x = int(rng.integers(0, side - w + 1))
    face[y : y + h, x : x + w] = rng.uniform(-1.0, 1.0, size=(h, w)).astype(np.float32)


@dataclass(frozen=True)
class KioskFramings:
    """Kiosk framings for the faces of a training set (:mod:`edge_models.train.framings`).

    ``matrices`` ``[M, 2, 3]``: face-to-crop affine maps of the faces the kiosk's detector found (the pool
    a face without its own draws from); ``own`` ``[N]``: for each face, the index of its own framing in
    ``matrices``, or -1 when the detector did not find it (or the kiosk would not classify it).
    """

    matrices: F64
    own: I64

    def take(self, positions: I64) -> KioskFramings:
        """The framings of the faces at ``positions`` (a batch), drawing from the same pool."""
        return KioskFramings(self.matrices, self.own[positions])


def _kiosk_warp(crop: U8, rng: np.random.Generator, framings: KioskFramings, i: int) -> U8:
    own = int(framings.own[i])
    pick = own if own >= 0 else int(rng.integers(len(framings.matrices)))
    return warp_face(crop, framings.matrices[pick], crop.shape[0])


def augment_batch(
    crops: U8, rng: np.random.Generator, aug: Augmentation, framings: KioskFramings | None = None
) -> F32:
    """Augment uint8 crops ``[N, S, S]`` into float32 model inputs ``[N, S, S, 1]`` in [-1, 1].

    Per face, in this order: with chance ``aug.kiosk_framing``, the kiosk's framing (the face warped by
    its own kiosk framing from ``framings``, or by one drawn from the pool when it has none; mid-gray
    outside the face, as on the frame the kiosk's detector saw); left-right flip (half the faces), a small
    affine change (rotation, zoom, shift; reflected borders), contrast about the face's mean and a
    brightness offset (clipped to [-1, 1]), then random erasing of one rectangle with uniform noise.
    With ``kiosk_framing`` 0 no draw is made for it, so older recipes augment exactly as before.
    """
    if aug.kiosk_framing > 0:
        if framings is None:
            raise ValueError("kiosk_framing above 0 needs the kiosk framings of the faces (--kiosk-framings)")
        if len(framings.own) != len(crops) or not len(framings.matrices):
            raise ValueError(
                f"kiosk framings for {len(framings.own)} faces ({len(framings.matrices)} in the pool) do not "
                f"fit a batch of {len(crops)}"
            )
    out = np.empty((*crops.shape, 1), dtype=np.float32)
    for i, crop in enumerate(crops):
        face = crop
        if framings is not None and aug.kiosk_framing > 0 and rng.random() < aug.kiosk_framing:
            face = _kiosk_warp(crop, rng, framings, i)
        if aug.flip and rng.random() < 0.5:
            face = face[:, ::-1]
        if aug.max_rotation_deg or aug.max_scale or aug.max_shift:
            face = _affine(np.ascontiguousarray(face), rng, aug)
        value = face.astype(np.float32) / np.float32(127.5) - np.float32(1.0)
        contrast = 1.0 + rng.uniform(-aug.contrast, aug.contrast)
        brightness = rng.uniform(-aug.brightness, aug.brightness)
        mean = value.mean()
        value = np.clip((value - mean) * contrast + mean + brightness, -1.0, 1.0).astype(np.float32)
        if rng.random() < aug.erase_probability:
            _erase(value, rng, aug)
        out[i, ..., 0] = value
    return out


def mixup(inputs: F32, targets: F32, rng: np.random.Generator, alpha: float) -> tuple[F32, F32]:
    """Mix each face and its target with another of the batch, weight ``lam ~ Beta(alpha, alpha)``.

    ``alpha <= 0`` returns the batch unchanged. The weight is kept at or above 0.5, so each mixed face
    stays closest to its own original.
    """
    if alpha <= 0:
        return inputs, targets
    lam = float(rng.beta(alpha, alpha))
    lam = max(lam, 1.0 - lam)
    order = rng.permutation(len(inputs))
    mixed_x = (lam * inputs + (1 - lam) * inputs[order]).astype(np.float32)
    mixed_y = (lam * targets + (1 - lam) * targets[order]).astype(np.float32)
    return mixed_x, mixed_y
