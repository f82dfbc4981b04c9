"""What the routers share: a data page registered at three sibling URLs, and the page filters."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from backoffice.web.context import services_of
from backoffice.web.page import Page
from backoffice.web.render import BadRequestError, respond
from backoffice.web.reports import PageFilters


def page_filters(request: Request) -> PageFilters:
    """The filters of the page's query string (``store``, ``device``, ``start``, ``end``: dates)."""
    query = request.query_params
    services = services_of(request)

    def day(name: str) -> date | None:
        text = query.get(name, "").strip()
        if not text:
            return None
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise BadRequestError(f"{name}={text!r} is not a date: use YYYY-MM-DD, e.g. 2026-12-01") from None

    return PageFilters.parse(
        store=query.get("store"),
        device=query.get("device"),
        start=day("start"),
        end=day("end"),
        now=services.clock(),
        zone=services.settings.zone,
    )


def register_page(
    router: APIRouter,
    path: str,
    name: str,
    rule: Any,
    build: Callable[[Request], Page],
    *,
    template_name: str = "page.html",
    context: Callable[[Request, Page], dict[str, Any]] | None = None,
) -> None:
    """Serve ``build``'s page at ``path`` (HTML), ``path.json`` and ``path/<table>.csv``, each under
    ``rule``."""

    def as_html(request: Request, _user: Any = rule) -> Response:
        page = build(request)
        extra = context(request, page) if context is not None else {}
        return respond(request, page, "html", template_name=template_name, **extra)

    def as_json(request: Request, _user: Any = rule) -> Response:
        return respond(request, build(request), "json")

    def as_csv(request: Request, table: str, _user: Any = rule) -> Response:
        return respond(request, build(request), "csv", table)

    # The data URLs first: '/fleet/{store}/{device}' would otherwise take '/fleet/x/devices.csv'.
    router.add_api_route(f"{path}.json", as_json, methods=["GET"], name=f"{name}_json")
    router.add_api_route(f"{path}/{{table}}.csv", as_csv, methods=["GET"], name=f"{name}_csv")
    router.add_api_route(path, as_html, methods=["GET"], name=name, response_model=None)
