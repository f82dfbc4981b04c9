"""The back office's database handle: one small, dialect-neutral API over SQLite and PostgreSQL.

Every component of the back office (the ingest, the rollups, staff calls, the web application's own tables)
talks to its store through :class:`Database`:

- **Open from a URL**: ``sqlite:///path/backoffice.sqlite`` (or a bare path) or ``postgresql://user@host/db``
  (psycopg 3; ``postgres://`` is accepted too). :func:`open_database`.
- **One placeholder style**: SQL is written with ``?`` placeholders (SQLite's qmark style); for PostgreSQL
  they become ``%s`` (and a literal ``%`` is escaped), so a statement is written once. A ``?`` must
  therefore never appear inside a string literal of the SQL (pass such values as parameters).
  Parameters: ``str``, ``int``, ``float``, ``bool``, ``None`` and aware ``datetime`` (stored by SQLite as
  ISO 8601 text in UTC, by PostgreSQL as itself).
- **Transactions**: ``with db.transaction(): db.execute(...)`` runs every statement of the block, on this
  thread, in one transaction, committed at the end and rolled back when the block raises. A nested
  ``transaction()`` on the same thread joins the outer one. A statement outside any block is a transaction
  of its own (autocommit). On SQLite a transaction is ``BEGIN IMMEDIATE`` (it takes the write lock at once,
  so two writers queue instead of failing on a lock upgrade); ``transaction(write=False)`` is a plain
  ``BEGIN`` for a consistent read of several statements.
- **Threads**: the handle is shared by every thread of a process (the ingest's, the web server's thread
  pool). Each transaction, and each statement outside one, borrows a connection from a bounded pool for
  its duration and gives it back: a connection is never used by two threads at once. PostgreSQL's pool is
  psycopg_pool's ``ConnectionPool``; SQLite's is a queue of ``sqlite3`` connections on one WAL file
  (readers run beside the one writer; a writer waits up to ``busy_timeout_s`` for another). A thread that
  finds every connection borrowed waits up to ``pool_timeout_s``, then gets a :class:`DatabaseError`.
- **Named migrations per component**: a component registers its own ordered list of :class:`Migration`
  (a name, its SQLite SQL, its PostgreSQL SQL) and calls :meth:`Database.migrate` with its component name
  at start; what is applied is recorded in ``backoffice_migrations (component, name, applied_at)``, so a
  migration runs once per store, whoever opens it first (concurrent openers are serialised: SQLite's write
  lock, a PostgreSQL advisory lock). Statements of a migration are separated by ``;`` (so none may contain
  one in a literal).
- **Errors**: a constraint violation (a duplicate primary key, ...) raises :class:`IntegrityError` on both
  dialects; a store that cannot be opened raises :class:`DatabaseError` saying what to check. Inside a
  transaction an error ends it: let it propagate out of the ``with`` block (PostgreSQL refuses every
  further statement of a failed transaction), or use ``ON CONFLICT`` where a duplicate is expected.

Conventions of the tables this package makes (docs/backoffice-data.md): instants are stored as seconds
since the epoch (``REAL``/``DOUBLE PRECISION``), hours as the epoch second of the hour's start, UTC
(``INTEGER``/``BIGINT``); flags as ``INTEGER`` 0/1. The ingest's original tables (``events``, ``devices``,
``metrics``) keep their types: ISO text on SQLite, ``TIMESTAMPTZ``/``JSONB`` on PostgreSQL;
:func:`as_datetime` reads either.
"""

from __future__ import annotations

import contextlib
import functools
import queue
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from backoffice.errors import BackofficeError

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

Dialect = Literal["sqlite", "postgresql"]

#: A statement's parameters: positional, one per ``?``.
Params = Sequence[Any]

#: The advisory lock key PostgreSQL migrations hold (any constant; shared by every component).
_MIGRATION_LOCK = 7741


class DatabaseError(BackofficeError):
    """The store cannot be opened or used: the message says what to check."""


class IntegrityError(DatabaseError):
    """A statement broke a constraint (a duplicate key, a NOT NULL column left empty, ...)."""


@dataclass(frozen=True)
class Migration:
    """One named step of a component's schema, in both dialects. Statements separated by ``;``."""

    name: str
    sqlite: str
    postgres: str


