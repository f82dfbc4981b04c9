"""The back office's accounts: roles, argon2 password hashes (pwdlib), and the sign-in limits.

Roles (docs/backoffice.md): ``viewer`` reads every page; ``operator`` also answers staff calls and redeems
codes; ``marketer`` also runs campaigns; ``admin`` does everything, users and approvals included. A route
names the roles it admits (:mod:`backoffice.web.access`), never a rank.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal, get_args

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from backoffice.db import Database, IntegrityError, Migration
from backoffice.web.errors import WebError

Role = Literal["viewer", "operator", "marketer", "admin"]
ROLES: Final[tuple[Role, ...]] = get_args(Role)

#: Every role together: what a page anyone signed in may read admits.
EVERYONE: Final[frozenset[Role]] = frozenset(ROLES)

#: The web application's own tables, in both dialects (backoffice.db's named migrations, component "web").
MIGRATIONS: Final[tuple[Migration, ...]] = (
    Migration(
        "0001_users",
        sqlite="""CREATE TABLE web_users (
            username TEXT PRIMARY KEY, password_hash TEXT NOT NULL, role TEXT NOT NULL,
            created_at REAL NOT NULL, disabled INTEGER NOT NULL DEFAULT 0,
            session_epoch INTEGER NOT NULL DEFAULT 0)""",
        postgres="""CREATE TABLE web_users (
            username TEXT PRIMARY KEY, password_hash TEXT NOT NULL, role TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL, disabled INTEGER NOT NULL DEFAULT 0,
            session_epoch INTEGER NOT NULL DEFAULT 0)""",
    ),
    Migration(
        "0002_audit",
        sqlite="""CREATE TABLE web_audit (
            id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
            target TEXT NOT NULL DEFAULT '', store_id TEXT NOT NULL DEFAULT '',
            device_id TEXT NOT NULL DEFAULT '', address TEXT NOT NULL DEFAULT '',
            detail TEXT NOT NULL DEFAULT '');
            CREATE INDEX web_audit_at ON web_audit (at);
            CREATE INDEX web_audit_action_at ON web_audit (action, at)""",
        postgres="""CREATE TABLE web_audit (
            id BIGSERIAL PRIMARY KEY, at DOUBLE PRECISION NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
            target TEXT NOT NULL DEFAULT '', store_id TEXT NOT NULL DEFAULT '',
            device_id TEXT NOT NULL DEFAULT '', address TEXT NOT NULL DEFAULT '',
            detail TEXT NOT NULL DEFAULT '');
            CREATE INDEX web_audit_at ON web_audit (at);
            CREATE INDEX web_audit_action_at ON web_audit (action, at)""",
    ),
    Migration(
        "0003_secrets",
        sqlite="CREATE TABLE web_secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
        postgres="CREATE TABLE web_secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ),
)

#: The component name the web application's migrations are recorded under.
COMPONENT: Final = "web"

#: A user name: what the sign-in form and ``backoffice user add`` accept.
USERNAME_CHARS: Final = "letters, digits, '.', '_', '-' and '@', 1 to 64 of them"
MIN_PASSWORD_CHARS: Final = 10


def migrate(db: Database) -> list[str]:
    """Create or update the web application's tables; returns the migrations applied now."""
    return db.migrate(COMPONENT, MIGRATIONS)


def session_secret(db: Database) -> str:
    """The key that signs session cookies: made once per store (random, 256 bits) and kept in it, so every
    web process of one store and every restart accept the same sessions."""
    row = db.execute("SELECT value FROM web_secrets WHERE name = 'session'").fetchone()
    if row is not None:
        return str(row[0])
    with contextlib.suppress(IntegrityError):  # another process made it first
        db.execute("INSERT INTO web_secrets (name, value) VALUES ('session', ?)", [secrets.token_urlsafe(32)])
    return str(db.scalar("SELECT value FROM web_secrets WHERE name = 'session'"))


class UserError(WebError):
    """An account cannot be made or changed as asked: the message says why and what to do."""


@dataclass(frozen=True)
class User:
    """A signed-in account, as a request sees it."""

    username: str
    role: Role
    #: Bumped when the password, the role or the disabled flag changes: older sessions end.
    session_epoch: int


def _valid_username(name: str) -> bool:
    return 0 < len(name) <= 64 and all(c.isalnum() or c in "._-@" for c in name) and name.isascii()


