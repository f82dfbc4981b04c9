"""Audience: OTS, watchers, dwell, attention and the valence mix, by hour, by day and in total.

A cell's visits are the visits that ended in its bucket (``visit_ended`` events): every figure of a row is
built from them, so the whole row is suppressed when 0 < visits < k."""

from __future__ import annotations

from datetime import datetime

from backoffice.db import Database
from backoffice.reports.models import AudienceReport, AudienceRow, Filters, Suppressed, Value, cell, ratio
from backoffice.reports.query import Sums, add_up, by_day, by_hour, per_hour, sums
from backoffice.rollups import AUDIENCE
from backoffice.settings import ReportSettings


def audience_row(start: datetime | None, v: Sums, k: int) -> AudienceRow:
    """One bucket's :class:`AudienceRow` from its ``audience_hourly`` sums."""
    visits = int(v.get("visits", 0))
    negative, neutral, positive = (v.get(f"valence_{c}_s", 0.0) for c in ("negative", "neutral", "positive"))
    valence = negative + neutral + positive

    def c(value: float | None) -> Value | Suppressed:
        return cell(value, visits, k)

    return AudienceRow(
        start=start,
        visits=c(visits),
        watchers=c(v.get("watchers", 0)),
        glances=c(v.get("glances", 0)),
        watcher_rate=c(ratio(v.get("watchers", 0), visits)),
        dwell_s_mean=c(ratio(v.get("dwell_s", 0), visits)),
        attention_s_mean=c(ratio(v.get("attention_s", 0), visits)),
        dwell_s_total=c(v.get("dwell_s", 0)),
        attention_s_total=c(v.get("attention_s", 0)),
        valence_s=c(valence),
        negative_share=c(ratio(negative, valence)),
        neutral_share=c(ratio(neutral, valence)),
        positive_share=c(ratio(positive, valence)),
    )


def audience_hours(db: Database, filters: Filters) -> dict[int, Sums]:
    """``audience_hourly``'s every column summed per hour over ``filters``: what :func:`audience` and
    :func:`backoffice.reports.frustration` read, fetched once for a page that shows both."""
    return per_hour(sums(db, AUDIENCE, filters, ("hour",)))


def audience(
    db: Database, filters: Filters, settings: ReportSettings, *, hours: dict[int, Sums] | None = None
) -> AudienceReport:
    """The audience of ``filters`` from ``audience_hourly``; cells under k visits suppressed (``hours``:
    :func:`audience_hours` already fetched)."""
    k = settings.k_anonymity
    hours = audience_hours(db, filters) if hours is None else hours
    return AudienceReport(
        filters=filters,
        k=k,
        by_hour=tuple(audience_row(start, v, k) for start, v in by_hour(hours, filters)),
        by_day=tuple(audience_row(start, v, k) for start, v in by_day(hours, filters)),
        total=audience_row(None, add_up(hours.values()), k),
    )
