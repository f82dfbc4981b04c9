"""Feedback: CSAT and NPS over time.

A CSAT figure's visits are its CSAT answers (one per visit at most: the screen asks once); an NPS figure's,
its NPS answers. Each half of a row is suppressed on its own count."""

from __future__ import annotations

from datetime import datetime

from backoffice.db import Database
from backoffice.reports.models import FeedbackReport, FeedbackRow, Filters, cell, ratio
from backoffice.reports.query import Sums, add_up, by_day, per_hour, sums
from backoffice.rollups import FEEDBACK
from backoffice.settings import ReportSettings


def feedback_row(start: datetime | None, v: Sums, k: int) -> FeedbackRow:
    """One bucket's :class:`FeedbackRow` from its ``feedback_hourly`` sums."""
    csat, nps = int(v.get("csat_n", 0)), int(v.get("nps_n", 0))
    promoters, detractors = v.get("nps_promoters", 0.0), v.get("nps_detractors", 0.0)
    nps_value = ratio(100 * (promoters - detractors), nps)
    return FeedbackRow(
        start=start,
        csat_responses=cell(csat, csat, k),
        csat_mean=cell(ratio(v.get("csat_score_sum", 0), csat), csat, k),
        csat_satisfied_share=cell(ratio(v.get("csat_4", 0) + v.get("csat_5", 0), csat), csat, k),
        csat_distribution=tuple(cell(v.get(f"csat_{s}", 0), csat, k) for s in range(1, 6)),
        nps_responses=cell(nps, nps, k),
        promoters=cell(promoters, nps, k),
        passives=cell(v.get("nps_passives", 0), nps, k),
        detractors=cell(detractors, nps, k),
        nps=cell(nps_value, nps, k),
    )


def feedback(db: Database, filters: Filters, settings: ReportSettings) -> FeedbackReport:
    """CSAT and NPS by day and in total from ``feedback_hourly``; cells under k answers suppressed."""
    k = settings.k_anonymity
    hours = per_hour(sums(db, FEEDBACK, filters, ("hour",)))
    return FeedbackReport(
        filters=filters,
        k=k,
        by_day=tuple(feedback_row(start, v, k) for start, v in by_day(hours, filters)),
        total=feedback_row(None, add_up(hours.values()), k),
    )
