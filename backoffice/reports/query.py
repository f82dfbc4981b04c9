"""What every report does with the rollups: sum a table's columns over the filters, grouped, and put hours
into the display time zone's hours and days."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from backoffice.db import Database
from backoffice.reports.models import Filters
from backoffice.rollups import RollupTable

#: Sums of a group's columns, by column name.
Sums = dict[str, float]


def where(filters: Filters, *, device: tuple[str, str] | None = None) -> tuple[str, list[Any]]:
    """The WHERE clause (and its parameters) of a rollup query: hours in [start, end), the stores and
    devices asked (``device`` instead: that one device)."""
    clauses = ["hour >= ?", "hour < ?"]
    params: list[Any] = [filters.start.timestamp(), filters.end.timestamp()]
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
    (e.g. ``("hour",)``, ``("offer_id", "arm")``, or nothing: one group, the key ``()``)."""
    wanted = list(columns) if columns is not None else list(table.columns)
    selected = [f"max({c})" if c in table.maxes else f"sum({c})" for c in wanted]
    clause, params = where(filters, device=device)
    group_sql = f" GROUP BY {', '.join(group)}" if group else ""
    rows = db.query(
        f"SELECT {', '.join([*group, *selected])} FROM {table.name} WHERE {clause}{group_sql}",  # noqa: S608
        params,
    )
    out: dict[tuple[Any, ...], Sums] = {}
    for row in rows:
        key = tuple(row[: len(group)])
        values = row[len(group) :]
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
