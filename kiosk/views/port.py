"""The seam between the screen and the kiosk's runtime: what the screen reads, and what it hands back.

The runtime is always the brain (:class:`~kiosk.decisions.brain.KioskBrain`): on a device behind the
composition root's worker (:class:`kiosk.app.screen_port.AppPort`), in the scripted demo and the UI tests
stepped in-process (:class:`kiosk.app.screen_port.InProcessBrain`). Both implement :class:`KioskPort`.

The screen polls :meth:`KioskPort.runtime_view` once a frame and gets a frozen :class:`RuntimeView`: the
brain's :class:`~kiosk.decisions.brain.ScreenState` (screen, offer, camera, staff acknowledgements, the
shopper's consent choice and the consent buttons to offer, the redemption code on display) and the
catalogue in use. It hands back intents (:data:`~kiosk.decisions.brain.Intent`: touches, consent and
feedback answers among them, NPS answers, the request to show the code); the brain turns them into events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from kiosk.decisions.brain import Intent, ScreenState
from mqtt_bridge.contract.catalogue import Catalogue


@dataclass(frozen=True)
class RuntimeView:
    """What the runtime tells the screen, once a frame."""

    state: ScreenState = field(default_factory=ScreenState)
    # The catalogue in use and the folder of its pictures, when the runtime has one (a new one arrives from
    # the back office); None: the screen keeps the one it was made with.
    catalogue: Catalogue | None = field(default=None, compare=False)
    image_base: Path | None = field(default=None, compare=False)


class KioskPort(Protocol):
    """The runtime as the screen sees it. Every method is called from the render thread."""

    def runtime_view(self) -> RuntimeView:
        """The current screen state (cheap; called every frame)."""
        ...

    def send(self, intent: Intent) -> None:
        """A shopper's intent for the brain (queued, never dropped)."""
        ...
