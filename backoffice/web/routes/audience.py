"""The audience pages: the audience (OTS, watchers, dwell, attention, valence mix and frustration by hour
and day), offers (the funnel, conversion per offer and per bandit arm, mood uplift, the offers frustration
follows) and feedback (CSAT and NPS over time). Every figure comes from the hourly rollups through
:mod:`backoffice.reports`; a cell under k visits is a ``Suppressed`` and is shown '< k' everywhere."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from pydantic import BaseModel

from backoffice.reports.models import AudienceRow, FeedbackRow, FrustrationRow, Suppressed, Value
from backoffice.web.access import allow
from backoffice.web.context import services_of
from backoffice.web.i18n import Words
from backoffice.web.page import CellValue, Chart, Column, ColumnKind, Page, Series, Table, chart_value
from backoffice.web.render import words
from backoffice.web.routes.common import page_filters, register_page
from backoffice.web.users import EVERYONE

router = APIRouter()


def model_table(
    name: str, title: str, columns: Sequence[Column], rows: Sequence[BaseModel], definition: str
) -> Table:
    """A table whose cells are the rows' attributes named by the columns' keys."""
    return Table(
        name,
        title,
        tuple(columns),
        tuple(tuple(_attr(row, c.key) for c in columns) for row in rows),
        definition,
    )


def _attr(row: BaseModel, key: str) -> CellValue:
    value: object = getattr(row, key)
    if value is None or isinstance(value, str | int | float | bool | datetime | Value | Suppressed):
        return value
    raise TypeError(f"{type(row).__name__}.{key} is a {type(value).__name__}, not a table cell")


def bucket_labels(starts: Sequence[datetime | None], zone: ZoneInfo, daily: bool) -> tuple[str, ...]:
    """Chart labels of hours or days in the display time zone."""
    fmt = "%Y-%m-%d" if daily else "%m-%d %H:00"
    return tuple("" if s is None else s.astimezone(zone).strftime(fmt) for s in starts)


def audience_columns(t: Words, kind: ColumnKind) -> list[Column]:
    """Columns of an audience table (``kind``: the bucket, 'hour' or 'day')."""
    return [
        Column("start", t.col_hour if kind == "hour" else t.col_day, kind),
        Column("visits", t.col_visits, "int"),
        Column("watchers", t.col_watchers, "int"),
        Column("glances", t.col_glances, "int"),
        Column("watcher_rate", t.col_watcher_rate, "share"),
        Column("dwell_s_mean", t.col_dwell_s_mean, "seconds"),
        Column("attention_s_mean", t.col_attention_s_mean, "seconds"),
        Column("dwell_s_total", t.col_dwell_s_total, "seconds"),
        Column("attention_s_total", t.col_attention_s_total, "seconds"),
        Column("valence_s", t.col_valence_s, "seconds"),
        Column("negative_share", t.col_negative_share, "share"),
        Column("neutral_share", t.col_neutral_share, "share"),
        Column("positive_share", t.col_positive_share, "share"),
    ]


def frustration_columns(t: Words, kind: ColumnKind) -> list[Column]:
    """Columns of a frustration table."""
    return [
        Column("start", t.col_hour if kind == "hour" else t.col_day, kind),
        Column("visits_read", t.col_visits_read, "int"),
        Column("frustrated", t.col_frustrated, "int"),
        Column("per_100_visits_read", t.col_frustrated_per_100, "number1"),
    ]


def valence_chart(
    name: str, title: str, t: Words, rows: Sequence[AudienceRow], labels: tuple[str, ...]
) -> Chart:
    """The valence mix of each bucket, stacked (shares)."""
    return Chart(
        name,
        title,
        "stacked",
        labels,
        (
            Series(t.col_negative_share, tuple(chart_value(r.negative_share) for r in rows)),
            Series(t.col_neutral_share, tuple(chart_value(r.neutral_share) for r in rows)),
            Series(t.col_positive_share, tuple(chart_value(r.positive_share) for r in rows)),
        ),
        unit="%",
    )


def build_audience(request: Request) -> Page:
    """The audience page."""
    t = words(request)
    filters = page_filters(request)
    report_filters = filters.report_filters()
    reports = services_of(request).reports
    audience, frustration = reports.audience_page(report_filters)
    hours = audience.by_hour
    days = audience.by_day
    hour_labels = bucket_labels([r.start for r in hours], filters.zone, daily=False)
    day_labels = bucket_labels([r.start for r in days], filters.zone, daily=True)
    total_columns = audience_columns(t, "text")[1:]
    frustration_days: Sequence[FrustrationRow] = frustration.by_day
    return Page(
        "audience",
        t.audience_title,
        "audience",
        tables=(
            model_table("total", t.audience_total, total_columns, [audience.total], "audience"),
            model_table("by_hour", t.audience_by_hour, audience_columns(t, "hour"), hours, "audience"),
            model_table("by_day", t.audience_by_day, audience_columns(t, "day"), days, "audience"),
            model_table(
                "frustration_total",
                t.frustration_total,
                frustration_columns(t, "text")[1:],
                [frustration.total],
                "frustration",
            ),
            model_table(
                "frustration_by_day",
                t.frustration_by_day,
                frustration_columns(t, "day"),
                frustration_days,
                "frustration",
            ),
            model_table(
                "frustration_by_hour",
                t.frustration_by_hour,
                frustration_columns(t, "hour"),
                frustration.by_hour,
                "frustration",
            ),
        ),
        charts=(
            Chart(
                "visits_by_hour",
                t.chart_visits_by_hour,
                "bar",
                hour_labels,
                (
                    Series(t.col_visits, tuple(chart_value(r.visits) for r in hours)),
                    Series(t.col_watchers, tuple(chart_value(r.watchers) for r in hours)),
                ),
            ),
            Chart(
                "time_by_hour",
                t.chart_time_by_hour,
                "line",
                hour_labels,
                (
                    Series(t.col_dwell_s_mean, tuple(chart_value(r.dwell_s_mean) for r in hours)),
                    Series(t.col_attention_s_mean, tuple(chart_value(r.attention_s_mean) for r in hours)),
                ),
                unit="s",
            ),
            valence_chart("valence_by_hour", t.chart_valence_by_hour, t, hours, hour_labels),
            Chart(
                "visits_by_day",
                t.chart_visits_by_day,
                "bar",
                day_labels,
                (
                    Series(t.col_visits, tuple(chart_value(r.visits) for r in days)),
                    Series(t.col_watchers, tuple(chart_value(r.watchers) for r in days)),
                ),
            ),
            valence_chart("valence_by_day", t.chart_valence_by_day, t, days, day_labels),
            Chart(
                "frustration_by_day",
                t.chart_frustration_by_day,
                "line",
                bucket_labels([r.start for r in frustration_days], filters.zone, daily=True),
                (
                    Series(
                        t.col_frustrated_per_100,
                        tuple(chart_value(r.per_100_visits_read) for r in frustration_days),
                    ),
                ),
            ),
        ),
        notes=(t.note_k.format(k=audience.k),),
        filters=filters.as_query(),
    )


def build_offers(request: Request) -> Page:
    """The offers page: funnel, conversion per offer and per arm, mood uplift, frustration per offer."""
    t = words(request)
    filters = page_filters(request)
    report_filters = filters.report_filters()
    reports = services_of(request).reports
    offers, mood, frustration = reports.offers_page(report_filters)
    funnel_columns = [
        Column("offer_id", t.col_offer),
        Column("shown", t.col_shown, "int"),
        Column("shown_to_visits", t.col_shown_to_visits, "int"),
        Column("ended", t.col_ended, "int"),
        Column("attended", t.col_attended, "int"),
        Column("tapped", t.col_tapped, "int"),
        Column("redeemed", t.col_redeemed, "int"),
        Column("attended_rate", t.col_attended_rate, "share"),
        Column("tap_rate", t.col_tap_rate, "share"),
        Column("redemption_rate", t.col_redemption_rate, "share"),
        Column("shown_s_mean", t.col_shown_s_mean, "seconds"),
    ]
    arm_columns = [
        Column("offer_id", t.col_offer),
        Column("arm", t.col_arm),
        Column("shown", t.col_shown, "int"),
        Column("shown_to_visits", t.col_shown_to_visits, "int"),
        Column("ended", t.col_ended, "int"),
        Column("attended", t.col_attended, "int"),
        Column("tapped", t.col_tapped, "int"),
        Column("redeemed", t.col_redeemed, "int"),
        Column("attended_rate", t.col_attended_rate, "share"),
        Column("tap_rate", t.col_tap_rate, "share"),
        Column("redemption_rate", t.col_redemption_rate, "share"),
    ]
    mood_columns = [
        Column("offer_id", t.col_offer),
        Column("pairs", t.col_pairs, "int"),
        Column("before_positive_share", t.col_before_positive, "share"),
        Column("during_positive_share", t.col_during_positive, "share"),
        Column("positive_uplift", t.col_positive_uplift, "share"),
        Column("before_negative_share", t.col_before_negative, "share"),
        Column("during_negative_share", t.col_during_negative, "share"),
        Column("negative_uplift", t.col_negative_uplift, "share"),
    ]
    frustration_columns_ = [
        Column("offer_id", t.col_offer),
        Column("shown_to_visits", t.col_shown_to_visits, "int"),
        Column("frustrated_after", t.col_frustrated_after, "int"),
        Column("per_100_showings", t.col_frustrated_per_100_showings, "number1"),
        Column("share_of_frustrated", t.col_share_of_frustrated, "share"),
    ]
    total = offers.total
    per_offer = offers.per_offer
    offer_labels = tuple(str(r.offer_id) for r in per_offer)
    mood_offers = mood.per_offer
    follows = frustration.per_offer
    return Page(
        "offers",
        t.offers_title,
        "funnel",
        tables=(
            model_table("funnel", t.offers_funnel, funnel_columns, [total], "funnel"),
            model_table("per_offer", t.offers_per_offer, funnel_columns, per_offer, "funnel"),
            model_table("per_arm", t.offers_per_arm, arm_columns, offers.per_arm, "arms"),
            model_table("mood", t.offers_mood, mood_columns, [mood.total, *mood_offers], "mood"),
            model_table("frustration", t.offers_frustration, frustration_columns_, follows, "frustration"),
        ),
        charts=(
            Chart(
                "funnel",
                t.chart_funnel,
                "hbar",
                (t.col_shown, t.col_attended, t.col_tapped, t.col_redeemed),
                (
                    Series(
                        t.col_events,
                        tuple(
                            chart_value(c)
                            for c in (total.shown, total.attended, total.tapped, total.redeemed)
                        ),
                    ),
                ),
            ),
            Chart(
                "conversion",
                t.chart_conversion,
                "bar",
                offer_labels,
                (
                    Series(t.col_attended_rate, tuple(chart_value(r.attended_rate) for r in per_offer)),
                    Series(t.col_tap_rate, tuple(chart_value(r.tap_rate) for r in per_offer)),
                    Series(t.col_redemption_rate, tuple(chart_value(r.redemption_rate) for r in per_offer)),
                ),
                unit="%",
            ),
            Chart(
                "mood",
                t.chart_mood,
                "bar",
                tuple(str(r.offer_id) for r in mood_offers),
                (
                    Series(
                        t.col_before_positive,
                        tuple(chart_value(r.before_positive_share) for r in mood_offers),
                    ),
                    Series(
                        t.col_during_positive,
                        tuple(chart_value(r.during_positive_share) for r in mood_offers),
                    ),
                ),
                unit="%",
            ),
            Chart(
                "frustration",
                t.chart_frustration_offers,
                "bar",
                tuple(r.offer_id for r in follows),
                (
                    Series(
                        t.col_frustrated_per_100_showings,
                        tuple(chart_value(r.per_100_showings) for r in follows),
                    ),
                ),
            ),
        ),
        notes=(t.note_k.format(k=offers.k), t.note_arms),
        filters=filters.as_query(),
    )


def feedback_columns(t: Words, kind: ColumnKind) -> list[Column]:
    """Columns of a feedback table."""
    return [
        Column("start", t.col_day, kind),
        Column("csat_responses", t.col_csat_responses, "int"),
        Column("csat_mean", t.col_csat_mean, "number2"),
        Column("csat_satisfied_share", t.col_csat_satisfied, "share"),
        Column("nps_responses", t.col_nps_responses, "int"),
        Column("promoters", t.col_promoters, "int"),
        Column("passives", t.col_passives, "int"),
        Column("detractors", t.col_detractors, "int"),
        Column("nps", t.col_nps, "number1"),
    ]


def build_feedback(request: Request) -> Page:
    """The feedback page: CSAT and NPS over time."""
    t = words(request)
    filters = page_filters(request)
    report = services_of(request).reports.feedback(filters.report_filters())
    days: Sequence[FeedbackRow] = report.by_day
    labels = bucket_labels([r.start for r in days], filters.zone, daily=True)
    distribution = report.total.csat_distribution
    return Page(
        "feedback",
        t.feedback_title,
        "feedback",
        tables=(
            model_table(
                "total", t.feedback_total, feedback_columns(t, "text")[1:], [report.total], "feedback"
            ),
            model_table("by_day", t.feedback_by_day, feedback_columns(t, "day"), days, "feedback"),
            Table(
                "csat_distribution",
                t.feedback_distribution,
                (Column("score", t.col_score, "int"), Column("answers", t.col_answers, "int")),
                tuple((score, cell) for score, cell in zip(range(1, 6), distribution, strict=False)),
                "feedback",
            ),
        ),
        charts=(
            Chart(
                "csat",
                t.chart_csat,
                "line",
                labels,
                (Series(t.col_csat_mean, tuple(chart_value(r.csat_mean) for r in days)),),
            ),
            Chart(
                "nps",
                t.chart_nps,
                "line",
                labels,
                (Series(t.col_nps, tuple(chart_value(r.nps) for r in days)),),
            ),
            Chart(
                "csat_distribution",
                t.feedback_distribution,
                "bar",
                ("1", "2", "3", "4", "5"),
                (Series(t.col_answers, tuple(chart_value(c) for c in distribution)),),
            ),
        ),
        notes=(t.note_k.format(k=report.k),),
        filters=filters.as_query(),
    )


register_page(router, "/audience", "audience", allow(*EVERYONE), build_audience)
register_page(router, "/offers", "offers", allow(*EVERYONE), build_offers)
register_page(router, "/feedback", "feedback", allow(*EVERYONE), build_feedback)
