"""Feedback: CSAT and NPS over time."""

from __future__ import annotations

from backoffice.db import Database
from backoffice.reports.models import FeedbackReport, Filters
from backoffice.settings import ReportSettings


def feedback(db: Database, filters: Filters, settings: ReportSettings) -> FeedbackReport:
    """CSAT and NPS by day and in total from ``feedback_hourly``; cells under k answers suppressed."""
    raise NotImplementedError("written in the next commit")
