"""Redemption at the till: a code a kiosk showed is checked, redeemed exactly once, and its reward sent to the
kiosk that issued it.

:meth:`Till.redeem` checks a code with the wire contract's one scheme
(:func:`mqtt_bridge.contract.redemption.verify`: format, the MAC under the issuing device's secret, expiry,
and the store): the till holds only the fleet's redemption master key and derives each device's secret from
it (:func:`~mqtt_bridge.contract.redemption.device_secret`).
Devices are those the fleet knows for the till's store; offers, every offer ever published or drafted.
A genuine code is redeemed in one transaction: an ``INSERT ... ON CONFLICT (code) DO NOTHING`` into
``redemptions`` (the code is the primary key) and its audit entry. Of any number of tills trying one code at
once, exactly one insert takes it; every other try reads the row and is told when and where it was used.

A refused code says why, as a :class:`TillVerdict` whose ``status`` a page words for a cashier in Russian or
English: ``already_used`` (with when, where and by whom), ``expired`` (with its last day), ``other_store``
(from a screen of another store: which), ``unknown_device`` (from no screen of the fleet), ``unknown_offer``,
``mistyped`` (the MAC does not check out), ``malformed`` (not 16 code characters), ``not_set_up`` (no
master key).

The reward: the redemption is stored as an ``offer_redeemed`` event by the kiosk that issued the code, which
knows the bandit arm the code's tap was credited to. :class:`RewardCourier` sends that kiosk a signed
``redeem`` command (one command id per redemption) until it answers: ``applied`` (rewarded now) or
``duplicate`` (rewarded before: a resend) mark it ``rewarded``; ``refused`` (the kiosk does not hold the code)
marks it ``refused`` with the kiosk's reason. A kiosk that is offline gets it when it is back: the courier
sends again every ``reward_resend_s`` and gives up ``reward_give_up_days`` after the code's last day.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

from backoffice.campaigns.link import CampaignLink, LinkDownError
from backoffice.campaigns.settings import CampaignSettings
from backoffice.db import Database, Migration
from backoffice.errors import BackofficeError
from backoffice.web.audit import AuditLog
from mqtt_bridge.contract import redemption as scheme
from mqtt_bridge.contract.errors import ContractError

logger = logging.getLogger(__name__)

COMPONENT: Final = "redemption"


def _table(dialect: str) -> str:
    real = "REAL" if dialect == "sqlite" else "DOUBLE PRECISION"
    big = "INTEGER" if dialect == "sqlite" else "BIGINT"
    return f"""CREATE TABLE redemptions (
        code TEXT PRIMARY KEY, store_id TEXT NOT NULL, device_id TEXT NOT NULL, offer_id TEXT NOT NULL,
        expires TEXT NOT NULL, redeemed_at {real} NOT NULL, redeemed_by TEXT NOT NULL,
        till TEXT NOT NULL DEFAULT '', reward_command_id TEXT NOT NULL, reward_status TEXT NOT NULL,
        reward_sends {big} NOT NULL DEFAULT 0, reward_sent_at {real}, reward_answered_at {real},
        reward_detail TEXT NOT NULL DEFAULT '');
    CREATE INDEX redemptions_reward ON redemptions (reward_status);
    CREATE INDEX redemptions_at ON redemptions (redeemed_at)"""


#: The till's table: one row per redeemed code (the code is the key: a code is redeemed once).
MIGRATIONS: Final[tuple[Migration, ...]] = (
    Migration("0001_redemptions", _table("sqlite"), _table("postgresql")),
)


def migrate(db: Database) -> list[str]:
    """Make or update ``redemptions``."""
    return db.migrate(COMPONENT, MIGRATIONS)


class RedemptionError(BackofficeError):
    """The till cannot check codes (no master key, a key too short): the message says what to set."""


TillStatus = Literal[
    "ok",
    "already_used",
    "expired",
    "other_store",
    "unknown_device",
    "unknown_offer",
    "mistyped",
    "malformed",
    "not_set_up",
]
RewardStatus = Literal["pending", "rewarded", "refused", "gave_up"]


@dataclass(frozen=True)
class Redemption:
    """A redeemed code, and how its reward to the kiosk went."""

    code: str
    store_id: str
    device_id: str
    offer_id: str
    expires: date
    redeemed_at: datetime
    redeemed_by: str
    till: str
    reward_command_id: str
    reward_status: RewardStatus
    reward_sends: int
    reward_sent_at: datetime | None
    reward_answered_at: datetime | None
    reward_detail: str


@dataclass(frozen=True)
class TillVerdict:
    """The till's answer about one code: honour it (``ok``) or not, and the facts a cashier is told."""

    status: TillStatus
    code: str
    offer_id: str | None = None
    device_id: str | None = None
    store_id: str | None = None
    expires: date | None = None
    #: ``already_used``: the earlier redemption; ``ok``: this one.
    redemption: Redemption | None = None
    #: ``other_store``: the store whose screen issued it.
    issued_in: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the cashier honours the code (it was redeemed now)."""
        return self.status == "ok"


#: The till's word for each of the scheme's verdicts (``wrong_device`` is looked into further).
_STATUS_OF: Final[dict[scheme.Status, TillStatus]] = {
    "ok": "ok",
    "expired": "expired",
    "unknown_offer": "unknown_offer",
    "bad_mac": "mistyped",
    "malformed": "malformed",
    "wrong_device": "unknown_device",
}


def _time(value: Any) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(float(value), UTC)


def _reward(value: Any) -> RewardStatus:
    for status in ("pending", "rewarded", "refused", "gave_up"):
        if value == status:
            return status
    return "pending"


_COLUMNS = (
    "code, store_id, device_id, offer_id, expires, redeemed_at, redeemed_by, till, reward_command_id, "
    "reward_status, reward_sends, reward_sent_at, reward_answered_at, reward_detail"
)


def _redemption(row: Any) -> Redemption:
    return Redemption(
        str(row[0]),
        str(row[1]),
        str(row[2]),
        str(row[3]),
        date.fromisoformat(str(row[4])),
        _time(row[5]) or datetime.now(UTC),
        str(row[6]),
        str(row[7]),
        str(row[8]),
        _reward(row[9]),
        int(row[10]),
        _time(row[11]),
        _time(row[12]),
        str(row[13]),
    )


class Till:
    """Checks and redeems codes (see the module's docstring).

    ``master_key``: the fleet's redemption master key (None: every code is answered ``not_set_up``);
    ``devices``: (store, device) of every device the fleet knows; ``offers``: every offer id a code may be
    for; ``zone``: the stores' time zone (a code's last day is a local day)."""

    def __init__(
        self,
        db: Database,
        *,
        master_key: bytes | None,
        devices: Callable[[], Iterable[tuple[str, str]]],
        offers: Callable[[], Iterable[str]],
        clock: Callable[[], datetime],
        zone: ZoneInfo,
        audit: AuditLog,
    ) -> None:
        if master_key is not None:
            try:
                scheme.check_master(master_key)
            except ContractError as exc:
                raise RedemptionError(f"[campaigns] redemption_master_key: {exc}") from exc
        self.db = db
        self._master = master_key
        self._devices = devices
        self._offers = offers
        self._now = clock
        self.zone = zone
        self.audit = audit

    def secret_of(self, store_id: str, device_id: str) -> bytes:
        """A device's MAC key, derived from the master key."""
        if self._master is None:
            raise RedemptionError("no [campaigns] redemption_master_key: the till cannot check codes")
        return scheme.secret_bytes(scheme.device_secret(self._master, store_id, device_id))

    def find(self, code: str) -> Redemption | None:
        """The redemption of ``code`` (typing slips forgiven), if it was redeemed."""
        row = self.db.execute(
            f"SELECT {_COLUMNS} FROM redemptions WHERE code = ?",  # noqa: S608
            [scheme.normalise(code)],
        ).fetchone()
        return _redemption(row) if row is not None else None

    def check(self, code: str, store_id: str) -> TillVerdict:
        """What the till would answer about ``code`` at ``store_id``, without redeeming it."""
        grouped = scheme.normalise(code)
        if len(grouped.replace("-", "")) != scheme.CODE_LENGTH or "-" not in grouped:
            return TillVerdict("malformed", grouped)
        used = self.find(grouped)
        if used is not None:
            return TillVerdict(
                "already_used",
                grouped,
                used.offer_id,
                used.device_id,
                used.store_id,
                used.expires,
                redemption=used,
            )
        if self._master is None:
            return TillVerdict("not_set_up", grouped)
        today = self._now().astimezone(self.zone).date()
        offers = list(self._offers())
        known = list(self._devices())
        here = {d: self.secret_of(s, d) for s, d in known if s == store_id}
        verdict = scheme.verify(grouped, devices=here, offers=offers, today=today)
        if verdict.status == "wrong_device":
            for other in sorted({s for s, _ in known if s != store_id}):
                there = {d: self.secret_of(s, d) for s, d in known if s == other}
                elsewhere = scheme.verify(grouped, devices=there, offers=offers, today=today)
                if elsewhere.status in ("ok", "expired"):
                    return TillVerdict(
                        "other_store",
                        grouped,
                        elsewhere.offer_id,
                        elsewhere.device_id,
                        store_id,
                        elsewhere.expires,
                        issued_in=other,
                    )
            return TillVerdict("unknown_device", grouped)
        return TillVerdict(
            _STATUS_OF[verdict.status],
            grouped,
            verdict.offer_id,
            verdict.device_id,
            store_id,
            verdict.expires,
        )

    def redeem(self, code: str, store_id: str, *, by: str, till: str = "", address: str = "") -> TillVerdict:
        """Check ``code`` at ``store_id`` and, if it is good, redeem it exactly once (see the module's
        docstring); the verdict says what the cashier does."""
        verdict = self.check(code, store_id)
        if verdict.status != "ok":
            return verdict
        assert verdict.device_id is not None and verdict.offer_id is not None and verdict.expires is not None
        now = self._now()
        with self.db.transaction():
            taken = self.db.execute(
                "INSERT INTO redemptions (code, store_id, device_id, offer_id, expires, redeemed_at, "
                "redeemed_by, till, reward_command_id, reward_status) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending') ON CONFLICT (code) DO NOTHING RETURNING code",
                [
                    verdict.code,
                    store_id,
                    verdict.device_id,
                    verdict.offer_id,
                    verdict.expires.isoformat(),
                    now.timestamp(),
                    by,
                    till[:64],
                    f"redeem-{uuid.uuid4().hex}",
                ],
            ).fetchone()
            if taken is not None:
                self.audit.record(
                    by,
                    "redeem",
                    target=verdict.code,
                    store_id=store_id,
                    device_id=verdict.device_id,
                    address=address,
                    detail=f"offer {verdict.offer_id}" + (f", till {till}" if till else ""),
                )
        redemption = self.find(verdict.code)
        assert redemption is not None
        if taken is None:  # another till took it between the check and the insert
            return TillVerdict(
                "already_used",
                verdict.code,
                redemption.offer_id,
                redemption.device_id,
                redemption.store_id,
                redemption.expires,
                redemption=redemption,
            )
        return TillVerdict(
            "ok",
            verdict.code,
            verdict.offer_id,
            verdict.device_id,
            store_id,
            verdict.expires,
            redemption=redemption,
        )

    def recent(self, *, store_id: str = "", limit: int = 200) -> list[Redemption]:
        """The latest redemptions (of one store), newest first."""
        where, params = ("WHERE store_id = ?", [store_id]) if store_id else ("", [])
        return [
            _redemption(r)
            for r in self.db.query(
                f"SELECT {_COLUMNS} FROM redemptions {where} ORDER BY redeemed_at DESC LIMIT {int(limit)}",  # noqa: S608
                params,
            )
        ]

    def pending_rewards(self) -> list[Redemption]:
        """Redemptions whose kiosk has not answered yet."""
        return [
            _redemption(r)
            for r in self.db.query(
                f"SELECT {_COLUMNS} FROM redemptions WHERE reward_status = 'pending' ORDER BY redeemed_at"  # noqa: S608
            )
        ]


