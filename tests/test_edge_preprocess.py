"""Letterbox, model-input tables and aligned face crops (pure functions, no model)."""

import math

import cv2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_models.errors import ModelInputError
from edge_models.preprocess import (
    LetterboxCanvas,
    PixelMap,
    alignment_matrix,
    crop_aligned,
    eye_line_angle_deg,
    letterbox,
    letterbox_transform,
    resize_square,
    to_gray,
)
from edge_models.quantization import dequantize, pixel_lut, quantize
from edge_models.values import Box, Point


@given(
    w=st.integers(1, 4000),
    h=st.integers(1, 4000),
    size=st.sampled_from([128, 192]),
    fx=st.floats(0, 1),
    fy=st.floats(0, 1),
)
def test_letterbox_inverse_round_trips(w: int, h: int, size: int, fx: float, fy: float) -> None:
    lb = letterbox_transform(w, h, size)
    point = np.array([fx * w, fy * h], dtype=np.float32)
    back = lb.to_source(lb.to_model(point))
    assert np.allclose(back, point, atol=1e-3 * max(w, h))
    inside = lb.to_model(point)
    assert -1e-3 <= inside[0] <= size + 1e-3 and -1e-3 <= inside[1] <= size + 1e-3


def test_letterbox_centres_a_wide_image_with_black_bars() -> None:
    image = np.full((360, 640, 3), 200, dtype=np.uint8)
    square, lb = letterbox(image, 192)
    assert square.shape == (192, 192, 3)
    assert (lb.pad_x, lb.pad_y) == (0, 42)
    assert square[:42].max() == 0 and square[-42:].max() == 0
    assert square[42:150].min() == 200
    # The frame's corners map onto the content area's corners.
    assert np.allclose(lb.to_model([[0, 0], [640, 360]]), [[0, 42], [192, 150]])


def test_letterbox_rejects_non_images() -> None:
    with pytest.raises(ModelInputError):
        letterbox(np.zeros((10, 10, 3), dtype=np.float32), 128)  # type: ignore[arg-type]
    with pytest.raises(ModelInputError):
        letterbox(np.zeros((0, 10, 3), dtype=np.uint8), 128)


def test_pixel_lut_maps_pixels_to_minus_one_one_for_float_inputs() -> None:
    lut = pixel_lut(None, 0, np.float32)
    assert lut.dtype == np.float32
    assert lut[0] == -1.0 and lut[255] == 1.0
    assert np.isclose(lut[128], 128 / 127.5 - 1)


def test_pixel_lut_for_int8_scale_2_over_255_is_pixel_minus_128() -> None:
    # The shipped int8 inputs use scale 2/255 (stored as float32) and zero point -1: every pixel is a tie.
    lut = pixel_lut(float(np.float32(2 / 255)), -1, np.int8)
    assert lut.dtype == np.int8
    assert np.array_equal(lut.astype(int), np.arange(256) - 128)


@pytest.mark.parametrize(
    "lut",
    [
        pixel_lut(None, 0, np.float32),  # float input: cv2.LUT into float32
        pixel_lut(float(np.float32(2 / 255)), -1, np.int8),  # the shipped int8 inputs: XOR 0x80
        pixel_lut(1 / 255, 0, np.uint8),  # another 8-bit table: cv2.LUT
        (np.arange(256) * 3).astype(np.int16),  # any other table: indexing
    ],
    ids=["float32", "offset-128", "uint8", "int16"],
)
def test_pixel_map_into_writes_the_same_values_as_calling_it(lut: np.ndarray) -> None:
    pixels = PixelMap(lut)
    image = np.random.default_rng(0).integers(0, 256, (7, 5, 3), dtype=np.uint8)
    out = np.full((1, 7, 5, 3), 99, dtype=lut.dtype)  # a model input's batch of one, as its buffer is
    pixels.into(image, out.reshape(image.shape))
    expected = pixels(image)
    assert out.dtype == expected.dtype
    assert np.array_equal(out[0], expected)
    assert np.array_equal(out[0], lut[image])
    with pytest.raises(ModelInputError, match="cannot map"):
        pixels.into(image, np.zeros((7, 5), dtype=lut.dtype))