class Users:
    """The accounts in the store (table ``web_users``)."""

    def __init__(self, db: Database, clock: Callable[[], datetime]) -> None:
        self.db = db
        self._now = clock
        self._hasher = PasswordHash((Argon2Hasher(),))
        # A hash to verify against when the account does not exist, so both cases take the same time.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    def add(self, username: str, password: str, role: Role) -> User:
        """Make an account. Raises :class:`UserError` for a bad name, a short password or a taken name."""
        if not _valid_username(username):
            raise UserError(f"user name {username!r} is not usable: use {USERNAME_CHARS}")
        if role not in ROLES:
            raise UserError(f"role {role!r} does not exist: use one of {', '.join(ROLES)}")
        check_password(password)
        try:
            self.db.execute(
                "INSERT INTO web_users (username, password_hash, role, created_at) VALUES (?, ?, ?, ?)",
                [username, self._hasher.hash(password), role, self._now().timestamp()],
            )
        except IntegrityError:
            raise UserError(
                f"user {username!r} exists already; pick another name or change its role on the users page"
            ) from None
        return User(username, role, 0)

    def get(self, username: str) -> User | None:
        """The account if it exists and is not disabled."""
        row = self.db.execute(
            "SELECT role, session_epoch FROM web_users WHERE username = ? AND disabled = 0", [username]
        ).fetchone()
        return None if row is None else User(username, _role(row[0]), int(row[1]))

    def authenticate(self, username: str, password: str) -> User | None:
        """The account when the password is right (and the account enabled); else None. Takes as long for
        an unknown account as for a wrong password."""
        row = self.db.execute(
            "SELECT password_hash, role, session_epoch, disabled FROM web_users WHERE username = ?",
            [username],
        ).fetchone()
        if row is None:
            self._hasher.verify(password, self._dummy_hash)
            return None
        valid, new_hash = self._hasher.verify_and_update(password, str(row[0]))
        if not valid or row[3]:
            return None
        if new_hash is not None:  # the hasher's parameters changed: store the stronger hash
            self.db.execute("UPDATE web_users SET password_hash = ? WHERE username = ?", [new_hash, username])
        return User(username, _role(row[1]), int(row[2]))

    def all(self) -> list[tuple[str, Role, bool, datetime]]:
        """Every account: name, role, disabled, created."""
        return [
            (str(r[0]), _role(r[1]), bool(r[2]), datetime.fromtimestamp(float(r[3]), self._now().tzinfo))
            for r in self.db.query(
                "SELECT username, role, disabled, created_at FROM web_users ORDER BY username"
            )
        ]

    def set_role(self, username: str, role: Role) -> None:
        """Change an account's role; its sessions end."""
        if role not in ROLES:
            raise UserError(f"role {role!r} does not exist: use one of {', '.join(ROLES)}")
        self._update(username, "role = ?", [role])

    def set_disabled(self, username: str, disabled: bool) -> None:
        """Disable (or enable again) an account; its sessions end."""
        self._update(username, "disabled = ?", [int(disabled)])

    def set_password(self, username: str, password: str) -> None:
        """Set a new password; the account's sessions end."""
        check_password(password)
        self._update(username, "password_hash = ?", [self._hasher.hash(password)])

    def count_admins(self) -> int:
        """Enabled admins: the last one cannot be demoted or disabled."""
        return int(self.db.scalar("SELECT count(*) FROM web_users WHERE role = 'admin' AND disabled = 0"))

    def _update(self, username: str, assignment: str, params: list[object]) -> None:
        done = self.db.execute(
            f"UPDATE web_users SET {assignment}, session_epoch = session_epoch + 1 WHERE username = ?",  # noqa: S608
            [*params, username],
        )
        if done.rowcount == 0:
            raise UserError(f"no user {username!r}")


def check_password(password: str) -> None:
    """Raise :class:`UserError` when a password is too short to be set."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise UserError(f"the password is too short: use at least {MIN_PASSWORD_CHARS} characters")


def _role(value: object) -> Role:
    text = str(value)
    for role in ROLES:
        if role == text:
            return role
    raise UserError(f"the store holds an unknown role {text!r}; set it on the users page")


class SignInLimits:
    """Failed sign-ins per account and per client address in a moving window (the ``limits`` library, in
    memory: a restart forgets them, which only gives an attacker one more window)."""

    def __init__(self, per_account: str, per_address: str) -> None:
        self._account = parse(per_account)
        self._address = parse(per_address)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def allowed(self, username: str, address: str) -> bool:
        """Whether one more attempt may be checked now."""
        return self._limiter.test(self._account, "account", username) and self._limiter.test(
            self._address, "address", address
        )

    def failed(self, username: str, address: str) -> None:
        """Count a failed attempt against the account and the address."""
        self._limiter.hit(self._account, "account", username)
        self._limiter.hit(self._address, "address", address)

    def succeeded(self, username: str) -> None:
        """A right password clears the account's failures (not the address's)."""
        self._limiter.clear(self._account, "account", username)

    def retry_after_s(self, username: str, address: str) -> int:
        """Seconds until an attempt is allowed again (0 when it is now)."""
        waits = [0.0]
        now = datetime.now().timestamp()
        for limit, key in ((self._account, ("account", username)), (self._address, ("address", address))):
            if not self._limiter.test(limit, *key):
                reset, _ = self._limiter.get_window_stats(limit, *key)
                waits.append(reset - now)
        return max(1, int(max(waits) + 0.999)) if max(waits) > 0 else 0
