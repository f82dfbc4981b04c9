"""Operations: ``/healthz`` (the store and the MQTT link), ``/metrics`` (Prometheus), and ``/definitions``,
the meaning of every number the pages show (docs/backoffice-data.md, docs/backoffice.md and docs/campaigns.md,
rendered from their copies shipped in the package, :data:`DEFINITIONS`)."""

from __future__ import annotations

import functools
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from markdown_it import MarkdownIt
from mdit_py_plugins.anchors import anchors_plugin
from prometheus_client import CONTENT_TYPE_LATEST

from backoffice.db import DatabaseError
from backoffice.web.access import PUBLIC, allow
from backoffice.web.context import services_of
from backoffice.web.render import template
from backoffice.web.users import EVERYONE

router = APIRouter()

#: The documents /definitions renders, in order: the figures (the data layer's) and the pages (this app's).
DEFINITION_DOCS: Final = ("backoffice-data.md", "backoffice.md", "campaigns.md", "chat.md")

#: Where the page reads them: package data, ``backoffice/web/definitions/``, so that every install has them
#: (a wheel carries no docs/ folder). They are copies of the repository's docs/ files, which are the source:
#: edit docs/, then copy; tests/test_web_definitions.py fails while a copy differs from its source.
DEFINITIONS: Final[Traversable] = resources.files("backoffice.web") / "definitions"


@router.get("/healthz", name="healthz")
def healthz(request: Request, _user: Any = PUBLIC) -> Response:
    """200 when the store answers (503 otherwise), with the MQTT link's state."""
    services = services_of(request)
    try:
        services.db.scalar("SELECT 1")
        store = "ok"
    except DatabaseError as exc:
        store = str(exc)
    body = {
        "status": "ok" if store == "ok" else "failing",
        "store": store,
        "mqtt_connected": services.link.connected,
    }
    return JSONResponse(body, status_code=200 if store == "ok" else 503)


@router.get("/metrics", name="metrics")
def metrics(request: Request, _user: Any = PUBLIC) -> Response:
    """Prometheus metrics (backoffice.web.metrics lists them)."""
    return Response(services_of(request).metrics.text(), media_type=CONTENT_TYPE_LATEST)


@functools.cache
def _renderer() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False}).enable("table").use(anchors_plugin, max_level=4)


def render_definitions(folder: Traversable = DEFINITIONS) -> str:
    """The definitions documents as HTML (headings get ids to link to); a note where one is missing."""
    parts = []
    for name in DEFINITION_DOCS:
        path = folder / name
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            text = f"*{name} is missing from this install (expected at {path}): reinstall the back office.*"
        parts.append(_renderer().render(text))
    return "\n".join(parts)


@router.get("/definitions", name="definitions", response_class=HTMLResponse)
def definitions(request: Request, _user: Any = allow(*EVERYONE)) -> HTMLResponse:
    """What every figure of every page means."""
    return template(request, "definitions.html", body=render_definitions())
