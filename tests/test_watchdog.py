"""The kiosk's systemd notifications and watchdog, received on a real Unix datagram socket (what systemd
listens on): READY=1 when the workers run, WATCHDOG=1 while they beat, none once perception hangs,
STOPPING=1 on the way out; and ``kiosk run`` as systemd starts it (``$NOTIFY_SOCKET``, ``$WATCHDOG_USEC``)."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from waiting import wait_for

from kiosk.app.root import KioskApp
from kiosk.app.sdnotify import notify, watchdog_interval_s
from kiosk.app.watchdog import Heartbeat, SystemdWatchdog, judge
from kiosk.clock import ManualClock, SystemClock
from kiosk.config import CameraConfig, KioskConfig, RuntimeConfig, StorageConfig
from kiosk.perception.types import Detection, Frame

KIOSK = Path(sys.executable).with_name("kiosk")


class NotifyListener:
    """systemd's side: a datagram socket collecting every message, each with its arrival time."""

    def __init__(self, address: str | bytes) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.settimeout(0.05)
        self.messages: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.messages.append((time.monotonic(), data.decode()))

    def lines(self) -> list[str]:
        return [line for _t, text in list(self.messages) for line in text.splitlines()]

    def times(self, line: str) -> list[float]:
        return [t for t, text in list(self.messages) if line in text.splitlines()]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[tuple[NotifyListener, str]]:
    # A short path: a Unix socket's address is limited to 107 bytes, which pytest's tmp_path can exceed.
    with tempfile.TemporaryDirectory(prefix="sdn-") as folder:
        path = str(Path(folder) / "notify")
        got = NotifyListener(path)
        try:
            yield got, path
        finally:
            got.close()


def test_notify_reaches_a_real_socket_and_is_a_no_op_without_one(
    listener: tuple[NotifyListener, str],
) -> None:
    got, path = listener
    assert notify("READY=1", {"NOTIFY_SOCKET": path})
    assert not notify("READY=1", {})
    assert not notify("READY=1", {"NOTIFY_SOCKET": path + "-gone"})  # systemd went away: no crash
    wait_for(lambda: got.lines() == ["READY=1"], "READY=1 on the socket", 2.0)


def test_notify_speaks_to_an_abstract_socket() -> None:
    name = f"vitrina-test-{os.getpid()}-{time.monotonic_ns()}"
    got = NotifyListener(b"\0" + name.encode())
    try:
        assert notify("WATCHDOG=1", {"NOTIFY_SOCKET": "@" + name})
        wait_for(lambda: got.lines() == ["WATCHDOG=1"], "WATCHDOG=1 on the abstract socket", 2.0)
    finally:
        got.close()


def test_watchdog_interval_follows_watchdog_usec_and_pid() -> None:
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000"}) == 30.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, pid=2) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "2"}, pid=2) == 30.0
    assert watchdog_interval_s({}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "0"}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "soon"}) is None


def test_judge_names_the_stuck_worker_and_a_fatal_supervisor() -> None:
    assert judge({"perception": 0.2, "brain": 0.1}, 5.0).healthy
    stuck = judge({"perception": 7.5, "brain": 0.1}, 5.0)
    assert not stuck.healthy
    assert "perception silent for 7.5 s" in stuck.reason
    fatal = judge({"perception": 0.1}, 5.0, "worker brain crashed 6 times in 60 s; giving up")
    assert not fatal.healthy
    assert "crashed" in fatal.reason


def test_watchdog_withholds_pings_while_a_heartbeat_is_stale(listener: tuple[NotifyListener, str]) -> None:
    got, path = listener
    clock = ManualClock()
    perception, brain = Heartbeat(clock), Heartbeat(clock)
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000"}
    dog = SystemdWatchdog({"perception": perception, "brain": brain}, stall_after_s=5.0, environ=env)
    assert dog.interval_s == 0.5
    assert dog.step()
    clock.advance(6.0)
    brain.beat()  # the brain goes on, perception is silent
    assert not dog.step()
    assert not dog.step()
    perception.beat()
    assert dog.step()
    wait_for(lambda: len(got.messages) >= 4, "four messages", 2.0)
    lines = got.lines()
    assert lines.count("WATCHDOG=1") == 2
    unhealthy = "STATUS=unhealthy: stuck worker: perception silent for 6.0 s"
    assert any(line.startswith(unhealthy) for line in lines)
    assert dog.pings == 2
    assert dog.withheld == 2


