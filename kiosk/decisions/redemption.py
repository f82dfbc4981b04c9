"""Redemption codes on the device: issued at a tap, held until a till redeems them, shown with a QR code.

The format and its check are the wire contract's (:mod:`mqtt_bridge.contract.redemption`): the one scheme.
This module keeps the device's side of it:

* :class:`CodeIssuer` issues a code when the shopper asks for one (the offer engine's tap) and remembers
  it in a :class:`CodeStore` with the offer and the bandit's context bucket, so that a redemption at the
  till rewards the arm that earned it, once, even after a restart.
* :class:`SqliteCodeStore` is that memory on disk (``redemption.sqlite`` in ``[storage] data_dir``,
  tables made by sqlite-utils ``Migrations``); :class:`MemoryCodeStore` the same in memory (tests, demo).
  A row holds the code, the offer id, the bucket, the last valid day and whether it was redeemed: never
  anything about a person, not even when the code was issued.
* :func:`qr_matrix` draws the QR code.
"""

from __future__ import annotations

import logging
import random
import secrets
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlite_utils import Database, Migrations

from kiosk.clock import Clock
from kiosk.config import KioskConfig
from kiosk.errors import KioskError
from mqtt_bridge.contract import redemption as contract
from mqtt_bridge.contract.redemption import ALPHABET, Verdict, check_secret, normalise

__all__ = [
    "ALPHABET",
    "CODES_FILE",
    "CodeIssuer",
    "CodeStore",
    "CodeStoreError",
    "MemoryCodeStore",
    "OpenCode",
    "SqliteCodeStore",
    "device_codes",
    "normalise",
    "qr_matrix",
]

log = logging.getLogger(__name__)

#: The code store's file in ``[storage] data_dir``.
CODES_FILE = "redemption.sqlite"
#: Codes are forgotten this many days after their last valid day: a till's redemption may reach the device
#: late (the till, not the device, judges expiry), but not later than this.
FORGET_AFTER_DAYS = 30
#: Draws of a nonce before giving up on a code (only when nearly all 1024 for an offer and day are held).
MAX_DRAWS = 32


@dataclass(frozen=True)
class OpenCode:
    """An issued code the device remembers: which offer and bandit arm a redemption rewards."""

    code: str
    offer_id: str
    bucket: str
    expires: date


class CodeStore(Protocol):
    """Where a device keeps its issued codes. Calls come from one thread at a time (the brain's lock)."""

    def add(self, code: OpenCode) -> bool:
        """Keep ``code``; False (and nothing kept) when a code with the same text is already held."""
        ...

    def redeem(self, code: str) -> OpenCode | None:
        """Mark ``code`` (normalised) redeemed and return it; None when unknown or already redeemed."""
        ...

    def forget(self, before: date) -> int:
        """Drop codes whose last valid day is before ``before``; returns how many."""
        ...


class MemoryCodeStore:
    """A :class:`CodeStore` in memory, bounded: past ``max_codes`` the oldest code is forgotten (counted in
    ``dropped``; it can no longer reward the bandit)."""

    def __init__(self, max_codes: int = 10_000) -> None:
        self.max_codes = max_codes
        self.dropped = 0
        self._codes: dict[str, tuple[OpenCode, bool]] = {}

    def add(self, code: OpenCode) -> bool:
        """See :meth:`CodeStore.add`."""
        if code.code in self._codes:
            return False
        self._codes[code.code] = (code, False)
        while len(self._codes) > self.max_codes:
            del self._codes[next(iter(self._codes))]
            self.dropped += 1
        return True

    def redeem(self, code: str) -> OpenCode | None:
        """See :meth:`CodeStore.redeem`."""
        held = self._codes.get(code)
        if held is None or held[1]:
            return None
        self._codes[code] = (held[0], True)
        return held[0]

    def forget(self, before: date) -> int:
        """See :meth:`CodeStore.forget`."""
        old = [text for text, (held, _) in self._codes.items() if held.expires < before]
        for text in old:
            del self._codes[text]
        return len(old)


class CodeStoreError(KioskError):
    """The redemption code store cannot be opened or written."""


MIGRATIONS = Migrations("kiosk.decisions.redemption")


@MIGRATIONS()
def m001_codes(db: Database) -> None:
    """One row per issued code: its offer, bandit bucket, last valid day and whether it was redeemed."""
    db.execute(
        """CREATE TABLE codes (
            code TEXT PRIMARY KEY, offer_id TEXT NOT NULL, bucket TEXT NOT NULL, expires TEXT NOT NULL,
            redeemed INTEGER NOT NULL DEFAULT 0)"""
    )
    db.execute("CREATE INDEX codes_expires ON codes (expires)")


