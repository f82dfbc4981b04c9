"""Retention (152-FZ art. 5 and GDPR art. 5(1)(e), storage limitation): raw data is kept no longer than
``RetentionSettings.raw_days`` (default 90 days); the hourly rollups that counted it stay.

Deleted: raw events whose ``ts`` is older than the cut-off, metrics payloads whose ``ts`` is, and
staff-call records raised before it; chat transcripts (issue #19) of conversations first heard of more than
``RetentionSettings.chat_transcript_days`` (default 30) ago, and the conversations' records (no text) with the
raw data (:mod:`backoffice.chat.store`). Kept: every rollup table (``*_hourly``), ``device_health`` (each
device's latest state), ``devices`` (retained status and birth) and ``ingest_counters``.

:func:`run_retention` is what the web server schedules and ``backoffice retention`` runs. It records the
cut-off first (``retention_runs``), then deletes in transactions of ``batch_rows`` rows, so the ingest is
never blocked for long; :func:`backoffice.rollups.rebuild` reads the recorded cut-off and never recounts
the hours whose raw events are gone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from backoffice.chat import store as chat_store
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
    # Issue #19: the chat's transcripts (their own, shorter age) and conversation records.
    Migration(
        "0002_chat",
        """ALTER TABLE retention_runs ADD COLUMN chat_cutoff REAL;
        ALTER TABLE retention_runs ADD COLUMN chat_messages INTEGER;
        ALTER TABLE retention_runs ADD COLUMN chat_conversations INTEGER""",
        """ALTER TABLE retention_runs ADD COLUMN chat_cutoff DOUBLE PRECISION;
        ALTER TABLE retention_runs ADD COLUMN chat_messages BIGINT;
        ALTER TABLE retention_runs ADD COLUMN chat_conversations BIGINT""",
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
    #: The chat: transcripts' cut-off, their messages deleted, and conversation records deleted.
    chat_cutoff: datetime | None = None
    chat_messages: int = 0
    chat_conversations: int = 0


def cutoff_for(now: datetime, settings: RetentionSettings) -> datetime:
    """The instant before which raw data is deleted at ``now``."""
    return as_utc(now) - timedelta(days=settings.raw_days)


def chat_cutoff_for(now: datetime, settings: RetentionSettings) -> datetime:
    """The instant before which chat transcripts are deleted at ``now`` (never later than raw data's)."""
    return as_utc(now) - timedelta(days=min(settings.chat_transcript_days, settings.raw_days))


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
    chat_cutoff = chat_cutoff_for(now, settings)
    counts: dict[str, int] = {}
    if dry_run:
        for table, (_key, column, epoch) in _TARGETS.items():
            bound = cutoff.timestamp() if epoch else cutoff
            counts[table] = int(db.scalar(f"SELECT count(*) FROM {table} WHERE {column} < ?", [bound]))  # noqa: S608
        return RetentionResult(
            cutoff,
            True,
            counts["events"],
            counts["metrics"],
            counts["staff_calls"],
            chat_cutoff,
            chat_store.delete_transcripts(db, chat_cutoff, now, settings.batch_rows, dry_run=True),
            chat_store.delete_conversations(db, cutoff, settings.batch_rows, dry_run=True),
        )
    run_id = db.execute(
        "INSERT INTO retention_runs (ran_at, cutoff, chat_cutoff) VALUES (?, ?, ?) RETURNING id",
        [as_utc(now).timestamp(), cutoff.timestamp(), chat_cutoff.timestamp()],
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
    chat_messages = chat_store.delete_transcripts(db, chat_cutoff, now, settings.batch_rows)
    chat_conversations = chat_store.delete_conversations(db, cutoff, settings.batch_rows)
    db.execute(
        "UPDATE retention_runs SET events = ?, metrics = ?, staff_calls = ?, chat_messages = ?, "
        "chat_conversations = ? WHERE id = ?",
        [
            counts["events"],
            counts["metrics"],
            counts["staff_calls"],
            chat_messages,
            chat_conversations,
            run_id,
        ],
    )
    return RetentionResult(
        cutoff,
        False,
        counts["events"],
        counts["metrics"],
        counts["staff_calls"],
        chat_cutoff,
        chat_messages,
        chat_conversations,
    )


def last_cutoff(db: Database) -> datetime | None:
    """The newest cut-off retention recorded, or None when it never ran on this store."""
    value = db.scalar("SELECT max(cutoff) FROM retention_runs")
    return None if value is None else datetime.fromtimestamp(float(value), UTC)
