r"""The screen's two ports onto the one decision runtime, the :class:`~kiosk.decisions.brain.KioskBrain`.

:class:`AppPort` is the :class:`~kiosk.views.port.KioskPort` of a running
:class:`~kiosk.app.root.KioskApp`: reads take the brain worker's lock for a moment (the brain builds its
read model, :meth:`~kiosk.decisions.brain.KioskBrain.screen_state`); intents go through the app's inbox
(never dropped) and the brain turns them into events. :func:`run_screen` runs the render loop in the main
thread while the app's workers run in theirs.

:class:`InProcessBrain` steps a brain on the render thread instead, fed by a scripted perception feed
(:class:`~kiosk.perception.types.Snapshot`\ s of detections, as the perception worker makes them): the
scripted ``kiosk demo`` and the UI tests run the same brain a shop runs, without threads.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from kiosk.app.root import KioskApp
from kiosk.chat.inputs import OperatorEvent
from kiosk.chat.session import ChatAssistant, ChatSession
from kiosk.clock import Clock
from kiosk.config import KioskConfig, UiConfig
from kiosk.decisions.brain import Acknowledgement, Intent, KioskBrain
from kiosk.decisions.engagement import MaintenanceSwitch
from kiosk.decisions.offers import OfferEngine
from kiosk.perception.types import Snapshot
from kiosk.views.kiosk_ui import KioskUi
from kiosk.views.layout import Layout
from kiosk.views.port import RuntimeView
from kiosk.views.screen import ScreenView, UiAction
from mqtt_bridge.contract.catalogue import Catalogue
from mqtt_bridge.contract.chat import ChatMessageBase
from mqtt_bridge.contract.events import Event

if TYPE_CHECKING:
    from kiosk.ui.screen_app import ScreenStats


class AppPort:
    """What the screen reads from, and hands to, a :class:`KioskApp`."""

    def __init__(self, app: KioskApp) -> None:
        self.app = app
        self._lock = app.brain_worker.lock

    def runtime_view(self) -> RuntimeView:
        """The brain's read model and the catalogue in use, read under the brain's lock."""
        with self._lock:
            state = self.app.brain.screen_state()
            catalogue, image_base = self.app.catalogue, self.app.image_base
        if not state.camera_ok and self._camera_starting():
            state = replace(state, camera_ok=True)
        return RuntimeView(state, catalogue, image_base)

    def _camera_starting(self) -> bool:
        """No frame yet and no failure either: the camera is opening, not down."""
        health = self.app.camera.health
        return health.frames == 0 and health.failures == 0

    def send(self, intent: Intent) -> None:
        """Into the app's inbox; the brain worker takes it within a tick."""
        self.app.send(intent)


#: How many of the latest events an in-process brain keeps for whoever scripts it (a demo may run for days).
KEEP_EVENTS = 10_000


