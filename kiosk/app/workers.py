"""Worker threads and their supervisor.

A worker is anything with a ``name`` and ``run(stop)``: it works until its ``stop`` event is set, then
finishes what it holds and returns. Raising is a crash. :class:`Supervisor` starts workers in order, each in
its own thread with its own stop event, restarts a crashed one (with a pause) at most ``restart_limit``
times within ``restart_window_s``, past which it gives up and sets :attr:`Supervisor.fatal`; and
:meth:`Supervisor.stop` stops them in reverse order, waiting for each, so that consumers started first are
stopped last and drain what their producers left them.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, deque
from collections.abc import Sequence
from typing import Protocol

from kiosk.clock import Clock

log = logging.getLogger(__name__)


class Worker(Protocol):
    """A unit of work run in its own thread."""

    name: str

    def run(self, stop: threading.Event) -> None:
        """Work until ``stop`` is set; raising is a crash."""
        ...


class Supervisor:
    """Start in order, restart crashed workers within a rate limit, stop in reverse."""

    def __init__(
        self,
        clock: Clock,
        restart_limit: int = 5,
        restart_window_s: float = 60.0,
        restart_pause_s: float = 0.5,
    ) -> None:
        self._clock = clock
        self._limit = restart_limit
        self._window = restart_window_s
        self._pause = restart_pause_s
        self._running: list[tuple[Worker, threading.Thread, threading.Event]] = []
        self.restarts: Counter[str] = Counter()
        self.fatal = threading.Event()
        self.fatal_reason = ""

    def start(self, workers: Sequence[Worker]) -> None:
        """Start each worker, in the order given."""
        for worker in workers:
            stop = threading.Event()
            thread = threading.Thread(target=self._guard, args=(worker, stop), name=worker.name, daemon=True)
            self._running.append((worker, thread, stop))
            thread.start()
            log.info("started %s", worker.name)

    def _guard(self, worker: Worker, stop: threading.Event) -> None:
        crashes: deque[float] = deque()
        while True:
            try:
                worker.run(stop)
                return
            except Exception:
                log.exception("worker %s crashed", worker.name)
            now = self._clock.monotonic()
            crashes.append(now)
            while crashes and now - crashes[0] > self._window:
                crashes.popleft()
            if len(crashes) > self._limit:
                self.fatal_reason = (
                    f"worker {worker.name} crashed {len(crashes)} times in {self._window:g} s; giving up"
                )
                log.error("%s", self.fatal_reason)
                self.fatal.set()
                return
            self.restarts[worker.name] += 1
            if stop.wait(self._pause):
                return

    def alive(self, name: str) -> bool:
        """Whether the named worker's thread is running."""
        return any(w.name == name and t.is_alive() for w, t, _ in self._running)

    def stop(self, timeout_s: float = 30.0) -> list[str]:
        """Stop every worker in reverse start order; returns the names that did not stop in time."""
        stuck = []
        for worker, thread, stop in reversed(self._running):
            stop.set()
            thread.join(timeout_s)
            if thread.is_alive():
                log.error("worker %s did not stop within %.0f s", worker.name, timeout_s)
                stuck.append(worker.name)
            else:
                log.info("stopped %s", worker.name)
        self._running.clear()
        return stuck
