"""The fleet's registry: every identity the CA issued a certificate to, its certificates, its state, the
enrolment tokens and the allow-listed hardware serials. One SQLite file (``FLEET/registry.sqlite``, WAL),
its tables made by sqlite-utils ``Migrations``; every change is one transaction, so the registry is never
half-written, and the enrolment service and ``provision revoke`` may run at once (writers wait their turn).

Tokens are stored as their SHA-256 only: the registry never holds a token that could still be used.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from provisioning.errors import RegistryError

Role = Literal["device", "claim", "backoffice", "enrolment", "admin"]
State = Literal["active", "revoked"]

migrations = Migrations("provisioning.fleet.registry")


@migrations(name="0001_registry")
def _create(db: Database) -> None:
    db.execute(
        """CREATE TABLE identities (
            name TEXT PRIMARY KEY, role TEXT NOT NULL, store_id TEXT, device_id TEXT,
            state TEXT NOT NULL, hardware_serial TEXT, created_at TEXT NOT NULL,
            revoked_at TEXT, revoke_reason TEXT)"""
    )
    db.execute(
        """CREATE TABLE certificates (
            serial TEXT PRIMARY KEY, name TEXT NOT NULL REFERENCES identities(name), key_id TEXT NOT NULL,
            not_after TEXT NOT NULL, issued_at TEXT NOT NULL, via TEXT NOT NULL, revoked_at TEXT,
            pem TEXT NOT NULL)"""
    )
    db.execute("CREATE INDEX certificates_name ON certificates (name)")
    db.execute(
        """CREATE TABLE tokens (
            token_hash TEXT PRIMARY KEY, store_id TEXT NOT NULL, device_id TEXT NOT NULL,
            created_at TEXT NOT NULL, expires_at TEXT NOT NULL, used_at TEXT, used_key_id TEXT,
            used_serial TEXT)"""
    )
    db.execute(
        """CREATE TABLE allowed_serials (
            hardware_serial TEXT PRIMARY KEY, store_id TEXT NOT NULL, device_id TEXT NOT NULL,
            created_at TEXT NOT NULL, used_at TEXT, used_key_id TEXT, used_serial TEXT)"""
    )
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("CREATE TABLE broker_configs (path TEXT PRIMARY KEY, written_at TEXT NOT NULL)")


def token_hash(token: str) -> str:
    """How a token is stored and looked up: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Identity:
    """One row of ``identities``."""

    name: str
    role: Role
    store_id: str | None
    device_id: str | None
    state: State
    hardware_serial: str | None
    created_at: str
    revoked_at: str | None
    revoke_reason: str | None


@dataclass(frozen=True)
class Certificate:
    """One certificate the CA issued (``serial`` lowercase hex)."""

    serial: str
    name: str
    key_id: str
    not_after: str
    issued_at: str
    via: str
    revoked_at: str | None


@dataclass(frozen=True)
class TokenRow:
    """An enrolment token (by hash): the device it is for, its expiry, whether and how it was used."""

    store_id: str
    device_id: str
    expires_at: datetime
    used_at: str | None
    used_key_id: str | None
    used_serial: str | None


@dataclass(frozen=True)
class SerialRow:
    """An allow-listed hardware serial: the device it becomes, whether and how it was used."""

    hardware_serial: str
    store_id: str
    device_id: str
    used_at: str | None
    used_key_id: str | None
    used_serial: str | None


