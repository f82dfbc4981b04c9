"""Proof of play: per offer and catalogue version, how often and how long it was shown, on which devices,
with its audience (watchers, attention, taps, CSAT), from an hourly rollup the ingest keeps.

``offer_play_hourly`` (component ``proof_of_play``) is keyed by store, device, hour (UTC epoch second of
its start, of the event's ``ts``), offer and ``catalogue_version`` (0: a catalogue read from a file, or an
event of schema 1, which has none), and maintained by the ingest in the same transaction as the events it
counts (:func:`apply` of :func:`event_deltas`, new events only, so a redelivery changes nothing):

- ``shown``, ``shown_to_visits``: ``offer_shown`` events, and those shown to a visit;
- ``ended``, ``shown_s``, ``attended``, ``attention_s``, ``tapped``: ``offer_ended`` events, their seconds
  on screen, those whose shopper watched (attention reached the watcher threshold while it showed), the
  shopper's seconds of attention while it showed, and those tapped;
- ``csat_n``, ``csat_score_sum``, ``csat_satisfied``: CSAT answers (1 to 5) about the offer, their sum and
  those of 4 or 5 (``feedback`` events name the offer and, in schema 2, its catalogue version).

:func:`report` sums it over a page's filters (never raw events). k-suppression follows the offers page:
audience figures (watchers, attention, taps, CSAT) are withheld as "< k" when the offer was shown to fewer
than k visits in that row; showings and seconds on screen are counts about the screen, not about people,
and are always shown. :func:`rebuild` recounts it from the raw events still stored.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from pydantic import ValidationError

from backoffice import rollups
from backoffice.db import Database, Migration
from backoffice.reports.models import Filters, Suppressed, Value, cell, ratio
from backoffice.reports.query import Sums, add_up, sums
from backoffice.rollups import Delta, RollupTable, hour_of
from mqtt_bridge.contract.events import EVENT_ADAPTER, Event, Feedback, OfferEnded, OfferShown

COMPONENT: Final = "proof_of_play"

PLAY = RollupTable(
    "offer_play_hourly",
    ("store_id", "device_id", "hour", "offer_id", "catalogue_version"),
    (
        "shown",
        "shown_to_visits",
        "ended",
        "shown_s",
        "attended",
        "attention_s",
        "tapped",
        "csat_n",
        "csat_score_sum",
        "csat_satisfied",
    ),
    integer_keys=("hour", "catalogue_version"),
)

#: The version of rows whose events name none.
NO_VERSION: Final = 0


#: The proof-of-play rollup's table (component ``proof_of_play``).
MIGRATIONS: Final[tuple[Migration, ...]] = (
    Migration("0001_offer_play_hourly", PLAY.create_sql("sqlite"), PLAY.create_sql("postgresql")),
)


def migrate(db: Database) -> list[str]:
    """Make the table; the first time, on a store that holds events already, count them (backfill)."""
    made = db.migrate(COMPONENT, MIGRATIONS)
    if made and db.table_exists("events") and db.scalar("SELECT event_id FROM events LIMIT 1") is not None:
        rebuild(db)
    return made


def event_deltas(events: Iterable[Event]) -> Delta:
    """What ``events`` add to ``offer_play_hourly``. Pure."""
    delta = Delta()
    for event in events:
        match event:
            case OfferShown():
                key = _key(event, event.offer_id, event.catalogue_version)
                delta.add(PLAY, key, shown=1, shown_to_visits=event.visit_ref is not None)
            case OfferEnded():
                delta.add(
                    PLAY,
                    _key(event, event.offer_id, event.catalogue_version),
                    ended=1,
                    shown_s=event.shown_s,
                    attended=event.attended,
                    attention_s=event.attention_s,
                    tapped=event.tapped,
                )
            case Feedback(kind="csat") if event.offer_id is not None and 1 <= event.score <= 5:
                delta.add(
                    PLAY,
                    _key(event, event.offer_id, event.catalogue_version),
                    csat_n=1,
                    csat_score_sum=event.score,
                    csat_satisfied=event.score >= 4,
                )
            case _:
                pass
    return delta


def _key(event: Event, offer_id: str, version: int | None) -> tuple[Any, ...]:
    return (event.store_id, event.device_id, hour_of(event.ts), offer_id, version or NO_VERSION)


def apply(db: Database, delta: Delta) -> None:
    """Add ``delta`` to the table (in the caller's transaction, or one of its own)."""
    rollups.apply(db, delta, tables=(PLAY,))


def record(db: Database, new_events: Iterable[Event]) -> None:
    """The ingest's hook: count the events new to the store."""
    apply(db, event_deltas(new_events))


def rebuild(db: Database, first_hour: int | None = None) -> int:
    """Recount the table from the raw events still stored (hours from ``first_hour`` on, else all);
    returns how many events were read."""
    kinds = ("offer_shown", "offer_ended", "feedback")
    placeholders = ", ".join("?" * len(kinds))
    with db.transaction():
        if first_hour is None:
            db.execute("DELETE FROM offer_play_hourly")
            since: list[Any] = []
            clause = ""
        else:
            db.execute("DELETE FROM offer_play_hourly WHERE hour >= ?", [first_hour])
            since = [datetime.fromtimestamp(first_hour, UTC)]
            clause = "AND ts >= ?"
        last, count = "", 0
        while True:
            rows = db.query(
                f"SELECT event_id, payload FROM events WHERE event_id > ? AND type IN ({placeholders}) "  # noqa: S608
                f"{clause} ORDER BY event_id LIMIT 5000",
                [last, *kinds, *since],
            )
            if not rows:
                return count
            events = []
            for row in rows:
                payload = row[1]
                try:
                    events.append(
                        EVENT_ADAPTER.validate_python(
                            json.loads(payload) if isinstance(payload, str) else payload
                        )
                    )
                except (ValueError, ValidationError):
                    continue
            apply(db, event_deltas(events))
            last, count = str(rows[-1][0]), count + len(rows)


# --- the report ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlayRow:
    """Proof of play of one offer and version (and, in the per-device table, one device)."""

    offer_id: str
    catalogue_version: int | None
    store_id: str | None
    device_id: str | None
    devices: int
    shown: int
    shown_s: float
    shown_s_mean: float | None
    shown_to_visits: Value | Suppressed
    watchers: Value | Suppressed
    watcher_rate: Value | Suppressed
    attention_s_mean: Value | Suppressed
    tapped: Value | Suppressed
    csat_n: Value | Suppressed
    csat_mean: Value | Suppressed
    csat_satisfied_share: Value | Suppressed


@dataclass(frozen=True)
class PlayDay:
    """One day's showings and seconds on screen, all offers."""

    day: datetime
    shown: int
    shown_s: float


@dataclass(frozen=True)
class PlayReport:
    """Proof of play over a page's filters."""

    k: int
    per_version: tuple[PlayRow, ...]
    per_device: tuple[PlayRow, ...]
    by_day: tuple[PlayDay, ...]


def _row(
    offer_id: str, version: int, where: tuple[str | None, str | None], *, devices: int, v: Sums, k: int
) -> PlayRow:
    population = int(v.get("shown_to_visits", 0))
    ended = v.get("ended", 0.0)

    def c(value: float | None) -> Value | Suppressed:
        return cell(value, population, k)

    return PlayRow(
        offer_id=offer_id,
        catalogue_version=version or None,
        store_id=where[0],
        device_id=where[1],
        devices=devices,
        shown=int(v.get("shown", 0)),
        shown_s=round(v.get("shown_s", 0.0), 3),
        shown_s_mean=ratio(v.get("shown_s", 0.0), ended),
        shown_to_visits=c(population),
        watchers=c(v.get("attended", 0.0)),
        watcher_rate=c(ratio(v.get("attended", 0.0), ended)),
        attention_s_mean=c(ratio(v.get("attention_s", 0.0), ended)),
        tapped=c(v.get("tapped", 0.0)),
        csat_n=c(v.get("csat_n", 0.0)),
        csat_mean=c(ratio(v.get("csat_score_sum", 0.0), v.get("csat_n", 0.0))),
        csat_satisfied_share=c(ratio(v.get("csat_satisfied", 0.0), v.get("csat_n", 0.0))),
    )


def report(db: Database, filters: Filters, k: int) -> PlayReport:
    """Proof of play per offer and version, per device, and by day, over ``filters``."""
    grouped = sums(db, PLAY, filters, ("offer_id", "catalogue_version", "store_id", "device_id"))
    per_version: dict[tuple[str, int], list[tuple[str, str, Sums]]] = defaultdict(list)
    for (offer_id, version, store, device), values in grouped.items():
        per_version[(str(offer_id), int(version))].append((str(store), str(device), values))
    version_rows = []
    device_rows = []
    for (offer_id, version), devices in sorted(per_version.items(), key=lambda kv: (kv[0][0], -kv[0][1])):
        shown_on = sum(1 for _, _, v in devices if v.get("shown", 0) or v.get("ended", 0))
        version_rows.append(
            _row(offer_id, version, (None, None), devices=shown_on, v=add_up(v for _, _, v in devices), k=k)
        )
        for store, device, values in sorted(devices):
            device_rows.append(_row(offer_id, version, (store, device), devices=1, v=values, k=k))
    days: dict[datetime, Sums] = {}
    for (hour,), values in sums(db, PLAY, filters, ("hour",), columns=("shown", "shown_s")).items():
        local = datetime.fromtimestamp(int(hour), UTC).astimezone(filters.zone)
        day = local.replace(hour=0, minute=0, second=0, microsecond=0)
        days[day] = add_up([days.get(day, {}), values])
    by_day = tuple(
        PlayDay(day, int(v.get("shown", 0)), round(v.get("shown_s", 0.0), 3))
        for day, v in sorted(days.items())
    )
    return PlayReport(k, tuple(version_rows), tuple(device_rows), by_day)