class Result:
    """What a statement returned: its rows (already fetched, so the connection is free again) and how many
    rows it changed. Iterating it yields the rows, like a DB-API cursor."""

    __slots__ = ("rowcount", "rows")

    def __init__(self, rows: list[tuple[Any, ...]], rowcount: int) -> None:
        self.rows = rows
        self.rowcount = rowcount

    def fetchone(self) -> tuple[Any, ...] | None:
        """The first row, or None."""
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        """Every row."""
        return self.rows

    def scalar(self) -> Any:
        """The first column of the first row, or None when there is no row."""
        return self.rows[0][0] if self.rows else None

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


@functools.lru_cache(maxsize=1024)
def _to_pyformat(sql: str) -> str:
    """``?`` placeholders as psycopg's ``%s``; a literal ``%`` doubled."""
    return sql.replace("%", "%%").replace("?", "%s")


def _sqlite_param(value: Any) -> Any:
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    return value


def as_utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive datetime is taken to be UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def as_datetime(value: Any) -> datetime | None:
    """A time read back from either dialect (ISO text from SQLite, ``datetime`` from PostgreSQL, epoch
    seconds from this package's tables) as an aware UTC ``datetime``; None stays None."""
    if value is None:
        return None
    if isinstance(value, datetime):
        # PostgreSQL's timestamptz comes back in UTC already: the fleet page reads thousands a request.
        return value if value.tzinfo is UTC else as_utc(value)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    return as_utc(datetime.fromisoformat(str(value)))


def _split(sql: str) -> list[str]:
    return [s.strip() for s in sql.split(";") if s.strip()]


class _SqlitePool:
    """A bounded queue of connections to one SQLite file, made on demand."""

    def __init__(self, path: Path, size: int, busy_timeout_s: float, pool_timeout_s: float) -> None:
        self.path = path
        self.size = size
        self.busy_timeout_s = busy_timeout_s
        self.pool_timeout_s = pool_timeout_s
        self._idle: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()
        self._made = 0
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self.closed = False

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                str(self.path), timeout=self.busy_timeout_s, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise DatabaseError(
                f"cannot open the SQLite store {self.path}: {exc}; check that the folder exists and is "
                "writable"
            ) from exc
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    def get(self) -> sqlite3.Connection:
        if self.closed:
            raise DatabaseError(f"the store {self.path} is closed")
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            if self._made < self.size:
                self._made += 1
                try:
                    conn = self._connect()
                except DatabaseError:
                    self._made -= 1
                    raise
                self._all.append(conn)
                return conn
        try:
            return self._idle.get(timeout=self.pool_timeout_s)
        except queue.Empty:
            raise DatabaseError(
                f"every one of the {self.size} connections to {self.path} stayed busy for "
                f"{self.pool_timeout_s} s; raise pool_size or look for a transaction that does not end"
            ) from None

    def put(self, conn: sqlite3.Connection) -> None:
        if self.closed:
            conn.close()
        else:
            self._idle.put(conn)

    def close(self) -> None:
        self.closed = True
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()


class _Local(threading.local):
    conn: Any = None
    depth: int = 0


