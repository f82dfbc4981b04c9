"""Pure image pre-processing: letterbox with its inverse, model-input tables, aligned face crops.

Every function takes explicit inputs and returns new arrays; nothing here loads a model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from edge_models.errors import ModelInputError
from edge_models.values import Box, Point

U8Image = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class Letterbox:
    """How a ``src_width`` x ``src_height`` image was fitted into a ``size`` x ``size`` square.

    A source pixel ``(x, y)`` lands at ``(x * scale_x + pad_x, y * scale_y + pad_y)`` in the square; the
    scales differ from each other only by the rounding of the resized size.
    """

    src_width: int
    src_height: int
    size: int
    scale_x: float
    scale_y: float
    pad_x: int
    pad_y: int

    def to_model(self, points: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Map ``[..., 2]`` (x, y) source points into the square."""
        p = np.asarray(points, dtype=np.float32)
        out = np.empty_like(p)
        out[..., 0] = p[..., 0] * self.scale_x + self.pad_x
        out[..., 1] = p[..., 1] * self.scale_y + self.pad_y
        return out

    def to_source(self, points: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Map ``[..., 2]`` (x, y) points of the square back to source pixels (inverse of ``to_model``)."""
        p = np.asarray(points, dtype=np.float32)
        out = np.empty_like(p)
        out[..., 0] = (p[..., 0] - self.pad_x) / self.scale_x
        out[..., 1] = (p[..., 1] - self.pad_y) / self.scale_y
        return out

    def box_to_source(self, box: Box) -> Box:
        """Map a box of the square back to source pixels."""
        (x0, y0), (x1, y1) = self.to_source([[box.xmin, box.ymin], [box.xmax, box.ymax]]).tolist()
        return Box(x0, y0, x1, y1)


def letterbox_transform(src_width: int, src_height: int, size: int) -> Letterbox:
    """The letterbox that fits a ``src_width`` x ``src_height`` image, centred, into a ``size`` square."""
    if src_width <= 0 or src_height <= 0 or size <= 0:
        raise ModelInputError(f"cannot letterbox a {src_width}x{src_height} image into {size}x{size}")
    scale = size / max(src_width, src_height)
    new_w = max(1, min(size, round(src_width * scale)))
    new_h = max(1, min(size, round(src_height * scale)))
    return Letterbox(
        src_width=src_width,
        src_height=src_height,
        size=size,
        scale_x=new_w / src_width,
        scale_y=new_h / src_height,
        pad_x=(size - new_w) // 2,
        pad_y=(size - new_h) // 2,
    )


def letterbox(image: U8Image, size: int, pad_value: int = 0) -> tuple[U8Image, Letterbox]:
    """Resize ``image`` (H x W or H x W x C, uint8) keeping its aspect ratio and pad it to ``size`` square."""
    check_image(image)
    h, w = image.shape[:2]
    lb = letterbox_transform(w, h, size)
    new_w = round(w * lb.scale_x)
    new_h = round(h * lb.scale_y)
    resized = shrink(image, new_w, new_h)
    out = np.full((size, size, *image.shape[2:]), pad_value, dtype=np.uint8)
    out[lb.pad_y : lb.pad_y + new_h, lb.pad_x : lb.pad_x + new_w] = resized.reshape(
        new_h, new_w, *image.shape[2:]
    )
    return out, lb


def shrink(image: U8Image, width: int, height: int) -> U8Image:
    """Resize to ``width`` x ``height`` with little aliasing, fast.

    OpenCV's area interpolation is slow for non-integer ratios (about 1 ms for 640x480 to 192x144 on a
    2-core x86-64), so a shrink by more than 2 goes bilinear to twice the target first, then area by
    exactly 2 (0.25 ms, the same detections on the sample clips). Enlarging is bilinear.
    """
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image
    if width >= w or height >= h:
        return np.asarray(cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR), dtype=np.uint8)
    if w > 2 * width and h > 2 * height:
        image = np.asarray(
            cv2.resize(image, (2 * width, 2 * height), interpolation=cv2.INTER_LINEAR), np.uint8
        )
    return np.asarray(cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA), dtype=np.uint8)


def check_image(image: npt.NDArray[np.generic], channels: tuple[int, ...] = (1, 3, 4)) -> None:
    """Raise :class:`ModelInputError` unless ``image`` is a non-empty uint8 H x W (x C) array."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ModelInputError(
            f"expected a uint8 numpy image, got {type(image).__name__} {getattr(image, 'dtype', '')}"
        )
    if image.ndim == 2:
        ok = 1 in channels
    elif image.ndim == 3:
        ok = image.shape[2] in channels
    else:
        ok = False
    if not ok or image.shape[0] == 0 or image.shape[1] == 0:
        raise ModelInputError(f"expected an HxW or HxWxC image with C in {channels}, got shape {image.shape}")


