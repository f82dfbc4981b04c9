"""Anonymisation by allowlist, before anything leaves the device.

Only fields named in :data:`EVENT_ALLOWLIST` for an event's ``type`` are kept: no image, crop, embedding or
stable person identifier can leave, even if a later event model grows one, because a field nobody listed
is dropped. ``visit_ref`` is re-hashed under a salt that rotates daily and lives only in memory
(:class:`DailySalt`), or unlinked; timestamps are floored to a bucket; distances and durations rounded;
aggregate counts below k suppressed.

Everything here is a pure function except :class:`DailySalt`, which holds the salt and takes its clock
and random generator from the caller.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import random
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime

from pydantic import JsonValue

from cloud_sync.settings import AnonymisationSettings
from mqtt_bridge.contract.allowlist import EVENT_ALLOWLIST, FORBIDDEN_KEYS, NESTED_ALLOWLIST
from mqtt_bridge.contract.events import Event


def coarsen_ts(ts: datetime, bucket_s: int) -> datetime:
    """Floor ``ts`` to a multiple of ``bucket_s`` seconds since the epoch, in UTC."""
    epoch = math.floor(ts.astimezone(UTC).timestamp())
    return datetime.fromtimestamp(epoch - epoch % bucket_s, UTC)


def rehash(value: str, salt: bytes) -> str:
    """Keyed hash (HMAC-SHA256, 128 bits, hex) of ``value`` under ``salt``."""
    return hmac.new(salt, value.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def round_to_step(value: float, step: float) -> float:
    """``value`` rounded to the nearest multiple of ``step``."""
    return round(round(value / step) * step, 6)


#: A field whose name ends so is a duration in seconds, rounded to ``duration_step_s`` (nested ones too).
DURATION_SUFFIX = "_s"


def round_durations(data: dict[str, JsonValue], step: float) -> dict[str, JsonValue]:
    """``data`` with every number under a key ending in :data:`DURATION_SUFFIX` rounded to ``step``
    seconds, inside the nested objects of :data:`NESTED_ALLOWLIST` too (unrounded durations, like exact
    times, can be matched against CCTV or till records)."""
    out: dict[str, JsonValue] = {}
    for key, value in data.items():
        if key.endswith(DURATION_SUFFIX) and isinstance(value, float | int) and not isinstance(value, bool):
            out[key] = round_to_step(float(value), step)
        elif key in NESTED_ALLOWLIST and isinstance(value, dict):
            out[key] = round_durations(value, step)
        else:
            out[key] = value
    return out


def suppress_small_counts(counts: Mapping[str, int], k: int) -> dict[str, int | None]:
    """Counts below ``k`` (but above zero) become ``None``: a group that small could single a person out."""
    return {name: (None if 0 < count < k else count) for name, count in counts.items()}


def anonymise_event(
    event: Event, settings: AnonymisationSettings, salt: bytes, rng: random.Random
) -> dict[str, JsonValue]:
    """The event as it may leave the device: allowlisted fields only, ``visit_ref`` re-hashed or unlinked,
    ``ts`` floored to the bucket, distances and durations rounded. Pure, given ``salt`` and ``rng``."""
    allowed = EVENT_ALLOWLIST[event.type]
    data = event.model_dump(mode="json")
    out: dict[str, JsonValue] = {}
    for key, value in data.items():
        if key not in allowed or key in FORBIDDEN_KEYS:
            continue
        if key in NESTED_ALLOWLIST and isinstance(value, dict):
            out[key] = {k: v for k, v in value.items() if k in NESTED_ALLOWLIST[key]}
        else:
            out[key] = value
    out["ts"] = coarsen_ts(event.ts, settings.ts_bucket_s).isoformat().replace("+00:00", "Z")
    ref = out.get("visit_ref")
    if isinstance(ref, str):
        if settings.visit_ref == "rehash":
            out["visit_ref"] = rehash(ref, salt)
        elif type(event).model_fields["visit_ref"].is_required():
            out["visit_ref"] = rng.randbytes(16).hex()
        else:
            del out["visit_ref"]
    distance = out.get("distance_m")
    if isinstance(distance, float | int) and not isinstance(distance, bool):
        out["distance_m"] = round_to_step(float(distance), settings.distance_step_m)
    return round_durations(out, settings.duration_step_s)


class DailySalt:
    """A salt that lives in memory only and changes when the UTC day changes.

    ``clock`` returns the current time; ``rng`` draws each new salt. The previous day's salt is forgotten.
    """

    def __init__(self, clock: Callable[[], datetime], rng: random.Random) -> None:
        self._clock = clock
        self._rng = rng
        self._day: date | None = None
        self._salt = b""

    def current(self) -> bytes:
        """Today's salt (a new one on the first call of each UTC day)."""
        today = self._clock().astimezone(UTC).date()
        if today != self._day:
            self._day = today
            self._salt = self._rng.randbytes(32)
        return self._salt


class Anonymiser:
    """Anonymises events with a :class:`DailySalt`; what the outbox calls before it stores an event."""

    def __init__(
        self, settings: AnonymisationSettings, clock: Callable[[], datetime], rng: random.Random
    ) -> None:
        self.settings = settings
        self._salt = DailySalt(clock, rng)
        self._rng = rng

    def __call__(self, event: Event) -> dict[str, JsonValue]:
        """The anonymised form of ``event``."""
        return anonymise_event(event, self.settings, self._salt.current(), self._rng)
