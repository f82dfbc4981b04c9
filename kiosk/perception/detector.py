"""The one place that knows the vision models' objects: maps ``edge_models`` answers onto kiosk types.

Written against ``edge_models.values`` (``Face``: box, score, distance_m, yaw_deg; ``EmotionScores``:
valence, confidence, abstain) and ``edge_models.pipeline`` (``FaceAnalysis(face, emotion)``,
``analyse_frame``). It matches them structurally and imports ``edge_models`` only when a real detector
is opened, so the kiosk's core and tests never need the models.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from edge_models.config import EmotionSettings, PresenceSettings
from kiosk.perception.types import VALENCES, Box, Detection, Frame, ValenceReading

log = logging.getLogger(__name__)


class _BoxLike(Protocol):
    @property
    def xmin(self) -> float: ...
    @property
    def ymin(self) -> float: ...
    @property
    def xmax(self) -> float: ...
    @property
    def ymax(self) -> float: ...


class FaceLike(Protocol):
    """``edge_models.values.Face``, structurally."""

    @property
    def box(self) -> _BoxLike: ...
    @property
    def score(self) -> float: ...
    @property
    def distance_m(self) -> float: ...
    @property
    def yaw_deg(self) -> float: ...


class EmotionLike(Protocol):
    """``edge_models.values.EmotionScores``, structurally."""

    @property
    def valence(self) -> str: ...
    @property
    def confidence(self) -> float: ...
    @property
    def abstain(self) -> bool: ...


class FaceAnalysisLike(Protocol):
    """``edge_models.pipeline.FaceAnalysis``, structurally."""

    @property
    def face(self) -> FaceLike: ...
    @property
    def emotion(self) -> EmotionLike | None: ...


def to_detection(analysis: FaceAnalysisLike) -> Detection:
    """One model answer as a kiosk :class:`Detection`."""
    face, emotion = analysis.face, analysis.emotion
    reading = None
    if emotion is not None:
        valence = next((v for v in VALENCES if v == emotion.valence), None)
        if valence is not None:
            reading = ValenceReading(valence, float(emotion.confidence), bool(emotion.abstain))
    box = face.box
    return Detection(
        box=Box(float(box.xmin), float(box.ymin), float(box.xmax), float(box.ymax)),
        score=float(face.score),
        distance_m=float(face.distance_m),
        yaw_deg=float(face.yaw_deg),
        reading=reading,
    )


class ModelDetector:
    """A :class:`kiosk.perception.types.Detector` over a function that runs the models on a frame.

    ``analyse(frame, read_expression)`` gets False while the kiosk's expression gate is shut (nobody in
    view may have their expression read: ``privacy.mode`` and the shoppers' choices), and then runs no
    emotion model at all.
    """

    def __init__(
        self,
        analyse: Callable[[Frame, bool], Sequence[FaceAnalysisLike]],
        close: Callable[[], None] = lambda: None,
        models: dict[str, str] | None = None,
    ) -> None:
        self._analyse = analyse
        self._expression_gate: Callable[[], bool] = lambda: True
        self.close = close
        #: The models loaded: name -> the first 16 hex digits of its sha256 (for the birth certificate).
        self.models = dict(models or {})

    def set_expression_gate(self, gate: Callable[[], bool]) -> None:
        """Ask ``gate()`` before every frame whether expression may be read (see :class:`ExpressionGated`)."""
        self._expression_gate = gate

    def detect(self, frame: Frame) -> list[Detection]:
        """Run the models and convert their answers."""
        return [to_detection(a) for a in self._analyse(frame, self._expression_gate())]


class _NoEmotion:
    """A face without an emotion answer (``FaceAnalysisLike`` with ``emotion`` None)."""

    def __init__(self, face: FaceLike) -> None:
        self.face = face
        self.emotion: EmotionLike | None = None


class RateGate:
    """Says yes at most ``rate_hz`` times a second, by the injected clock."""

    def __init__(self, rate_hz: float, clock: Callable[[], float]) -> None:
        self._period = 1.0 / rate_hz
        self._clock = clock
        self._next = float("-inf")

    def due(self) -> bool:
        """True when a period has passed since the last yes (and then starts a new period)."""
        now = self._clock()
        if now < self._next:
            return False
        self._next = now + self._period
        return True


def open_model_detector(
    presence: PresenceSettings,
    emotion: EmotionSettings,
    read_expression: bool = True,
    clock: Callable[[], float] = time.monotonic,
) -> ModelDetector:
    """Open the real models (``edge_models``) as the kiosk's configuration says.

    With ``read_expression`` False (privacy mode ``presence_only``) or ``emotion.enabled`` False the emotion
    model is not even loaded. When the emotion model is refused (a corrupt file, a wrong manifest entry) the
    kiosk runs on presence-only and logs why; a refused presence model raises, and the caller falls back to
    attract-only.
    """
    from edge_models.emotion import EmotionClassifier
    from edge_models.errors import EdgeModelsError
    from edge_models.manifest import load_manifest
    from edge_models.pipeline import analyse_frame
    from edge_models.presence import PresenceDetector

    detector = PresenceDetector.from_settings(presence)
    manifest = load_manifest()

    def version(name: str) -> str:
        return manifest.get(name).sha256[:16]

    presence_only = {presence.model: version(presence.model)}

    def detect_only(frame: Frame, _read_expression: bool = False) -> Sequence[FaceAnalysisLike]:
        return [_NoEmotion(face) for face in detector.detect(frame)]

    if not (read_expression and emotion.enabled):
        return ModelDetector(detect_only, detector.close, presence_only)
    try:
        classifier = EmotionClassifier.from_settings(emotion)
    except EdgeModelsError as exc:
        log.error("emotion model refused, running presence-only: %s", exc)
        return ModelDetector(detect_only, detector.close, presence_only)

    gate = RateGate(emotion.rate_hz, clock)

    def analyse(frame: Frame, read_expression: bool) -> Sequence[FaceAnalysisLike]:
        return analyse_frame(
            detector,
            classifier,
            frame,
            crop_margin=emotion.crop_margin,
            min_face_px=emotion.min_face_px,
            min_frontalness=emotion.min_frontalness,
            classify=read_expression and gate.due(),
            max_classified=emotion.max_faces,
        )

    def close() -> None:
        classifier.close()
        detector.close()

    return ModelDetector(analyse, close, {**presence_only, emotion.model: version(emotion.model)})
