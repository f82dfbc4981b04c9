"""Lazy access to TensorFlow: the only place the build imports it.

The kiosk never needs TensorFlow, and ``edge-models --help`` must work without it, so nothing imports
TensorFlow at module level. Call :func:`import_tensorflow` inside the function that needs it.
"""

from __future__ import annotations

import importlib
import logging
import os
from typing import Any

from edge_models.build.errors import TensorFlowMissingError

INSTALL_HINT = "pip install -e '.[build]'"


def import_tensorflow() -> Any:
    """Import and return the ``tensorflow`` module, configured for a quiet, deterministic build.

    Raises :class:`TensorFlowMissingError` with the install command when TensorFlow is missing.
    """
    # Keras 2 HDF5 files load with tf_keras; make tf.keras mean tf_keras so the converter accepts it.
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Deterministic kernels where TensorFlow offers them; oneDNN's reordering changes float sums slightly.
    os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    try:
        import tensorflow as tf
    except ImportError as exc:
        raise TensorFlowMissingError(
            f"the model build needs TensorFlow, which is not installed here ({exc}); "
            f"install the converter with: {INSTALL_HINT}"
        ) from exc
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    return tf


def import_tf_keras() -> Any:
    """Import and return ``tf_keras`` (Keras 2), which reads fer's Keras-2 HDF5 file as it was saved."""
    import_tensorflow()
    try:
        tf_keras = importlib.import_module("tf_keras")
    except ImportError as exc:
        raise TensorFlowMissingError(
            f"reading the Keras-2 emotion model needs tf_keras ({exc}); install with: {INSTALL_HINT}"
        ) from exc
    return tf_keras
