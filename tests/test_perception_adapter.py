"""The adapter maps objects shaped like edge_models' Face / EmotionScores / FaceAnalysis onto kiosk types."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kiosk.perception.detector import ModelDetector, to_detection
from kiosk.perception.types import Box, ValenceReading


@dataclass(frozen=True)
class FakeBox:
    xmin: float
    ymin: float
    xmax: float
    ymax: float


@dataclass(frozen=True)
class FakeFace:
    box: FakeBox
    score: float
    distance_m: float
    yaw_deg: float


@dataclass(frozen=True)
class FakeEmotion:
    valence: str
    confidence: float
    abstain: bool


@dataclass(frozen=True)
class FakeAnalysis:
    face: FakeFace
    emotion: FakeEmotion | None


FACE = FakeFace(FakeBox(1, 2, 11, 22), 0.9, 1.7, -12.0)


def test_face_and_emotion_are_mapped() -> None:
    det = to_detection(FakeAnalysis(FACE, FakeEmotion("positive", 0.8, False)))
    assert det.box == Box(1, 2, 11, 22) and det.score == 0.9
    assert det.distance_m == 1.7 and det.yaw_deg == -12.0
    assert det.reading == ValenceReading("positive", 0.8, False)


def test_no_emotion_or_unknown_valence_is_no_reading() -> None:
    assert to_detection(FakeAnalysis(FACE, None)).reading is None
    assert to_detection(FakeAnalysis(FACE, FakeEmotion("ecstatic", 0.99, False))).reading is None


def test_model_detector_runs_the_function_and_closes() -> None:
    closed = []
    detector = ModelDetector(
        lambda _frame, _read: [FakeAnalysis(FACE, None)] * 2, lambda: closed.append(True)
    )
    assert len(detector.detect(np.zeros((4, 4, 3), np.uint8))) == 2
    detector.close()
    assert closed == [True]


def test_rate_gate_allows_at_most_rate_hz() -> None:
    from kiosk.perception.detector import RateGate

    now = [0.0]
    gate = RateGate(5.0, lambda: now[0])
    answers = []
    for step in range(100):  # one second at 100 frames a second
        now[0] = step / 100
        answers.append(gate.due())
    assert sum(answers) == 5 and answers[0]


def test_model_detector_passes_the_expression_gate_to_the_models() -> None:
    from kiosk.perception.detector import ModelDetector
    from kiosk.perception.types import ExpressionGated

    asked: list[bool] = []
    detector = ModelDetector(lambda _frame, read: asked.append(read) or [])
    assert isinstance(detector, ExpressionGated)
    frame = np.zeros((4, 4, 3), dtype=np.uint8)
    detector.detect(frame)
    open_gate = [False]
    detector.set_expression_gate(lambda: open_gate[0])
    detector.detect(frame)
    open_gate[0] = True
    detector.detect(frame)
    assert asked == [True, False, True]
