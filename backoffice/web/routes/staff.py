"""The staff-call page: the live list (server-sent events: it changes without a reload), acknowledge and
resolve buttons that record who and when (and tell the kiosk), escalations, and the KPIs (time to
acknowledge and to resolve per store and per hour, from the rollups)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sse_starlette.sse import EventSourceResponse

from backoffice.reports.models import StaffKpiRow
from backoffice.staff_calls import StaffCallRecord
from backoffice.web.access import allow
from backoffice.web.calls import DeskOutcome
from backoffice.web.context import services_of
from backoffice.web.i18n import Words
from backoffice.web.page import CellValue, Chart, Column, Page, Series, Table, chart_value
from backoffice.web.render import template, words
from backoffice.web.routes.audience import bucket_labels, model_table
from backoffice.web.routes.common import page_filters, register_page
from backoffice.web.routes.session import client_address
from backoffice.web.users import EVERYONE, Role, User

router = APIRouter()

#: Who may acknowledge and resolve.
RESPONDERS: tuple[Role, ...] = ("operator", "admin")


def call_columns(t: Words) -> tuple[Column, ...]:
    """Columns of the calls table (CSV and JSON of the live list)."""
    return (
        Column("call_id", t.col_call),
        Column("store_id", t.col_store),
        Column("device_id", t.col_device),
        Column("zone", t.col_zone),
        Column("reason", t.col_reason),
        Column("offer_id", t.col_offer),
        Column("state", t.col_state),
        Column("raised_at", t.col_raised_at, "time"),
        Column("waiting_s", t.col_waiting_s, "int"),
        Column("escalated_at", t.col_escalated_at, "time"),
        Column("acknowledged_at", t.col_acknowledged_at, "time"),
        Column("acknowledged_by", t.col_acknowledged_by),
        Column("resolved_at", t.col_resolved_at, "time"),
        Column("resolved_by", t.col_resolved_by),
        Column("device_ack_at", t.col_device_ack_at, "time"),
        Column("kiosk_answer", t.col_kiosk_answer),
    )


def call_cells(request: Request, call: StaffCallRecord) -> tuple[CellValue, ...]:
    """One call's row."""
    desk = services_of(request).desk
    return (
        call.call_id,
        call.store_id,
        call.device_id,
        call.zone,
        call.reason,
        call.offer_id,
        call.state,
        call.raised_at,
        round(desk.waiting_s(call)),
        call.escalated_at,
        call.acknowledged_at,
        call.acknowledged_by,
        call.resolved_at,
        call.resolved_by,
        call.device_ack_at,
        desk.kiosk_answer(call.call_id),
    )


def kpi_columns(t: Words, first: Column) -> list[Column]:
    """Columns of a KPI table, after its first (store or hour)."""
    return [
        first,
        Column("raised", t.col_raised, "int"),
        Column("raised_negative_valence", t.col_raised_frustration, "int"),
        Column("raised_shopper_request", t.col_raised_request, "int"),
        Column("acknowledged", t.col_acknowledged, "int"),
        Column("resolved", t.col_resolved, "int"),
        Column("escalated", t.col_escalated, "int"),
        Column("device_acks", t.col_device_acks, "int"),
        Column("ack_mean_s", t.col_ack_mean_s, "seconds"),
        Column("ack_within_60s_share", t.col_ack_within_60s, "share"),
        Column("ack_over_300s", t.col_ack_over_300s, "int"),
        Column("resolve_mean_s", t.col_resolve_mean_s, "seconds"),
    ]


def live_filters(request: Request) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The store and device the live list is narrowed to."""
    filters = page_filters(request)
    return ((filters.store,) if filters.store else ()), ((filters.device,) if filters.device else ())


def build_staff(request: Request) -> Page:
    """The staff page's data: the live calls and the KPIs of the range."""
    t = words(request)
    filters = page_filters(request)
    services = services_of(request)
    stores, devices = live_filters(request)
    calls = services.desk.live_calls(stores, devices)
    # The page's live list shows the same calls: read once a request (request.state dies with it).
    request.state.staff_live_calls = calls
    kpis = services.reports.staff_kpis(filters.report_filters())
    hours: tuple[StaffKpiRow, ...] = kpis.by_hour
    labels = bucket_labels([h.start for h in hours], filters.zone, daily=False)
    stores_rows = kpis.per_store
    return Page(
        "staff",
        t.staff_title,
        "staff",
        tables=(
            Table(
                "calls", t.staff_calls, call_columns(t), tuple(call_cells(request, c) for c in calls), "staff"
            ),
            model_table(
                "kpi_total",
                t.staff_kpi_total,
                kpi_columns(t, Column("store_id", t.col_store))[1:],
                [kpis.total],
                "staff-kpis",
            ),
            model_table(
                "kpi_per_store",
                t.staff_kpi_per_store,
                kpi_columns(t, Column("store_id", t.col_store)),
                stores_rows,
                "staff-kpis",
            ),
            model_table(
                "kpi_by_hour",
                t.staff_kpi_by_hour,
                kpi_columns(t, Column("start", t.col_hour, "hour")),
                hours,
                "staff-kpis",
            ),
        ),
        charts=(
            Chart(
                "ack_by_hour",
                t.chart_ack_by_hour,
                "line",
                labels,
                (
                    Series(t.col_ack_mean_s, tuple(chart_value(h.ack_mean_s) for h in hours)),
                    Series(t.col_resolve_mean_s, tuple(chart_value(h.resolve_mean_s) for h in hours)),
                ),
                unit="s",
            ),
            Chart(
                "calls_by_hour",
                t.chart_calls_by_hour,
                "bar",
                labels,
                (
                    Series(t.col_raised, tuple(float(h.raised) for h in hours)),
                    Series(t.col_escalated, tuple(float(h.escalated) for h in hours)),
                ),
            ),
            Chart(
                "ack_by_store",
                t.chart_ack_by_store,
                "bar",
                tuple(str(s.store_id) for s in stores_rows),
                (Series(t.col_ack_mean_s, tuple(chart_value(s.ack_mean_s) for s in stores_rows)),),
                unit="s",
            ),
        ),
        notes=(t.staff_note_escalation.format(seconds=round(services.settings.escalate_after_s)),),
        filters=filters.as_query(),
    )


