"""The kiosk's systemd watchdog: ``READY=1`` once the workers run, ``WATCHDOG=1`` while they are healthy,
``STOPPING=1`` when the kiosk begins to stop (through :mod:`kiosk.app.sdnotify`).

Healthy means: every watched worker (perception and brain) showed a sign of life (:class:`Heartbeat`)
within ``[runtime] stall_after_s``, and the supervisor has not given up. A worker stuck in a model call or
behind a lock stops beating; the watchdog then withholds ``WATCHDOG=1``, and systemd, after ``WatchdogSec=``,
kills the kiosk and restarts it (``Restart=on-failure`` in deploy/systemd/vitrina-kiosk.service). The pings
come from a thread of their own, every ``interval_fraction`` of ``$WATCHDOG_USEC`` (half, as
sd_watchdog_enabled(3) recommends), so a slow frame never delays one; the watchdog itself never blocks the
frame loop. Without ``$NOTIFY_SOCKET`` (not under systemd) nothing is sent and no thread starts.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from kiosk.app.sdnotify import notify, watchdog_interval_s
from kiosk.clock import Clock

log = logging.getLogger(__name__)


class Heartbeat:
    """A worker's sign of life: the worker calls :meth:`beat` once a loop; anyone reads :meth:`age`.
    A single float written by one thread and read by others: no lock needed."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._last = clock.monotonic()

    def beat(self) -> None:
        """The worker is alive now."""
        self._last = self._clock.monotonic()

    def age(self) -> float:
        """Seconds since the last beat."""
        return self._clock.monotonic() - self._last


@dataclass(frozen=True)
class Verdict:
    """Whether the kiosk is healthy enough to tell systemd so, and if not, why (for a person)."""

    healthy: bool
    reason: str = ""


def judge(ages: Mapping[str, float], stall_after_s: float, fatal_reason: str = "") -> Verdict:
    """Healthy when nothing is fatal and every worker beat within ``stall_after_s`` (pure)."""
    if fatal_reason:
        return Verdict(False, fatal_reason)
    stalled = sorted((name, age) for name, age in ages.items() if age > stall_after_s)
    if stalled:
        listed = ", ".join(f"{name} silent for {age:.1f} s" for name, age in stalled)
        return Verdict(False, f"stuck worker: {listed} (limit {stall_after_s:g} s)")
    return Verdict(True)


class SystemdWatchdog:
    """Tells systemd the kiosk is ready, alive (while :func:`judge` says healthy) and stopping."""

    def __init__(
        self,
        heartbeats: Mapping[str, Heartbeat],
        *,
        stall_after_s: float,
        fatal_reason: Callable[[], str] = str,
        environ: Mapping[str, str] | None = None,
        interval_fraction: float = 0.5,
    ) -> None:
        self._heartbeats = dict(heartbeats)
        self._stall_after_s = stall_after_s
        self._fatal_reason = fatal_reason
        self._environ = environ
        timeout = watchdog_interval_s(environ)
        #: Seconds between pings; None when systemd set no watchdog.
        self.interval_s = timeout * interval_fraction if timeout is not None else None
        self.pings = 0
        self.withheld = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._unhealthy = False

    @property
    def under_systemd(self) -> bool:
        """systemd runs this process as a notify service (``$NOTIFY_SOCKET`` is set)."""
        env = os.environ if self._environ is None else self._environ
        return bool(env.get("NOTIFY_SOCKET"))

    def verdict(self) -> Verdict:
        """The kiosk's health now."""
        ages = {name: beat.age() for name, beat in self._heartbeats.items()}
        return judge(ages, self._stall_after_s, self._fatal_reason())

    def start(self) -> None:
        """Send ``READY=1`` and, when systemd set a watchdog, start pinging it."""
        notify("READY=1\nSTATUS=running", self._environ)
        if self.interval_s is None or self._thread is not None:
            return
        for heartbeat in self._heartbeats.values():  # the workers start now: time before this is no stall
            heartbeat.beat()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="watchdog", daemon=True)
        self._thread.start()
        log.info("systemd watchdog: pinging every %.1f s while the workers are healthy", self.interval_s)

    def _run(self) -> None:
        assert self.interval_s is not None
        while not self._stop.wait(self.interval_s):
            self.step()

    def step(self) -> bool:
        """One ping if healthy (logging each change between healthy and not); returns whether it pinged."""
        verdict = self.verdict()
        if not verdict.healthy:
            self.withheld += 1
            if not self._unhealthy:
                log.error("watchdog: %s; no longer telling systemd the kiosk is alive", verdict.reason)
                notify(f"STATUS=unhealthy: {verdict.reason}", self._environ)
            self._unhealthy = True
            return False
        if self._unhealthy:
            log.warning("watchdog: the workers are healthy again")
            notify("STATUS=running", self._environ)
            self._unhealthy = False
        notify("WATCHDOG=1", self._environ)
        self.pings += 1
        return True

    def stop(self) -> None:
        """Send ``STOPPING=1`` and stop pinging: systemd stops watching once it knows the kiosk is stopping,
        and the drain that follows may take longer than one watchdog interval."""
        notify("STOPPING=1", self._environ)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None
