"""An in-process runtime for the screen: the real engagement state machine and offer engine, stepped on
the render thread. It implements :class:`~kiosk.views.port.KioskPort` for ``kiosk demo`` and the UI tests;
on a device the composition root's brain worker plays this part.

It records what a run did (visits, offers shown, feedback, staff calls, consent changes) and nothing about
anyone: visit ids are the tracker's ephemeral ones, and no picture ever reaches it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from kiosk.config import KioskConfig
from kiosk.decisions.engagement import (
    CallStaff,
    CameraChanged,
    ChooseOffer,
    Consent,
    Effect,
    EngagementMachine,
    Input,
    MaintenanceSwitch,
    OfferReady,
    Record,
    Seen,
    ShowScreen,
    Tick,
    Touch,
)
from kiosk.decisions.offers import OfferContext, OfferEngine
from kiosk.decisions.redemption import Redemption, RedemptionCodes
from kiosk.views.port import NpsAnswer, RuntimeView
from mqtt_bridge.contract.catalogue import Catalogue


@dataclass
class RunRecord:
    """What happened, for summary.json and the tests."""

    visits: set[str] = field(default_factory=set)
    offers_shown: list[str] = field(default_factory=list)
    taps: int = 0
    feedback: list[tuple[str, int]] = field(default_factory=list)  # (csat|nps, score)
    staff_calls: list[str] = field(default_factory=list)  # reasons
    consent: list[Consent] = field(default_factory=list)
    codes: list[Redemption] = field(default_factory=list)
    screens: list[str] = field(default_factory=list)


class LocalRuntime:
    """The state machine and offer engine, driven by perception inputs, touches and ticks."""

    def __init__(
        self,
        config: KioskConfig,
        *,
        catalogue: Catalogue | None,
        rng: random.Random,
        clock: Callable[[], float],
        wall: Callable[[], datetime],
        codes: RedemptionCodes,
    ) -> None:
        self.config = config
        self.clock = clock
        self.wall = wall
        self.codes = codes
        self.machine = EngagementMachine(config.engagement, clock())
        self.engine = OfferEngine(catalogue, config.offers, rng) if catalogue is not None else None
        self.record = RunRecord()
        self._view = RuntimeView()
        self._seen: Seen | None = None

    # ---- the port --------------------------------------------------------------------------------

    def runtime_view(self) -> RuntimeView:
        """The machine's screen, this frame (ticks the machine first)."""
        self.step(Tick(self.clock()))
        return self._view

    def touch(self, touch: Touch) -> None:
        """A shopper's touch."""
        self.step(touch)

    def nps_answered(self, answer: NpsAnswer) -> None:
        """Recorded (a device runtime stores a Feedback event of kind 'nps')."""
        self.record.feedback.append(("nps", answer.score))

    def redemption(self, offer_id: str) -> Redemption:
        """A fresh code for the offer."""
        code = self.codes.issue(offer_id)
        self.record.codes.append(code)
        return code

    # ---- the world -------------------------------------------------------------------------------

    def see(self, seen: Seen) -> None:
        """One frame's perception."""
        self._seen = seen
        if seen.primary is not None:
            self.record.visits.add(seen.primary.visit_id)
        self.step(seen)

    def camera(self, ok: bool) -> None:
        """The camera went down or came back."""
        self._view = replace(self._view, camera_ok=ok)
        self.step(CameraChanged(self.clock(), ok))

    def maintenance(self, on: bool) -> None:
        """An operator's switch."""
        self.step(MaintenanceSwitch(self.clock(), on))

    def acknowledge_staff(self) -> None:
        """The back office answered the latest staff call."""
        self._view = replace(self._view, staff_acks=self._view.staff_acks + 1)

    def step(self, event: Input) -> None:
        """Apply one input and carry out its effects."""
        pending: list[Effect] = list(self.machine.step(event))
        while pending:
            pending.extend(self._apply(pending.pop(0)))
        v, ctx = self._view, self.machine.ctx
        if (v.offer_id, v.visit_id) != (ctx.offer_id, ctx.visit_id):
            self._view = replace(v, offer_id=ctx.offer_id, visit_id=ctx.visit_id)

    def _apply(self, effect: Effect) -> list[Effect]:
        if isinstance(effect, ShowScreen):
            ctx = self.machine.ctx
            self._view = replace(
                self._view, screen=effect.screen, offer_id=effect.offer_id, visit_id=ctx.visit_id
            )
            if effect.screen not in self.record.screens:
                self.record.screens.append(effect.screen)
        elif isinstance(effect, ChooseOffer):
            return self.machine.step(self._choose())
        elif isinstance(effect, Record):
            if effect.kind == "offer_shown" and effect.offer_id is not None:
                self.record.offers_shown.append(effect.offer_id)
            elif effect.kind == "offer_tapped":
                self.record.taps += 1
                if self.engine is not None:
                    self.engine.settle(tapped=True)
            elif effect.kind == "feedback" and effect.score is not None:
                self.record.feedback.append(("csat", effect.score))
        elif isinstance(effect, Consent):
            self.record.consent.append(effect)
        elif isinstance(effect, CallStaff):
            self.record.staff_calls.append(effect.reason)
        return []

    def _choose(self) -> OfferReady:
        t = self.clock()
        if self.engine is None:
            return OfferReady(t, None)
        seen = self._seen
        primary = seen.primary if seen is not None else None
        ctx = OfferContext(
            now_local=self.wall(),
            valence=primary.valence if primary is not None else None,
            dwell_s=primary.attention_s if primary is not None else 0.0,
            crowd_size=max(1, seen.faces if seen is not None else 1),
        )
        choice = self.engine.choose(ctx)
        return OfferReady(t, choice.offer_id, choice.help)
