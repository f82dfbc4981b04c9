"""The kiosk's brain: tracker, audience meter, engagement machine, offers, consent and staff calls, wired
together.

:class:`KioskBrain` is single-threaded and deterministic (clock and random passed in): it takes snapshots,
ticks, camera changes and outside inputs (:data:`External`: the screen's intents, the till, the back office,
an operator), and hands every event it makes to ``emit``, the device-side aggregates among them (an offer's
``offer_ended`` with the attention and valence of the shopper it was shown to; a visit's frustration); the
screen reads it through :meth:`KioskBrain.screen_state`, a frozen :class:`ScreenState`. It is the kiosk's
one decision runtime: :mod:`kiosk.app.root` runs it in a worker thread, and ``kiosk demo --scripted`` and the
UI tests step it in-process (:class:`kiosk.app.screen_port.InProcessBrain`).
"""

from __future__ import annotations

import logging
import random
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal
from zoneinfo import ZoneInfo

from kiosk.clock import Clock
from kiosk.config import KioskConfig
from kiosk.decisions.audience import AudienceMeter, OfferExposure, VisitMetrics
from kiosk.decisions.consent import Choice as ConsentChoice
from kiosk.decisions.consent import Consents
from kiosk.decisions.engagement import (
    CallStaff,
    CameraChanged,
    ChooseOffer,
    Consent,
    Effect,
    EngagementMachine,
    Input,
    MaintenanceSwitch,
    OfferEnded,
    OfferReady,
    Primary,
    Record,
    Screen,
    Seen,
    ShowScreen,
    Tick,
    Touch,
)
from kiosk.decisions.offers import Choice, OfferContext, OfferEngine, ThompsonBandit
from kiosk.decisions.redemption import OpenCode
from kiosk.decisions.staff import NegativeValenceWatch, StaffCalls
from kiosk.decisions.tracker import Track, Tracker
from kiosk.decisions.visit_refs import VisitRefs
from kiosk.perception.types import Snapshot
from mqtt_bridge.contract.events import (
    ConsentChanged,
    Event,
    Feedback,
    OfferRedeemed,
    OfferShown,
    OfferTapped,
    VisitEnded,
    VisitStarted,
)
from mqtt_bridge.contract.events import OfferEnded as OfferEndedEvent
from mqtt_bridge.contract.events import ValenceMix as EventValenceMix
from mqtt_bridge.contract.redemption import qr_payload

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Redemption:
    """A till redeemed a code shown on the screen."""

    code: str


@dataclass(frozen=True)
class Acknowledgement:
    """The back office acknowledged a staff call."""

    call_id: str


@dataclass(frozen=True)
class NpsAnswer:
    """The shopper's answer (0-10) to the NPS question the screen asks after some CSAT answers."""

    t: float
    score: int


@dataclass(frozen=True)
class ShowCode:
    """The shopper asked to see the redemption code of the offer they tapped."""

    t: float


#: What the screen hands the brain: touches for the state machine (consent among them), NPS answers, and
#: the request to show the code. Events are the brain's to build, never the screen's.
Intent = Touch | NpsAnswer | ShowCode

#: Inputs from outside the kiosk's own loop: the screen, the till, the back office, an operator.
External = Touch | NpsAnswer | ShowCode | MaintenanceSwitch | Redemption | Acknowledgement


@dataclass(frozen=True)
class ScreenState:
    """What the screen may know of the brain, once a frame: a frozen, narrow read model."""

    screen: Screen = "attract"
    offer_id: str | None = None
    #: The camera delivers frames (the camera-active indicator shows; attract says "no camera" otherwise).
    camera_ok: bool = True
    #: Staff calls acknowledged so far (rises when the back office answers).
    staff_acks: int = 0
    #: What the shopper in front chose about expression reading, and which buttons to offer them.
    consent: ConsentChoice = "none"
    offers_opt_in: bool = False
    offers_opt_out: bool = False
    #: The tap issued a code the shopper may ask to see (the details screen offers "show code").
    code_ready: bool = False
    #: The redemption code on display, and the text of its QR code (None until asked for).
    code: str | None = None
    qr_payload: str | None = None


#: How many recent offer exposures the stats keep (the kiosk runs for weeks).
KEEP = 1000


