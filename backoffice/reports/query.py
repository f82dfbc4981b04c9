"""What every report does with the rollups: sum a table's columns over the filters, grouped, and put hours
into the display time zone's hours and days."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from backoffice.db import Database
from backoffice.reports.models import Filters
from backoffice.rollups import DAY_S, HOUR_S, TIERS, RollupTable

#: Sums of a group's columns, by column name.
Sums = dict[str, float]


def where(
    filters: Filters,
    *,
    device: tuple[str, str] | None = None,
    bounds: tuple[float, float] | None = None,
    time_key: str = "hour",
) -> tuple[str, list[Any]]:
    """The WHERE clause (and its parameters) of a rollup query: buckets (``time_key``) in [start, end)
    (``bounds`` instead: those epoch seconds), the stores and devices asked (``device`` instead: that one
    device)."""
    start, end = bounds if bounds is not None else (filters.start.timestamp(), filters.end.timestamp())
    clauses = [f"{time_key} >= ?", f"{time_key} < ?"]
    params: list[Any] = [start, end]
    if device is not None:
        clauses += ["store_id = ?", "device_id = ?"]
        params += list(device)
    else:
        if filters.stores:
            clauses.append(f"store_id IN ({', '.join('?' * len(filters.stores))})")
            params += filters.stores
        if filters.devices:
            clauses.append(f"device_id IN ({', '.join('?' * len(filters.devices))})")
            params += filters.devices
    return " AND ".join(clauses), params


#: One query of a plan: the table read and the [start, end) epoch seconds of its buckets.
Part = tuple[RollupTable, float, float]


def plan(
    table: RollupTable, filters: Filters, group: Sequence[str] = (), *, device: bool = False
) -> list[Part]:
    """Where the sums of ``table`` over ``filters`` are read (docs/backoffice-data.md, Tiers): the table
    itself when devices are named (``device``, ``filters.devices``) or grouped by; else its store tiers
    (:data:`backoffice.rollups.TIERS`): the whole UTC days of the range from a daily tier (unless grouped
    by hour) and the hours at its edges from an hourly tier, or from the table. The parts never overlap
    and cover exactly the hours in [start, end)."""
    start, end = filters.start.timestamp(), filters.end.timestamp()
    if device or filters.devices or "device_id" in group:
        return [(table, start, end)]
    tiers = [t for t in TIERS if t.source is table]
    hourly = next((t.table for t in tiers if t.span_s == HOUR_S), table)
    daily = next((t.table for t in tiers if t.span_s == DAY_S), None)
    first_day = math.ceil(start / DAY_S) * DAY_S
    last_day = math.floor(end / DAY_S) * DAY_S
    if daily is None or "hour" in group or first_day >= last_day:
        return [(hourly, start, end)]
    parts: list[Part] = [(daily, first_day, last_day)]
    if start < first_day:
        parts.append((hourly, start, first_day))
    if last_day < end:
        parts.append((hourly, last_day, end))
    return parts


def sums(
    db: Database,
    table: RollupTable,
    filters: Filters,
    group: Sequence[str] = (),
    *,
    columns: Sequence[str] | None = None,
    device: tuple[str, str] | None = None,
) -> dict[tuple[Any, ...], Sums]:
    """``table``'s columns summed (``maxes``: their maximum) over ``filters``, grouped by ``group``
    (e.g. ``("hour",)``, ``("offer_id", "arm")``, or nothing: one group, the key ``()``), read where
    :func:`plan` says (the same figures as the table itself: the tiers are its sums)."""
    wanted = list(columns) if columns is not None else list(table.columns)
    selected = [f"max({c})" if c in table.maxes else f"sum({c})" for c in wanted]
    maxes = [c in table.maxes for c in wanted]
    group_sql = f" GROUP BY {', '.join(group)}" if group else ""
    merged: dict[tuple[Any, ...], list[Any]] = {}
    for source, start, end in plan(table, filters, group, device=device is not None):
        clause, params = where(filters, device=device, bounds=(start, end), time_key=source.time_key)
        rows = db.query(
            f"SELECT {', '.join([*group, *selected])} FROM {source.name} WHERE {clause}{group_sql}",  # noqa: S608
            params,
        )
        for row in rows:
            key = tuple(row[: len(group)])
            values = list(row[len(group) :])
            known = merged.get(key)
            if known is None:
                merged[key] = values
                continue
            for i, value in enumerate(values):
                if value is None:
                    continue
                if known[i] is None:
                    known[i] = value
                else:
                    known[i] = max(known[i], value) if maxes[i] else known[i] + value
    out: dict[tuple[Any, ...], Sums] = {}
    for key, values in merged.items():
        if group or any(v is not None for v in values):
            out[key] = {c: (float(v) if v is not None else 0.0) for c, v in zip(wanted, values, strict=True)}
    return out


def add_up(groups: Iterable[Mapping[str, float]]) -> Sums:
    """Column-wise sum of several groups' sums."""
    total: Sums = defaultdict(float)
    for values in groups:
        for column, value in values.items():
            total[column] += value
    return dict(total)


def local_hour(hour: int, filters: Filters) -> datetime:
    """The start of an epoch hour in the display time zone."""
    return datetime.fromtimestamp(hour, UTC).astimezone(filters.zone)


def local_day(hour: int, filters: Filters) -> datetime:
    """The start (midnight) of the display time zone's day that holds the epoch hour ``hour``."""
    start = local_hour(hour, filters)
    return start.replace(hour=0, minute=0, second=0, microsecond=0)


def by_hour(per_hour: Mapping[int, Sums], filters: Filters) -> list[tuple[datetime, Sums]]:
    """Hours with data, oldest first, each as its start in the display time zone."""
    return [(local_hour(h, filters), per_hour[h]) for h in sorted(per_hour)]


def by_day(per_hour: Mapping[int, Sums], filters: Filters) -> list[tuple[datetime, Sums]]:
    """Days (of the display time zone) with data, oldest first: their hours' sums added up."""
    days: dict[datetime, list[Sums]] = defaultdict(list)
    for hour in sorted(per_hour):
        days[local_day(hour, filters)].append(per_hour[hour])
    return [(day, add_up(groups)) for day, groups in days.items()]


def per_hour(grouped: Mapping[tuple[Any, ...], Sums]) -> dict[int, Sums]:
    """Sums grouped by ``("hour",)`` keyed by the hour itself."""
    return {int(key[0]): values for key, values in grouped.items()}
