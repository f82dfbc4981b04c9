"""The one place that knows the vision models' objects: maps ``edge_models`` answers onto kiosk types.

Written against ``edge_models.values`` (``Face``: box, score, distance_m, yaw_deg; ``EmotionScores``:
valence, confidence, abstain) and ``edge_models.pipeline`` (``FaceAnalysis(face, emotion)``,
``analyse_frame``). It matches them structurally and imports ``edge_models`` only when a real detector
is opened, so the kiosk's core and tests never need the models.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from edge_models.config import EmotionSettings, PresenceSettings
from kiosk.config import PerceptionConfig, TrackerConfig
from kiosk.perception.types import VALENCES, Box, Detection, Frame, ValenceReading

if TYPE_CHECKING:
    from edge_models.calibration import Calibration
    from edge_models.values import Face
    from kiosk.perception.regions import RegionDetector

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
        #: Region detection's counters, when it runs (None: whole-frame detection on every frame).
        self.regions: RegionDetector | None = None
        #: Which variant of each model runs, and the measurement that chose it.
        self.variants: ModelChoice | None = None

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
    *,
    perception: PerceptionConfig | None = None,
    tracker: TrackerConfig | None = None,
    data_dir: Path | None = None,
) -> ModelDetector:
    """Open the real models (``edge_models``) as the kiosk's configuration says.

    With ``read_expression`` False (privacy mode ``presence_only``) or ``emotion.enabled`` False the emotion
    model is not even loaded. When the emotion model is refused (a corrupt file, a wrong manifest entry) the
    kiosk runs on presence-only and logs why; a refused presence model raises, and the caller falls back to
    attract-only.

    ``perception`` picks each model's variant (``auto``: the one measured fastest here, from the
    calibration file in ``data_dir``, measured now when missing or stale; without a ``data_dir`` or a
    ``calibration_file`` nothing is measured and the configured variants run) and turns region detection on or
    off (:mod:`kiosk.perception.regions`, fed by a private :class:`~kiosk.decisions.tracker.Tracker` with
    ``tracker``'s settings). ``clock`` times the frames: the emotion rate, the whole-frame interval.
    """
    from edge_models.emotion import EmotionClassifier
    from edge_models.errors import EdgeModelsError
    from edge_models.manifest import load_manifest
    from edge_models.pipeline import analyse_faces
    from edge_models.presence import PresenceDetector
    from kiosk.decisions.tracker import Tracker
    from kiosk.perception.regions import MotionGate, RegionDetector, whole_frame

    perception = perception if perception is not None else PerceptionConfig()
    manifest = load_manifest()
    wanted_emotion = read_expression and emotion.enabled
    models = choose_models(presence, emotion, perception, data_dir, wanted_emotion)
    presence = presence.model_copy(update={"model": models.presence})
    detector = PresenceDetector.from_settings(presence)
    closers: list[Callable[[], None]] = [detector.close]
    find: Callable[[Frame, float], list[Face]] = whole_frame(detector.detect)
    region_detector: RegionDetector | None = None
    if perception.regions:
        region_model = PresenceDetector.from_settings(
            presence.model_copy(
                update={"model": models.region, "score_threshold": perception.region_score_threshold}
            ),
            antialias=perception.region_antialias,
        )
        closers.append(region_model.close)
        motion = (
            MotionGate(perception.motion_level, perception.motion_fraction)
            if perception.motion_trigger
            else None
        )
        tracks = Tracker(tracker if tracker is not None else TrackerConfig(), random.Random(0))  # noqa: S311
        region_detector = RegionDetector(detector, region_model, tracks, perception, motion)
        find = region_detector.detect

    def version(name: str) -> str:
        return manifest.get(name).sha256[:16]

    loaded = {name: version(name) for name in (models.presence, models.region) if name}

    def close_all() -> None:
        for close in reversed(closers):
            close()

    def detect_only(frame: Frame, _read_expression: bool = False) -> Sequence[FaceAnalysisLike]:
        return [_NoEmotion(face) for face in find(frame, clock())]

    def made(
        analyse: Callable[[Frame, bool], Sequence[FaceAnalysisLike]], names: dict[str, str]
    ) -> ModelDetector:
        md = ModelDetector(analyse, close_all, names)
        md.regions = region_detector
        md.variants = models
        return md

    if not wanted_emotion:
        return made(detect_only, loaded)
    try:
        classifier = EmotionClassifier.from_settings(emotion.model_copy(update={"model": models.emotion}))
    except EdgeModelsError as exc:
        log.error("emotion model refused, running presence-only: %s", exc)
        return made(detect_only, loaded)
    closers.insert(0, classifier.close)
    gate = RateGate(emotion.rate_hz, clock)

    def analyse(frame: Frame, read_expression: bool) -> Sequence[FaceAnalysisLike]:
        return analyse_faces(
            classifier,
            frame,
            find(frame, clock()),
            crop_margin=emotion.crop_margin,
            min_face_px=emotion.min_face_px,
            min_frontalness=emotion.min_frontalness,
            classify=read_expression and gate.due(),
            max_classified=emotion.max_faces,
        )

    return made(analyse, {**loaded, models.emotion: version(models.emotion)})


@dataclass(frozen=True)
class ModelChoice:
    """The models the kiosk loads after the variant choice, and the calibration it came from."""

    presence: str
    region: str | None
    emotion: str
    calibration: Calibration | None = None
    measured_now: bool = False

    def describe(self) -> str:
        """One line for the log: what runs and why."""
        names = ", ".join(n for n in (self.presence, self.region, self.emotion) if n)
        if self.calibration is None:
            return f"models: {names} (as configured: forced, or no calibration)"
        when = (
            "measured now" if self.measured_now else f"measured {self.calibration.created:%Y-%m-%d %H:%M} UTC"
        )
        return f"models: {names} (fastest variants on {self.calibration.host.cpu}, {when})"


def choose_models(
    presence: PresenceSettings,
    emotion: EmotionSettings,
    perception: PerceptionConfig,
    data_dir: Path | None,
    with_emotion: bool = True,
) -> ModelChoice:
    """Resolve each configured model to the variant that runs (see ``[perception] variant``)."""
    from edge_models import calibration as calib
    from edge_models.errors import EdgeModelsError
    from edge_models.manifest import load_manifest

    manifest = load_manifest()
    configured = [presence.model]
    if perception.regions:
        configured.append(perception.region_model)
    if with_emotion:
        configured.append(emotion.model)
    found: Calibration | None = None
    measured_now = False
    path = perception.calibration_file or (data_dir / calib.CALIBRATION_FILE if data_dir else None)
    if perception.variant == "auto" and path is not None:
        try:
            found, measured_now = calib.ensure(path, configured, threads=presence.threads, manifest=manifest)
        except EdgeModelsError as exc:
            log.error("variant calibration failed, running the configured models: %s", exc)

    def pick(name: str) -> str:
        return calib.resolve(name, perception.variant, found, manifest)

    choice = ModelChoice(
        presence=pick(presence.model),
        region=pick(perception.region_model) if perception.regions else None,
        emotion=pick(emotion.model),
        calibration=found,
        measured_now=measured_now,
    )
    log.info(choice.describe())
    return choice
