"""Camera sources, the newest-wins frame queue, and a capture thread that survives a camera pulled away."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from waiting import wait_for

from kiosk.clock import SystemClock
from kiosk.config import CameraConfig
from kiosk.perception.camera import (
    Backoff,
    CameraError,
    CapturedFrame,
    CaptureWorker,
    ImageFolderSource,
    LatestFrames,
    OpenCVSource,
    Picamera2Source,
    make_source,
)
from kiosk.perception.types import Frame

FAST = CameraConfig(reconnect_initial_s=0.01, reconnect_max_s=0.02, frame_timeout_s=1.0)


def _image(value: int = 0) -> Frame:
    return np.full((48, 64, 3), value, np.uint8)


def test_latest_frames_newest_wins_and_counts_drops() -> None:
    q = LatestFrames(2)
    for i in range(5):
        q.put(CapturedFrame(float(i), i, _image()))
    assert q.dropped == 3 and len(q) == 2
    first, second = q.get(0), q.get(0)
    assert first is not None and second is not None and (first.index, second.index) == (3, 4)
    assert q.get(0) is None


def test_backoff_doubles_to_a_cap_and_resets() -> None:
    b = Backoff(0.5, 3.0)
    assert [b.next() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    b.reset()
    assert b.next() == 0.5


def test_make_source_dispatch(tmp_path: Path) -> None:
    assert isinstance(make_source(CameraConfig(source="0")), OpenCVSource)
    dev = make_source(CameraConfig(source="/dev/video3"))
    assert isinstance(dev, OpenCVSource) and not dev.finite
    assert isinstance(make_source(CameraConfig(source=str(tmp_path))), ImageFolderSource)
    clip = make_source(CameraConfig(source=str(tmp_path / "clip.mp4")))
    assert isinstance(clip, OpenCVSource) and clip.finite
    assert isinstance(make_source(CameraConfig(source="picamera2")), Picamera2Source)


def test_picamera2_missing_is_a_clear_camera_error() -> None:
    try:
        import picamera2  # noqa: F401
    except ImportError:
        with pytest.raises(CameraError, match="picamera2 is not installed"):
            Picamera2Source().open()
    else:
        pytest.skip("picamera2 is installed here")


def test_image_folder_in_order_and_loop(tmp_path: Path) -> None:
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i:02d}.png"), _image(i * 50))
    (tmp_path / "notes.txt").write_text("not an image")
    src = ImageFolderSource(tmp_path)
    src.open()
    values = []
    while (frame := src.read()) is not None:
        values.append(int(frame[0, 0, 0]))
    assert values == [0, 50, 100]
    looping = ImageFolderSource(tmp_path, loop=True)
    looping.open()
    assert [int(looping.read()[0, 0, 0]) for _ in range(4)] == [0, 50, 100, 0]  # type: ignore[index]
    (tmp_path / "empty").mkdir()
    with pytest.raises(CameraError, match=r"no \.jpg"):
        ImageFolderSource(tmp_path / "empty").open()
    with pytest.raises(CameraError, match="does not exist"):
        ImageFolderSource(tmp_path / "missing").open()


def test_video_file_ends_or_loops(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(5):
        writer.write(_image(i * 40))
    writer.release()
    once = OpenCVSource(str(path))
    once.open()
    assert once.fps_hint == pytest.approx(10)
    count = 0
    while once.read() is not None:
        count += 1
    once.close()
    assert count == 5
    looped = OpenCVSource(str(path), loop=True)
    looped.open()
    assert all(looped.read() is not None for _ in range(12))
    looped.close()
    with pytest.raises(CameraError, match="cannot open"):
        OpenCVSource(str(tmp_path / "missing.mp4")).open()


class PulledCamera:
    """A live camera that delivers, is pulled away (reads fail, then opens fail), and comes back."""

    name = "fake-live"
    finite = False
    fps_hint = None

    def __init__(self) -> None:
        self.present = True
        self.mode_on_failure = "raise"
        self.reads = 0
        self.opens = 0
        self.lock = threading.Lock()

    def open(self) -> None:
        self.opens += 1
        if not self.present:
            raise CameraError("no such device")

    def read(self) -> Frame | None:
        time.sleep(0.002)
        if not self.present:
            if self.mode_on_failure == "raise":
                raise CameraError("device disconnected")
            return None
        self.reads += 1
        return _image(self.reads % 255)

    def close(self) -> None:
        pass


@pytest.mark.parametrize("mode", ["raise", "none"])
def test_capture_survives_camera_pulled_away_and_reconnects(mode: str) -> None:
    cam = PulledCamera()
    cam.mode_on_failure = mode
    frames = LatestFrames(2)
    worker = CaptureWorker(lambda: cam, FAST, SystemClock(), frames)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    try:
        wait_for(lambda: worker.health.frames >= 5, "first frames")
        assert worker.health.ok
        cam.present = False
        wait_for(lambda: not worker.health.ok and cam.opens >= 3, "the camera to be seen down and retried")
        assert worker.health.failures >= 1 and worker.health.last_error
        before = worker.health.frames
        cam.present = True
        wait_for(lambda: worker.health.ok and worker.health.frames > before + 5, "the camera to come back")
        assert worker.health.reconnects >= 1
        assert frames.dropped > 0  # nobody consumed: the queue kept only the newest two
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive() and not worker.health.ok
