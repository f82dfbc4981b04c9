"""Camera sources behind one interface, and the capture thread that hands frames on.

Sources: an OpenCV device (index or ``/dev/video*`` path), a video file (optionally looping), a folder of
images, and ``picamera2`` where it is installed (imported only then). :class:`CaptureWorker` reads in its own
thread and hands frames through a :class:`LatestFrames` queue of at most two: when it is full the oldest frame
is dropped (newest wins) and the drop counted. When a source fails or disappears the worker reports it in
:class:`CameraHealth`, closes it and reopens it with exponential backoff; the rest of the kiosk keeps running.
A read never blocks for longer than one pass over its source, so the worker always sees ``stop``; a source
that delivers nothing is a failure like any other (backoff, one log line when it goes down). A file or folder
that does not exist before any frame came is a configuration mistake: the worker gives up
(:attr:`CameraHealth.missing`) and the run ends. Frames are never logged or written anywhere.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from kiosk.clock import Clock
from kiosk.config import CameraConfig
from kiosk.errors import KioskError
from kiosk.perception.types import Frame
from kiosk.queues import DropOldestQueue

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})

#: How to fix a wrong source, appended to every error about a file or folder source.
SOURCE_FIX = "check --source / [camera] source (a video file, an image folder, a camera index or 'picamera2')"


class CameraError(KioskError):
    """A camera source cannot be opened or read."""


class CameraSourceMissingError(CameraError):
    """The configured video file or image folder is not there (or the folder holds no images)."""


class VideoCapture(Protocol):
    """The part of ``cv2.VideoCapture`` the OpenCV source uses: the seam a test double replaces."""

    def isOpened(self) -> bool:  # noqa: N802 (OpenCV's name)
        """Whether the device or file opened."""
        ...

    def read(self) -> tuple[bool, Any]:
        """``(ok, frame)``."""
        ...

    def get(self, prop_id: int, /) -> float:
        """A capture property."""
        ...

    def set(self, prop_id: int, value: float, /) -> bool:
        """Set a capture property."""
        ...

    def release(self) -> None:
        """Release the device or file."""
        ...


class FrameSource(Protocol):
    """One camera source. ``read`` returns None when no frame came: for a live camera that is a failure,
    for a finite source (``finite``) the end. ``read`` may also raise :class:`CameraError`."""

    name: str
    finite: bool
    fps_hint: float | None

    def open(self) -> None:
        """Open the source; raises :class:`CameraError`."""
        ...

    def read(self) -> Frame | None:
        """The next frame (BGR uint8), or None."""
        ...

    def close(self) -> None:
        """Release the source; safe to call twice."""
        ...


def _open_capture(target: int | str) -> VideoCapture:
    return cv2.VideoCapture(target)


class OpenCVSource:
    """A V4L2/USB camera through OpenCV, by index or device path; or a video file when ``finite``.

    ``capture`` opens the capture (``cv2.VideoCapture``; a test double in tests)."""

    def __init__(
        self,
        target: int | str,
        width: int = 640,
        height: int = 480,
        fps: int = 30,
        *,
        loop: bool = False,
        capture: Callable[[int | str], VideoCapture] | None = None,
    ) -> None:
        self.target = target
        self.finite = isinstance(target, str) and not target.startswith("/dev/")
        self.loop = loop
        self.name = f"opencv:{target}"
        self._size = (width, height, fps)
        self._capture = capture or _open_capture
        self._cap: VideoCapture | None = None
        self._delivered = 0
        self.fps_hint: float | None = None

    def open(self) -> None:
        """Open the device or file; a missing video file raises :class:`CameraSourceMissingError`."""
        if self.finite and not Path(str(self.target)).is_file():
            raise CameraSourceMissingError(f"video file {self.target} does not exist: {SOURCE_FIX}")
        cap = self._capture(self.target)
        if not cap.isOpened():
            cap.release()
            if self.finite:
                raise CameraError(
                    f"cannot read video file {self.target}: OpenCV cannot decode it (broken or an "
                    f"unsupported format); re-encode it, or {SOURCE_FIX}"
                )
            raise CameraError(
                f"cannot open camera {self.target!r}: check the cable, the camera index or device path"
            )
        if self.finite:
            fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
            self.fps_hint = fps if 0 < fps <= 240 else 25.0
        else:
            width, height, fps = self._size
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
            cap.set(cv2.CAP_PROP_FPS, fps)
        self._cap = cap
        self._delivered = 0

    def read(self) -> Frame | None:
        """The next frame; a file restarts at its end when looping. A file that gave no frame at all since
        it was opened raises :class:`CameraError` (rather than ending as if played)."""
        if self._cap is None:
            raise CameraError(f"{self.name} is not open")
        ok, frame = self._cap.read()
        if not ok and self.finite and self.loop:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = self._cap.read()
        if not ok:
            if self.finite and not self._delivered:
                raise CameraError(
                    f"video file {self.target} gave no frame OpenCV can decode: re-encode it, or {SOURCE_FIX}"
                )
            return None
        self._delivered += 1
        return np.asarray(frame, dtype=np.uint8)

    def close(self) -> None:
        """Release the capture."""
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class ImageFolderSource:
    """Every image of a folder in name order (optionally looping): replays and tests."""

    def __init__(self, folder: Path, *, loop: bool = False, fps: float = 5.0) -> None:
        self.folder = folder
        self.loop = loop
        self.finite = True
        self.fps_hint: float | None = fps
        self.name = f"folder:{folder}"
        self._files: list[Path] = []
        self._next = 0
        self._delivered = 0
        self._warned: set[Path] = set()

    def open(self) -> None:
        """List the images; a missing or empty folder raises :class:`CameraSourceMissingError`."""
        if not self.folder.is_dir():
            raise CameraSourceMissingError(f"image folder {self.folder} does not exist: {SOURCE_FIX}")
        self._files = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self._files:
            raise CameraSourceMissingError(
                f"image folder {self.folder} has no .jpg/.png images ({', '.join(sorted(IMAGE_SUFFIXES))}): "
                f"{SOURCE_FIX}"
            )
        self._next = 0
        self._delivered = 0

    def read(self) -> Frame | None:
        """The next image, skipping unreadable files (each logged once). Tries each file at most once per
        call: when none of them can be read (broken files, the folder removed) it raises
        :class:`CameraError` instead of spinning."""
        skipped: list[Path] = []
        for _ in range(len(self._files)):
            if self._next >= len(self._files):
                if not self.loop:
                    break
                self._next = 0
            path = self._files[self._next]
            self._next += 1
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is not None:
                self._delivered += 1
                self._warn(skipped)
                return np.asarray(image, dtype=np.uint8)
            skipped.append(path)
        if self._delivered and (not self.loop or len(skipped) < len(self._files)):
            self._warn(skipped)
            return None
        raise CameraError(
            f"no readable image in {self.folder}: {len(skipped)} of {len(self._files)} files could not be "
            f"decoded (broken files, or the folder was removed); {SOURCE_FIX}"
        )

    def _warn(self, skipped: list[Path]) -> None:
        for path in skipped:
            if path not in self._warned:
                self._warned.add(path)
                log.warning("unreadable image skipped: %s", path.name)

    def close(self) -> None:
        """Nothing to release."""


class Picamera2Source:
    """The Raspberry Pi camera through picamera2, imported only when this source is opened."""

    def __init__(self, width: int = 640, height: int = 480) -> None:
        self.name = "picamera2"
        self.finite = False
        self.fps_hint: float | None = None
        self._size = (width, height)
        self._cam: Any = None

    def open(self) -> None:
        """Start the camera."""
        try:
            module = importlib.import_module("picamera2")
        except ImportError as exc:
            raise CameraError("picamera2 is not installed: sudo apt install python3-picamera2") from exc
        try:
            cam = module.Picamera2()
            config = cam.create_video_configuration(main={"size": self._size, "format": "RGB888"})
            cam.configure(config)
            cam.start()
        except Exception as exc:
            raise CameraError(f"picamera2 failed to start: {exc}") from exc
        self._cam = cam

    def read(self) -> Frame | None:
        """The next frame (picamera2's RGB888 is BGR in memory, as OpenCV wants)."""
        if self._cam is None:
            raise CameraError("picamera2 is not open")
        try:
            return np.asarray(self._cam.capture_array("main"), dtype=np.uint8)
        except Exception as exc:
            raise CameraError(f"picamera2 read failed: {exc}") from exc

    def close(self) -> None:
        """Stop the camera."""
        if self._cam is not None:
            try:
                self._cam.close()
            finally:
                self._cam = None


def make_source(config: CameraConfig) -> FrameSource:
    """The source that ``camera.source`` names: an index, a device path, a folder, a file, or 'picamera2'.
    A path that does not exist is a video file when it has a suffix (``clip.mp4``), else a folder."""
    spec = config.source
    if spec == "picamera2":
        return Picamera2Source(config.width, config.height)
    if spec.isdigit():
        return OpenCVSource(int(spec), config.width, config.height, config.fps)
    if spec.startswith("/dev/"):
        return OpenCVSource(spec, config.width, config.height, config.fps)
    path = Path(spec)
    if path.is_dir() or (not path.exists() and not path.suffix):  # a missing path without a suffix: a folder
        return ImageFolderSource(path, loop=config.loop)
    return OpenCVSource(str(path), loop=config.loop)


@dataclass(frozen=True)
class CapturedFrame:
    """A frame and when it was captured (the clock's monotonic time)."""

    t: float
    index: int
    image: Frame


#: The camera's hand-over queue: newest wins (see :class:`DropOldestQueue`).
LatestFrames = DropOldestQueue[CapturedFrame]


class Backoff:
    """Exponential backoff: ``initial``, doubling, at most ``maximum``; :meth:`reset` after a success."""

    def __init__(self, initial: float, maximum: float) -> None:
        self.initial, self.maximum = initial, maximum
        self._next = initial

    def next(self) -> float:
        """The wait before the next try."""
        wait, self._next = self._next, min(self._next * 2, self.maximum)
        return wait

    def reset(self) -> None:
        """Back to the initial wait."""
        self._next = self.initial


@dataclass
class CameraHealth:
    """What the capture thread reports; read from other threads (single writer, plain values)."""

    ok: bool = False
    finished: bool = False
    #: The source does not exist and never delivered a frame: the worker gave up (``finished`` is set too).
    missing: bool = False
    frames: int = 0
    failures: int = 0
    reconnects: int = 0
    last_frame_t: float | None = None
    last_error: str = ""

    def delivering(self, now: float, timeout_s: float) -> bool:
        """Up, and a frame came within ``timeout_s`` (a hung driver shows as down too)."""
        return self.ok and self.last_frame_t is not None and now - self.last_frame_t <= timeout_s


class CaptureWorker:
    """Reads a :class:`FrameSource` in its own thread into a :class:`LatestFrames` queue."""

    name = "camera"

    def __init__(
        self,
        source_factory: Callable[[], FrameSource],
        config: CameraConfig,
        clock: Clock,
        frames: LatestFrames,
        *,
        pace_files: bool = True,
    ) -> None:
        self._factory = source_factory
        self._config = config
        self._clock = clock
        self.frames = frames
        self.health = CameraHealth()
        self._pace = pace_files
        self._index = 0

    def run(self, stop: threading.Event) -> None:
        """Capture until ``stop`` (or a finite source ends); reconnect with backoff on failure."""
        backoff = Backoff(self._config.reconnect_initial_s, self._config.reconnect_max_s)
        while not stop.is_set() and not self.health.finished:
            source = self._factory()
            try:
                source.open()
            except CameraSourceMissingError as exc:
                if self.health.frames:  # it was there and delivered: it may come back (a remounted folder)
                    self._down(str(exc))
                    stop.wait(backoff.next())
                    continue
                log.error("camera source unusable, stopping: %s", exc)
                self.health.failures += 1
                self.health.last_error = str(exc)
                self.health.missing = self.health.finished = True
                break
            except CameraError as exc:
                self._down(str(exc))
                stop.wait(backoff.next())
                continue
            try:
                self._capture(source, stop, backoff)
            finally:
                source.close()
            if not stop.is_set() and not self.health.finished:
                stop.wait(backoff.next())
        self.health.ok = False

    def _capture(self, source: FrameSource, stop: threading.Event, backoff: Backoff) -> None:
        next_due = self._clock.monotonic()
        while not stop.is_set():
            try:
                image = source.read()
            except CameraError as exc:
                self._down(str(exc))
                return
            now = self._clock.monotonic()
            if image is None:
                if source.finite:
                    self.health.finished = True
                    log.info("camera source %s ended", source.name)
                else:
                    self._down(f"{source.name} returned no frame")
                return
            if not self.health.ok and self.health.failures:  # back only once a frame comes, not on open
                self.health.reconnects += 1
                log.info("camera %s is back", source.name)
            self.health.ok = True
            self.health.last_frame_t = now
            self.health.frames += 1
            backoff.reset()
            self.frames.put(CapturedFrame(now, self._index, image))
            self._index += 1
            if self._pace and source.finite and source.fps_hint:
                next_due = max(next_due + 1.0 / source.fps_hint, now - 1.0)
                delay = next_due - self._clock.monotonic()
                if delay > 0:
                    stop.wait(delay)

    def _down(self, reason: str) -> None:
        if self.health.ok or not self.health.failures:
            log.warning("camera down: %s", reason)
        self.health.ok = False
        self.health.failures += 1
        self.health.last_error = reason