class InProcessBrain:
    """A :class:`KioskBrain` stepped on the render thread: the :class:`~kiosk.views.port.KioskPort` of the
    scripted demo and the UI tests, and the world's side (perception, camera, operator, back office) for
    whoever scripts it. Time comes from ``clock`` (a ``ManualClock`` in tests)."""

    def __init__(
        self,
        config: KioskConfig,
        clock: Clock,
        rng: random.Random,
        *,
        catalogue: Catalogue | None,
        image_base: Path | None = None,
        camera_ok: bool = True,
        assistant: ChatAssistant | None = None,
        operators_reachable: bool = False,
    ) -> None:
        """``assistant``: the FAQ assistant for the chat (``config.assistant`` gives its timings); its
        messages collect in :attr:`chat_messages`, where the link's outbox would take them."""
        self.clock = clock
        self.catalogue = catalogue
        self.image_base = image_base
        #: The latest events the brain emitted (the oldest go first).
        self.events: deque[Event] = deque(maxlen=KEEP_EVENTS)
        #: The latest chat messages the chat emitted (what the link would publish on ``chat``).
        self.chat_messages: deque[ChatMessageBase] = deque(maxlen=KEEP_EVENTS)
        engine = OfferEngine(catalogue, config.offers, rng) if catalogue is not None else None
        chat = None
        if assistant is not None:
            chat = ChatSession(
                config.assistant,
                assistant,
                clock,
                self.chat_messages.append,
                store_tz=ZoneInfo(config.device.timezone),
                operators_reachable=operators_reachable,
            )
        self.brain = KioskBrain(config, clock, rng, self.events.append, engine, chat=chat)
        self.brain.on_camera(camera_ok, clock.monotonic())

    # ---- the port --------------------------------------------------------------------------------

    def runtime_view(self) -> RuntimeView:
        """The brain's read model this frame (time passes first: timeouts fire)."""
        self.brain.on_tick(self.clock.monotonic())
        return RuntimeView(self.brain.screen_state(), self.catalogue, self.image_base)

    def send(self, intent: Intent) -> None:
        """A shopper's intent, straight to the brain."""
        self.brain.on_external(intent)

    # ---- the world -------------------------------------------------------------------------------

    def see(self, snapshot: Snapshot) -> None:
        """One frame's detections, as the perception worker hands them over."""
        self.brain.on_snapshot(snapshot)

    def camera(self, ok: bool) -> None:
        """The camera went down or came back."""
        self.brain.on_camera(ok, self.clock.monotonic())

    def maintenance(self, on: bool) -> None:
        """An operator's switch."""
        self.brain.on_external(MaintenanceSwitch(self.clock.monotonic(), on))

    def operator(self, event: OperatorEvent) -> None:
        """An operator's chat message (verified, or refused), as the link hands it over."""
        self.brain.on_external(event)

    def acknowledge_staff(self) -> bool:
        """The back office answers the oldest open staff call; False when none is open."""
        calls = self.brain.calls.open_calls
        if not calls:
            return False
        self.brain.on_external(Acknowledgement(calls[0]))
        return True


def screen_for_app(
    app: KioskApp,
    *,
    settings: UiConfig | None = None,
    rng: random.Random | None = None,
) -> KioskUi:
    """The screen's state for ``app``'s configuration (language, privacy, engagement timings, zone) and its
    catalogue (a newer one reaches the screen through :meth:`AppPort.runtime_view`)."""
    config = app.config
    zone = ZoneInfo(config.device.timezone)
    return KioskUi(
        privacy=config.privacy,
        engagement=config.engagement,
        rng=rng or random.SystemRandom(),
        catalogue=app.catalogue,
        image_base=app.image_base,
        zone=config.device.zone,
        language=config.ui.language,
        settings=settings or config.ui,
        local_time=lambda: datetime.now(zone).replace(tzinfo=None),
    )


def app_stopped(app: KioskApp) -> Callable[[], bool]:
    """A stop condition for the render loop: the app gave up (fatal), its finite source ended, or it should
    restart on a renewed identity (:meth:`KioskApp.restart_due`)."""

    def stopped() -> bool:
        ended = app.camera.health.finished and not len(app.frames)
        return app.supervisor.fatal.is_set() or ended or app.restart_due()

    return stopped


def run_screen(
    app: KioskApp,
    *,
    seconds: float | None = None,
    headless: bool = False,
    stop: Callable[[], bool] = lambda: False,
    settings: UiConfig | None = None,
    rng: random.Random | None = None,
    hook: Callable[[float, ScreenView, Layout], list[UiAction]] | None = None,
    screenshot_dir: Path | None = None,
) -> tuple[KioskUi, ScreenStats]:
    """Run ``app`` with its screen: the render loop in this thread (SDL wants the main one), the app's
    workers started once the first frame is up and stopped, in reverse, when the loop ends (``seconds``,
    ``stop()``, the window closed, a fatal worker or a finite source ending). ``kiosk run`` calls this
    unless ``--headless``; ``kiosk demo --camera`` too."""
    from kiosk.ui.screen_app import ScreenApp

    config = app.config
    port = AppPort(app)
    ui = screen_for_app(app, settings=settings, rng=rng)
    screen = ScreenApp(
        ui,
        port,
        size=(config.ui.width, config.ui.height),
        fullscreen=config.ui.fullscreen,
        headless=headless,
        fps=config.ui.fps,
        font_scale=config.ui.font_scale,
        hook=hook,
        screenshot_dir=screenshot_dir,
    )
    ended = app_stopped(app)
    try:
        stats = screen.run(seconds, stop=lambda: stop() or ended(), on_start=app.start)
    finally:
        app.stop()
    return ui, stats