class HangingDetector:
    """Sees nobody; from ``hang_on`` calls on, blocks (a model stuck in the interpreter) until released."""

    def __init__(self, hang_on: int) -> None:
        self.calls = 0
        self.hang_on = hang_on
        self.release = threading.Event()
        self.hanging = threading.Event()

    def detect(self, frame: Frame) -> list[Detection]:
        self.calls += 1
        if self.calls >= self.hang_on:
            self.hanging.set()
            self.release.wait(30)
        return []


class EndlessCamera:
    name = "endless"
    finite = False
    fps_hint = None

    def open(self) -> None:
        pass

    def read(self) -> Frame | None:
        time.sleep(0.02)
        return np.zeros((48, 64, 3), np.uint8)

    def close(self) -> None:
        pass


def test_kiosk_pings_while_healthy_and_stops_when_perception_hangs(
    listener: tuple[NotifyListener, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    got, path = listener
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    monkeypatch.setenv("WATCHDOG_USEC", "200000")  # a ping every 0.1 s
    config = KioskConfig(
        storage=StorageConfig(data_dir=tmp_path / "data"),
        camera=CameraConfig(source="unused"),
        runtime=RuntimeConfig(stall_after_s=0.5),
    )
    detector = HangingDetector(hang_on=40)  # about 0.8 s of frames first
    app = KioskApp(config, detector, source_factory=EndlessCamera, clock=SystemClock(), sync=False)
    app.start()
    try:
        wait_for(lambda: "READY=1" in got.lines(), "READY=1", 3.0)
        assert detector.hanging.wait(10), "the detector never hung"
        hung_at = time.monotonic()
        pings_before = [t for t in got.times("WATCHDOG=1") if t <= hung_at]
        assert len(pings_before) >= 3, f"pings while healthy: {got.lines()}"
        time.sleep(1.5)  # three times stall_after_s
        # Pings may continue until perception has been silent for stall_after_s (0.5 s), never after.
        late = [t for t in got.times("WATCHDOG=1") if t > hung_at + 0.5 + 0.15]
        assert late == [], f"{len(late)} pings after perception hung"
        assert app.watchdog.withheld >= 5
        assert any("perception silent" in line for line in got.lines())
    finally:
        detector.release.set()
        app.stop()
    wait_for(lambda: "STOPPING=1" in got.lines(), "STOPPING=1", 2.0)
    assert got.lines().index("STOPPING=1") > got.lines().index("READY=1")


def test_kiosk_run_under_systemds_protocol(listener: tuple[NotifyListener, str], tmp_path: Path) -> None:
    """``kiosk run`` started as systemd starts a Type=notify service: READY=1, WATCHDOG=1 at half of
    WATCHDOG_USEC, and STOPPING=1 on SIGTERM, in that order."""
    got, path = listener
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"{i}.png"), np.full((48, 64, 3), 40 * i, np.uint8))
    config = tmp_path / "kiosk.toml"
    config.write_text(
        f'[storage]\ndata_dir = "{tmp_path / "data"}"\n[camera]\nsource = "{folder}"\nloop = true\n',
        encoding="utf-8",
    )
    env = {**os.environ, "NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000", "SDL_VIDEODRIVER": "dummy"}
    env.pop("WATCHDOG_PID", None)
    proc = subprocess.Popen(
        [str(KIOSK), "run", "--config", str(config), "--headless", "--detector", "none"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: got.lines().count("WATCHDOG=1") >= 3, "three WATCHDOG=1 from kiosk run", 20.0)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err.decode()
    lines = got.lines()
    assert lines[0] == "READY=1"
    assert lines.index("STOPPING=1") > max(i for i, line in enumerate(lines) if line == "WATCHDOG=1")
    pings = got.times("WATCHDOG=1")
    gaps = [b - a for a, b in itertools.pairwise(pings)]
    assert all(0.1 < gap < 0.6 for gap in gaps), gaps  # every 0.2 s, give or take a loaded machine
