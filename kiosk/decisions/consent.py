"""Consent for expression reading, per visit: a small, pure, thread-safe state the runtime queries.

``privacy.mode`` sets the rules:

* ``presence_only``: expressions are never read (the composition root does not even load the model); the
  screen shows no consent controls for expression.
* ``notice``: expressions are read anonymously while a camera notice is on screen; one tap on
  "don't analyse me" stops it for the rest of the visit.
* ``opt_in``: expressions are read only after the shopper taps "personalise for me", for that visit; one tap
  on "don't analyse me" withdraws it.

Every change is returned as a :class:`ConsentChange` for the runtime to record as a
:class:`~mqtt_bridge.contract.events.ConsentChanged` event (:func:`consent_event`). The state resets when the
visit ends.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from kiosk.config import DeviceConfig, PrivacyMode
from mqtt_bridge.contract.events import ConsentChanged

Choice = Literal["none", "opted_in", "opted_out"]


@dataclass(frozen=True)
class ConsentChange:
    """The shopper changed their choice for this visit (``visit_id`` None: nobody tracked yet)."""

    state: Literal["opted_in", "opted_out"]
    mode: PrivacyMode
    visit_id: str | None
    t: float


class ConsentState:
    """The consent of the visit in front of the screen. Safe to query from the brain's thread."""

    def __init__(self, mode: PrivacyMode) -> None:
        self.mode: PrivacyMode = mode
        self._lock = threading.Lock()
        self._choice: Choice = "none"
        self._visit_id: str | None = None

    @property
    def choice(self) -> Choice:
        """What the shopper chose this visit."""
        with self._lock:
            return self._choice

    def reads_expression(self, visit_id: str | None = None) -> bool:
        """May the kiosk read the expression of ``visit_id`` now?

        An opt-out covers everyone in view for the rest of the visit (the screen cannot tell who tapped).
        An opt-in covers the visit that was in front of the screen when it was given (any, if none was).
        """
        with self._lock:
            if self.mode == "presence_only" or self._choice == "opted_out":
                return False
            if self.mode == "notice":
                return True
            if self._choice != "opted_in":
                return False
            return self._visit_id is None or visit_id is None or visit_id == self._visit_id

    @property
    def offers_opt_in(self) -> bool:
        """Whether the screen shows "personalise for me"."""
        with self._lock:
            return self.mode == "opt_in" and self._choice == "none"

    @property
    def offers_opt_out(self) -> bool:
        """Whether the screen shows "don't analyse me" (there is something to stop)."""
        with self._lock:
            if self.mode == "presence_only" or self._choice == "opted_out":
                return False
            return self.mode == "notice" or self._choice == "opted_in"

    def opt_in(self, visit_id: str | None, t: float) -> ConsentChange | None:
        """The shopper tapped "personalise for me" (opt_in mode only). None when nothing changed."""
        with self._lock:
            if self.mode != "opt_in" or self._choice == "opted_in":
                return None
            self._choice, self._visit_id = "opted_in", visit_id
        return ConsentChange("opted_in", self.mode, visit_id, t)

    def opt_out(self, visit_id: str | None, t: float) -> ConsentChange | None:
        """The shopper tapped "don't analyse me". None when nothing changed (already out; presence_only)."""
        with self._lock:
            if self.mode == "presence_only" or self._choice == "opted_out":
                return None
            self._choice, self._visit_id = "opted_out", visit_id
        return ConsentChange("opted_out", self.mode, visit_id, t)

    def end_visit(self) -> None:
        """The visit is over: the next shopper starts with the mode's default."""
        with self._lock:
            self._choice, self._visit_id = "none", None


def consent_event(
    change: ConsentChange,
    device: DeviceConfig,
    ts: datetime,
    visit_ref: Callable[[str], str] | None = None,
) -> ConsentChanged:
    """The event to record for ``change``; ``visit_ref`` turns the ephemeral visit id into its keyed hash."""
    ref = visit_ref(change.visit_id) if visit_ref is not None and change.visit_id is not None else None
    return ConsentChanged(
        ts=ts,
        store_id=device.store_id,
        device_id=device.device_id,
        visit_ref=ref,
        state=change.state,
        mode=change.mode,
    )
