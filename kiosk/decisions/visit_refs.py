"""``visit_ref``: the only name a visit has outside memory.

A keyed hash (HMAC-SHA256) of the tracker's ephemeral visit id under a salt that lives only in memory and
is replaced every local day. Events of one visit share a ref (an offer shown, then tapped); two visits
never do, and after the salt is gone nothing on disk leads back to a visit id, let alone to a person.
The salt comes from the injected :class:`random.Random` (a ``random.SystemRandom`` in production).
"""

from __future__ import annotations

import hashlib
import hmac
import random
from datetime import date, tzinfo

from kiosk.clock import Clock

REF_HEX_CHARS = 24


class VisitRefs:
    """Turn ephemeral visit ids into ``visit_ref`` values under a daily-rotating in-memory salt."""

    def __init__(self, clock: Clock, rng: random.Random, tz: tzinfo) -> None:
        self._clock = clock
        self._rng = rng
        self._tz = tz
        self._day: date | None = None
        self._salt = b""
        self._refs: dict[str, str] = {}
        self.rotations = 0

    def _current_salt(self) -> bytes:
        today = self._clock.now().astimezone(self._tz).date()
        if today != self._day:
            self._day = today
            self._salt = self._rng.randbytes(32)
            self.rotations += 1
        return self._salt

    def ref(self, visit_id: str) -> str:
        """The visit's ref. Stable while the visit lasts, even across midnight (it is remembered until
        :meth:`release`); a new visit after a rotation hashes under the new salt."""
        known = self.peek(visit_id)
        self._refs[visit_id] = known
        return known

    def peek(self, visit_id: str) -> str:
        """The visit's ref without remembering the visit: for one that already ended (released) or is not
        yet a visit, so that its id is not kept past its time in view. The same as :meth:`ref`'s within
        the local day."""
        salt = self._current_salt()  # first, so that yesterday's salt is gone as soon as the day changes
        known = self._refs.get(visit_id)
        return known or hmac.new(salt, visit_id.encode(), hashlib.sha256).hexdigest()[:REF_HEX_CHARS]

    def release(self, visit_id: str) -> None:
        """Forget a visit that ended: its ref can no longer be recomputed once the salt rotates."""
        self._refs.pop(visit_id, None)
