"""The staff desk: what the staff page does with :mod:`backoffice.staff_calls` (the state machine, its atomic
transitions and the escalation rule): acknowledge and resolve on behalf of a user (recorded in the audit
log), tell the kiosk over MQTT (a signed ``staff_ack``), and escalate calls left unacknowledged (shown, and
posted to the webhook).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from backoffice import staff_calls
from backoffice.db import Database
from backoffice.staff_calls import StaffCallRecord, Transition
from backoffice.web.audit import SYSTEM_ACTOR, AuditLog
from backoffice.web.link import KioskLink, LinkError, SentCommand
from backoffice.web.webhook import Escalation, WebhookPoster

logger = logging.getLogger(__name__)

#: Resolved calls stay on the live list this long after they were resolved.
RECENT_RESOLVED: Final = timedelta(hours=1)

#: staff_ack commands remembered by call id (what the page says the kiosk answered).
SENT_KEPT: Final = 10_000


@dataclass(frozen=True)
class DeskOutcome:
    """What an operator's click did: the transition, the command sent (if any), a problem to show."""

    transition: Transition
    sent: SentCommand | None
    problem: str = ""


class StaffDesk:
    """Acknowledge, resolve and escalate staff calls."""

    def __init__(
        self,
        db: Database,
        link: KioskLink,
        audit: AuditLog,
        clock: Callable[[], datetime],
        *,
        escalate_after_s: float,
        webhook: WebhookPoster | None = None,
        page_url: str = "",
    ) -> None:
        self.db = db
        self.link = link
        self.audit = audit
        self.clock = clock
        self.escalate_after_s = escalate_after_s
        self.webhook = webhook
        self.page_url = page_url
        self._sent: OrderedDict[str, SentCommand] = OrderedDict()
        self._lock = threading.Lock()

    # --- operators ---------------------------------------------------------------------------------------

    def acknowledge(self, call_id: str, user: str, address: str) -> DeskOutcome:
        """``open -> acknowledged`` by ``user``; on success the kiosk is sent its staff_ack."""
        transition = staff_calls.acknowledge(self.db, call_id, user, self.clock())
        return self._after(transition, user, address, "staff_ack")

    def resolve(self, call_id: str, user: str, address: str) -> DeskOutcome:
        """``-> resolved`` by ``user``; an open call is acknowledged in the same step (and the kiosk told)."""
        transition = staff_calls.resolve(self.db, call_id, user, self.clock())
        return self._after(transition, user, address, "staff_resolve")

    def _after(self, transition: Transition, user: str, address: str, action: str) -> DeskOutcome:
        call = transition.call
        if not transition.done:
            return DeskOutcome(transition, None)
        sent: SentCommand | None = None
        problem = ""
        if transition.acknowledged_now:
            try:
                sent = self.link.send_staff_ack(call.store_id, call.device_id, call.call_id)
            except LinkError as exc:
                problem = str(exc)
                logger.warning("staff call %s: %s", call.call_id, problem)
            if sent is not None:
                with self._lock:
                    self._sent[call.call_id] = sent
                    while len(self._sent) > SENT_KEPT:
                        self._sent.popitem(last=False)
        detail = f"command {sent.command_id}" if sent is not None else problem
        if transition.acknowledged_now:
            self.audit.record(
                user,
                "staff_ack",
                target=call.call_id,
                store_id=call.store_id,
                device_id=call.device_id,
                address=address,
                detail=detail,
            )
        if action == "staff_resolve":
            self.audit.record(
                user,
                "staff_resolve",
                target=call.call_id,
                store_id=call.store_id,
                device_id=call.device_id,
                address=address,
            )
        return DeskOutcome(transition, sent, problem)

    # --- what the page shows -----------------------------------------------------------------------------

    def live_calls(
        self, stores: tuple[str, ...] = (), devices: tuple[str, ...] = ()
    ) -> list[StaffCallRecord]:
        """Open and acknowledged calls, then calls resolved within :data:`RECENT_RESOLVED`, newest first."""
        unresolved = staff_calls.open_calls(self.db, stores=stores, devices=devices)
        recent = staff_calls.list_calls(
            self.db,
            states=("resolved",),
            stores=stores,
            devices=devices,
            since=self.clock() - RECENT_RESOLVED - timedelta(days=1),
            limit=200,
        )
        cutoff = self.clock() - RECENT_RESOLVED
        return unresolved + [c for c in recent if c.resolved_at is not None and c.resolved_at >= cutoff]

    def kiosk_answer(self, call_id: str) -> str:
        """What the kiosk answered to the staff_ack of ``call_id``: 'applied', 'refused: ...', 'sent'
        (no answer yet) or '' (none sent from this server)."""
        with self._lock:
            sent = self._sent.get(call_id)
        if sent is None:
            return ""
        result = self.link.command_result(sent.command_id)
        if result is None:
            return "sent"
        return result.status if result.status != "refused" else f"refused: {result.reason}"

    def counts(self) -> tuple[int, int]:
        """(open, unresolved) calls now, for /metrics."""
        row = self.db.execute(
            "SELECT sum(CASE WHEN state = 'open' THEN 1 ELSE 0 END), count(*) FROM staff_calls "
            "WHERE state IN ('open', 'acknowledged')"
        ).fetchone()
        return (int(row[0] or 0), int(row[1] or 0)) if row is not None else (0, 0)

    def waiting_s(self, call: StaffCallRecord) -> float:
        """Seconds the call has waited (to its acknowledgement, or until now)."""
        end = call.acknowledged_at or self.clock()
        return max(0.0, (end - call.raised_at).total_seconds())

    # --- escalation --------------------------------------------------------------------------------------

    def escalate_due(self) -> list[StaffCallRecord]:
        """Escalate every call unacknowledged for ``escalate_after_s``: marked once in the store (one
        server wins), recorded in the audit log and posted to the webhook. Returns the calls escalated now."""
        now = self.clock()
        escalated = []
        for call in staff_calls.due_escalations(self.db, now, self.escalate_after_s):
            if not staff_calls.mark_escalated(self.db, call.call_id, now):
                continue
            escalated.append(call)
            waiting = (now - call.raised_at).total_seconds()
            self.audit.record(
                SYSTEM_ACTOR,
                "staff_escalated",
                target=call.call_id,
                store_id=call.store_id,
                device_id=call.device_id,
                detail=f"unacknowledged for {waiting:.0f} s",
            )
            if self.webhook is not None:
                self.webhook.submit(
                    Escalation(
                        call_id=call.call_id,
                        store_id=call.store_id,
                        device_id=call.device_id,
                        zone=call.zone,
                        reason=call.reason,
                        raised_at=call.raised_at.isoformat(),
                        waiting_s=round(waiting, 1),
                        url=self.page_url,
                    )
                )
        return escalated
