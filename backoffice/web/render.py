"""Rendering for the routes: a template with the context every page needs, a
:class:`~backoffice.web.page.Page` as HTML, JSON or CSV, and error pages."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final, Literal

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from backoffice.web.access import SESSION_LANGUAGE
from backoffice.web.context import services_of
from backoffice.web.errors import WebError
from backoffice.web.i18n import LANGUAGES, Language, Words, words_for
from backoffice.web.page import (
    Page,
    Table,
    chart_json,
    page_json,
    page_text,
    shown_rows,
    table_csv,
    table_rows_html,
)
from backoffice.web.users import User

Format = Literal["html", "json", "csv"]

#: Navigation: (path, the Words attribute of its label, roles that see it; None: everyone signed in).
NAV: Final[tuple[tuple[str, str, frozenset[str] | None], ...]] = (
    ("/fleet", "nav_fleet", None),
    ("/audience", "nav_audience", None),
    ("/offers", "nav_offers", None),
    ("/feedback", "nav_feedback", None),
    ("/staff", "nav_staff", None),
    ("/campaigns", "nav_campaigns", frozenset({"marketer", "admin"})),
    ("/proof", "nav_proof", None),
    ("/till", "nav_till", frozenset({"operator", "admin"})),
    ("/console", "nav_console", frozenset({"operator", "admin"})),
    ("/chat", "nav_chat", None),
    ("/audit", "nav_audit", frozenset({"admin"})),
    ("/users", "nav_users", frozenset({"admin"})),
    ("/definitions", "nav_definitions", None),
)


class BadRequestError(WebError):
    """The request asks for something malformed (400): the message says what."""


def language_of(request: Request) -> Language:
    """The session's language, else the server's default."""
    chosen = request.session.get(SESSION_LANGUAGE)
    for language in LANGUAGES:
        if chosen == language:
            return language
    return services_of(request).settings.default_language


def words(request: Request) -> Words:
    """The words of the request's language."""
    return words_for(language_of(request))


def wants_data(request: Request) -> bool:
    """Whether the request asks for data (JSON or CSV) rather than a page."""
    path = request.url.path
    return path.endswith((".json", ".csv")) or path == "/metrics"


def csrf_token(request: Request) -> str:
    """The CSRF token for forms and HTMX requests (asgi-csrf sets its cookie with the response)."""
    make = request.scope.get("csrftoken")
    return str(make()) if callable(make) else ""


def template(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render ``name`` with the context every page uses (words, user, navigation, CSRF token, retention)."""
    services = services_of(request)
    user: User | None = getattr(request.state, "user", None)
    t = words(request)
    nav = [
        (path, getattr(t, label), request.url.path == path or request.url.path.startswith(path + "/"))
        for path, label, roles in NAV
        if user is not None and (roles is None or user.role in roles)
    ]
    base: dict[str, Any] = {
        "t": t,
        "lang": language_of(request),
        "languages": LANGUAGES,
        "user": user,
        "nav": nav,
        "csrftoken": csrf_token(request),
        "csrf_header": json.dumps({"x-csrftoken": csrf_token(request)}),
        "raw_days": services.retention.raw_days,
        "k": services.reports.k,
        "fmt": page_text,
        "rows_html": table_rows_html,
        "chart_json": lambda chart: json.dumps(chart_json(chart)),
        "zone": services.settings.zone,
        "here": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        "pager_href": lambda table, first: pager_href(request, table, first),
    }
    return services.templates.TemplateResponse(request, name, {**base, **context}, status_code=status_code)


def respond(
    request: Request,
    page: Page,
    fmt: Format,
    table: str = "",
    template_name: str = "page.html",
    **context: Any,
) -> Response:
    """``page`` as HTML (the whole page, or only its content for an HTMX request), JSON, or one table's
    CSV."""
    if fmt == "json":
        return JSONResponse(page_json(page))
    if fmt == "csv":
        found = page.table(table)
        if found is None:
            names = ", ".join(f"{t.name}.csv" for t in page.tables)
            raise BadRequestError(f"the {page.name} page has no table {table!r}: its tables are {names}")
        return Response(
            table_csv(found),
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="{page.name}-{found.name}.csv"'},
        )
    limit = services_of(request).settings.page_rows
    shown = Page(
        page.name,
        page.title,
        page.definition,
        tuple(
            shown_rows(each, min(each.page_size, limit), first_row(request, each))
            if each.page_size
            else shown_rows(each, limit)
            for each in page.tables
        ),
        page.charts,
        page.notes,
        page.filters,
    )
    partial = request.headers.get("hx-request") and request.headers.get("hx-target") == "content"
    return template(request, "_content.html" if partial else template_name, page=shown, **context)


def pager_href(request: Request, table: Table, first: int) -> str:
    """This page's address (its filters kept) with the paged ``table`` from row ``first``."""
    url = request.url.include_query_params(**{f"{table.name}_from": max(0, first)})
    return f"{url.path}?{url.query}"


def first_row(request: Request, table: Table) -> int:
    """The first row of a paged table the request asks for (``?<table>_from=N``; 0 when absent)."""
    name = f"{table.name}_from"
    text = request.query_params.get(name, "").strip()
    if not text:
        return 0
    if not text.isdigit():
        raise BadRequestError(
            f"{name}={text!r} is not a row number: use 0 or more, e.g. {name}={table.page_size}"
        )
    return int(text)


def error_page(request: Request, status: int, message: str) -> Response:
    """An error as a page, or as JSON for data URLs and HTMX requests."""
    if wants_data(request) or request.headers.get("hx-request"):
        return JSONResponse({"error": message}, status_code=status)
    if not hasattr(request.state, "user"):
        request.state.user = None
    return template(request, "error.html", status_code=status, status=status, message=message)


PageBuilder = Callable[[Request], Page]
