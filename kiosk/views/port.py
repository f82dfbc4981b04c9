"""The seam between the screen and the kiosk's runtime: what the screen reads, and what it hands back.

The runtime (the composition root's brain worker, or the demo's scripted stand-in) implements
:class:`KioskPort`. The screen polls :meth:`KioskPort.runtime_view` once a frame; touches go back as the
state machine's :class:`~kiosk.decisions.engagement.Touch` inputs, consent choices as
:class:`~kiosk.decisions.consent.ConsentChange` (the runtime records a ``ConsentChanged`` event), and
redemption codes
come from the runtime, which knows the device's secret; NPS answers (the state machine asks CSAT only)
go back as :class:`NpsAnswer`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from kiosk.decisions.engagement import Screen, Touch
from kiosk.decisions.redemption import Redemption
from mqtt_bridge.contract.catalogue import Catalogue


@dataclass(frozen=True)
class RuntimeView:
    """What the runtime tells the screen, once a frame."""

    screen: Screen = "attract"
    offer_id: str | None = None
    visit_id: str | None = None
    camera_ok: bool = True  # the camera delivers frames (the camera-active indicator shows)
    staff_acks: int = 0  # staff calls acknowledged so far (rises when the back office answers)
    # The catalogue in use and the folder of its pictures, when the runtime has one (a new one arrives from
    # the back office); None: the screen keeps the one it was made with.
    catalogue: Catalogue | None = field(default=None, compare=False)
    image_base: Path | None = field(default=None, compare=False)


@dataclass(frozen=True)
class NpsAnswer:
    """A shopper's answer to the NPS question (0-10), which the screen asks outside the state machine."""

    score: int
    offer_id: str | None
    visit_id: str | None
    t: float


class KioskPort(Protocol):
    """The runtime as the screen sees it. Every method is called from the render thread."""

    def runtime_view(self) -> RuntimeView:
        """The current screen state (cheap; called every frame)."""
        ...

    def touch(self, touch: Touch) -> None:
        """A shopper's input for the state machine (queued, never dropped)."""
        ...

    def nps_answered(self, answer: NpsAnswer) -> None:
        """Record an NPS answer (a Feedback event of kind 'nps')."""
        ...

    def redemption(self, offer_id: str) -> Redemption:
        """A redemption code for the offer on screen."""
        ...
