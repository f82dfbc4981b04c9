"""The audit log: who signed in, acknowledged, resolved, redeemed, published, rolled back (table
``web_audit``, made by :mod:`backoffice.web.users`' migrations). Rows are only ever added.

Other components of the back office (campaigns, redemption at the till) record their actions through
:meth:`AuditLog.record` with an action from :data:`ACTIONS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Literal, get_args

from backoffice.db import Database

Action = Literal[
    "sign_in",
    "sign_in_failed",
    "sign_in_refused",
    "sign_out",
    "staff_ack",
    "staff_resolve",
    "staff_escalated",
    "redeem",
    "publish",
    "rollback",
    "approve",
    # campaigns (#18): a draft edited, a publication asked for (waiting for approval) or rejected
    "campaign_edit",
    "publish_request",
    "reject",
    "user_add",
    "user_role",
    "user_disable",
    "user_enable",
    "user_password",
]
ACTIONS: Final[tuple[Action, ...]] = get_args(Action)

#: The actor of what the server does by itself (an escalation).
SYSTEM_ACTOR: Final = "(system)"


@dataclass(frozen=True)
class AuditEntry:
    """One row of the audit log."""

    at: datetime
    actor: str
    action: Action
    target: str = ""
    store_id: str = ""
    device_id: str = ""
    address: str = ""
    detail: str = ""


@dataclass(frozen=True)
class AuditFilter:
    """What the audit page asks for; every field optional."""

    start: datetime | None = None
    end: datetime | None = None
    actor: str = ""
    action: str = ""
    store_id: str = ""
    device_id: str = ""


class AuditLog:
    """Append and read the audit log."""

    def __init__(self, db: Database, clock: Callable[[], datetime]) -> None:
        self.db = db
        self._now = clock

    def record(
        self,
        actor: str,
        action: Action,
        *,
        target: str = "",
        store_id: str = "",
        device_id: str = "",
        address: str = "",
        detail: str = "",
    ) -> AuditEntry:
        """Append one entry, now; returns it."""
        if action not in ACTIONS:
            raise ValueError(f"unknown audit action {action!r}; add it to backoffice.web.audit.Action")
        entry = AuditEntry(self._now(), actor, action, target, store_id, device_id, address, detail[:500])
        self.db.execute(
            "INSERT INTO web_audit (at, actor, action, target, store_id, device_id, address, detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [entry.at.timestamp(), actor, action, target, store_id, device_id, address, entry.detail],
        )
        return entry

    def entries(self, where: AuditFilter, limit: int | None = None) -> list[AuditEntry]:
        """Entries matching ``where``, newest first (at most ``limit``)."""
        clauses: list[str] = []
        params: list[object] = []
        if where.start is not None:
            clauses.append("at >= ?")
            params.append(where.start.timestamp())
        if where.end is not None:
            clauses.append("at < ?")
            params.append(where.end.timestamp())
        for column, value in (
            ("actor", where.actor),
            ("action", where.action),
            ("store_id", where.store_id),
            ("device_id", where.device_id),
        ):
            if value:
                clauses.append(f"{column} = ?")
                params.append(value)
        sql = "SELECT at, actor, action, target, store_id, device_id, address, detail FROM web_audit"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY at DESC, id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [
            AuditEntry(
                datetime.fromtimestamp(float(r[0]), UTC),
                str(r[1]),
                _action(r[2]),
                str(r[3]),
                str(r[4]),
                str(r[5]),
                str(r[6]),
                str(r[7]),
            )
            for r in self.db.query(sql, params)
        ]

    def actors(self) -> list[str]:
        """Every actor that appears in the log (for the filter)."""
        return [str(r[0]) for r in self.db.query("SELECT DISTINCT actor FROM web_audit ORDER BY actor")]


def _action(value: object) -> Action:
    for action in ACTIONS:
        if action == value:
            return action
    raise ValueError(f"the audit log holds an unknown action {value!r}")
