"""The chat's KPI page (issue #19; every figure defined in docs/chat.md): conversations, containment,
hand-off rate and reasons, the operators' time to accept, first reply and resolution, the unanswered
questions (the FAQ's to-do list), and CSAT at the end of chats; at ``/chat``, ``/chat.json`` and
``/chat/<table>.csv`` like every data page. Figures come from the hourly rollup ``chat_hourly``; a cell
built from fewer than k conversations is suppressed."""

from __future__ import annotations

from fastapi import APIRouter, Request

from backoffice.chat.kpis import chat_kpis
from backoffice.web.access import allow
from backoffice.web.context import services_of
from backoffice.web.i18n_chat import ChatWords
from backoffice.web.page import Chart, Column, ColumnKind, Page, Series, Table, chart_value
from backoffice.web.render import words
from backoffice.web.routes.audience import bucket_labels, model_table
from backoffice.web.routes.common import page_filters, register_page
from backoffice.web.routes.console import chat_words
from backoffice.web.users import EVERYONE

router = APIRouter()

#: The definitions' anchor of the page (docs/chat.md's "KPIs" heading).
DEFINITION = "kpis"


def kpi_columns(c: ChatWords, first: Column | None) -> list[Column]:
    """Columns of a KPI table, after its first (the hour, day or store; None for the total)."""
    columns: list[tuple[str, str, ColumnKind]] = [
        ("conversations", c.col_conversations, "int"),
        ("finished", c.col_finished, "int"),
        ("contained", c.col_contained, "int"),
        ("containment_rate", c.col_containment_rate, "share"),
        ("handed_off", c.col_handed_off, "int"),
        ("handoff_rate", c.col_handoff_rate, "share"),
        ("unanswered_timeout", c.col_unanswered_timeout, "int"),
        ("unanswered_off_duty", c.col_unanswered_off_duty, "int"),
        ("declined", c.col_declined, "int"),
        ("accepted", c.col_accepted, "int"),
        ("accept_mean_s", c.col_accept_mean_s, "seconds"),
        ("first_replies", c.col_first_replies, "int"),
        ("first_reply_mean_s", c.col_first_reply_mean_s, "seconds"),
        ("first_reply_within_60s_share", c.col_first_reply_within_60s, "share"),
        ("resolved", c.col_resolved, "int"),
        ("resolution_mean_s", c.col_resolution_mean_s, "seconds"),
        ("handed_back", c.col_handed_back, "int"),
        ("csat_responses", c.col_csat_responses, "int"),
        ("csat_mean", c.col_csat_mean, "number2"),
        ("csat_satisfied_share", c.col_csat_satisfied, "share"),
    ]
    return ([first] if first is not None else []) + [Column(k, label, kind) for k, label, kind in columns]


def build_chat(request: Request) -> Page:
    """The chat's KPI page."""
    t = words(request)
    c = chat_words(request)
    filters = page_filters(request)
    services = services_of(request)
    report = chat_kpis(
        services.db, filters.report_filters(), services.reports.k, list_limit=services.settings.page_rows
    )
    days = report.by_day
    day_labels = bucket_labels([r.start for r in days], filters.zone, daily=True)
    reasons = report.reasons
    reason_words = {r.reason: getattr(c, f"reason_{r.reason}") for r in reasons}
    return Page(
        "chat",
        c.kpi_title,
        DEFINITION,
        tables=(
            model_table("total", c.kpi_total, kpi_columns(c, None), [report.total], DEFINITION),
            model_table(
                "by_day", c.kpi_by_day, kpi_columns(c, Column("start", t.col_day, "day")), days, DEFINITION
            ),
            model_table(
                "by_hour",
                c.kpi_by_hour,
                kpi_columns(c, Column("start", t.col_hour, "hour")),
                report.by_hour,
                DEFINITION,
            ),
            model_table(
                "per_store",
                c.kpi_per_store,
                kpi_columns(c, Column("store_id", t.col_store)),
                report.per_store,
                DEFINITION,
            ),
            Table(
                "reasons",
                c.kpi_reasons,
                (
                    Column("reason", c.col_reason),
                    Column("description", c.col_reason),
                    Column("handed_off", c.col_handed_off, "int"),
                    Column("share", c.col_share_of_handoffs, "share"),
                ),
                tuple((r.reason, reason_words[r.reason], r.handed_off, r.share) for r in reasons),
                "hand-off-reasons",
            ),
            Table(
                "unanswered",
                c.kpi_unanswered,
                (
                    Column("question", c.col_question),
                    Column("lang", c.col_lang),
                    Column("asked", c.col_asked, "int"),
                    Column("last_asked", c.col_last_asked, "time"),
                    Column("guesses", c.col_guesses),
                ),
                tuple((q.text, q.lang, q.asked, q.last_asked, q.guesses) for q in report.unanswered),
                "unanswered-questions",
            ),
            Table(
                "csat_distribution",
                c.kpi_csat_distribution,
                (Column("score", c.col_score, "int"), Column("answers", c.col_answers, "int")),
                tuple(
                    (score, cell) for score, cell in zip(range(1, 6), report.csat_distribution, strict=True)
                ),
                "chat-csat",
            ),
        ),
        charts=(
            Chart(
                "conversations_by_day",
                c.chart_conversations_by_day,
                "bar",
                day_labels,
                (
                    Series(c.col_conversations, tuple(chart_value(r.conversations) for r in days)),
                    Series(c.col_contained, tuple(chart_value(r.contained) for r in days)),
                    Series(c.col_handed_off, tuple(chart_value(r.handed_off) for r in days)),
                ),
            ),
            Chart(
                "times_by_day",
                c.chart_times_by_day,
                "line",
                day_labels,
                (
                    Series(c.col_accept_mean_s, tuple(chart_value(r.accept_mean_s) for r in days)),
                    Series(c.col_first_reply_mean_s, tuple(chart_value(r.first_reply_mean_s) for r in days)),
                    Series(c.col_resolution_mean_s, tuple(chart_value(r.resolution_mean_s) for r in days)),
                ),
                unit="s",
            ),
            Chart(
                "reasons",
                c.chart_reasons,
                "hbar",
                tuple(reason_words[r.reason] for r in reasons),
                (Series(c.col_handed_off, tuple(chart_value(r.handed_off) for r in reasons)),),
            ),
            Chart(
                "csat",
                c.chart_csat,
                "bar",
                ("1", "2", "3", "4", "5"),
                (Series(c.col_answers, tuple(chart_value(v) for v in report.csat_distribution)),),
            ),
        ),
        notes=(
            c.kpi_note_k.format(k=report.k),
            c.kpi_note_unanswered.format(days=round(services.retention.chat_transcript_days)),
        ),
        filters=filters.as_query(),
    )


register_page(router, "/chat", "chat", allow(*EVERYONE), build_chat)
