"""backoffice.db on SQLite and PostgreSQL: one placeholder style, transactions that commit, roll back and
nest, integrity errors of either dialect as one exception, named migrations per component, a store of
issue #14 adopted without re-running its migrations, and many threads sharing one handle."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import backoffice_fixture as fx
import pytest

from backoffice.db import Database, DatabaseError, IntegrityError, Migration, as_datetime, open_database
from backoffice.ingest import MIGRATIONS as INGEST_MIGRATIONS
from backoffice.ingest import open_store

NOTES = (
    Migration(
        "0001_notes",
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL, at TEXT)",
        "CREATE TABLE notes (id BIGINT PRIMARY KEY, body TEXT NOT NULL, at TIMESTAMPTZ)",
    ),
    Migration(
        "0002_tags", "CREATE TABLE tags (name TEXT PRIMARY KEY)", "CREATE TABLE tags (name TEXT PRIMARY KEY)"
    ),
)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    for url in fx.store_url(request.param, tmp_path):
        database = open_database(url)
        try:
            yield database
        finally:
            database.close()


def test_migrations_are_named_per_component_and_applied_once(db: Database) -> None:
    assert db.migrate("notes", NOTES) == ["0001_notes", "0002_tags"]
    assert db.migrate("notes", NOTES) == []
    # Another component may reuse a name: the records are per component.
    other = (Migration("0001_notes", "CREATE TABLE other (x TEXT)", "CREATE TABLE other (x TEXT)"),)
    assert db.migrate("other", other) == ["0001_notes"]
    assert db.applied_migrations("notes") == ["0001_notes", "0002_tags"]
    assert db.table_exists("tags") and not db.table_exists("nothing")
    with pytest.raises(DatabaseError, match="twice"):
        db.migrate("dup", (NOTES[0], NOTES[0]))


def test_a_failing_migration_leaves_nothing_applied(db: Database) -> None:
    broken = (*NOTES, Migration("0003_broken", "CREATE TABLE tags (x TEXT)", "CREATE TABLE tags (x TEXT)"))
    with pytest.raises(Exception, match=r"(?i)already exists"):
        db.migrate("notes", broken)
    assert db.applied_migrations("notes") == [] and not db.table_exists("notes")


def test_placeholders_params_and_results(db: Database) -> None:
    db.migrate("notes", NOTES)
    at = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
    assert db.execute("INSERT INTO notes (id, body, at) VALUES (?, ?, ?)", [1, "50% off?", at]).rowcount == 1
    db.executemany("INSERT INTO notes (id, body) VALUES (?, ?)", [(2, "b"), (3, "c")])
    # A literal % passes through to PostgreSQL untouched (it is escaped for psycopg).
    assert db.query("SELECT id FROM notes WHERE body LIKE '50%' ORDER BY id") == [(1,)]
    assert db.scalar("SELECT count(*) FROM notes") == 3
    assert db.scalar("SELECT body FROM notes WHERE id = ?", [99]) is None
    assert as_datetime(db.scalar("SELECT at FROM notes WHERE id = 1")) == at
    result = db.execute("SELECT id, body FROM notes ORDER BY id")
    assert result.fetchone() == (1, "50% off?") and len(result) == 3 and list(result)[2] == (3, "c")
    returned = db.execute("INSERT INTO notes (id, body) VALUES (?, ?) RETURNING id", [4, "d"])
    assert returned.scalar() == 4


def test_transactions_commit_roll_back_and_nest(db: Database) -> None:
    db.migrate("notes", NOTES)
    with db.transaction():
        db.execute("INSERT INTO notes (id, body) VALUES (1, 'kept')")
        with db.transaction():  # joins the outer one
            db.execute("INSERT INTO notes (id, body) VALUES (2, 'kept too')")
        assert db.in_transaction
    assert not db.in_transaction
    with pytest.raises(RuntimeError), db.transaction():
        db.execute("INSERT INTO notes (id, body) VALUES (3, 'lost')")
        with db.transaction():
            db.execute("INSERT INTO notes (id, body) VALUES (4, 'lost too')")
        raise RuntimeError("boom")
    assert [r[0] for r in db.query("SELECT id FROM notes ORDER BY id")] == [1, 2]


def test_integrity_errors_are_one_exception(db: Database) -> None:
    db.migrate("notes", NOTES)
    db.execute("INSERT INTO tags (name) VALUES (?)", ["a"])
    with pytest.raises(IntegrityError):
        db.execute("INSERT INTO tags (name) VALUES (?)", ["a"])
    with pytest.raises(IntegrityError):
        db.executemany("INSERT INTO tags (name) VALUES (?)", [("b",), ("b",)])
    assert db.scalar("SELECT count(*) FROM tags") == 1  # executemany is one transaction
    db.execute("INSERT INTO tags (name) VALUES (?)", ["c"])  # the handle is usable after an error


def test_threads_share_one_handle(db: Database) -> None:
    """Twelve threads (more than the pool's eight connections) each add to one counter 25 times in
    read-modify-write transactions: every increment survives, none fails."""
    db.migrate("notes", NOTES)
    db.execute("INSERT INTO notes (id, body) VALUES (1, '0')")
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(25):
                with db.transaction():
                    if db.dialect == "postgresql":
                        db.execute("SELECT 1 FROM notes WHERE id = 1 FOR UPDATE")
                    value = int(db.scalar("SELECT body FROM notes WHERE id = 1"))
                    db.execute("UPDATE notes SET body = ? WHERE id = 1", [str(value + 1)])
                db.query("SELECT count(*) FROM notes")  # a read outside any transaction, too
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert db.scalar("SELECT body FROM notes WHERE id = 1") == "300"


def test_urls_and_errors(tmp_path: Path) -> None:
    bare = open_database(str(tmp_path / "sub" / "bare.sqlite"))
    assert bare.dialect == "sqlite" and (tmp_path / "sub" / "bare.sqlite").exists()
    assert bare.scalar("PRAGMA journal_mode") == "wal"
    bare.close()
    with pytest.raises(DatabaseError, match="sqlite:///path or postgresql://"):
        open_database("mysql://x")
    with pytest.raises(
        DatabaseError, match=r"cannot connect to PostgreSQL at postgresql://nobody@127\.0\.0\.1:1/x"
    ):
        open_database("postgresql://nobody:secret@127.0.0.1:1/x")
    assert "secret" not in repr(Database(f"sqlite:///{tmp_path / 'r.sqlite'}"))


def test_an_issue_14_sqlite_store_is_adopted(tmp_path: Path) -> None:
    """A store made by the ingest of issue #14 (sqlite-utils migrations) opens without re-running them,
    and the rollups are filled from the events it already holds."""
    from sqlite_utils import Database as SqliteUtilsDatabase

    path = tmp_path / "old.sqlite"
    old = SqliteUtilsDatabase(sqlite3.connect(str(path)))
    for migration in INGEST_MIGRATIONS[:4]:
        for statement in migration.sqlite.split(";"):
            old.execute(statement)
    old["_sqlite_migrations"].insert_all(
        {"migration_set": "backoffice.ingest", "name": m.name, "applied_at": "2026-11-01T00:00:00"}
        for m in INGEST_MIGRATIONS[:4]
    )
    visit = fx.visits()[0]
    old.execute(
        "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            visit.event_id,
            visit.type,
            "s1",
            "d1",
            visit.ts.isoformat(),
            visit.model_dump_json(),
            visit.ts.isoformat(),
        ],
    )
    metrics = '{"ts": "2026-11-02T10:00:00+00:00", "uptime_s": 1, "outbox_depth": 3, "outbox_bytes": 30}'
    for _twice in range(2):  # the old ingest stored a redelivered payload twice
        old.execute(
            "INSERT INTO metrics (store_id, device_id, ts, payload) VALUES ('s1', 'd1', ?, ?)",
            ["2026-11-02T10:00:00+00:00", metrics],
        )
    old.execute("INSERT INTO events VALUES ('bad', 'visit_ended', 's1', 'd1', '2026', '{}', '2026')")
    old.conn.commit()
    old.close()
    store = open_store(f"sqlite:///{path}")
    try:
        assert store.db.applied_migrations("ingest")[:4] == [m.name for m in INGEST_MIGRATIONS[:4]]
        assert sorted(store.event_ids()) == sorted([visit.event_id, "bad"])  # an invalid row is skipped
        assert store.db.scalar("SELECT count(*) FROM metrics") == 1  # the duplicate payload went
        assert store.db.scalar("SELECT sum(visits) FROM audience_hourly") == 1  # the backfill
        assert store.db.scalar("SELECT sum(outbox_depth_sum) FROM health_hourly") == 3  # the payload once
    finally:
        store.close()


@pytest.mark.integration
def test_an_issue_14_postgres_store_is_adopted() -> None:
    for url in fx.postgres_url():
        db = open_database(url)
        try:
            for migration in INGEST_MIGRATIONS[:4]:
                for statement in migration.postgres.split(";"):
                    db.execute(statement)
            db.execute("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ)")
            for m in INGEST_MIGRATIONS[:4]:
                db.execute("INSERT INTO schema_migrations VALUES (?, now())", [m.name])
            store = open_store(url)
            assert store.db.applied_migrations("ingest")[:4] == [m.name for m in INGEST_MIGRATIONS[:4]]
            assert "0005_metrics_identity" in store.db.applied_migrations("ingest")
            store.close()
        finally:
            db.close()
