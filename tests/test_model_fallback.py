"""A refused model never crashes the kiosk: no emotion model, presence-only; no presence model, attract."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import skimage.data

from edge_models.config import EmotionSettings, PresenceSettings
from edge_models.manifest import MODELS_DIR
from kiosk.app.root import NoDetector
from kiosk.cli import _open_detector
from kiosk.config import KioskConfig
from kiosk.perception.detector import open_model_detector

pytestmark = pytest.mark.integration


def _astronaut() -> np.ndarray:
    return np.ascontiguousarray(skimage.data.astronaut()[:, :, ::-1])


def test_refused_emotion_model_runs_presence_only(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        detector = open_model_detector(PresenceSettings(), EmotionSettings(model="no_such_model"))
    try:
        detections = detector.detect(_astronaut())
    finally:
        detector.close()
    assert len(detections) == 1
    assert detections[0].reading is None
    assert "presence-only" in caplog.text and "no_such_model" in caplog.text


def test_corrupt_emotion_file_runs_presence_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    models = tmp_path / "models"
    shutil.copytree(MODELS_DIR, models)
    target = models / f"{EmotionSettings().model}.tflite"
    target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])  # truncated
    monkeypatch.setattr("edge_models.manifest.MODELS_DIR", models)
    monkeypatch.setattr("edge_models.runtime.MODELS_DIR", models)
    with caplog.at_level(logging.ERROR):
        detector = open_model_detector(PresenceSettings(), EmotionSettings())
    try:
        assert len(detector.detect(_astronaut())) == 1
    finally:
        detector.close()
    assert target.name in caplog.text


def test_refused_presence_model_runs_attract_only(caplog: pytest.LogCaptureFixture) -> None:
    config = KioskConfig.model_validate({"presence": {"model": "no_such_model"}})
    with caplog.at_level(logging.ERROR):
        chosen = _open_detector("models", config)
    assert isinstance(chosen, NoDetector)
    assert "attract-only" in caplog.text
