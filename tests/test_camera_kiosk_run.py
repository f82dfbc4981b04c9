"""The kiosk with a failing camera, and ``kiosk run`` from the command line: a camera device that vanishes
(through a test double at the OpenCV seam: this machine has no video device), a source that does not exist,
``--broker``, and the example configuration."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from mosquitto_broker import MosquittoBroker
from waiting import wait_for

from kiosk.app.root import KioskApp, NoDetector
from kiosk.app.summary import RunSummary
from kiosk.config import CameraConfig, KioskConfig, RuntimeConfig, StorageConfig
from kiosk.link.store import DB_NAME, open_existing, read_events
from kiosk.perception.camera import OpenCVSource

KIOSK = Path(sys.executable).with_name("kiosk")
REPO = Path(__file__).resolve().parent.parent


class FakeDevice:
    """A V4L2 camera behind ``cv2.VideoCapture``'s interface that can be pulled out and plugged back in:
    pulled, reads fail (``(False, None)``, as OpenCV reports a vanished device) and opens fail."""

    def __init__(self) -> None:
        self.present = True
        self.opens = 0

    def capture(self, target: int | str) -> FakeCapture:
        self.opens += 1
        return FakeCapture(self)


class FakeCapture:
    def __init__(self, device: FakeDevice) -> None:
        self.device = device
        self.opened = device.present

    def isOpened(self) -> bool:
        return self.opened

    def read(self) -> tuple[bool, Any]:
        time.sleep(0.005)
        if not (self.opened and self.device.present):
            return False, None
        return True, np.zeros((48, 64, 3), np.uint8)

    def get(self, prop_id: int) -> float:
        return 0.0

    def set(self, prop_id: int, value: float) -> bool:
        return True

    def release(self) -> None:
        self.opened = False


def test_a_camera_device_vanishing_mid_run_is_reported_down_and_recovers(tmp_path: Path) -> None:
    device = FakeDevice()
    config = KioskConfig(
        storage=StorageConfig(data_dir=tmp_path / "var"),
        camera=CameraConfig(reconnect_initial_s=0.01, reconnect_max_s=0.05, frame_timeout_s=0.3),
        runtime=RuntimeConfig(health_interval_s=0.1),
    )
    app = KioskApp(config, NoDetector(), source_factory=lambda: OpenCVSource(0, capture=device.capture))
    stop = threading.Event()
    results: list[RunSummary] = []
    runner = threading.Thread(target=lambda: results.append(app.run(None, stop)))
    runner.start()
    try:
        wait_for(lambda: app.brain.camera_ok and app.camera.health.frames >= 5, "frames from the device")
        device.present = False
        wait_for(lambda: not app.brain.camera_ok, "the kiosk to report the camera down")
        wait_for(lambda: "check the cable" in app.camera.health.last_error, "the reopen to fail")
        opens = device.opens
        time.sleep(0.3)
        assert device.opens - opens <= 15  # reopened with backoff (at most every 0.05 s), not in a spin
        assert app.supervisor.alive("camera")
        before = app.camera.health.frames
        device.present = True
        wait_for(lambda: app.brain.camera_ok and app.camera.health.frames > before, "the camera back")
        time.sleep(0.3)  # a health event or two with the camera up
    finally:
        stop.set()
        runner.join(30)
    assert not runner.is_alive()
    (result,) = results
    assert result.fatal is None and result.camera_failures >= 1 and result.camera_reconnects >= 1
    db = open_existing(tmp_path / "var" / DB_NAME)
    try:
        health = [json.loads(str(r["json"]))["camera_ok"] for _, r in read_events(db, limit=10_000)
                  if r["type"] == "health"]  # fmt: skip
    finally:
        db.close()
    # Up, then down while the device was away, then up again (the last may be down: the camera stops first).
    assert health[0] is True and False in health, health
    assert True in health[health.index(False) :], health


def _kiosk(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(KIOSK), "run", "--headless", "--detector", "none", *args],
        check=False,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_kiosk_run_with_a_missing_video_file_exits_non_zero_naming_it(tmp_path: Path) -> None:
    started = time.monotonic()
    done = _kiosk("--source", "gone.mp4", "--loop", "--seconds", "30", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert (
        "kiosk stopped: video file gone.mp4 does not exist: check --source / [camera] source" in done.stderr
    )
    assert "cable" not in done.stderr
    assert time.monotonic() - started < 25  # it stopped at once, not at --seconds


def test_kiosk_run_with_a_missing_folder_exits_non_zero(tmp_path: Path) -> None:
    done = _kiosk("--source", str(tmp_path / "shots"), "--seconds", "30", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert f"image folder {tmp_path / 'shots'} does not exist: check --source" in done.stderr


def _shots(folder: Path) -> Path:
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"{i:02d}.png"), np.full((48, 64, 3), i * 60, np.uint8))
    return folder


def test_kiosk_run_broker_links_to_that_broker(tmp_path: Path, mosquitto: MosquittoBroker) -> None:
    (tmp_path / "kiosk.toml").write_text("[runtime]\nhealth_interval_s = 0.2\n")
    summary = tmp_path / "summary.json"
    done = _kiosk(
        "--config", "kiosk.toml", "--source", str(_shots(tmp_path / "shots")), "--loop", "--seconds", "4",
        "--broker", f"mqtt://127.0.0.1:{mosquitto.port}", "--summary", str(summary), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    figures = json.loads(summary.read_text())
    assert figures["mqtt_connected"] is True and figures["frames"] > 0
    assert figures["events_delivered"] >= 1 and figures["outbox_depth"] == 0
    assert (tmp_path / "var" / "outbox.sqlite").exists()  # [outbox] path of the config, not moved


def test_kiosk_run_broker_refuses_a_bad_url(tmp_path: Path) -> None:
    done = _kiosk("--broker", "http://nowhere", "--seconds", "1", cwd=tmp_path)
    assert done.returncode == 2 and "--broker" in done.stderr and "mqtt://host:1883" in done.stderr


def test_the_example_config_is_valid_and_its_catalogue_line_finds_the_example_offers(tmp_path: Path) -> None:
    valid = subprocess.run(
        [str(KIOSK), "validate-config", "examples/kiosk.toml"], cwd=REPO, capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    assert valid.returncode == 0, valid.stderr
    # The example's [offers] catalogue line finds the example catalogue and its pictures when kiosk runs
    # from the repository root, as documented (here a folder that links the repository's examples/).
    text = (REPO / "examples" / "kiosk.toml").read_text(encoding="utf-8")
    assert text.count('\ncatalogue = "examples/catalogue.toml"') == 1
    (tmp_path / "examples").symlink_to(REPO / "examples")
    (tmp_path / "kiosk.toml").write_text(text, encoding="utf-8")
    done = _kiosk(
        "--config", "kiosk.toml", "--source", str(_shots(tmp_path / "shots")), "--loop", "--seconds", "2",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "offer image missing" not in done.stderr
    assert (tmp_path / "var" / "bandit.json").exists()  # saved only when a catalogue was in use


def test_kiosk_run_on_a_folder_of_broken_images_stops_on_sigterm_and_seconds(tmp_path: Path) -> None:
    folder = tmp_path / "shots"
    folder.mkdir()
    for i in range(20):
        (folder / f"{i:02d}.jpg").write_bytes(b"not a jpeg")
    args = [str(KIOSK), "run", "--headless", "--detector", "none", "--source", str(folder), "--loop"]
    proc = subprocess.Popen(
        [*args, "--seconds", "120"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        time.sleep(3)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "stopped camera" in err and err.count("camera down: no readable image in") == 1
    assert "unreadable image skipped" not in err and len(err) < 20_000  # no log flood
    started = time.monotonic()
    timed = _kiosk("--source", str(folder), "--loop", "--seconds", "2", cwd=tmp_path)
    assert timed.returncode == 0 and time.monotonic() - started < 30, timed.stderr