@dataclass
class _OnScreen:
    """The offer on screen, as its ``offer_ended`` needs it beside the audience meter's exposure."""

    visit_ref: str | None
    arm: str | None
    catalogue_version: int | None = None
    tapped: bool = False


@dataclass
class BrainStats:
    """Counters for the run summary and health."""

    snapshots: int = 0
    visits: int = 0
    offers_shown: int = 0
    staff_calls: int = 0
    taps: int = 0
    consent_changes: int = 0
    #: The latest feedback answers, (csat | nps, score).
    feedback: deque[tuple[Literal["csat", "nps"], int]] = field(default_factory=lambda: deque(maxlen=KEEP))
    #: Decisions taken: visits started and state-machine effects carried out (for latency measurement).
    decisions: int = 0
    screens: Counter[str] = field(default_factory=Counter)
    exposures: deque[OfferExposure] = field(default_factory=lambda: deque(maxlen=KEEP))


class KioskBrain:
    """Deterministic core: feed it inputs, it emits events and keeps the screen state."""

    def __init__(
        self,
        config: KioskConfig,
        clock: Clock,
        rng: random.Random,
        emit: Callable[[Event], object],
        engine: OfferEngine | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.emit = emit
        self.engine = engine
        self.tz = ZoneInfo(config.device.timezone)
        self.tracker = Tracker(config.tracker, rng, self._reads_valence)
        self.consent = Consents(config.privacy.mode)
        self.refs = VisitRefs(clock, rng, self.tz)
        self._store = config.device.store_id
        self._device = config.device.device_id
        self.meter = AudienceMeter(config.audience)
        self.machine = EngagementMachine(config.engagement, clock.monotonic())
        self.staff_watch = NegativeValenceWatch(config.staff)
        self.calls = StaffCalls(clock, config.device)
        self.stats = BrainStats()
        self.screen: ShowScreen = ShowScreen("attract")
        self.stats.screens["attract"] += 1
        self.camera_ok = False  # until the first frame
        self._choice: Choice | None = None
        self._on_screen: _OnScreen | None = None
        self._primary: Track | None = None
        self._tap_code: str | None = None  # the code this session's tap issued
        self._code_shown = False  # the shopper asked to see it
        self._nps_for: tuple[str | None, str | None] | None = None  # (offer, visit ref) of the last CSAT
        #: The catalogue version each offer was last shown from (feedback about it names that version).
        self._shown_from: dict[str, int | None] = {}

    # ---- inputs ---------------------------------------------------------------------------------------

    def on_snapshot(self, snapshot: Snapshot) -> None:
        """One frame's detections."""
        self.stats.snapshots += 1
        update = self.tracker.update(snapshot)
        for track in update.started:
            self.stats.visits += 1
            self.stats.decisions += 1
            self.emit(
                VisitStarted(
                    ts=self.clock.now(),
                    store_id=self._store,
                    device_id=self._device,
                    visit_ref=self.refs.ref(track.visit_id),
                    distance_m=track.distance_m,
                    crowd_size=max(1, update.crowd_size),
                )
            )
        self._end_visits(self.meter.observe(update))
        for track in update.active:
            if track.seen_now and self.staff_watch.observe(update.t, track.visit_id, track.valence(update.t)):
                self._run([CallStaff("negative_valence", track.visit_id)])  # frustration is noted either way
        primary = (
            min(
                update.active,
                key=lambda tr: (tr.distance_m if tr.distance_m is not None else 99.0, -tr.box.area),
            )
            if update.active
            else None
        )
        self._primary = primary
        seen = Seen(
            update.t,
            update.crowd_size,
            Primary(
                primary.visit_id,
                primary.distance_m,
                primary.area_growth(update.t, self.config.engagement.approach_window_s),
                self.meter.attention_s(primary.visit_id),
                primary.valence(update.t),
            )
            if primary
            else None,
        )
        self._step(seen)

    def _reads_valence(self, visit_id: str) -> bool:
        """Privacy: whether this visit's expression may be read at all."""
        return self.consent.reads(visit_id)

    def expression_wanted(self) -> bool:
        """Privacy: whether anyone in view may have their expression read now (the perception gate).

        ``notice``: yes unless everyone in view declined (a newcomer is read by default); ``opt_in``: only
        while someone in view has consented; ``presence_only``: never.
        """
        return self.consent.wanted(track.visit_id for track in self.tracker.tracks)

    def screen_state(self) -> ScreenState:
        """The screen's read model: what shows, for which offer, and what the shopper in front may do."""
        shown, visit = self.screen, self._addressed()
        code = self._tap_code if self._code_shown else None
        return ScreenState(
            screen=shown.screen,
            offer_id=shown.offer_id or self.machine.ctx.offer_id,
            camera_ok=self.camera_ok,
            staff_acks=self.calls.acknowledged,
            consent=self.consent.choice(visit),
            offers_opt_in=self.consent.offers_opt_in(visit),
            offers_opt_out=self.consent.offers_opt_out(visit),
            code_ready=self._tap_code is not None,
            code=code,
            qr_payload=qr_payload(code) if code is not None else None,
        )

    def _addressed(self) -> str | None:
        """The visit the screen speaks to: the session's, else the nearest face."""
        return self.machine.ctx.visit_id or (self._primary.visit_id if self._primary else None)

    def on_tick(self, t: float) -> None:
        """Time passes."""
        self._step(Tick(t))

    def on_external(self, command: External) -> None:
        """A touch, a redemption, a staff acknowledgement or the maintenance switch, from outside."""
        match command:
            case Touch() | MaintenanceSwitch():
                self._step(command)
            case NpsAnswer():
                self._nps(command)
            case ShowCode():
                if self.machine.state == "interaction" and self._tap_code is not None:
                    self._code_shown = True
            case Redemption():
                self.redeem(command.code)
            case Acknowledgement():
                ack = self.calls.acknowledge(command.call_id)
                if ack is None:
                    log.warning("acknowledgement of an unknown or closed staff call ignored")
                    return
                self.emit(ack)

    def redeem(self, code: str) -> OpenCode | None:
        """A till redeemed ``code``: reward the arm of the tap that issued it, once, and record
        ``offer_redeemed`` with that arm. None (logged) for a code this device does not hold or that was
        redeemed already. The engine's code store survives restarts: a code shown before one still
        rewards, once."""
        found = self.engine.redeemed(code) if self.engine is not None else None
        if found is None:
            log.warning("redemption of an unknown or used code ignored")
            return None
        self.emit(
            OfferRedeemed(
                ts=self.clock.now(),
                store_id=self._store,
                device_id=self._device,
                offer_id=found.offer_id,
                code=found.code,
                arm=ThompsonBandit.key(found.offer_id, found.bucket) if found.bucket else None,
            )
        )
        return found

    @property
    def redemption_code(self) -> str | None:
        """The code the details screen shows after a tap (None before any tap)."""
        return self.engine.last_code() if self.engine is not None else None

    def on_camera(self, ok: bool, t: float) -> None:
        """The camera went down or came back. Down: every visit in view ends (nobody is seen any more)."""
        if ok == self.camera_ok:
            return
        self.camera_ok = ok
        if not ok:
            self._end_visits(self.meter.observe(self.tracker.flush(t)))
        self._step(CameraChanged(t, ok))

    def finish(self, t: float) -> None:
        """Shutting down: end every visit and the offer on screen, settle the bandit."""
        self._end_visits(self.meter.observe(self.tracker.flush(t)))
        self._end_offer(t)
        if self.engine is not None:
            self.engine.settle(tapped=False)

    # ---- effects --------------------------------------------------------------------------------------

    def _step(self, event: Input) -> None:
        self._run(self.machine.step(event))

    def _run(self, effects: list[Effect]) -> None:
        pending = list(effects)
        while pending:
            effect = pending.pop(0)
            pending.extend(self._apply(effect))

    def _apply(self, effect: Effect) -> list[Effect]:
        t = self.clock.monotonic()
        self.stats.decisions += 1
        match effect:
            case ShowScreen():
                self.screen = effect
                self.stats.screens[effect.screen] += 1
                if effect.screen != "details":  # the code shows on the details screen only, once asked
                    self._tap_code, self._code_shown = None, False
            case ChooseOffer():
                return self.machine.step(self._choose(effect.visit_id, t))
            case Record(kind="offer_shown"):
                self._offer_shown(effect, t)
            case Record(kind="offer_tapped"):
                if self.engine is not None:
                    self.engine.settle(tapped=True)
                    self._tap_code = self.redemption_code
                self.stats.taps += 1
                if self._on_screen is not None:
                    self._on_screen.tapped = True
                self.emit(
                    OfferTapped(
                        ts=self.clock.now(),
                        store_id=self._store,
                        device_id=self._device,
                        offer_id=effect.offer_id or "",
                        visit_ref=self._ref(effect),
                        arm=self._on_screen.arm if self._on_screen is not None else None,
                    )
                )
            case Record(kind="feedback"):
                self._nps_for = (effect.offer_id, self._ref(effect))
                self.stats.feedback.append(("csat", effect.score or 0))
                self.emit(
                    Feedback(
                        ts=self.clock.now(),
                        store_id=self._store,
                        device_id=self._device,
                        kind="csat",
                        score=effect.score or 0,
                        offer_id=effect.offer_id,
                        visit_ref=self._ref(effect),
                        catalogue_version=self._version_of(effect.offer_id),
                    )
                )
            case CallStaff():
                self.stats.staff_calls += 1
                self._call_staff(effect)
            case Consent():
                self._consent(effect)
            case OfferEnded():
                self._end_offer(t)
                if self.engine is not None:
                    self.engine.settle(tapped=False)
        return []

    def _choose(self, visit_id: str | None, t: float) -> OfferReady:
        if self.engine is None:
            return OfferReady(t, None)
        track = next((tr for tr in self.tracker.tracks if tr.visit_id == visit_id), None)
        ctx = OfferContext(
            now_local=self.clock.now().astimezone(self.tz).replace(tzinfo=None),
            valence=track.valence(t) if track else None,
            dwell_s=track.dwell_s if track else 0.0,
            crowd_size=max(1, sum(1 for tr in self.tracker.tracks if tr.confirmed)),
            attention_s=self.meter.attention_s(track.visit_id) if track else 0.0,
            zone=self.config.device.zone,
        )
        self._choice = self.engine.choose(ctx)
        return OfferReady(t, self._choice.offer_id, self._choice.help)

    def _offer_shown(self, effect: Record, t: float) -> None:
        choice = self._choice
        if effect.offer_id is None or choice is None:
            return
        self._end_offer(t)  # the machine ends an offer before the next; should one still be up, it ends here
        self.stats.offers_shown += 1
        self.meter.start_offer(effect.offer_id, t, effect.visit_id)
        if effect.visit_id is not None:
            self.staff_watch.offer_shown(effect.visit_id, effect.offer_id)
        version = self.engine.catalogue_version if self.engine is not None else None
        self._on_screen = _OnScreen(visit_ref=self._ref(effect), arm=choice.arm, catalogue_version=version)
        self._shown_from[effect.offer_id] = version
        track = self._primary
        self.emit(
            OfferShown(
                ts=self.clock.now(),
                store_id=self._store,
                device_id=self._device,
                offer_id=effect.offer_id,
                visit_ref=self._on_screen.visit_ref,
                reason=choice.reason,
                language=self.config.ui.language,
                valence=track.valence(t) if track and track.visit_id == effect.visit_id else None,
                arm=choice.arm,
                catalogue_version=version,
            )
        )

    def _end_offer(self, t: float) -> None:
        """The offer on screen, if any, left it: its exposure for the stats and its ``offer_ended``.

        Every way off the screen comes here: the machine's ``OfferEnded`` effect (a timeout, a dismissal,
        the audience lost, also after the camera went down, the shopper done or calling staff,
        maintenance), the next offer, and :meth:`finish`. A catalogue swap does not end it
        (:meth:`OfferEngine.replace_catalogue` keeps the offer on screen)."""
        exposure, on_screen = self.meter.end_offer(t), self._on_screen
        self._on_screen = None
        if exposure is None or on_screen is None:
            return
        self.stats.exposures.append(exposure)
        self.emit(
            OfferEndedEvent(
                ts=self.clock.now(),
                store_id=self._store,
                device_id=self._device,
                offer_id=exposure.offer_id,
                visit_ref=on_screen.visit_ref,
                arm=on_screen.arm,
                catalogue_version=on_screen.catalogue_version,
                shown_s=exposure.seconds,
                attention_s=exposure.attention_s,
                attended=exposure.attended,
                tapped=on_screen.tapped,
                valence_before=EventValenceMix(**exposure.valence_before.as_dict()),
                valence_during=EventValenceMix(**exposure.valence_during.as_dict()),
            )
        )

    def _call_staff(self, effect: CallStaff) -> None:
        """A ``StaffCall`` for the visit it concerns (the shopper's request: the one the screen speaks to)
        and the offer of the session on screen, else the offer last shown to that visit."""
        visit_id = effect.visit_id or self._addressed()
        offer_id = self.machine.ctx.offer_id
        if offer_id is None and visit_id is not None:
            offer_id = self.staff_watch.last_offer(visit_id)
        visit_ref = self._visit_ref(visit_id)
        self.emit(self.calls.raise_call(effect.reason, visit_ref=visit_ref, offer_id=offer_id))

    def _nps(self, answer: NpsAnswer) -> None:
        """A ``Feedback`` of kind 'nps', joined to the visit and offer of the CSAT answer before it (the
        screen asks NPS only after one)."""
        if not 0 <= answer.score <= 10:
            log.warning("an NPS answer of %d ignored: scores run from 0 to 10", answer.score)
            return
        if self._nps_for is not None:
            offer_id, visit_ref = self._nps_for
        else:  # no CSAT answer before it: the session on screen, if any
            addressed = self._addressed()
            offer_id = self.machine.ctx.offer_id
            visit_ref = self._visit_ref(addressed)
        self.stats.feedback.append(("nps", answer.score))
        self.emit(
            Feedback(
                ts=self.clock.now(),
                store_id=self._store,
                device_id=self._device,
                kind="nps",
                score=answer.score,
                offer_id=offer_id,
                visit_ref=visit_ref,
                catalogue_version=self._version_of(offer_id),
            )
        )

    def _consent(self, effect: Consent) -> None:
        """An opt-in covers the visit addressed; an opt-out everyone in view (the screen cannot tell who
        tapped). Each visit whose choice changed gets its own ``ConsentChanged``."""
        addressed = effect.visit_id or (self._primary.visit_id if self._primary else None)
        if effect.opted_in:
            covered = [addressed] if addressed is not None else []
        else:
            in_view = [track.visit_id for track in self.tracker.tracks]
            covered = ([addressed] if addressed is not None and addressed not in in_view else []) + in_view
        for visit_id in covered:
            changed = self.consent.opt_in(visit_id) if effect.opted_in else self.consent.opt_out(visit_id)
            if not changed:
                continue
            self.stats.consent_changes += 1
            self.emit(
                ConsentChanged(
                    ts=self.clock.now(),
                    store_id=self._store,
                    device_id=self._device,
                    visit_ref=self._visit_ref(visit_id),
                    state="opted_in" if effect.opted_in else "opted_out",
                    mode=self.config.privacy.mode,
                )
            )

    def _end_visits(self, ended: list[VisitMetrics]) -> None:
        for metrics in ended:
            frustration = self.staff_watch.frustration(metrics.visit_id)
            self.emit(
                VisitEnded(
                    ts=self.clock.now(),
                    store_id=self._store,
                    device_id=self._device,
                    visit_ref=self.refs.ref(metrics.visit_id),
                    dwell_s=metrics.dwell_s,
                    attention_s=metrics.attention_s,
                    watcher=metrics.watcher,
                    glance=metrics.glance,
                    valence=EventValenceMix(**metrics.valence.as_dict()),
                    frustrated=frustration is not None,
                    frustrated_after=frustration.after if frustration is not None else None,
                )
            )
            self.refs.release(metrics.visit_id)
            self.consent.forget(metrics.visit_id)
            self.staff_watch.forget(metrics.visit_id)

    def _version_of(self, offer_id: str | None) -> int | None:
        """The catalogue version ``offer_id`` was last shown from (None: unknown, or a file catalogue)."""
        return self._shown_from.get(offer_id) if offer_id is not None else None

    def _ref(self, effect: Record) -> str | None:
        return self._visit_ref(effect.visit_id)

    def _visit_ref(self, visit_id: str | None) -> str | None:
        """The ``visit_ref`` of a visit. Only a visit in view is remembered (until it ends); one that ended
        already (a session outlives its shopper by the grace times), or a face not yet confirmed as a visit,
        gets the same ref without its id being kept."""
        if visit_id is None:
            return None
        if any(track.visit_id == visit_id and track.confirmed for track in self.tracker.tracks):
            return self.refs.ref(visit_id)
        return self.refs.peek(visit_id)
