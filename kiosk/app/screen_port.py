"""The screen on the composition root: :class:`AppPort` is the :class:`~kiosk.views.port.KioskPort` of a
running :class:`~kiosk.app.root.KioskApp`, and :func:`run_screen` runs the render loop in the main thread
while
the app's workers run in theirs.

Reads take the brain worker's lock for a moment (a few attribute reads); touches go through the app's inbox
(never dropped); an NPS answer becomes a ``Feedback`` event handed to the event writer (thread-safe).
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from kiosk.app.root import KioskApp
from kiosk.config import UiConfig
from kiosk.decisions.consent import ConsentState
from kiosk.decisions.engagement import Touch
from kiosk.decisions.redemption import Redemption, RedemptionCodes
from kiosk.views.kiosk_ui import KioskUi
from kiosk.views.layout import Layout
from kiosk.views.port import NpsAnswer, RuntimeView
from kiosk.views.screen import ScreenView, UiAction
from mqtt_bridge.contract.events import Feedback

if TYPE_CHECKING:
    from kiosk.ui.screen_app import ScreenStats


class AppPort:
    """What the screen reads from, and hands to, a :class:`KioskApp`."""

    def __init__(self, app: KioskApp, codes: RedemptionCodes | None = None) -> None:
        self.app = app
        self._lock = app.brain_worker.lock
        self._codes = codes or RedemptionCodes(secrets.token_bytes(32), random.SystemRandom())

    def runtime_view(self) -> RuntimeView:
        """The brain's screen, visit, camera and acknowledged staff calls, read under its lock."""
        brain = self.app.brain
        with self._lock:
            shown, ctx = brain.screen, brain.machine.ctx
            return RuntimeView(
                screen=shown.screen,
                offer_id=shown.offer_id or ctx.offer_id,
                visit_id=ctx.visit_id,
                camera_ok=brain.camera_ok or self._camera_starting(),
                # Acknowledged so far: raised minus still open (response_times is bounded, this never is).
                staff_acks=brain.calls.raised - len(brain.calls.open_calls),
                catalogue=self.app.catalogue,
                image_base=self.app.image_base,
            )

    def _camera_starting(self) -> bool:
        """No frame yet and no failure either: the camera is opening, not down."""
        health = self.app.camera.health
        return health.frames == 0 and health.failures == 0

    def touch(self, touch: Touch) -> None:
        """Into the app's inbox."""
        self.app.send(touch)

    def nps_answered(self, answer: NpsAnswer) -> None:
        """A ``Feedback`` event of kind 'nps' for the event writer."""
        brain = self.app.brain
        with self._lock:
            ref = brain.refs.ref(answer.visit_id) if answer.visit_id is not None else None
        self.app.writer.submit(
            Feedback(
                ts=brain.clock.now(),
                store_id=self.app.config.device.store_id,
                device_id=self.app.config.device.device_id,
                kind="nps",
                score=answer.score,
                offer_id=answer.offer_id,
                visit_ref=ref,
            )
        )

    def redemption(self, offer_id: str) -> Redemption:
        """The code the offer engine issued for the tap (the till redeems it through the inbox), else a
        fresh HMAC code from :mod:`kiosk.decisions.redemption`."""
        with self._lock:
            code = self.app.brain.redemption_code
        return Redemption(offer_id, code) if code is not None else self._codes.issue(offer_id)


def screen_for_app(
    app: KioskApp,
    port: AppPort,
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
        consent=ConsentState(config.privacy.mode),
        rng=rng or random.SystemRandom(),
        catalogue=app.catalogue,
        image_base=app.image_base,
        zone=config.device.zone,
        language=config.ui.language,
        settings=settings or config.ui,
        redemption=port.redemption,
        local_time=lambda: datetime.now(zone).replace(tzinfo=None),
    )


def app_stopped(app: KioskApp) -> Callable[[], bool]:
    """A stop condition for the render loop: the app gave up (fatal) or its finite source ended."""

    def stopped() -> bool:
        return app.supervisor.fatal.is_set() or (app.camera.health.finished and not len(app.frames))

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
    ui = screen_for_app(app, port, settings=settings, rng=rng)
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
