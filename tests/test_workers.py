"""The supervisor: start in order, stop in reverse, restart a crashed worker within a rate limit."""

from __future__ import annotations

import threading

from kiosk.app.workers import Supervisor
from kiosk.clock import ManualClock
from kiosk.queues import DropOldestQueue


class Recorder:
    def __init__(self, name: str, log: list[str], crashes: int = 0) -> None:
        self.name = name
        self.log = log
        self.crashes = crashes
        self.runs = 0

    def run(self, stop: threading.Event) -> None:
        self.runs += 1
        self.log.append(f"start {self.name}")
        if self.runs <= self.crashes:
            raise RuntimeError("boom")
        stop.wait()
        self.log.append(f"stop {self.name}")


def test_start_in_order_stop_in_reverse() -> None:
    log: list[str] = []
    sup = Supervisor(ManualClock(), restart_pause_s=0)
    workers = [Recorder(n, log) for n in ("writer", "brain", "camera")]
    sup.start(workers)
    sup.stop()
    starts = [e for e in log if e.startswith("start")]
    assert starts == ["start writer", "start brain", "start camera"]
    assert [e for e in log if e.startswith("stop")] == ["stop camera", "stop brain", "stop writer"]


def test_crashed_worker_is_restarted() -> None:
    log: list[str] = []
    sup = Supervisor(ManualClock(), restart_limit=3, restart_pause_s=0)
    flaky = Recorder("flaky", log, crashes=2)
    sup.start([flaky])
    while flaky.runs < 3:
        threading.Event().wait(0.01)
    assert sup.alive("flaky") and not sup.fatal.is_set()
    sup.stop()
    assert sup.restarts["flaky"] == 2


def test_crash_loop_beyond_the_limit_is_fatal() -> None:
    sup = Supervisor(ManualClock(), restart_limit=2, restart_window_s=60, restart_pause_s=0)
    sup.start([Recorder("doomed", [], crashes=100)])
    assert sup.fatal.wait(10)
    assert "doomed" in sup.fatal_reason and sup.restarts["doomed"] == 2
    sup.stop()


def test_restarts_outside_the_window_do_not_count() -> None:
    clock = ManualClock()
    sup = Supervisor(clock, restart_limit=1, restart_window_s=10, restart_pause_s=0)

    class Slow:
        name = "slow"
        runs = 0

        def run(self, stop: threading.Event) -> None:
            Slow.runs += 1
            if Slow.runs <= 4:
                clock.advance(30)  # each crash comes long after the previous one
                raise RuntimeError("boom")
            stop.wait()

    sup.start([Slow()])
    while Slow.runs < 5 and not sup.fatal.is_set():
        threading.Event().wait(0.01)
    assert not sup.fatal.is_set() and sup.restarts["slow"] == 4
    sup.stop()


def test_drop_oldest_queue() -> None:
    q: DropOldestQueue[int] = DropOldestQueue(3)
    for i in range(5):
        q.put(i)
    assert q.dropped == 2 and [q.get(0) for _ in range(4)] == [2, 3, 4, None]
