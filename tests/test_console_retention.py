"""Chat retention on SQLite and PostgreSQL: transcripts (every message, the unanswered questions' texts
with them) are deleted after [retention] chat_transcript_days, conversation records after raw_days, the
chat's KPIs stay exactly as they were; a dry run deletes nothing; a late message of a deleted transcript is
not stored again; `backoffice retention --chat-days` on a real file."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import backoffice_fixture as fx
import pytest
from click.testing import CliRunner
from console_support import Script, hourly, send

from backoffice.chat import store as chat_store
from backoffice.chat.kpis import chat_kpis
from backoffice.cli import main
from backoffice.ingest import BackofficeStore, open_store
from backoffice.reports.models import Filters
from backoffice.retention import run_retention
from backoffice.settings import RetentionSettings

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
FILTERS = Filters(start=NOW - timedelta(days=120), end=NOW + timedelta(days=1))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def opened(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[BackofficeStore, fx.Clock]]:
    for url in fx.store_url(request.param, tmp_path):
        clock = fx.Clock(NOW)
        store = open_store(url, clock=clock)
        try:
            yield store, clock
        finally:
            store.close()


def _declined(store: BackofficeStore, clock: fx.Clock, at: datetime, text: str) -> Script:
    clock.now = at
    script = Script(ts=at)
    script.opened()
    question = script.shopper(text)
    script.bot(question, "decline")
    script.handoff("repeated_declines")
    script.ended("visit_ended")
    script.csat(3)
    send(store, script)
    return script


def _fill(store: BackofficeStore, clock: fx.Clock) -> tuple[Script, Script, Script]:
    very_old = _declined(store, clock, NOW - timedelta(days=95), "gift wrapping?")
    old = _declined(store, clock, NOW - timedelta(days=31), "do you repair bikes?")
    recent = _declined(store, clock, NOW - timedelta(days=29), "is there a cafe?")
    clock.now = NOW
    return very_old, old, recent


def test_transcripts_go_after_their_age_conversations_with_the_raw_data_and_the_kpis_stay(
    opened: tuple[BackofficeStore, fx.Clock],
) -> None:
    store, clock = opened
    db = store.db
    very_old, old, recent = _fill(store, clock)
    figures = hourly(db)
    report = chat_kpis(db, FILTERS, 1)
    assert [q.text for q in report.unanswered] == [
        "is there a cafe?",
        "do you repair bikes?",
        "gift wrapping?",
    ]

    settings = RetentionSettings()  # 90 days of raw data, 30 of transcripts
    dry = run_retention(db, NOW, settings, dry_run=True)
    assert (dry.chat_messages, dry.chat_conversations) == (2 * len(old.messages), 1)
    assert db.scalar("SELECT count(*) FROM chat_messages") == 3 * len(old.messages)

    result = run_retention(db, NOW, settings)
    assert result.chat_cutoff == NOW - timedelta(days=30)
    assert (result.chat_messages, result.chat_conversations) == (2 * len(old.messages), 1)
    assert chat_store.get_conversation(db, very_old.conversation_id) is None
    kept_old = chat_store.get_conversation(db, old.conversation_id)
    assert kept_old is not None and kept_old.transcript_deleted_at == NOW.timestamp()
    assert chat_store.transcript(db, old.conversation_id) == []
    assert len(chat_store.transcript(db, recent.conversation_id)) == len(recent.messages)
    # Every figure stays; the list of unanswered questions keeps only what the transcripts still hold.
    assert hourly(db) == figures
    after = chat_kpis(db, FILTERS, 1)
    assert after.total == report.total and after.by_day == report.by_day and after.reasons == report.reasons
    assert [q.text for q in after.unanswered] == ["is there a cafe?"]
    # A late copy of a deleted transcript's message is not stored again, nor counted.
    send(store, old, old.messages[1:2])
    assert chat_store.transcript(db, old.conversation_id) == [] and hourly(db) == figures
    assert store.counters()["chat_expired"] == 1
    # The run is recorded, with the chat's cut-off and counts.
    row = db.execute(
        "SELECT chat_cutoff, chat_messages, chat_conversations FROM retention_runs ORDER BY id DESC LIMIT 1"
    ).fetchone()
    assert row is not None and tuple(row) == (result.chat_cutoff.timestamp(), result.chat_messages, 1)


def test_a_transcript_age_longer_than_the_raw_datas_is_cut_to_it(
    opened: tuple[BackofficeStore, fx.Clock],
) -> None:
    store, clock = opened
    _fill(store, clock)
    result = run_retention(store.db, NOW, RetentionSettings(raw_days=20, chat_transcript_days=60))
    assert result.chat_cutoff == NOW - timedelta(days=20)
    assert store.db.scalar("SELECT count(*) FROM chat_messages") == 0
    assert store.db.scalar("SELECT count(*) FROM chat_conversations") == 0


def test_batches_smaller_than_the_work_delete_it_all(opened: tuple[BackofficeStore, fx.Clock]) -> None:
    store, clock = opened
    for day in range(40, 46):
        _declined(store, clock, NOW - timedelta(days=day), f"question {day}")
    clock.now = NOW
    result = run_retention(store.db, NOW, RetentionSettings(batch_rows=100))
    assert result.chat_messages == 6 * 6 and store.db.scalar("SELECT count(*) FROM chat_messages") == 0


def test_the_retention_command_takes_the_chats_age(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'backoffice.sqlite'}"
    clock = fx.Clock(NOW)
    store = open_store(url, clock=clock)
    try:
        now = datetime.now(UTC)
        _declined(store, clock, now - timedelta(days=10), "late opening?")
        _declined(store, clock, now - timedelta(days=2), "parking?")
    finally:
        store.close()
    runner = CliRunner()
    dry = runner.invoke(main, ["retention", "--db", url, "--chat-days", "7", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would delete 6 chat messages of transcripts older than" in dry.output
    done = runner.invoke(main, ["retention", "--db", url, "--chat-days", "7"])
    assert done.exit_code == 0 and "deleted 6 chat messages" in done.output
    assert "--chat-days" in runner.invoke(main, ["retention", "--help"]).output
