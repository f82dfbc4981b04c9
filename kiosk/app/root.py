"""The composition root: builds the kiosk's workers, starts them in order and stops them in reverse.

Data flows camera -> perception -> brain -> event writer -> sync (with ``[mqtt] enabled``). Consumers start
first and stop last:

    start: sync, event-writer, brain, perception, camera
    stop:  camera, perception, brain, event-writer, sync

so each one, when stopped, has already been left nothing new by its producer and drains what it holds:
the brain processes the snapshots left, ends every open visit and offer; then the writer stores every event
it accepted and hands it to the outbox; then the sync waits up to ``[outbox] drain_on_stop_s`` for the
broker to acknowledge the outbox and disconnects with status ``stopped``. Nothing accepted is lost on
SIGTERM or SIGINT.

Thread boundaries and their drop policies: camera -> perception,
:class:`~kiosk.perception.camera.LatestFrames`
(two frames, newest wins, drops counted as ``dropped_frames``); perception -> brain, a
:class:`~kiosk.queues.DropOldestQueue` of snapshots (newest wins, counted); touches, redemptions, staff
acknowledgements and the maintenance switch -> brain, an unbounded :class:`queue.Queue` (never dropped: they
are people's actions, at human rates); brain -> store, :class:`~kiosk.link.store.EventWriter`; store ->
outbox,
the writer's ``on_commit`` sink (in the writer thread, after each commit; see :mod:`kiosk.link.store`).
"""

from __future__ import annotations

import logging
import queue
import random
import threading
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from kiosk.app.summary import (
    RunSummary,
    ScreenSummary,
    decision_figures,
    percentile_ms,
)
from kiosk.app.watchdog import Heartbeat, SystemdWatchdog
from kiosk.app.workers import Supervisor, Worker
from kiosk.clock import Clock, SystemClock
from kiosk.config import KioskConfig
from kiosk.decisions.brain import Acknowledgement, External, KioskBrain
from kiosk.decisions.engagement import MaintenanceSwitch
from kiosk.decisions.offers import OfferEngine, ThompsonBandit
from kiosk.decisions.redemption import device_codes
from kiosk.errors import KioskError
from kiosk.link.store import EventWriter
from kiosk.perception.camera import CaptureWorker, FrameSource, LatestFrames, make_source
from kiosk.perception.types import Detection, Detector, ExpressionGated, Frame, Snapshot
from kiosk.queues import DropOldestQueue
from mqtt_bridge.contract.catalogue import Catalogue
from mqtt_bridge.contract.events import Health

if TYPE_CHECKING:
    from kiosk.app.renewal import RenewalWorker
    from kiosk.link.sync import SyncWorker
    from mqtt_bridge.commands import Handler

log = logging.getLogger(__name__)

SNAPSHOT_QUEUE = 32
#: After a renewal under systemd, the longest the kiosk waits for a quiet screen before it restarts anyway.
RESTART_WAIT_S = 3600.0
BANDIT_FILE = "bandit.json"


class NoDetector:
    """Sees nobody: the kiosk runs camera, screen and store without any model (presence off)."""

    def detect(self, frame: Frame) -> list[Detection]:
        """No faces."""
        return []


class PerceptionWorker:
    """Frames in, snapshots out, through the :class:`Detector`."""

    name = "perception"

    def __init__(
        self, detector: Detector, frames: LatestFrames, out: DropOldestQueue[Snapshot], clock: Clock
    ) -> None:
        self._detector = detector
        self._frames = frames
        self._out = out
        self._clock = clock
        self.processed = 0
        self.inference_s = 0.0
        #: Beats once a loop (at least every 0.1 s while alive): the watchdog's sign of life.
        self.heartbeat = Heartbeat(clock)

    def run(self, stop: threading.Event) -> None:
        """Detect on each frame until stopped."""
        while not stop.is_set():
            self.heartbeat.beat()
            captured = self._frames.get(0.1)
            if captured is None:
                continue
            started = self._clock.monotonic()
            detections = tuple(self._detector.detect(captured.image))
            self.inference_s += self._clock.monotonic() - started
            height, width = captured.image.shape[:2]
            self._out.put(Snapshot(captured.t, detections, width, height))
            self.processed += 1

    @property
    def inference_ms(self) -> float:
        """Mean detection time so far."""
        return 1000.0 * self.inference_s / self.processed if self.processed else 0.0


