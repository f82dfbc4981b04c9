"""Retention (152-FZ art. 5 and GDPR art. 5(1)(e), storage limitation): raw data is kept no longer than
``RetentionSettings.raw_days`` (default 90 days); the hourly rollups that counted it stay.

Deleted: raw events whose ``ts`` is older than the cut-off, metrics payloads whose ``ts`` is, and
staff-call records raised before it. Kept: every rollup table (``*_hourly``), ``device_health`` (each
device's latest state), ``devices`` (retained status and birth) and ``ingest_counters``.

:func:`run_retention` is what the web server schedules and ``backoffice retention`` runs. It records the
cut-off first (``retention_runs``), then deletes in transactions of ``batch_rows`` rows, so the ingest is
never blocked for long; :func:`backoffice.rollups.rebuild` reads the recorded cut-off and never recounts
the hours whose raw events are gone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from backoffice.db import Database, Migration, as_utc
from backoffice.settings import RetentionSettings

#: The record of each run (component ``retention``).
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "0001_retention_runs",
        """CREATE TABLE retention_runs (id INTEGER PRIMARY KEY, ran_at REAL NOT NULL, cutoff REAL NOT NULL,
            events INTEGER, metrics INTEGER, staff_calls INTEGER)""",
        """CREATE TABLE retention_runs (id BIGSERIAL PRIMARY KEY, ran_at DOUBLE PRECISION NOT NULL,
            cutoff DOUBLE PRECISION NOT NULL, events BIGINT, metrics BIGINT, staff_calls BIGINT)""",
    ),
)


@dataclass(frozen=True)
class RetentionResult:
    """What one run deleted (or, with ``dry_run``, would delete)."""

    cutoff: datetime
    dry_run: bool
    events: int
    metrics: int
    staff_calls: int


def cutoff_for(now: datetime, settings: RetentionSettings) -> datetime:
    """The instant before which raw data is deleted at ``now``."""
    return as_utc(now) - timedelta(days=settings.raw_days)


#: table -> (its key, the time column compared with the cut-off, whether that column holds epoch seconds)
_TARGETS = {
    "events": ("event_id", "ts", False),
    "metrics": ("id", "ts", False),
    "staff_calls": ("call_id", "raised_at", True),
}


def run_retention(
    db: Database, now: datetime, settings: RetentionSettings, *, dry_run: bool = False
) -> RetentionResult:
    """Delete raw data older than ``settings.raw_days`` before ``now`` (count it only, with ``dry_run``)."""
    cutoff = cutoff_for(now, settings)
    counts: dict[str, int] = {}
    if dry_run:
        for table, (_key, column, epoch) in _TARGETS.items():
            bound = cutoff.timestamp() if epoch else cutoff
            counts[table] = int(db.scalar(f"SELECT count(*) FROM {table} WHERE {column} < ?", [bound]))  # noqa: S608
        return RetentionResult(cutoff, True, counts["events"], counts["metrics"], counts["staff_calls"])
    run_id = db.execute(
        "INSERT INTO retention_runs (ran_at, cutoff) VALUES (?, ?) RETURNING id",
        [as_utc(now).timestamp(), cutoff.timestamp()],
    ).scalar()
    for table, (key, column, epoch) in _TARGETS.items():
        bound = cutoff.timestamp() if epoch else cutoff
        counts[table] = 0
        while True:
            deleted = db.execute(
                f"DELETE FROM {table} WHERE {key} IN "  # noqa: S608
                f"(SELECT {key} FROM {table} WHERE {column} < ? LIMIT {int(settings.batch_rows)})",
                [bound],
            ).rowcount
            counts[table] += deleted
            if deleted < settings.batch_rows:
                break
    db.execute(
        "UPDATE retention_runs SET events = ?, metrics = ?, staff_calls = ? WHERE id = ?",
        [counts["events"], counts["metrics"], counts["staff_calls"], run_id],
    )
    return RetentionResult(cutoff, False, counts["events"], counts["metrics"], counts["staff_calls"])


def last_cutoff(db: Database) -> datetime | None:
    """The newest cut-off retention recorded, or None when it never ran on this store."""
    value = db.scalar("SELECT max(cutoff) FROM retention_runs")
    return None if value is None else datetime.fromtimestamp(float(value), UTC)
