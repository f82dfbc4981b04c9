"""SSD anchor centres for BlazeFace (MediaPipe's ``SsdAnchorsCalculator`` with ``fixed_anchor_size``).

With a fixed anchor size every anchor is 1 x 1 in normalised units, so an anchor is only its centre; the
decoder adds the regressed offsets (in input pixels) to these centres.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class AnchorSpec:
    """The anchor layout of one BlazeFace variant.

    ``strides`` lists one stride per SSD layer; consecutive layers with the same stride share one feature
    map, so their anchors are interleaved per cell. Each layer puts ``anchors_per_layer`` anchors on every
    cell (aspect ratio 1, plus one interpolated scale when MediaPipe's ``interpolated_scale_aspect_ratio``
    is set).
    """

    input_size: int
    strides: tuple[int, ...]
    anchors_per_layer: int
    anchor_offset: float = 0.5

    @property
    def count(self) -> int:
        """Number of anchors, which is also the number of rows the model outputs."""
        return sum(math.ceil(self.input_size / s) ** 2 * self.anchors_per_layer for s in self.strides)


#: MediaPipe face_detection_short_range: 128 x 128 input, strides 8,16,16,16, 2 anchors a layer: 896.
SHORT_RANGE = AnchorSpec(input_size=128, strides=(8, 16, 16, 16), anchors_per_layer=2)
#: MediaPipe face_detection_full_range: 192 x 192 input, one stride-4 layer, 1 anchor a cell: 2304.
FULL_RANGE = AnchorSpec(input_size=192, strides=(4,), anchors_per_layer=1)


def spec_for_input(input_size: int, num_anchors: int) -> AnchorSpec:
    """Pick the known anchor layout that matches a model's input size and output row count."""
    for spec in (SHORT_RANGE, FULL_RANGE):
        if spec.input_size == input_size and spec.count == num_anchors:
            return spec
    raise ValueError(
        f"no known BlazeFace anchor layout for input {input_size}x{input_size} with {num_anchors} anchors; "
        f"known: short range 128/{SHORT_RANGE.count}, full range 192/{FULL_RANGE.count}"
    )


def generate_anchors(spec: AnchorSpec) -> npt.NDArray[np.float32]:
    """Anchor centres ``[N, 2]`` as (x, y) in input pixels, in the model's output row order."""
    centres: list[npt.NDArray[np.float32]] = []
    layer = 0
    while layer < len(spec.strides):
        stride = spec.strides[layer]
        same = layer
        while same < len(spec.strides) and spec.strides[same] == stride:
            same += 1
        per_cell = (same - layer) * spec.anchors_per_layer
        cells = math.ceil(spec.input_size / stride)
        grid = (np.arange(cells, dtype=np.float32) + spec.anchor_offset) / cells * spec.input_size
        ys, xs = np.meshgrid(grid, grid, indexing="ij")
        xy = np.stack([xs.ravel(), ys.ravel()], axis=1)
        centres.append(np.repeat(xy, per_cell, axis=0))
        layer = same
    return np.concatenate(centres, axis=0).astype(np.float32)