class Registry:
    """The registry file. Thread-safe enough for one process: each method is one transaction."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        migrations.apply(Database(self._conn))

    def close(self) -> None:
        """Close the file."""
        self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``: writers queue here, not at the first write)."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    # -- identities and certificates --------------------------------------------------------------------

    def identity(self, name: str) -> Identity | None:
        """The identity with this common name, or None."""
        row = self._conn.execute(
            "SELECT name, role, store_id, device_id, state, hardware_serial, created_at, revoked_at, "
            "revoke_reason FROM identities WHERE name = ?",
            (name,),
        ).fetchone()
        return Identity(*row) if row else None

    def identities(self, role: Role | None = None) -> list[Identity]:
        """Every identity (of one role), by name."""
        sql = (
            "SELECT name, role, store_id, device_id, state, hardware_serial, created_at, revoked_at, "
            "revoke_reason FROM identities"
        )
        rows = (
            self._conn.execute(sql + " WHERE role = ? ORDER BY name", (role,))
            if role
            else self._conn.execute(sql + " ORDER BY name")
        )
        return [Identity(*row) for row in rows]

    def certificates(self, name: str | None = None) -> list[Certificate]:
        """Certificates issued (to one identity), oldest first."""
        sql = "SELECT serial, name, key_id, not_after, issued_at, via, revoked_at FROM certificates"
        rows = (
            self._conn.execute(sql + " WHERE name = ? ORDER BY issued_at", (name,))
            if name
            else self._conn.execute(sql + " ORDER BY issued_at")
        )
        return [Certificate(*row) for row in rows]

    def revoked_certificates(self) -> list[Certificate]:
        """Every revoked certificate still unexpired or not: what the CRL lists."""
        return [c for c in self.certificates() if c.revoked_at is not None]

    @staticmethod
    def add_identity(
        conn: sqlite3.Connection,
        name: str,
        role: Role,
        now: datetime,
        *,
        store_id: str | None = None,
        device_id: str | None = None,
        hardware_serial: str | None = None,
    ) -> None:
        """Register an identity (inside :meth:`transaction`); an existing active one of the same role is kept,
        a revoked one is refused (:class:`RegistryError`): a revoked name is never issued again."""
        row = conn.execute("SELECT role, state FROM identities WHERE name = ?", (name,)).fetchone()
        if row is not None:
            if row[1] == "revoked":
                raise RegistryError(
                    f"{name} was revoked; a revoked name is never issued again: give the device a new id"
                )
            if row[0] != role:
                raise RegistryError(f"{name} is already registered as a {row[0]}, not a {role}")
            if hardware_serial:
                conn.execute(
                    "UPDATE identities SET hardware_serial = ? WHERE name = ?", (hardware_serial, name)
                )
            return
        conn.execute(
            "INSERT INTO identities (name, role, store_id, device_id, state, hardware_serial, created_at) "
            "VALUES (?, ?, ?, ?, 'active', ?, ?)",
            (name, role, store_id, device_id, hardware_serial, now.isoformat()),
        )

    @staticmethod
    def add_certificate(
        conn: sqlite3.Connection,
        serial: str,
        name: str,
        key_id: str,
        pem: bytes,
        *,
        not_after: datetime,
        now: datetime,
        via: str,
    ) -> None:
        """Record a certificate the CA issued (inside :meth:`transaction`)."""
        conn.execute(
            "INSERT INTO certificates (serial, name, key_id, not_after, issued_at, via, pem) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (serial, name, key_id, not_after.isoformat(), now.isoformat(), via, pem.decode("ascii")),
        )

    @staticmethod
    def certificate_pem(conn: sqlite3.Connection, serial: str) -> bytes | None:
        """The PEM of a certificate the CA issued (a lost reply is answered with the same certificate)."""
        row = conn.execute("SELECT pem FROM certificates WHERE serial = ?", (serial,)).fetchone()
        return str(row[0]).encode("ascii") if row else None

    @staticmethod
    def latest_certificate(conn: sqlite3.Connection, name: str) -> Certificate | None:
        """The newest certificate of an identity (inside a transaction), or None."""
        row = conn.execute(
            "SELECT serial, name, key_id, not_after, issued_at, via, revoked_at FROM certificates "
            "WHERE name = ? ORDER BY issued_at DESC, rowid DESC LIMIT 1",
            (name,),
        ).fetchone()
        return Certificate(*row) if row else None

    def revoke(self, name: str, now: datetime, reason: str) -> list[str]:
        """Mark an identity and every certificate it has revoked; returns the serials newly revoked.

        Revoking twice changes nothing (and returns []); an unknown name is a :class:`RegistryError`.
        """
        with self.transaction() as conn:
            row = conn.execute("SELECT state FROM identities WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise RegistryError(f"{name} is not in the fleet's registry (provision fleet list shows it)")
            stamp = now.isoformat()
            if row[0] != "revoked":
                conn.execute(
                    "UPDATE identities SET state = 'revoked', revoked_at = ?, revoke_reason = ? WHERE "
                    "name = ?",
                    (stamp, reason, name),
                )
            serials = [
                r[0]
                for r in conn.execute(
                    "SELECT serial FROM certificates WHERE name = ? AND revoked_at IS NULL", (name,)
                )
            ]
            conn.execute(
                "UPDATE certificates SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL", (stamp, name)
            )
        return serials

    # -- tokens and serials -----------------------------------------------------------------------------

    def add_token(
        self, token: str, store_id: str, device_id: str, now: datetime, expires_at: datetime
    ) -> None:
        """Record a new enrolment token (its hash) for one device."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO tokens (token_hash, store_id, device_id, created_at, expires_at) VALUES "
                "(?, ?, ?, ?, ?)",
                (token_hash(token), store_id, device_id, now.isoformat(), expires_at.isoformat()),
            )

    @staticmethod
    def token(conn: sqlite3.Connection, token: str) -> TokenRow | None:
        """The token's row (inside a transaction), or None when the fleet never issued it."""
        row = conn.execute(
            "SELECT store_id, device_id, expires_at, used_at, used_key_id, used_serial FROM tokens "
            "WHERE token_hash = ?",
            (token_hash(token),),
        ).fetchone()
        if row is None:
            return None
        return TokenRow(row[0], row[1], datetime.fromisoformat(row[2]), row[3], row[4], row[5])

    @staticmethod
    def use_token(conn: sqlite3.Connection, token: str, now: datetime, key_id: str, serial: str) -> None:
        """Mark a token used by the key ``key_id`` for certificate ``serial`` (inside a transaction)."""
        conn.execute(
            "UPDATE tokens SET used_at = ?, used_key_id = ?, used_serial = ? WHERE token_hash = ?",
            (now.isoformat(), key_id, serial, token_hash(token)),
        )

    def allow_serial(self, hardware_serial: str, store_id: str, device_id: str, now: datetime) -> None:
        """Allow-list a hardware serial as one device (replacing an unused entry for the same serial)."""
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT used_at FROM allowed_serials WHERE hardware_serial = ?", (hardware_serial,)
            ).fetchone()
            if row is not None and row[0] is not None:
                raise RegistryError(f"serial {hardware_serial} already enrolled; it is allowed once")
            conn.execute(
                "INSERT OR REPLACE INTO allowed_serials (hardware_serial, store_id, device_id, created_at) "
                "VALUES (?, ?, ?, ?)",
                (hardware_serial, store_id, device_id, now.isoformat()),
            )

    @staticmethod
    def allowed_serial(conn: sqlite3.Connection, hardware_serial: str) -> SerialRow | None:
        """The allow-list entry of a hardware serial (inside a transaction), or None."""
        row = conn.execute(
            "SELECT hardware_serial, store_id, device_id, used_at, used_key_id, used_serial FROM "
            "allowed_serials "
            "WHERE hardware_serial = ?",
            (hardware_serial,),
        ).fetchone()
        return SerialRow(*row) if row else None

    @staticmethod
    def use_serial(
        conn: sqlite3.Connection, hardware_serial: str, now: datetime, key_id: str, serial: str
    ) -> None:
        """Mark an allow-listed serial used (inside a transaction)."""
        conn.execute(
            "UPDATE allowed_serials SET used_at = ?, used_key_id = ?, used_serial = ? WHERE "
            "hardware_serial = ?",
            (now.isoformat(), key_id, serial, hardware_serial),
        )

    # -- meta: the CRL's number, the broker configs written ----------------------------------------------

    def next_crl_number(self) -> int:
        """The next CRL number (monotonic, stored)."""
        with self.transaction() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'crl_number'").fetchone()
            number = int(row[0]) + 1 if row else 1
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('crl_number', ?)", (str(number),))
        return number

    def add_broker_config(self, path: Path, now: datetime) -> None:
        """Remember a folder ``broker-config`` wrote, so revocation and enrolment rewrite its ACL and CRL."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO broker_configs (path, written_at) VALUES (?, ?)",
                (str(path.resolve()), now.isoformat()),
            )

    def broker_configs(self) -> list[Path]:
        """Every folder ``broker-config`` wrote (that still exists)."""
        rows = self._conn.execute("SELECT path FROM broker_configs ORDER BY path").fetchall()
        return [Path(r[0]) for r in rows if Path(r[0]).is_dir()]