class RewardCourier:
    """Sends each redemption's ``redeem`` command to the kiosk that issued the code until it answers (see
    the module's docstring). :meth:`step` runs in the web application's background (and in tests)."""

    def __init__(
        self,
        till: Till,
        link: CampaignLink,
        settings: CampaignSettings,
        clock: Callable[[], datetime],
    ) -> None:
        self.till = till
        self.db = till.db
        self.link = link
        self.settings = settings
        self._now = clock

    def send(self, redemption: Redemption) -> bool:
        """Send (again) one redemption's command now; False when the broker cannot be reached."""
        try:
            self.link.send_redeem(
                redemption.store_id, redemption.device_id, redemption.reward_command_id, redemption.code
            )
        except LinkDownError as exc:
            logger.info("reward for %s not sent now: %s", redemption.code, exc)
            return False
        self.db.execute(
            "UPDATE redemptions SET reward_sends = reward_sends + 1, reward_sent_at = ? WHERE code = ?",
            [self._now().timestamp(), redemption.code],
        )
        return True

    def step(self) -> int:
        """Record the kiosks' answers that arrived, send what is due (never sent, or unanswered for
        ``reward_resend_s``), give up what is too old; returns how many commands were sent."""
        now = self._now()
        sent = 0
        for redemption in self.till.pending_rewards():
            result = self.link.redeem_result(redemption.reward_command_id)
            if result is not None:
                status: RewardStatus = "refused" if result.status == "refused" else "rewarded"
                self.db.execute(
                    "UPDATE redemptions SET reward_status = ?, reward_answered_at = ?, reward_detail = ? "
                    "WHERE code = ? AND reward_status = 'pending'",
                    [status, now.timestamp(), f"{result.status}: {result.reason}"[:300], redemption.code],
                )
                continue
            give_up = datetime.combine(
                redemption.expires + timedelta(days=self.settings.reward_give_up_days),
                datetime.min.time(),
                UTC,
            )
            if now >= give_up:
                self.db.execute(
                    "UPDATE redemptions SET reward_status = 'gave_up', reward_detail = ? "
                    "WHERE code = ? AND reward_status = 'pending'",
                    [f"no answer from {redemption.device_id} by {give_up:%Y-%m-%d}", redemption.code],
                )
                continue
            due = (
                redemption.reward_sent_at is None
                or (now - redemption.reward_sent_at).total_seconds() >= self.settings.reward_resend_s
            )
            if due and self.send(redemption):
                sent += 1
        return sent
