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
    exactly 2 (0.25 ms, the same detections on the sample clips). A shrink by less than 2 (a region crop of
    about 220 pixels into the short-range model's 128) is bilinear: each output pixel then spans at most
    two input pixels a side, which bilinear samples, at an eighth of area's cost (0.08 against 0.65 ms).
    Enlarging is bilinear.
    """
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image
    out = np.empty((height, width, *image.shape[2:]), dtype=np.uint8)
    shrink_into(image, out)
    return out


def shrink_into(image: U8Image, out: U8Image) -> None:
    """:func:`shrink` ``image`` into the preallocated ``out`` (which may be a view into a larger array, such
    as the inside of a letterbox canvas): the same pixels as :func:`shrink`, without allocating the result."""
    h, w = image.shape[:2]
    height, width = out.shape[:2]
    if (w, h) == (width, height):
        np.copyto(out, image.reshape(out.shape))
        return
    if width >= w or height >= h or (w < 2 * width and h < 2 * height):
        cv2.resize(image, (width, height), dst=out, interpolation=cv2.INTER_LINEAR)
        return
    if w > 2 * width and h > 2 * height:
        image = np.asarray(
            cv2.resize(image, (2 * width, 2 * height), interpolation=cv2.INTER_LINEAR), np.uint8
        )
    cv2.resize(image, (width, height), dst=out, interpolation=cv2.INTER_AREA)


class LetterboxCanvas:
    """A letterbox square kept between calls: the frame is resized straight into its inside and the bars
    are cleared only when the geometry changes (one allocation for the detector's life, not one a frame).

    :meth:`fit` returns the canvas itself, so its pixels are valid until the next call; copy them to keep.
    With ``antialias`` False the image is resized with one bilinear pass whatever the ratio (about a third
    of :func:`shrink`'s cost for a shrink by 3-4, with some aliasing): the region detector's crops, where the
    face fills much of the crop (docs/edge-models-runtime.md, "Region detection").
    """

    def __init__(self, size: int, channels: int = 3, pad_value: int = 0, *, antialias: bool = True) -> None:
        if size <= 0:
            raise ModelInputError(f"letterbox size must be positive, got {size}")
        self.size = size
        self.antialias = antialias
        self._pad_value = pad_value
        self._canvas = np.full((size, size, channels), pad_value, dtype=np.uint8)
        self._last: Letterbox | None = None

    def fit(self, image: U8Image) -> tuple[U8Image, Letterbox]:
        """Letterbox ``image`` (H x W x C, the canvas's channels) into the canvas; the same pixels as
        :func:`letterbox`."""
        h, w = image.shape[:2]
        lb = letterbox_transform(w, h, self.size)
        if image.ndim != 3 or image.shape[2] != self._canvas.shape[2]:
            raise ModelInputError(
                f"expected an HxWx{self._canvas.shape[2]} image for this canvas, got shape {image.shape}"
            )
        if lb != self._last:
            self._canvas[:] = self._pad_value
            self._last = lb
        new_w = round(w * lb.scale_x)
        new_h = round(h * lb.scale_y)
        inside = self._canvas[lb.pad_y : lb.pad_y + new_h, lb.pad_x : lb.pad_x + new_w]
        if self.antialias or (w, h) == (new_w, new_h):
            shrink_into(image, inside)
        else:
            cv2.resize(image, (new_w, new_h), dst=inside, interpolation=cv2.INTER_LINEAR)
        return self._canvas, lb


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

    8-bit and float32 tables go through ``cv2.LUT`` (4-5x faster than numpy indexing), others through
    indexing.
    """
    if image.flags.c_contiguous and lut.dtype.itemsize == 1:
        out: npt.NDArray[np.generic] = cv2.LUT(image, lut.view(np.uint8)).view(lut.dtype)
        return out
    if image.flags.c_contiguous and lut.dtype == np.float32:
        floats: npt.NDArray[np.generic] = cv2.LUT(image, lut.astype(np.float32, copy=False))
        return floats
    indexed: npt.NDArray[np.generic] = lut[image]
    return indexed


#: The int8 input table of every shipped int8 model (scale 2/255, zero point -1): pixel p -> p - 128.
OFFSET_128 = (np.arange(256, dtype=np.int16) - 128).astype(np.int8)


class PixelMap:
    """A pixel look-up table applied the fastest way it allows.

    The shipped int8 models' table maps pixel ``p`` to ``p - 128``, which is ``p`` with its top bit
    flipped, read as int8: one XOR (about 4 us for 192x192x3 against 45 us through ``cv2.LUT``). Any
    other table goes through :func:`apply_lut`. The results are identical.
    """

    def __init__(self, lut: npt.NDArray[np.generic]) -> None:
        self.lut = lut
        self.is_offset_128 = lut.dtype == np.int8 and bool(np.array_equal(lut, OFFSET_128))

    def __call__(self, image: U8Image) -> npt.NDArray[np.generic]:
        """The table applied to ``image`` (a new array)."""
        if self.is_offset_128:
            flipped: npt.NDArray[np.generic] = np.bitwise_xor(image, np.uint8(0x80)).view(np.int8)
            return flipped
        return apply_lut(np.ascontiguousarray(image), self.lut)

    def into(self, image: U8Image, out: npt.NDArray[np.generic]) -> None:
        """The table applied to ``image``, written into ``out`` (the table's dtype, ``image``'s shape: e.g.
        a view of a model's input buffer), without allocating: the same values as calling the map."""
        if out.shape != image.shape or out.dtype != self.lut.dtype:
            raise ModelInputError(
                f"cannot map a {image.shape} image into a {out.dtype} {out.shape} array with a "
                f"{self.lut.dtype} table"
            )
        if self.is_offset_128:
            np.bitwise_xor(image, np.uint8(0x80), out=out.view(np.uint8))
        elif image.flags.c_contiguous and out.flags.c_contiguous and self.lut.dtype.itemsize == 1:
            cv2.LUT(image, self.lut.view(np.uint8), dst=out.view(np.uint8))
        elif image.flags.c_contiguous and out.flags.c_contiguous and self.lut.dtype == np.float32:
            cv2.LUT(image, self.lut.astype(np.float32, copy=False), dst=out.view(np.float32))
        else:
            np.take(self.lut, image, out=out)


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


def crop_matrix(
    box: Box, right_eye: Point, left_eye: Point, *, margin: float, out_size: int
) -> npt.NDArray[np.float64]:
    """The 2x3 affine map from frame pixels to :func:`crop_aligned`'s crop of the face in ``box``: a square
    of the box's longer side grown by ``margin`` on every side, centred on the box, eyes levelled."""
    side = max(box.width, box.height) * (1.0 + 2.0 * margin)
    return alignment_matrix(box.center, eye_line_angle_deg(right_eye, left_eye), side, out_size)


def crop_aligned(
    frame: U8Image, box: Box, right_eye: Point, left_eye: Point, *, margin: float, out_size: int
) -> U8Image:
    """An ``out_size`` square crop of the face in ``box``, grown by ``margin`` (a fraction of the box's
    longer side on every side) and rotated so the eyes are level (:func:`crop_matrix`). Outside the frame
    is black."""
    check_image(frame)
    m = crop_matrix(box, right_eye, left_eye, margin=margin, out_size=out_size)
    crop = cv2.warpAffine(
        frame, m, (out_size, out_size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
    return np.asarray(crop, dtype=np.uint8)