class Database:
    """A store opened from a URL; see the module's docstring. Share one per process."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 8,
        busy_timeout_s: float = 30.0,
        pool_timeout_s: float = 30.0,
    ) -> None:
        self.url = url
        self._local = _Local()
        self._sqlite: _SqlitePool | None = None
        self._pg: ConnectionPool[psycopg.Connection[tuple[Any, ...]]] | None = None
        self.dialect: Dialect
        if url.startswith(("postgresql://", "postgres://")):
            self.dialect = "postgresql"
            self._pg = _open_postgres(url, pool_size, pool_timeout_s)
            self._integrity: tuple[type[Exception], ...] = (_psycopg().IntegrityError,)
        else:
            path = _sqlite_path(url)
            self.dialect = "sqlite"
            path.parent.mkdir(parents=True, exist_ok=True)
            self._sqlite = _SqlitePool(path, pool_size, busy_timeout_s, pool_timeout_s)
            self._integrity = (sqlite3.IntegrityError,)
            conn = self._sqlite.get()
            try:
                conn.execute("PRAGMA journal_mode=WAL")
            except sqlite3.Error as exc:
                raise DatabaseError(f"cannot use {path} as a SQLite store: {exc}") from exc
            finally:
                self._sqlite.put(conn)

    # --- connections and transactions ------------------------------------------------------------------

    @contextlib.contextmanager
    def _borrow(self) -> Iterator[Any]:
        if self._sqlite is not None:
            conn = self._sqlite.get()
            try:
                yield conn
            finally:
                self._sqlite.put(conn)
        else:
            assert self._pg is not None
            try:
                with self._pg.connection() as pg_conn:
                    yield pg_conn
            except _psycopg_pool().PoolTimeout as exc:
                raise DatabaseError(
                    f"no PostgreSQL connection free within the pool's timeout: {exc}; raise pool_size "
                    "or look for a transaction that does not end"
                ) from exc

    @contextlib.contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[None]:
        """Run the block's statements (on this thread) in one transaction; nested blocks join the outer."""
        local = self._local
        if local.depth:
            local.depth += 1
            try:
                yield
            finally:
                local.depth -= 1
            return
        with self._borrow() as conn:
            local.conn, local.depth = conn, 1
            try:
                if self.dialect == "sqlite":
                    conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                    try:
                        yield
                    except BaseException:
                        conn.execute("ROLLBACK")
                        raise
                    conn.execute("COMMIT")
                else:
                    with conn.transaction():
                        yield
            finally:
                local.conn, local.depth = None, 0

    @property
    def in_transaction(self) -> bool:
        """Whether this thread is inside :meth:`transaction`."""
        return bool(self._local.depth)

    # --- statements -------------------------------------------------------------------------------------

    def execute(self, sql: str, params: Params = ()) -> Result:
        """Run one statement (in this thread's transaction, or alone); its rows and row count."""
        if self._local.depth:
            return self._run(self._local.conn, sql, params)
        with self._borrow() as conn:
            return self._run(conn, sql, params)

    def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        """Run one statement once per row of parameters (in one transaction)."""
        batch = list(rows)
        if not batch:
            return
        with self.transaction():
            conn = self._local.conn
            try:
                if self.dialect == "sqlite":
                    conn.executemany(sql, [[_sqlite_param(v) for v in r] for r in batch])
                else:
                    with conn.cursor() as cur:
                        cur.executemany(_to_pyformat(sql).encode(), batch)
            except self._integrity as exc:
                raise IntegrityError(f"{exc}".strip()) from exc

    def insert_many(
        self,
        table: str,
        columns: Sequence[str],
        pg_types: Sequence[str],
        rows: Sequence[Sequence[Any]],
        suffix: str = "",
    ) -> Result:
        """Insert ``rows`` into ``table`` in as few statements as the dialect allows, ``suffix`` (an
        ``ON CONFLICT ...`` clause, a ``RETURNING ...``) applying to each: PostgreSQL one statement whatever
        the number of rows (``INSERT ... SELECT * FROM unnest(%s::type[], ...)``, ``pg_types`` naming each
        column's type), SQLite multi-row ``VALUES`` of up to 500 rows. Rows returned by ``RETURNING`` are
        concatenated; ``rowcount`` is the total. Keys must be unique within ``rows`` when ``suffix`` is an
        ``ON CONFLICT ... DO UPDATE`` (PostgreSQL refuses to update one row twice in a statement)."""
        if not rows:
            return Result([], 0)
        names = ", ".join(columns)
        if self.dialect == "postgresql":
            arrays = ", ".join(f"?::{t}[]" for t in pg_types)
            by_column = [list(c) for c in zip(*rows, strict=True)]
            sql = f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays}) {suffix}"  # noqa: S608
            return self.execute(sql, by_column)
        out: list[tuple[Any, ...]] = []
        count = 0
        placeholders = f"({', '.join('?' * len(columns))})"
        with self.transaction():
            for start in range(0, len(rows), 500):
                chunk = rows[start : start + 500]
                values = ", ".join([placeholders] * len(chunk))
                result = self.execute(
                    f"INSERT INTO {table} ({names}) VALUES {values} {suffix}",  # noqa: S608
                    [v for row in chunk for v in row],
                )
                out += result.rows
                count += result.rowcount
        return Result(out, count)

    def query(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        """The rows of a query."""
        return self.execute(sql, params).rows

    def scalar(self, sql: str, params: Params = ()) -> Any:
        """The first column of a query's first row (None without rows)."""
        return self.execute(sql, params).scalar()

    def _run(self, conn: Any, sql: str, params: Params) -> Result:
        try:
            if self.dialect == "sqlite":
                cursor = conn.execute(sql, [_sqlite_param(v) for v in params])
                rows = cursor.fetchall() if cursor.description else []
                return Result(rows, cursor.rowcount)
            with conn.cursor() as cur:
                cur.execute(_to_pyformat(sql).encode(), params)
                rows = cur.fetchall() if cur.description else []
                return Result(rows, cur.rowcount)
        except self._integrity as exc:
            raise IntegrityError(f"{exc}".strip()) from exc

    # --- migrations -------------------------------------------------------------------------------------

    def migrate(self, component: str, migrations: Sequence[Migration]) -> list[str]:
        """Apply ``component``'s migrations not yet applied to this store, in order, in one transaction;
        returns the names applied now."""
        names = [m.name for m in migrations]
        if len(set(names)) != len(names):
            raise DatabaseError(f"{component} registers one migration name twice: {names}")
        done: list[str] = []
        with self.transaction():
            if self.dialect == "postgresql":
                self.execute(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
            self.execute(
                "CREATE TABLE IF NOT EXISTS backoffice_migrations (component TEXT NOT NULL, "
                "name TEXT NOT NULL, applied_at TEXT NOT NULL, PRIMARY KEY (component, name))"
            )
            applied = {
                r[0]
                for r in self.query("SELECT name FROM backoffice_migrations WHERE component = ?", [component])
            }
            for migration in migrations:
                if migration.name in applied:
                    continue
                sql = migration.sqlite if self.dialect == "sqlite" else migration.postgres
                for statement in _split(sql):
                    self.execute(statement)
                self.execute(
                    "INSERT INTO backoffice_migrations (component, name, applied_at) VALUES (?, ?, ?)",
                    [component, migration.name, datetime.now(UTC).isoformat()],
                )
                done.append(migration.name)
        return done

    def applied_migrations(self, component: str) -> list[str]:
        """Names of ``component``'s migrations applied to this store, in the order they were applied."""
        if not self.table_exists("backoffice_migrations"):
            return []
        return [
            str(r[0])
            for r in self.query(
                "SELECT name FROM backoffice_migrations WHERE component = ? ORDER BY applied_at, name",
                [component],
            )
        ]

    def table_exists(self, name: str) -> bool:
        """Whether a table of that name exists (in PostgreSQL: on the search path)."""
        if self.dialect == "sqlite":
            sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
        else:
            sql = (
                "SELECT 1 FROM pg_catalog.pg_tables "
                "WHERE tablename = ? AND schemaname = ANY(current_schemas(false))"
            )
        return self.execute(sql, [name]).fetchone() is not None

    # --- dialect helpers ---------------------------------------------------------------------------------

    def greatest(self, a: str, b: str) -> str:
        """SQL for the larger of two expressions (SQLite's two-argument ``max``, PostgreSQL's
        ``GREATEST``); NULL is ignored by neither, so wrap nullable ones in ``coalesce``."""
        return f"max({a}, {b})" if self.dialect == "sqlite" else f"GREATEST({a}, {b})"

    def close(self) -> None:
        """Close every connection."""
        if self._sqlite is not None:
            self._sqlite.close()
        if self._pg is not None:
            self._pg.close()

    def __repr__(self) -> str:
        return f"Database({self.dialect}, {_redacted(self.url)!r})"


def _redacted(url: str) -> str:
    """The URL without a password (never logged)."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        auth, host = rest.rsplit("@", 1)
        return f"{scheme}://{auth.split(':', 1)[0]}@{host}"
    return url


def _sqlite_path(url: str) -> Path:
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///"))
    if "://" in url:
        raise DatabaseError(f"unknown store URL {url!r}: use sqlite:///path or postgresql://user@host/db")
    return Path(url)


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError as exc:
        raise DatabaseError(
            "a postgresql:// store needs psycopg 3: pip install 'psycopg[binary,pool]'"
        ) from exc
    return psycopg


def _psycopg_pool() -> Any:
    try:
        import psycopg_pool
    except ImportError as exc:
        raise DatabaseError(
            "a postgresql:// store needs psycopg_pool: pip install 'psycopg[binary,pool]'"
        ) from exc
    return psycopg_pool


def _open_postgres(url: str, size: int, timeout_s: float) -> ConnectionPool[Any]:
    psycopg = _psycopg()
    pool_module = _psycopg_pool()
    try:
        # One connection first, to report a bad URL or a server that is down at once (the pool would retry).
        psycopg.connect(url, connect_timeout=10).close()
    except psycopg.OperationalError as exc:
        raise DatabaseError(
            f"cannot connect to PostgreSQL at {_redacted(url)}: {str(exc).strip()}; "
            "check the URL and the server"
        ) from exc
    pool: ConnectionPool[Any] = pool_module.ConnectionPool(
        url, min_size=1, max_size=size, timeout=timeout_s, kwargs={"autocommit": True}, open=True
    )
    return pool


def open_database(url: str, **options: Any) -> Database:
    """Open the store at ``url``: ``sqlite:///path`` (or a bare path) or ``postgresql://...``.
    ``options``: ``pool_size``, ``busy_timeout_s``, ``pool_timeout_s`` (:class:`Database`)."""
    return Database(url, **options)
