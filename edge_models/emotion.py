"""Emotion classification of face crops with the FER-2013 mini-Xception model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from edge_models.config import DEFAULT_ABSTAIN_THRESHOLD, DEFAULT_EMOTION_MODEL, EmotionSettings
from edge_models.errors import ModelVerificationError
from edge_models.manifest import Manifest
from edge_models.postprocess import emotion_scores, normalise_probabilities
from edge_models.preprocess import PixelMap, resize_square, to_gray
from edge_models.quantization import pixel_lut
from edge_models.runtime import LoadedModel, ModelOwner, open_model
from edge_models.values import FER_CLASSES, EmotionScores


class EmotionClassifier(ModelOwner):
    """Classify face crops into the 7 FER-2013 emotions and a valence.

    Crops may be BGR, BGRA or gray, of any size: they are turned gray, resized to the model's 64 x 64,
    scaled to [-1, 1] and quantised for an int8 model. The model is verified, loaded and warmed up when the
    classifier is made; use it as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        model: str = DEFAULT_EMOTION_MODEL,
        threads: int = 1,
        *,
        abstain_threshold: float = DEFAULT_ABSTAIN_THRESHOLD,
        manifest: Manifest | None = None,
        models_dir: Path | None = None,
    ) -> None:
        self._model: LoadedModel = open_model(model, threads, manifest=manifest, models_dir=models_dir)
        entry = self._model.entry
        spec = entry.inputs[0] if entry.inputs else None
        if (
            entry.task != "emotion"
            or spec is None
            or len(spec.shape) != 4
            or spec.shape[3] != 1
            or spec.shape[1] != spec.shape[2]
            or len(entry.outputs) != 1
            or entry.outputs[0].shape[-1] != len(FER_CLASSES)
        ):
            self._model.close()
            raise ModelVerificationError(
                f"model {entry.name!r} is not a 7-class gray emotion model (task {entry.task}, inputs "
                f"{[s.shape for s in entry.inputs]}, outputs {[s.shape for s in entry.outputs]})"
            )
        q = spec.quantization
        self._lut = pixel_lut(q.scale if q else None, q.zero_point if q else 0, spec.dtype)
        self._pixels = PixelMap(self._lut)
        self._input_shape = spec.shape
        self.input_size = spec.shape[1]
        self.abstain_threshold = abstain_threshold
        self._model.warm_up()

    @classmethod
    def from_settings(
        cls, settings: EmotionSettings, manifest: Manifest | None = None, models_dir: Path | None = None
    ) -> EmotionClassifier:
        """Build a classifier from the kiosk's :class:`EmotionSettings`."""
        return cls(
            model=settings.model,
            threads=settings.threads,
            abstain_threshold=settings.abstain_threshold,
            manifest=manifest,
            models_dir=models_dir,
        )

    def prepare(self, crop: npt.NDArray[np.uint8]) -> npt.NDArray[np.generic]:
        """The model input tensor for a face crop: gray, 64 x 64, [-1, 1], quantised when int8."""
        gray = resize_square(to_gray(crop), self.input_size)
        return self._pixels(gray).reshape(self._input_shape)

    def probabilities(self, crop: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """The 7 class probabilities, in :data:`FER_CLASSES` order (the model ends in a softmax)."""
        gray = resize_square(to_gray(crop), self.input_size)
        pixels = self._pixels
        self._model.fill_input(lambda buffer: pixels.into(gray, buffer.reshape(gray.shape)))
        self._model.invoke()
        return normalise_probabilities(self._model.get_output_real(0))

    def classify(self, crop: npt.NDArray[np.uint8]) -> EmotionScores:
        """Emotion and valence of one face crop (BGR, BGRA or gray uint8, any size)."""
        return emotion_scores(self.probabilities(crop), self.abstain_threshold)