def to_gray(image: U8Image) -> U8Image:
    """A gray copy of a BGR, BGRA or already gray uint8 image."""
    check_image(image)
    if image.ndim == 2:
        return image
    if image.shape[2] == 1:
        return np.ascontiguousarray(image[:, :, 0])
    code = cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
    return np.asarray(cv2.cvtColor(image, code), dtype=np.uint8)


def resize_square(image: U8Image, size: int) -> U8Image:
    """Resize to ``size`` x ``size`` (no aspect ratio kept: face crops are near square already)."""
    return shrink(image, size, size)


def apply_lut(image: U8Image, lut: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
    """Map every uint8 pixel through a 256-entry table (see :func:`edge_models.quantization.pixel_lut`).

    8-bit tables go through ``cv2.LUT`` (about 4x faster than numpy indexing), others through indexing.
    """
    if lut.dtype.itemsize == 1 and image.flags.c_contiguous:
        out: npt.NDArray[np.generic] = cv2.LUT(image, lut.view(np.uint8)).view(lut.dtype)
        return out
    indexed: npt.NDArray[np.generic] = lut[image]
    return indexed


def eye_line_angle_deg(right_eye: Point, left_eye: Point) -> float:
    """Angle of the line from the person's right eye to their left eye, degrees, image coordinates.

    0 when the eyes are level; positive when the left eye (image right) is lower than the right eye.
    """
    return math.degrees(math.atan2(left_eye.y - right_eye.y, left_eye.x - right_eye.x))


def alignment_matrix(center: Point, angle_deg: float, side: float, out_size: int) -> npt.NDArray[np.float64]:
    """The 2x3 affine map from frame pixels to an ``out_size`` square crop.

    The crop is a square of ``side`` frame pixels centred on ``center``, rotated by ``angle_deg`` (the eye
    line angle) so that the eye line becomes horizontal in the crop.
    """
    if side <= 0 or out_size <= 0:
        raise ModelInputError(f"crop side and output size must be positive, got {side} and {out_size}")
    s = out_size / side
    a = math.radians(angle_deg)
    cos_a, sin_a = math.cos(a) * s, math.sin(a) * s
    # Rotate by -angle about the centre, scale, then move the centre to the crop centre.
    m = np.array([[cos_a, sin_a, 0.0], [-sin_a, cos_a, 0.0]], dtype=np.float64)
    c = out_size / 2.0
    m[0, 2] = c - (m[0, 0] * center.x + m[0, 1] * center.y)
    m[1, 2] = c - (m[1, 0] * center.x + m[1, 1] * center.y)
    return m


def crop_aligned(
    frame: U8Image, box: Box, right_eye: Point, left_eye: Point, *, margin: float, out_size: int
) -> U8Image:
    """An ``out_size`` square crop of the face in ``box``, grown by ``margin`` (a fraction of the box's
    longer side on every side) and rotated so the eyes are level. Outside the frame is black."""
    check_image(frame)
    side = max(box.width, box.height) * (1.0 + 2.0 * margin)
    m = alignment_matrix(box.center, eye_line_angle_deg(right_eye, left_eye), side, out_size)
    crop = cv2.warpAffine(
        frame, m, (out_size, out_size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
    return np.asarray(crop, dtype=np.uint8)
