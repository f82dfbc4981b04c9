"""Proof of play (every signed-in role reads it, as the other reports): per offer and catalogue version, how
often and how long it was shown, on which devices, with its audience (watchers, attention, taps, CSAT), from
the hourly rollup ``offer_play_hourly`` (never raw events); every table also as CSV and JSON."""

from __future__ import annotations

from fastapi import APIRouter, Request

from backoffice.campaigns.proof_of_play import PlayRow, report
from backoffice.web.access import allow
from backoffice.web.campaign_context import cwords
from backoffice.web.campaign_i18n import CampaignWords
from backoffice.web.context import services_of
from backoffice.web.page import CellValue, Chart, Column, Page, Series, Table, chart_value
from backoffice.web.render import words
from backoffice.web.routes.common import page_filters, register_page
from backoffice.web.users import EVERYONE

router = APIRouter()


def play_columns(c: CampaignWords, *, per_device: bool) -> tuple[Column, ...]:
    """The columns of a proof-of-play table."""
    where = (
        (Column("store_id", c.col_store), Column("device_id", c.col_device))
        if per_device
        else (Column("devices", c.col_devices, "int"),)
    )
    return (
        Column("offer_id", c.col_offer),
        Column("catalogue_version", c.col_version, "int"),
        *where,
        Column("shown", c.col_shown, "int"),
        Column("shown_s", c.col_shown_s, "seconds"),
        Column("shown_s_mean", c.col_shown_s_mean, "seconds"),
        Column("shown_to_visits", c.col_shown_to_visits, "int"),
        Column("watchers", c.col_watchers, "int"),
        Column("watcher_rate", c.col_watcher_rate, "share"),
        Column("attention_s_mean", c.col_attention_s_mean, "seconds"),
        Column("tapped", c.col_tapped, "int"),
        Column("csat_n", c.col_csat_n, "int"),
        Column("csat_mean", c.col_csat_mean, "number2"),
        Column("csat_satisfied_share", c.col_csat_satisfied, "share"),
    )


def _cells(row: PlayRow, *, per_device: bool) -> tuple[CellValue, ...]:
    where: tuple[CellValue, ...] = (row.store_id, row.device_id) if per_device else (row.devices,)
    return (
        row.offer_id,
        row.catalogue_version,
        *where,
        row.shown,
        row.shown_s,
        row.shown_s_mean,
        row.shown_to_visits,
        row.watchers,
        row.watcher_rate,
        row.attention_s_mean,
        row.tapped,
        row.csat_n,
        row.csat_mean,
        row.csat_satisfied_share,
    )


def build_proof(request: Request) -> Page:
    """The proof-of-play page."""
    c = cwords(request)
    t = words(request)
    filters = page_filters(request)
    report_filters = filters.report_filters()
    services = services_of(request)
    play = report(services.db, report_filters, services.reports.k)
    labels = tuple(f"{r.offer_id} v{r.catalogue_version or '-'}" for r in play.per_version)
    return Page(
        "proof",
        c.proof_title,
        "proof-of-play",
        tables=(
            Table(
                "per_version",
                c.proof_per_version,
                play_columns(c, per_device=False),
                tuple(_cells(r, per_device=False) for r in play.per_version),
                "proof-of-play",
            ),
            Table(
                "per_device",
                c.proof_per_device,
                play_columns(c, per_device=True),
                tuple(_cells(r, per_device=True) for r in play.per_device),
                "proof-of-play",
            ),
            Table(
                "by_day",
                c.proof_by_day,
                (
                    Column("day", t.col_day, "day"),
                    Column("shown", c.col_shown, "int"),
                    Column("shown_s", c.col_shown_s, "seconds"),
                ),
                tuple((d.day, d.shown, d.shown_s) for d in play.by_day),
                "proof-of-play",
            ),
        ),
        charts=(
            Chart(
                "shown_per_version",
                c.chart_shown_per_version,
                "hbar",
                labels,
                (Series(c.col_shown, tuple(float(r.shown) for r in play.per_version)),),
            ),
            Chart(
                "seconds_per_version",
                c.chart_seconds_per_version,
                "hbar",
                labels,
                (Series(c.col_shown_s, tuple(r.shown_s for r in play.per_version)),),
                unit="s",
            ),
            Chart(
                "watchers_per_version",
                c.chart_watchers_per_version,
                "hbar",
                labels,
                (Series(c.col_watcher_rate, tuple(chart_value(r.watcher_rate) for r in play.per_version)),),
                unit="%",
            ),
            Chart(
                "shown_by_day",
                c.chart_shown_by_day,
                "bar",
                tuple(d.day.strftime("%Y-%m-%d") for d in play.by_day),
                (Series(c.col_shown, tuple(float(d.shown) for d in play.by_day)),),
            ),
        ),
        notes=(c.proof_note.format(k=services.reports.k),),
        filters=filters.as_query(),
    )


register_page(router, "/proof", "proof", allow(*EVERYONE), build_proof)
