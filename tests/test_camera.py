"""Camera sources, the newest-wins frame queue, and a capture thread that survives a camera pulled away."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
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
    CameraSourceMissingError,
    CapturedFrame,
    CaptureWorker,
    FrameSource,
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
    with pytest.raises(CameraSourceMissingError, match=r"missing\.mp4 does not exist: check --source"):
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


def _broken_folder(folder: Path, count: int = 3) -> Path:
    folder.mkdir(exist_ok=True)
    for i in range(count):
        (folder / f"{i:02d}.jpg").write_bytes(b"not a jpeg")
    return folder


def _read_in_thread(source: ImageFolderSource) -> BaseException | Frame | None:
    """``source.read()`` in a daemon thread: a read that never returns fails the test, not hangs it."""
    outcome: list[BaseException | Frame | None] = []

    def read() -> None:
        try:
            outcome.append(source.read())
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    thread.join(5)
    assert outcome, "read() did not return within 5 s (it spins over unreadable files)"
    return outcome[0]


@pytest.mark.parametrize("loop", [True, False])
def test_a_folder_of_unreadable_images_raises_instead_of_spinning(tmp_path: Path, loop: bool) -> None:
    folder = _broken_folder(tmp_path / "shots")
    source = ImageFolderSource(folder, loop=loop)
    source.open()
    outcome = _read_in_thread(source)
    assert isinstance(outcome, CameraError), outcome
    assert "no readable image in" in str(outcome) and str(folder) in str(outcome)
    assert "3 of 3 files" in str(outcome) and "check --source / [camera] source" in str(outcome)


def test_unreadable_images_are_skipped_and_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cv2.imwrite(str(tmp_path / "00.png"), _image(10))
    (tmp_path / "01.png").write_bytes(b"broken")
    source = ImageFolderSource(tmp_path, loop=True)
    source.open()
    with caplog.at_level("WARNING", logger="kiosk.perception.camera"):
        values = [int(source.read()[0, 0, 0]) for _ in range(6)]  # type: ignore[index]
    assert values == [10] * 6
    assert [r.getMessage() for r in caplog.records] == ["unreadable image skipped: 01.png"]


def test_a_missing_or_empty_folder_is_a_missing_source(tmp_path: Path) -> None:
    with pytest.raises(CameraSourceMissingError, match=r"does not exist: check --source / \[camera\] source"):
        ImageFolderSource(tmp_path / "gone").open()
    with pytest.raises(CameraSourceMissingError, match=r"has no \.jpg/\.png images"):
        ImageFolderSource(tmp_path).open()
    # A missing path without a suffix is taken for a folder, so the message says "image folder".
    assert isinstance(make_source(CameraConfig(source=str(tmp_path / "gone"))), ImageFolderSource)


def test_a_broken_video_file_says_so_not_check_the_cable(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"\x00" * 4096)
    with pytest.raises(CameraError) as caught:
        OpenCVSource(str(path)).open()
    assert not isinstance(caught.value, CameraSourceMissingError)
    message = str(caught.value)
    assert f"cannot read video file {path}" in message and "check --source" in message
    assert "cable" not in message


class Counting:
    """A source factory that counts the sources made (each one is opened once by the worker)."""

    def __init__(self, make: Callable[[], FrameSource]) -> None:
        self.make = make
        self.made = 0

    def __call__(self) -> FrameSource:
        self.made += 1
        return self.make()


def _run_worker(worker: CaptureWorker) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    return thread, stop


def test_capture_backs_off_from_a_source_that_delivers_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = _broken_folder(tmp_path / "shots")
    config = CameraConfig(source=str(folder), loop=True, reconnect_initial_s=0.05, reconnect_max_s=0.2)
    factory = Counting(lambda: make_source(config))
    worker = CaptureWorker(factory, config, SystemClock(), LatestFrames(2))
    with caplog.at_level("INFO", logger="kiosk.perception.camera"):
        thread, stop = _run_worker(worker)
        time.sleep(1.0)
        stop.set()
        thread.join(5)
    assert not thread.is_alive(), "stop did not end the capture thread"
    # Backoff 0.05, 0.1, 0.2, 0.2 ...: about six tries in a second, not thousands.
    assert 2 <= factory.made <= 10, factory.made
    assert worker.health.frames == 0 and not worker.health.ok and not worker.health.finished
    assert worker.health.failures == factory.made and "no readable image" in worker.health.last_error
    assert len(caplog.records) == 1 and "camera down" in caplog.records[0].getMessage()


def test_a_folder_removed_mid_run_is_camera_down_then_back(tmp_path: Path) -> None:
    folder = tmp_path / "shots"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"{i:02d}.png"), _image(i * 50))
    config = CameraConfig(source=str(folder), loop=True, reconnect_initial_s=0.02, reconnect_max_s=0.05)
    factory = Counting(lambda: make_source(config))
    worker = CaptureWorker(factory, config, SystemClock(), LatestFrames(2))
    thread, stop = _run_worker(worker)
    try:
        wait_for(lambda: worker.health.frames >= 5, "frames from the folder")
        aside = tmp_path / "aside"
        folder.rename(aside)
        wait_for(lambda: not worker.health.ok and factory.made >= 3, "the folder seen gone and retried")
        assert not worker.health.missing and thread.is_alive()  # it delivered before: keep trying
        before = worker.health.frames
        aside.rename(folder)
        wait_for(lambda: worker.health.ok and worker.health.frames > before, "the folder back")
        assert worker.health.reconnects >= 1
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()


def test_a_missing_video_file_stops_the_capture_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.mp4"
    config = CameraConfig(source=str(missing), loop=True, reconnect_initial_s=0.01, reconnect_max_s=0.02)
    worker = CaptureWorker(lambda: make_source(config), config, SystemClock(), LatestFrames(2))
    thread, stop = _run_worker(worker)
    thread.join(5)
    stop.set()
    assert not thread.is_alive(), "the worker kept retrying a file that does not exist"
    assert worker.health.missing and worker.health.finished and worker.health.frames == 0
    assert f"video file {missing} does not exist: check --source" in worker.health.last_error
