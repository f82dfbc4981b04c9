"""Lazy access to TensorFlow: the only place the build imports it.

The kiosk never needs TensorFlow, and ``edge-models --help`` must work without it, so nothing imports
TensorFlow at module level. Call :func:`import_tensorflow` inside the function that needs it.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from edge_models.build.errors import TensorFlowMissingError

INSTALL_HINT = "pip install -e '.[build]'"


def import_tensorflow() -> Any:
    """Import and return the ``tensorflow`` module, configured for a quiet, deterministic build.

    Raises :class:`TensorFlowMissingError` with the install command when TensorFlow is missing. The
    environment settings take effect only if TensorFlow was not imported before; the trainer checks.
    """
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
