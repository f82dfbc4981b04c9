"""Audience: OTS, watchers, dwell, attention and the valence mix, by hour, by day and in total."""

from __future__ import annotations

from backoffice.db import Database
from backoffice.reports.models import AudienceReport, Filters
from backoffice.settings import ReportSettings


def audience(db: Database, filters: Filters, settings: ReportSettings) -> AudienceReport:
    """The audience of ``filters`` from ``audience_hourly``; cells under k visits suppressed."""
    raise NotImplementedError("written in the next commit")