class BrainWorker:
    """Runs the :class:`KioskBrain`: snapshots, touches, timer ticks, camera changes, health events."""

    name = "brain"

    def __init__(
        self,
        brain: KioskBrain,
        config: KioskConfig,
        *,
        snapshots: DropOldestQueue[Snapshot],
        inbox: queue.Queue[External],
        camera_ok: Callable[[], bool],
        health: Callable[[], Health],
    ) -> None:
        self.brain = brain
        self._snapshots = snapshots
        self._inbox = inbox
        self._camera_ok = camera_ok
        self._health = health
        self._tick_s = 1.0 / config.runtime.tick_hz
        self._health_s = config.runtime.health_interval_s
        self.lock = threading.Lock()
        #: Beats once a loop (at least every tick while alive): the watchdog's sign of life.
        self.heartbeat = Heartbeat(brain.clock)
        self.decision_latency_s: deque[float] = deque(maxlen=10_000)
        #: Open while someone in view may have their expression read; the perception worker asks it.
        self.expression = threading.Event()
        if brain.expression_wanted():
            self.expression.set()

    def run(self, stop: threading.Event) -> None:
        """Until stopped; then drain what is left and close every visit."""
        clock = self.brain.clock
        next_tick = clock.monotonic()
        next_health = clock.monotonic() + self._health_s
        while not stop.is_set():
            self.heartbeat.beat()
            snapshot = self._snapshots.get(max(0.0, min(self._tick_s, next_tick - clock.monotonic())))
            with self.lock:
                if snapshot is not None:
                    decided = self.brain.stats.decisions
                    self.brain.on_snapshot(snapshot)
                    if self.brain.stats.decisions != decided:
                        # From the frame's capture to the decision it caused: queues, inference, brain.
                        self.decision_latency_s.append(clock.monotonic() - snapshot.t)
                self._take_inbox()
                if self.brain.expression_wanted():
                    self.expression.set()
                else:
                    self.expression.clear()
                now = clock.monotonic()
                if now >= next_tick:
                    next_tick = now + self._tick_s
                    self.brain.on_camera(self._camera_ok(), now)
                    self.brain.on_tick(now)
                if now >= next_health:
                    next_health = now + self._health_s
                    self.brain.emit(self._health())
        with self.lock:
            while (snapshot := self._snapshots.get(0)) is not None:
                self.brain.on_snapshot(snapshot)
            self._take_inbox()
            self.brain.finish(clock.monotonic())

    def _take_inbox(self) -> None:
        while True:
            try:
                command = self._inbox.get_nowait()
            except queue.Empty:
                return
            self.brain.on_external(command)


