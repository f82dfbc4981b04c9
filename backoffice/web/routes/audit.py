"""The audit page: who signed in, acknowledged, resolved, redeemed, published, rolled back; filtered by
date range, actor, action, store and device; exported as CSV and JSON like every page."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from fastapi import APIRouter, Request

from backoffice.web.access import allow
from backoffice.web.audit import ACTIONS, AuditFilter
from backoffice.web.context import services_of
from backoffice.web.page import Chart, Column, Page, Series, Table
from backoffice.web.render import words
from backoffice.web.routes.common import page_filters, register_page
from backoffice.web.users import Role

router = APIRouter()

#: Who may read the audit log.
AUDITORS: tuple[Role, ...] = ("admin",)


def build_audit(request: Request) -> Page:
    """The audit page."""
    t = words(request)
    filters = page_filters(request)
    services = services_of(request)
    actor = request.query_params.get("actor", "").strip()
    action = request.query_params.get("action", "").strip()
    where = AuditFilter(
        start=datetime.combine(filters.start, time(), filters.zone),
        end=datetime.combine(filters.end + timedelta(days=1), time(), filters.zone),
        actor=actor,
        action=action if action in ACTIONS else "",
        store_id=filters.store,
        device_id=filters.device,
    )
    entries = services.audit.entries(where)
    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry.action] = counts.get(entry.action, 0) + 1
    return Page(
        "audit",
        t.audit_title,
        "audit",
        tables=(
            Table(
                "entries",
                t.audit_entries,
                (
                    Column("at", t.col_at, "time"),
                    Column("actor", t.col_actor),
                    Column("action", t.col_action),
                    Column("target", t.col_target),
                    Column("store_id", t.col_store),
                    Column("device_id", t.col_device),
                    Column("address", t.col_address),
                    Column("detail", t.col_detail),
                ),
                tuple(
                    (e.at, e.actor, e.action, e.target, e.store_id, e.device_id, e.address, e.detail)
                    for e in entries
                ),
                "audit",
            ),
        ),
        charts=(
            Chart(
                "actions",
                t.chart_audit_actions,
                "bar",
                tuple(sorted(counts)),
                (Series(t.col_entries, tuple(float(counts[a]) for a in sorted(counts))),),
            ),
        ),
        filters={**filters.as_query(), "actor": actor, "action": where.action},
    )


register_page(
    router,
    "/audit",
    "audit",
    allow(*AUDITORS),
    build_audit,
    template_name="audit.html",
    context=lambda request, _page: {
        "actions": ACTIONS,
        "actors": services_of(request).audit.actors(),
    },
)
