"""Staff-call KPIs: time to acknowledge and to resolve, per store and per hour.

Not about shoppers (they measure the staff's response), so plain numbers, never suppressed. Every call
counts in the hour the back office received it (``staff_call_hourly``, rolled up at ingest and at each
transition)."""

from __future__ import annotations

from datetime import datetime

from backoffice.db import Database
from backoffice.reports.models import Filters, StaffKpiReport, StaffKpiRow, ratio
from backoffice.reports.query import Sums, add_up, by_hour, per_hour, sums
from backoffice.rollups import STAFF_CALLS


def staff_row(v: Sums, *, store_id: str | None = None, start: datetime | None = None) -> StaffKpiRow:
    """One row of :class:`StaffKpiRow` from ``staff_call_hourly`` sums."""
    acknowledged = int(v.get("acknowledged", 0))
    resolved = int(v.get("resolved", 0))
    return StaffKpiRow(
        store_id=store_id,
        start=start,
        raised=int(v.get("raised", 0)),
        raised_negative_valence=int(v.get("raised_negative_valence", 0)),
        raised_shopper_request=int(v.get("raised_shopper_request", 0)),
        acknowledged=acknowledged,
        resolved=resolved,
        escalated=int(v.get("escalated", 0)),
        device_acks=int(v.get("device_acks", 0)),
        ack_mean_s=ratio(v.get("ack_s", 0.0), acknowledged),
        ack_within_60s_share=ratio(v.get("ack_le_60", 0.0), acknowledged),
        ack_over_300s=acknowledged - int(v.get("ack_le_300", 0)),
        resolve_mean_s=ratio(v.get("resolve_s", 0.0), resolved),
    )


def staff_kpis(db: Database, filters: Filters) -> StaffKpiReport:
    """From ``staff_call_hourly`` (rolled up at ingest and at each transition)."""
    hours = per_hour(sums(db, STAFF_CALLS, filters, ("hour",)))
    stores = sums(db, STAFF_CALLS, filters, ("store_id",))
    return StaffKpiReport(
        filters=filters,
        total=staff_row(add_up(hours.values())),
        per_store=tuple(staff_row(v, store_id=str(key[0])) for key, v in sorted(stores.items())),
        by_hour=tuple(staff_row(v, start=start) for start, v in by_hour(hours, filters)),
    )