class KioskApp:
    """Everything the kiosk runs, wired once. ``detector`` is any :class:`Detector`."""

    def __init__(
        self,
        config: KioskConfig,
        detector: Detector,
        *,
        catalogue: Catalogue | None = None,
        image_base: Path | None = None,
        catalogue_version: int | None = None,
        source_factory: Callable[[], FrameSource] | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        pace_files: bool = True,
        sync: bool | None = None,
        command_handlers: Mapping[str, Handler] | None = None,
        renewal: RenewalWorker | None = None,
    ) -> None:
        """``image_base``: the folder the catalogue's pictures are relative to; ``catalogue_version``: the
        back office's release version of ``catalogue`` (None: a file). ``sync`` None: link to the
        back office when ``[mqtt] enabled``; ``command_handlers``: commands beyond ``staff_ack`` and
        ``maintenance`` (see :func:`kiosk.link.sync.build_device_sync`); ``renewal``: the worker that renews
        the identity's certificate (default: with ``[identity] dir`` and the link, one over the link)."""
        self.config = config
        self.clock = clock or SystemClock()
        rng = rng or random.SystemRandom()
        self._rng = rng
        self.catalogue = catalogue
        self.image_base = image_base
        self.sync: SyncWorker | None = None
        if config.mqtt.enabled if sync is None else sync:
            from kiosk.link.sync import SyncWorker, build_device_sync

            device_sync = build_device_sync(
                config,
                self,
                models=getattr(detector, "models", {}),
                offers=catalogue is not None,
                gauges=self._gauges,
                extra_handlers=command_handlers,
            )
            self.sync = SyncWorker(device_sync, config.outbox.drain_on_stop_s)
        self.writer = EventWriter(
            config.storage, self.clock, on_commit=self.sync.sync.add if self.sync is not None else None
        )
        self.frames: LatestFrames = LatestFrames(2)
        self.snapshots: DropOldestQueue[Snapshot] = DropOldestQueue(SNAPSHOT_QUEUE)
        self.inbox: queue.Queue[External] = queue.Queue()
        # Issued codes live in data_dir, so a code shown before a restart still rewards the bandit after it.
        self.codes = device_codes(config, self.clock, rng)
        self.engine = (
            OfferEngine(catalogue, config.offers, rng, self.codes, catalogue_version=catalogue_version)
            if catalogue is not None
            else None
        )
        self.bandit_path = config.offers.state_file or config.storage.data_dir / BANDIT_FILE
        self.brain = KioskBrain(config, self.clock, rng, self.writer.submit, self.engine)
        self.camera = CaptureWorker(
            source_factory or (lambda: make_source(config.camera)),
            config.camera,
            self.clock,
            self.frames,
            pace_files=pace_files,
        )
        self.perception = PerceptionWorker(detector, self.frames, self.snapshots, self.clock)
        self.brain_worker = BrainWorker(
            self.brain,
            config,
            snapshots=self.snapshots,
            inbox=self.inbox,
            camera_ok=self._camera_ok,
            health=self._health_event,
        )
        if isinstance(detector, ExpressionGated):
            detector.set_expression_gate(self.brain_worker.expression.is_set)
        self.supervisor = Supervisor(
            self.clock, config.runtime.restart_limit, config.runtime.restart_window_s
        )
        #: systemd's READY/WATCHDOG/STOPPING (a no-op outside systemd): pings only while these two beat.
        self.watchdog = SystemdWatchdog(
            {"perception": self.perception.heartbeat, "brain": self.brain_worker.heartbeat},
            stall_after_s=config.runtime.stall_after_s,
            fatal_reason=lambda: self.supervisor.fatal_reason,
        )
        if renewal is None and config.identity.dir is not None and self.sync is not None:
            from kiosk.app.renewal import attach_renewal
            from mqtt_bridge.identity import IdentityFolder

            renewal = attach_renewal(
                IdentityFolder(config.identity.dir),
                self.sync.sync,
                now=self.clock.now,
                renew_before_days=config.identity.renew_before_days,
                check_every_s=config.identity.renew_check_s,
            )
        self.renewal = renewal
        self._restart_asked_at: float | None = None
        self._started_at = 0.0
        self._stopped_at: float | None = None

    def _camera_ok(self) -> bool:
        # A finite source that ended is not a failure: the run stops and the brain finishes in order, after
        # the snapshots still queued (flushing here would end visits before their last frames).
        health = self.camera.health
        return health.finished or health.delivering(
            self.clock.monotonic(), self.config.camera.frame_timeout_s
        )

    def _health_event(self) -> Health:
        elapsed = max(1e-9, self.clock.monotonic() - self._started_at)
        return Health(
            ts=self.clock.now(),
            store_id=self.config.device.store_id,
            device_id=self.config.device.device_id,
            fps=round(self.perception.processed / elapsed, 2),
            inference_ms=round(self.perception.inference_ms, 3),
            dropped_frames=self.frames.dropped,
            camera_ok=self._camera_ok(),
            queue_depths={
                "frames": len(self.frames),
                "snapshots": len(self.snapshots),
                "events": self.writer.depth,
            },
        )

    def _gauges(self) -> dict[str, float]:
        """Health gauges for the ``metrics`` payload (the outbox adds its own depth and drops): the health
        event's figures and a few more."""
        health = self._health_event()
        return {
            "fps": health.fps,
            "inference_ms": health.inference_ms,
            "camera_ok": float(health.camera_ok),
            "dropped_frames": float(health.dropped_frames),
            "dropped_snapshots": float(self.snapshots.dropped),
            "events_dropped": float(sum(self.writer.dropped.values())),
            "events_queued": float(health.queue_depths["events"]),
            "open_staff_calls": float(self._open_calls()),
            **self._link_gauges(),
        }

    def _link_gauges(self) -> dict[str, float]:
        """The broker link's gauges (none without ``[mqtt]``): up now (1.0) or not, and losses so far."""
        if self.sync is None:
            return {}
        link = self.sync.status()
        return {"mqtt_connected": float(link.connected), "mqtt_disconnects": float(link.disconnects)}

    def _open_calls(self) -> int:
        with self.brain_worker.lock:
            return len(self.brain.calls.open_calls)

    def send(self, command: External) -> None:
        """A touch, redemption, staff acknowledgement or maintenance switch (from any thread)."""
        self.inbox.put(command)

    def acknowledge_staff(self, call_id: str) -> bool:
        """The back office acknowledged ``call_id`` (from any thread); False when no such call is open."""
        with self.brain_worker.lock:
            open_now = call_id in self.brain.calls.open_calls
        if open_now:
            self.send(Acknowledgement(call_id))
        return open_now

    def set_maintenance(self, on: bool) -> None:
        """Switch maintenance mode (from any thread)."""
        self.send(MaintenanceSwitch(self.clock.monotonic(), on))

    def install_catalogue(self, catalogue: Catalogue, image_base: Path, version: int | None = None) -> None:
        """Offer from ``catalogue`` (release ``version``) from the next choice on (from any thread:
        catalogue sync calls it once a release is installed); the screen takes it on its next frame."""
        with self.brain_worker.lock:
            if self.engine is None:
                self.engine = OfferEngine(
                    catalogue, self.config.offers, self._rng, self.codes, catalogue_version=version
                )
                self.engine.bandit.load(self.bandit_path)
                self.brain.engine = self.engine
            else:
                self.engine.replace_catalogue(catalogue, version)
            self.catalogue, self.image_base = catalogue, image_base
        log.info("catalogue in use: version %s, %d offers", version, len(catalogue.offers))

    def redeem(self, code: str) -> str | None:
        """A till redeemed ``code`` (from any thread: the back office's ``redeem`` command): the arm of the
        tap that issued it is rewarded once and ``offer_redeemed`` recorded, and the bandit's state is saved
        at once. Returns the arm rewarded ('' when the code's tap credited none), or None when this device
        does not hold the code or it was redeemed already."""
        with self.brain_worker.lock:
            found = self.brain.redeem(code)
            if found is None:
                return None
            if self.engine is not None:
                try:
                    self.engine.bandit.save(self.bandit_path)
                except KioskError as exc:  # the reward stays in memory and is saved at stop
                    log.error("bandit state not saved after a redemption: %s", exc)
        return ThompsonBandit.key(found.offer_id, found.bucket) if found.bucket else ""

    def start(self) -> None:
        """Load the bandit state and start the workers, consumers first."""
        if self.engine is not None:
            self.engine.bandit.load(self.bandit_path)
        self._started_at = self.clock.monotonic()
        workers: list[Worker] = [self.writer, self.brain_worker, self.perception, self.camera]
        if self.sync is not None:
            workers.insert(0, self.sync)
        if self.renewal is not None:
            workers.append(self.renewal)
        self.supervisor.start(workers)
        self.watchdog.start()

    def stop(self) -> list[str]:
        """Stop producers first, drain, save the bandit state. Returns workers that did not stop."""
        self.watchdog.stop()
        stuck = self.supervisor.stop()
        if self.sync is not None and "sync" not in stuck:
            self.sync.close()
        if self.engine is not None:
            self.engine.bandit.save(self.bandit_path)
        self._stopped_at = self.clock.monotonic()
        return stuck

    def restart_due(self) -> bool:
        """True when the kiosk should stop so that systemd starts it on its renewed identity: a renewal
        installed one, systemd runs the kiosk (it restarts it: ``Restart=always``), and the screen is quiet
        (attract, no open staff call) or has been busy for :data:`RESTART_WAIT_S` since the renewal."""
        renewal = self.renewal
        if renewal is None or not renewal.renewed.is_set() or not self.watchdog.under_systemd:
            return False
        if self._restart_asked_at is None:
            self._restart_asked_at = self.clock.monotonic()
        with self.brain_worker.lock:
            quiet = self.brain.screen.screen == "attract" and not self.brain.calls.open_calls
        return quiet or self.clock.monotonic() - self._restart_asked_at >= RESTART_WAIT_S

    def run(self, seconds: float | None, stop: threading.Event) -> RunSummary:
        """Start, run until ``seconds`` pass, ``stop`` is set, a finite source ends or a worker is lost for
        good; then stop and return the summary."""
        self.start()
        deadline = None if seconds is None else self.clock.monotonic() + seconds
        try:
            while not stop.is_set() and not self.supervisor.fatal.is_set():
                if deadline is not None and self.clock.monotonic() >= deadline:
                    break
                if self.camera.health.finished and not len(self.frames) and not len(self.snapshots):
                    log.info("camera source ended")
                    break
                if self.restart_due():
                    log.info("stopping so that systemd starts the kiosk on its renewed certificate")
                    break
                stop.wait(0.05)
        finally:
            self.stop()
        return self.summary()

    def _mqtt_connected(self) -> bool | None:
        """Whether the broker connection was up when the stop began (now, before the stop); None without."""
        if self.sync is None:
            return None
        at_stop = self.sync.connected_at_stop
        return self.sync.connected if at_stop is None else at_stop

    def summary(self, screen: ScreenSummary | None = None) -> RunSummary:
        """What the run did: the figures ``kiosk run --summary`` writes (``screen``: the render loop's)."""
        end = self._stopped_at if self._stopped_at is not None else self.clock.monotonic()
        elapsed = max(0.0, end - self._started_at)
        link = self.sync.status() if self.sync is not None else None
        source = self.config.camera.source
        return RunSummary(
            perception="clip" if Path(str(source)).is_file() else "camera",
            source=str(source),
            seconds=round(elapsed, 3),
            frames=self.camera.health.frames,
            frames_processed=self.perception.processed,
            fps=round(self.perception.processed / elapsed, 2) if elapsed > 0 else 0.0,
            inference_ms=round(self.perception.inference_ms, 3),
            dropped_frames=self.frames.dropped,
            dropped_snapshots=self.snapshots.dropped,
            **decision_figures(self.brain),
            decision_latency_ms_p50=percentile_ms(self.brain_worker.decision_latency_s, 50),
            decision_latency_ms_p95=percentile_ms(self.brain_worker.decision_latency_s, 95),
            events_recorded=self.writer.written,
            events_dropped=dict(self.writer.dropped),
            alerts_spilled=self.writer.spilled,
            events_handed_to_outbox=self.writer.synced if self.sync is not None else None,
            events_delivered=link.events_delivered if link is not None else None,
            outbox_depth=link.outbox_depth if link is not None else None,
            mqtt_connected=self._mqtt_connected(),
            mqtt_connects=link.connects if link is not None else None,
            mqtt_disconnects=link.disconnects if link is not None else None,
            mqtt_last_error=link.last_error if link is not None else None,
            camera_failures=self.camera.health.failures,
            camera_reconnects=self.camera.health.reconnects,
            worker_restarts=dict(self.supervisor.restarts),
            fatal=self.supervisor.fatal_reason or None,
            headless=screen is None or screen.headless,
            screen=screen,
        )