class SqliteCodeStore:
    """A :class:`CodeStore` in one SQLite file (WAL). Opened in one thread and used under the brain worker's
    lock from others, so the connection is not tied to its thread; every write is its own transaction."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = Database(sqlite3.connect(path, check_same_thread=False))
            self._db.enable_wal()
            MIGRATIONS.apply(self._db)
        except (OSError, sqlite3.Error) as exc:
            raise CodeStoreError(
                f"cannot open the redemption code store {path}: {exc}; check [storage] data_dir and the disk"
            ) from exc

    def add(self, code: OpenCode) -> bool:
        """See :meth:`CodeStore.add`."""
        with self._writing():
            cursor = self._db.conn.execute(
                "INSERT OR IGNORE INTO codes (code, offer_id, bucket, expires) VALUES (?, ?, ?, ?)",
                [code.code, code.offer_id, code.bucket, code.expires.isoformat()],
            )
        return cursor.rowcount == 1

    def redeem(self, code: str) -> OpenCode | None:
        """See :meth:`CodeStore.redeem`. The check and the mark are one statement: a code redeems once."""
        with self._writing():
            row = self._db.conn.execute(
                "UPDATE codes SET redeemed = 1 WHERE code = ? AND redeemed = 0 "
                "RETURNING code, offer_id, bucket, expires",
                [code],
            ).fetchone()
        if row is None:
            return None
        return OpenCode(row[0], row[1], row[2], date.fromisoformat(row[3]))

    def forget(self, before: date) -> int:
        """See :meth:`CodeStore.forget`."""
        with self._writing():
            cursor = self._db.conn.execute("DELETE FROM codes WHERE expires < ?", [before.isoformat()])
        return cursor.rowcount

    def close(self) -> None:
        """Close the file."""
        self._db.close()

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """One committed transaction; an SQLite failure becomes a :class:`CodeStoreError`."""
        try:
            with self._db.atomic():
                yield
        except sqlite3.Error as exc:
            raise CodeStoreError(
                f"cannot write the redemption code store {self.path}: {exc}; check the disk"
            ) from exc


class CodeIssuer:
    """Issues codes for one device under its redemption secret and remembers them in ``store``.

    ``today`` gives the store's local date (codes are good through ``today() + valid_days``); ``rng`` draws
    the nonces."""

    def __init__(
        self,
        *,
        secret: bytes,
        device_id: str,
        valid_days: int,
        store: CodeStore,
        rng: random.Random,
        today: Callable[[], date],
    ) -> None:
        check_secret(secret)
        if not 0 <= valid_days <= contract.MAX_VALID_DAYS:
            raise ValueError(f"valid_days must be 0 to {contract.MAX_VALID_DAYS}, got {valid_days}")
        self._secret = secret
        self.device_id = device_id
        self.valid_days = valid_days
        self.store = store
        self._rng = rng
        self._today = today

    def issue(self, offer_id: str, bucket: str) -> str | None:
        """A fresh code for ``offer_id`` (shown after a tap in ``bucket``), remembered; None (logged) when
        every nonce for this offer and day is taken or the store cannot be written: a tap must not stop
        the kiosk."""
        today = self._today()
        expires = today + timedelta(days=self.valid_days)
        try:
            self.store.forget(today - timedelta(days=FORGET_AFTER_DAYS))
            for _ in range(MAX_DRAWS):
                code = contract.issue(
                    secret=self._secret,
                    device_id=self.device_id,
                    offer_id=offer_id,
                    expires=expires,
                    rng=self._rng,
                )
                if self.store.add(OpenCode(code, offer_id, bucket, expires)):
                    return code
        except CodeStoreError as exc:
            log.error("no redemption code shown: %s", exc)
            return None
        log.warning("no free redemption code for offer %s expiring %s; none shown", offer_id, expires)
        return None

    def redeem(self, code: str) -> OpenCode | None:
        """A till redeemed ``code`` (typing slips forgiven): the remembered code, once; None for a code this
        device does not hold or that was redeemed already (or, logged, when the store cannot be written).
        Expiry is the till's to judge."""
        try:
            return self.store.redeem(normalise(code))
        except CodeStoreError as exc:
            log.error("redemption not counted: %s", exc)
            return None

    def verify(self, code: str, offers: Iterable[str]) -> Verdict:
        """The till's verdict on ``code`` for ``offers``, today, as if this were the store's only device."""
        return contract.verify(
            code, devices={self.device_id: self._secret}, offers=offers, today=self._today()
        )


def device_codes(config: KioskConfig, clock: Clock, rng: random.Random) -> CodeIssuer:
    """The device's issuer: ``[redemption]``'s secret (read now), this device's id, codes kept in
    ``redemption.sqlite`` in ``[storage] data_dir`` and dated in the device's time zone. Without a
    configured secret one is drawn now: the codes still reward the bandit, but no till can check them."""
    if config.redemption.secret is not None:
        secret = contract.secret_bytes(config.redemption.secret.resolve().get_secret_value())
    else:
        log.warning(
            "no [redemption] secret: codes are keyed by a secret drawn at start, which no till can check; "
            "set [redemption] secret to the one the back office holds for %s",
            config.device.device_id,
        )
        secret = secrets.token_bytes(32)
    zone = ZoneInfo(config.device.timezone)
    return CodeIssuer(
        secret=secret,
        device_id=config.device.device_id,
        valid_days=config.redemption.valid_days,
        store=SqliteCodeStore(config.storage.data_dir / CODES_FILE),
        rng=rng,
        today=lambda: clock.now().astimezone(zone).date(),
    )


def qr_matrix(payload: str) -> tuple[str, ...] | None:
    """The QR code of ``payload`` as rows of '1' (dark) and '0', without the quiet zone.

    None when :mod:`segno` (pure Python) is not installed: the screen then shows the code alone.
    """
    try:
        import segno
    except ImportError:
        return None
    qr = segno.make_qr(payload, error="m")
    return tuple("".join("1" if cell else "0" for cell in row) for row in qr.matrix)
