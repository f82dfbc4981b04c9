"""Staff-call KPIs: time to acknowledge and to resolve, per store and per hour."""

from __future__ import annotations

from backoffice.db import Database
from backoffice.reports.models import Filters, StaffKpiReport


def staff_kpis(db: Database, filters: Filters) -> StaffKpiReport:
    """From ``staff_call_hourly`` (rolled up at ingest and at each transition)."""
    raise NotImplementedError("written in the next commit")