def test_canvas_without_antialias_is_one_bilinear_resize_of_the_crop() -> None:
    rng = np.random.default_rng(1)
    crop = rng.integers(0, 256, (480, 500, 3), dtype=np.uint8)[:, 10:]  # a region: a view of the frame
    smooth, lb = LetterboxCanvas(128).fit(crop)
    assert np.array_equal(smooth, letterbox(crop, 128)[0])  # anti-aliased: the same pixels as letterbox
    sharp, lb2 = LetterboxCanvas(128, antialias=False).fit(crop)
    assert lb2 == lb
    inside = (slice(lb.pad_y, lb.pad_y + round(480 * lb.scale_y)), slice(lb.pad_x, lb.pad_x + 128))
    expected = cv2.resize(
        np.ascontiguousarray(crop), (128, round(480 * lb.scale_y)), interpolation=cv2.INTER_LINEAR
    )
    assert np.array_equal(sharp[inside], expected)
    assert not sharp[: lb.pad_y].any() and not sharp[lb.pad_y + expected.shape[0] :].any()  # black bars
    assert not np.array_equal(sharp, smooth)


def test_quantize_dequantize_round_trip_within_half_a_step() -> None:
    values = np.linspace(-3, 3, 101)
    q = quantize(values, 0.05, 3, np.int8)
    assert np.all(np.abs(dequantize(q, 0.05, 3) - values) <= 0.025 + 1e-6)
    assert quantize([1000.0], 0.05, 3, np.int8)[0] == 127
    assert quantize([1000.0], 0.05, 3, np.uint8)[0] == 255
    with pytest.raises(ModelInputError):
        quantize([0.0], 0.0, 0)


def test_to_gray_accepts_gray_bgr_and_bgra() -> None:
    bgr = np.zeros((5, 7, 3), dtype=np.uint8)
    bgr[..., 2] = 255  # pure red
    gray = to_gray(bgr)
    assert gray.shape == (5, 7) and 70 <= gray[0, 0] <= 80  # 0.299 * 255
    assert to_gray(np.dstack([bgr, np.full((5, 7), 9, np.uint8)])).shape == (5, 7)
    assert to_gray(gray) is gray
    assert resize_square(gray, 64).shape == (64, 64)


def _apply(m: np.ndarray, p: Point) -> tuple[float, float]:
    x, y = m @ np.array([p.x, p.y, 1.0])
    return float(x), float(y)


@given(
    angle=st.floats(-60, 60),
    cx=st.floats(50, 500),
    cy=st.floats(50, 400),
    eye_dist=st.floats(10, 80),
)
def test_alignment_makes_the_eye_line_level_and_centres_the_face(
    angle: float, cx: float, cy: float, eye_dist: float
) -> None:
    a = math.radians(angle)
    right = Point(cx - math.cos(a) * eye_dist / 2, cy - math.sin(a) * eye_dist / 2)
    left = Point(cx + math.cos(a) * eye_dist / 2, cy + math.sin(a) * eye_dist / 2)
    assert math.isclose(eye_line_angle_deg(right, left), angle, abs_tol=1e-6)
    m = alignment_matrix(Point(cx, cy), eye_line_angle_deg(right, left), side=4 * eye_dist, out_size=64)
    (rx, ry), (lx, ly) = _apply(m, right), _apply(m, left)
    assert math.isclose(ry, ly, abs_tol=1e-6)  # eyes level
    assert rx < lx  # right eye stays on the image left
    assert math.isclose(lx - rx, 64 * eye_dist / (4 * eye_dist), rel_tol=1e-6)  # scaled to the crop
    assert np.allclose(_apply(m, Point(cx, cy)), (32, 32))


def test_crop_aligned_undoes_a_tilt() -> None:
    # A frame with a horizontal bright bar through the "eyes", tilted by 30 degrees.
    frame = np.zeros((200, 200, 3), dtype=np.uint8)
    centre = Point(100, 100)
    a = math.radians(30)
    for t in np.linspace(-40, 40, 400):
        x, y = centre.x + t * math.cos(a), centre.y + t * math.sin(a)
        frame[round(y), round(x)] = 255
    right = Point(centre.x - 20 * math.cos(a), centre.y - 20 * math.sin(a))
    left = Point(centre.x + 20 * math.cos(a), centre.y + 20 * math.sin(a))
    crop = crop_aligned(frame, Box(60, 60, 140, 140), right, left, margin=0.0, out_size=80)
    assert crop.shape == (80, 80, 3)
    rows = crop[..., 0].sum(axis=1)
    assert abs(int(np.argmax(rows)) - 40) <= 1  # the bar is now a horizontal line through the centre
    assert rows[np.abs(np.arange(80) - 40) > 3].max() < 0.1 * rows.max()
