"""Staff escalation: a shopper who stays frustrated, or who asks, gets a person.

:class:`NegativeValenceWatch` decides, per visit, when negative valence has lasted long enough (with
hysteresis: short non-negative spells do not reset it, a long one does). That makes the visit *frustrated*
(:class:`Frustration`, reported on ``visit_ended`` whether or not a call followed) and raises a call unless
calls are disabled or one was raised for the visit within ``repeat_after_s``. It also notes the offers shown
to each visit, so that a frustration names the offer it followed. :class:`StaffCalls` makes the
:class:`~mqtt_bridge.contract.events.StaffCall` events (store, device, zone, time, and the visit and offer it
concerns; never an image) and tracks their acknowledgement and response time.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

from kiosk.clock import Clock
from kiosk.config import DeviceConfig, StaffConfig
from kiosk.perception.types import Valence
from mqtt_bridge.contract.events import StaffCall, StaffCallAcknowledged

CallReason = Literal["negative_valence", "shopper_request"]


@dataclass(frozen=True)
class Frustration:
    """A visit's first sustained negative run: when it began, and the offer last shown to the visit before."""

    since: float
    after: str | None


@dataclass
class _Run:
    negative_since: float | None = None
    calm_since: float | None = None
    last_call: float | None = None
    last_offer: str | None = None  # the offer last shown to the visit
    offer_before: str | None = None  # the offer last shown to it before the current negative run began
    frustration: Frustration | None = None


class NegativeValenceWatch:
    """Per-visit sustained-negative detector with hysteresis and a repeat guard. Per-visit state lives while
    the visit does (:meth:`forget`)."""

    def __init__(self, config: StaffConfig) -> None:
        self._config = config
        self._runs: dict[str, _Run] = {}

    def observe(self, t: float, visit_id: str, valence: Valence | None) -> bool:
        """Take a visit's smoothed valence at ``t``; True exactly when a call should be raised now.

        Negative valence sustained for ``negative_enter_s`` makes the visit frustrated (:meth:`frustration`),
        also when calls are disabled or held back by ``repeat_after_s``. Unknown valence (None) neither
        resets a run nor raises a call: it is no evidence either way.
        """
        run = self._runs.setdefault(visit_id, _Run())
        if valence == "negative":
            run.calm_since = None
            if run.negative_since is None:
                run.negative_since, run.offer_before = t, run.last_offer
        elif valence is not None:
            if run.calm_since is None:
                run.calm_since = t
            if t - run.calm_since >= self._config.negative_exit_s:
                run.negative_since = None
        if valence != "negative" or run.negative_since is None:
            return False
        if t - run.negative_since < self._config.negative_enter_s:
            return False
        if run.frustration is None:
            run.frustration = Frustration(run.negative_since, run.offer_before)
        if not self._config.enabled:
            return False
        if run.last_call is not None and t - run.last_call < self._config.repeat_after_s:
            return False
        run.last_call = t
        return True

    def offer_shown(self, visit_id: str, offer_id: str) -> None:
        """An offer went on screen for ``visit_id`` (call it after :meth:`observe` of the same moment: an
        offer shown as a negative run begins does not precede it). A visit never observed, or forgotten
        (it ended), is ignored: nothing is kept for a visit no longer in view."""
        run = self._runs.get(visit_id)
        if run is not None:
            run.last_offer = offer_id

    def last_offer(self, visit_id: str) -> str | None:
        """The offer last shown to ``visit_id`` (None: none, or the visit is unknown)."""
        run = self._runs.get(visit_id)
        return run.last_offer if run else None

    def frustration(self, visit_id: str) -> Frustration | None:
        """The visit's frustration, once its negative valence has been sustained; None before."""
        run = self._runs.get(visit_id)
        return run.frustration if run else None

    def forget(self, visit_id: str) -> None:
        """The visit ended."""
        self._runs.pop(visit_id, None)


class StaffCalls:
    """Raise staff calls and track their acknowledgement (response time is a KPI)."""

    def __init__(self, clock: Clock, device: DeviceConfig) -> None:
        self._clock = clock
        self._device = device
        self._open: dict[str, float] = {}
        self.response_times: deque[float] = deque(maxlen=1000)  # the latest, for the KPI
        self.raised = 0

    def raise_call(
        self, reason: CallReason, visit_ref: str | None = None, offer_id: str | None = None
    ) -> StaffCall:
        """A new call for this device's zone, for the visit ``visit_ref`` and the offer ``offer_id`` when
        known: an alert event, never with an image."""
        call = StaffCall(
            ts=self._clock.now(),
            store_id=self._device.store_id,
            device_id=self._device.device_id,
            zone=self._device.zone,
            reason=reason,
            visit_ref=visit_ref,
            offer_id=offer_id,
        )
        self._open[call.call_id] = self._clock.monotonic()
        self.raised += 1
        return call

    def acknowledge(self, call_id: str) -> StaffCallAcknowledged | None:
        """The back office acknowledged ``call_id``; None when unknown or already acknowledged."""
        raised_at = self._open.pop(call_id, None)
        if raised_at is None:
            return None
        response = max(0.0, self._clock.monotonic() - raised_at)
        self.response_times.append(response)
        return StaffCallAcknowledged(
            ts=self._clock.now(),
            store_id=self._device.store_id,
            device_id=self._device.device_id,
            call_id=call_id,
            response_s=response,
        )

    @property
    def acknowledged(self) -> int:
        """Calls acknowledged so far: raised minus still open (``response_times`` is bounded, this is not)."""
        return self.raised - len(self._open)

    @property
    def open_calls(self) -> list[str]:
        """Ids of calls not yet acknowledged."""
        return list(self._open)

    def waiting_s(self, call_id: str) -> float | None:
        """How long an open call has waited."""
        raised_at = self._open.get(call_id)
        return None if raised_at is None else self._clock.monotonic() - raised_at
