"""Retention, on SQLite and PostgreSQL: raw events, metrics payloads and staff-call records older than the
age are deleted (in batches), newer ones kept, the rollups untouched; a dry run counts and deletes nothing;
the cut-off is recorded first; `backoffice retention` and `backoffice rollups rebuild` on a real file."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import backoffice_fixture as fx
import pytest
from click.testing import CliRunner

from backoffice import rollups
from backoffice.cli import main
from backoffice.ingest import BackofficeStore, Parsed, open_store
from backoffice.retention import cutoff_for, last_cutoff, run_retention
from backoffice.settings import RetentionSettings
from mqtt_bridge.contract.events import Event, OfferShown, StaffCall, VisitEnded
from mqtt_bridge.contract.payloads import MetricsPayload

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def opened(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[BackofficeStore, fx.Clock]]:
    for url in fx.store_url(request.param, tmp_path):
        clock = fx.Clock(NOW)
        opened = open_store(url, clock=clock)
        try:
            yield opened, clock
        finally:
            opened.close()


def _visits(ts: datetime, n: int, prefix: str) -> list[Event]:
    return [
        VisitEnded(
            store_id="s1",
            device_id="d1",
            ts=ts,
            event_id=f"{prefix}{i}",
            visit_ref="v",
            dwell_s=3,
            attention_s=1,
            watcher=False,
            glance=True,
        )
        for i in range(n)
    ]


def _fill(store: BackofficeStore, clock: fx.Clock, now: datetime = NOW) -> None:
    old, recent = now - timedelta(days=91), now - timedelta(days=89)
    clock.now = old
    store.write(
        Parsed(
            events=[
                *_visits(old, 250, "old-"),
                OfferShown(
                    store_id="s1", device_id="d1", ts=old, offer_id="o1", reason="rules", language="ru"
                ),
                StaffCall(
                    store_id="s1", device_id="d1", ts=old, call_id="c-old", reason="shopper_request", zone="z"
                ),
            ],
            metrics=[("s1", "d1", MetricsPayload(ts=old, uptime_s=1, outbox_depth=4, outbox_bytes=4))],
        )
    )
    clock.now = recent
    store.write(
        Parsed(
            events=[
                *_visits(recent, 3, "new-"),
                StaffCall(
                    store_id="s1",
                    device_id="d1",
                    ts=recent,
                    call_id="c-new",
                    reason="shopper_request",
                    zone="z",
                ),
            ],
            metrics=[("s1", "d1", MetricsPayload(ts=recent, uptime_s=1, outbox_depth=5, outbox_bytes=5))],
        )
    )


def _rollups(store: BackofficeStore) -> dict[str, list[tuple[object, ...]]]:
    return {t.name: sorted(store.db.query(f"SELECT * FROM {t.name}"), key=str) for t in rollups.TABLES}


def test_retention_deletes_old_raw_rows_and_keeps_rollups(opened: tuple[BackofficeStore, fx.Clock]) -> None:
    store, clock = opened
    _fill(store, clock)
    before = _rollups(store)
    assert sum(r[3] for r in before["audience_hourly"]) == 253  # visits column
    settings = RetentionSettings(raw_days=90, batch_rows=100)
    assert last_cutoff(store.db) is None
    dry = run_retention(store.db, NOW, settings, dry_run=True)
    assert (dry.dry_run, dry.events, dry.metrics, dry.staff_calls) == (True, 252, 1, 1)
    assert store.db.scalar("SELECT count(*) FROM events") == 256 and last_cutoff(store.db) is None
    done = run_retention(store.db, NOW, settings)
    assert (done.dry_run, done.events, done.metrics, done.staff_calls) == (False, 252, 1, 1)  # in 3 batches
    assert done.cutoff == cutoff_for(NOW, settings) == NOW - timedelta(days=90)
    kept = store.db.query("SELECT type, count(*) FROM events GROUP BY type ORDER BY type")
    assert kept == [("staff_call", 1), ("visit_ended", 3)]
    assert {e for e in store.event_ids() if e.startswith(("new-", "old-"))} == {"new-0", "new-1", "new-2"}
    assert store.db.scalar("SELECT count(*) FROM metrics") == 1
    assert [r[0] for r in store.db.query("SELECT call_id FROM staff_calls")] == ["c-new"]
    assert _rollups(store) == before  # the figures stay
    assert last_cutoff(store.db) == NOW - timedelta(days=90)
    recorded = store.db.query("SELECT events, metrics, staff_calls FROM retention_runs")
    assert recorded == [(252, 1, 1)]
    assert run_retention(store.db, NOW, settings).events == 0  # nothing left to delete


def test_the_commands_on_a_real_file(tmp_path: Path) -> None:
    path = tmp_path / "bo.sqlite"
    clock = fx.Clock(NOW)
    store = open_store(f"sqlite:///{path}", clock=clock)
    _fill(store, clock)
    store.close()
    runner = CliRunner()
    # The rows are dated 89 and 91 days before NOW: from today's clock both are older than 30 days.
    dry = runner.invoke(main, ["retention", "--db", f"sqlite:///{path}", "--days", "30", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert dry.output.startswith(
        "would delete 256 events, 2 metrics payloads and 2 staff-call records older than"
    )
    rebuilt = runner.invoke(main, ["rollups", "rebuild", "--db", f"sqlite:///{path}"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert (
        "rebuilt the rollups of every hour from 256 events, 2 metrics payloads and 2 staff calls"
        in rebuilt.output
    )
    done = runner.invoke(main, ["retention", "--db", f"sqlite:///{path}", "--days", "30"])
    assert done.exit_code == 0 and done.output.startswith("deleted 256 events"), done.output
    again = runner.invoke(main, ["rollups", "rebuild", "--db", f"sqlite:///{path}"])
    assert "rebuilt the rollups of hours from" in again.output and "from 0 events" in again.output
    check = open_store(f"sqlite:///{path}")
    assert check.db.scalar("SELECT sum(visits) FROM audience_hourly") == 253  # kept by both
    check.close()
    bad = runner.invoke(main, ["retention", "--db", "mysql://x"])
    assert bad.exit_code == 1 and "sqlite:///path or postgresql://" in bad.output
