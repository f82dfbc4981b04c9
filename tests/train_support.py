"""What the emotion-training tests share: where FER-2013 is, and the skip when TensorFlow or the data is
missing."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FER_DIR = ROOT.parent / "shared" / "data" / "fer2013"


def need_tf_and_data() -> None:
    """Skip unless TensorFlow is installed and FER-2013's train.npz is there.

    Not importorskip: importing TensorFlow here, before edge_models.build._tf sets TF_ENABLE_ONEDNN_OPTS=0
    and TF_DETERMINISTIC_OPS=1, would make training non-deterministic (and crashes TF 2.21's CPU kernels).
    """
    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip("training tests need TensorFlow: pip install -e '.[build]'")
    if not (FER_DIR / "train.npz").is_file():
        pytest.skip(f"FER-2013 not found at {FER_DIR}")