def calls_context(
    request: Request, message: str = "", every: list[StaffCallRecord] | None = None
) -> dict[str, Any]:
    """What the live list's template needs (``every``: the live calls this request already read)."""
    services = services_of(request)
    stores, devices = live_filters(request)
    if every is None:
        every = services.desk.live_calls(stores, devices)
    # A long list (a fleet whose calls nobody answers) is cut: the page stays light, and so does every
    # update the stream sends; /staff/calls.csv and /staff.json have them all.
    calls = every[: services.settings.live_rows]
    user: User | None = getattr(request.state, "user", None)
    return {
        "calls": calls,
        "open_calls": sum(c.state == "open" for c in every),
        "more_calls": len(every) - len(calls),
        "waiting": {c.call_id: round(services.desk.waiting_s(c)) for c in calls},
        "answers": {c.call_id: services.desk.kiosk_answer(c.call_id) for c in calls},
        "can_respond": user is not None and user.role in RESPONDERS,
        "escalate_after_s": services.settings.escalate_after_s,
        "message": message,
        "live_query": request.url.query,
    }


register_page(
    router,
    "/staff",
    "staff",
    allow(*EVERYONE),
    build_staff,
    template_name="staff.html",
    context=lambda request, _page: calls_context(
        request, every=getattr(request.state, "staff_live_calls", None)
    ),
)


@router.get("/staff/live", name="staff_live", response_class=HTMLResponse)
def staff_live(request: Request, _user: User = allow(*EVERYONE)) -> HTMLResponse:
    """The live list alone (what the stream sends, for a client without server-sent events)."""
    return template(request, "_calls.html", **calls_context(request))


@router.get("/staff/stream", name="staff_stream")
async def staff_stream(request: Request, _user: User = allow(*EVERYONE)) -> EventSourceResponse:
    """Server-sent events: ``calls`` with the list's HTML whenever it changes (checked every
    ``poll_interval_s``), so the page updates without a reload."""
    interval = services_of(request).settings.poll_interval_s

    def render() -> str:
        response = template(request, "_calls.html", **calls_context(request))
        return bytes(response.body).decode("utf-8")

    async def events() -> AsyncIterator[dict[str, str]]:
        last = ""
        while not await request.is_disconnected():
            html = await anyio.to_thread.run_sync(render)
            digest = hashlib.sha256(html.encode()).hexdigest()
            if digest != last:
                last = digest
                yield {"event": "calls", "data": html}
            await asyncio.sleep(interval)

    return EventSourceResponse(events(), ping=15)


def _answer(request: Request, outcome: DeskOutcome) -> Response:
    t = words(request)
    call = outcome.transition.call
    if not outcome.transition.done:
        who = call.resolved_by if call.state == "resolved" else call.acknowledged_by
        message = t.staff_already.format(state=call.state, who=who or "?")
    elif outcome.problem:
        message = t.staff_not_told
    else:
        message = ""
    if request.headers.get("hx-request"):
        return template(request, "_calls.html", **calls_context(request, message))
    return RedirectResponse("/staff", status_code=303)


@router.post("/staff/calls/{call_id}/ack", name="staff_ack")
def staff_ack(request: Request, call_id: str, user: User = allow(*RESPONDERS)) -> Response:
    """Acknowledge a call: recorded with who and when, and the kiosk is sent its signed staff_ack."""
    outcome = services_of(request).desk.acknowledge(call_id, user.username, client_address(request))
    return _answer(request, outcome)


@router.post("/staff/calls/{call_id}/resolve", name="staff_resolve")
def staff_resolve(request: Request, call_id: str, user: User = allow(*RESPONDERS)) -> Response:
    """Resolve a call (acknowledging it first if it was open)."""
    outcome = services_of(request).desk.resolve(call_id, user.username, client_address(request))
    return _answer(request, outcome)
