"""BlazeFace anchor layouts."""

import numpy as np
import pytest

from edge_models.anchors import FULL_RANGE, SHORT_RANGE, generate_anchors, spec_for_input


def test_short_range_has_896_anchors_in_two_grids() -> None:
    anchors = generate_anchors(SHORT_RANGE)
    assert SHORT_RANGE.count == 896 and anchors.shape == (896, 2)
    # Stride 8: 16x16 cells, 2 anchors each, first cell centred at (4, 4).
    assert np.allclose(anchors[:2], [[4, 4], [4, 4]])
    assert np.allclose(anchors[2], [12, 4])
    # Stride 16 (three layers share one 8x8 grid): 6 anchors a cell, first centred at (8, 8).
    assert np.allclose(anchors[512:518], [[8, 8]] * 6)
    assert np.allclose(anchors[-1], [120, 120])


def test_full_range_has_2304_anchors_one_per_stride_4_cell() -> None:
    anchors = generate_anchors(FULL_RANGE)
    assert FULL_RANGE.count == 2304 and anchors.shape == (2304, 2)
    assert np.allclose(anchors[0], [2, 2])
    assert np.allclose(anchors[1], [6, 2])
    assert np.allclose(anchors[48], [2, 6])
    assert np.allclose(anchors[-1], [190, 190])


def test_spec_for_input_picks_by_size_and_count() -> None:
    assert spec_for_input(128, 896) == SHORT_RANGE
    assert spec_for_input(192, 2304) == FULL_RANGE
    with pytest.raises(ValueError, match="no known BlazeFace anchor layout"):
        spec_for_input(192, 896)
