"""The application factory: :func:`create_app` builds the FastAPI application from its collaborators (the
settings, the store, the reports, the MQTT link to the kiosks and a clock), one router per area, and the
middleware every request passes (signed-cookie sessions, CSRF, security headers, page timing).

Background work runs in the application's lifespan, each in a thread of its own: the MQTT link, the
escalation check (every ``poll_interval_s``), the retention job (every ``retention_interval_s``) and the
webhook poster. ``background=False`` (in-process tests) starts none of them.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from asgi_csrf import asgi_csrf
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.middleware.sessions import SessionMiddleware

from backoffice import retention, schema
from backoffice.campaigns.desk import CampaignDesk, CampaignJobs
from backoffice.campaigns.desk import migrate as migrate_campaigns
from backoffice.campaigns.settings import CampaignSettings
from backoffice.chat.store import UnknownConversationError
from backoffice.db import Database
from backoffice.settings import RetentionSettings
from backoffice.staff_calls import UnknownCallError
from backoffice.web import users as users_module
from backoffice.web.access import ForbiddenError, NotSignedInError, check_every_route_has_a_rule
from backoffice.web.audit import AuditLog
from backoffice.web.calls import StaffDesk
from backoffice.web.chat_desk import ChatDesk
from backoffice.web.context import Services
from backoffice.web.errors import WebError
from backoffice.web.link import KioskLink
from backoffice.web.metrics import StoreCollector, WebMetrics
from backoffice.web.render import BadRequestError, error_page, wants_data
from backoffice.web.reports import Reports
from backoffice.web.routes import (
    audience,
    audit,
    campaigns,
    chat_kpis,
    console,
    fleet,
    ops,
    proof,
    session,
    staff,
    till,
    users,
)
from backoffice.web.settings import WebSettings
from backoffice.web.users import SignInLimits, Users
from backoffice.web.webhook import WebhookPoster

logger = logging.getLogger(__name__)

HERE: Final = Path(__file__).resolve().parent

#: The session cookie's name.
SESSION_COOKIE: Final = "vitrina_session"

#: Every page, its scripts and styles come from this server: nothing from the internet.
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)


def migrate_store(db: Database) -> None:
    """Create or update every table the web application reads or writes: the ingest's, the rollups', the
    staff calls' and its own."""
    schema.migrate_all(db)
    users_module.migrate(db)
    migrate_campaigns(db)


class _Timing:
    """Pure ASGI middleware: page time by route name into the histogram, and the security headers."""

    def __init__(self, app: Any, metrics: WebMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
        send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def timed_send(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers", []))
                headers += [
                    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"same-origin"),
                ]
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            route = scope.get("route")
            name = getattr(route, "name", None) or "unrouted"
            if name not in ("staff_stream", "console_stream"):  # a stream's time is how long it was watched
                self.metrics.page_seconds.labels(name).observe(time.perf_counter() - started)
            self.metrics.requests.labels(name, str(status)).inc()


def settle_heap() -> None:
    """Collect once, then move every object alive now (modules, the application, its settings and routes)
    into the collector's permanent generation: they live as long as the process, and a full collection
    no longer walks them. Call it once the application is made: a full collection in the middle of a
    request was the largest single pause of the fleet benchmark's pages (docs/benchmarks.md)."""
    gc.collect()
    gc.freeze()


def create_app(
    settings: WebSettings,
    db: Database,
    reports: Reports,
    link: KioskLink,
    clock: Callable[[], datetime],
    *,
    retention_settings: RetentionSettings | None = None,
    webhook: WebhookPoster | None = None,
    background: bool = True,
    base_url: str = "",
    campaign_desk: CampaignDesk | None = None,
) -> FastAPI:
    """The back office's web application. ``db`` must be migrated (:func:`migrate_store`); ``background``
    starts the link and the background jobs with the application (``backoffice serve``); ``campaign_desk``:
    the campaigns' and the till's parts (None: built here with no broker, no signing key and no
    redemption master key)."""
    retention_settings = retention_settings or RetentionSettings()
    user_store = Users(db, clock)
    audit_log = AuditLog(db, clock)
    metrics = WebMetrics()
    desk = StaffDesk(
        db,
        link,
        audit_log,
        clock,
        escalate_after_s=settings.escalate_after_s,
        webhook=webhook,
        page_url=f"{base_url.rstrip('/')}/staff" if base_url else "",
    )
    metrics.watch_store(StoreCollector(db, clock, desk.counts, lambda: link.connected))
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    services = Services(
        settings=settings,
        db=db,
        reports=reports,
        link=link,
        clock=clock,
        users=user_store,
        audit=audit_log,
        limits=SignInLimits(settings.login_limit_account, settings.login_limit_address),
        desk=desk,
        metrics=metrics,
        templates=templates,
        retention=retention_settings,
        chat=ChatDesk(db, link, audit_log, clock, ttl_s=settings.command_ttl_s),
    )

    campaign_parts = campaign_desk or CampaignDesk.build(
        db, settings=CampaignSettings(), clock=clock, audit=audit_log, zone=settings.zone
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        jobs = Background(services, webhook) if background else None
        campaign_jobs = CampaignJobs(campaign_parts) if background else None
        if jobs is not None:
            jobs.start()
        if campaign_jobs is not None:
            campaign_jobs.start()
        try:
            yield
        finally:
            if campaign_jobs is not None:
                campaign_jobs.stop()
            if jobs is not None:
                jobs.stop()

    app = FastAPI(
        title="Vitrina back office",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.campaigns = campaign_parts
    for router in (
        session.router,
        fleet.router,
        audience.router,
        staff.router,
        console.router,
        chat_kpis.router,
        audit.router,
        users.router,
        ops.router,
        campaigns.router,
        proof.router,
        till.router,
    ):
        # Straight into the application's route list (no include_router wrapper), so the application's
        # routes are the APIRoutes that check_every_route_has_a_rule and the tests walk.
        app.router.routes.extend(router.routes)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    check_every_route_has_a_rule(app)
    _handle_errors(app)

    # Innermost (added first): asgi-csrf hands on a copy of the scope, so only here does the router's
    # scope["route"] (the page's name, for the histogram) come back.
    app.add_middleware(_Timing, metrics=metrics)
    secret = users_module.session_secret(db)
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret,
        session_cookie=SESSION_COOKIE,
        max_age=settings.session_idle_s,
        same_site="lax",
        https_only=settings.https_only,
    )
    app.add_middleware(
        asgi_csrf,
        signing_secret=hashlib.sha256(b"csrf:" + secret.encode()).hexdigest(),
        always_protect={"/login"},
        cookie_secure=settings.https_only,
        cookie_samesite="Strict",
        send_csrf_failed=_csrf_failed,
    )
    return app


async def _csrf_failed(
    _scope: MutableMapping[str, Any],
    send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
    _why: object,
) -> None:
    body = (
        b"The form was refused (CSRF check): it was sent without the page's token or from another site. "
        b"Reload the page and send it again."
    )
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [(b"content-type", b"text/plain; charset=utf-8")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _handle_errors(app: FastAPI) -> None:
    @app.exception_handler(NotSignedInError)
    async def not_signed_in(request: Request, _exc: NotSignedInError) -> Response:
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": "/login"})
        if wants_data(request):
            return JSONResponse({"error": "sign in first: POST /login"}, status_code=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={_quote(target)}", status_code=303)

    @app.exception_handler(ForbiddenError)
    async def forbidden(request: Request, exc: ForbiddenError) -> Response:
        return error_page(request, 403, str(exc))

    @app.exception_handler(UnknownCallError)
    async def unknown_call(request: Request, exc: UnknownCallError) -> Response:
        return error_page(request, 404, str(exc))

    @app.exception_handler(UnknownConversationError)
    async def unknown_conversation(request: Request, exc: UnknownConversationError) -> Response:
        return error_page(request, 404, str(exc))

    @app.exception_handler(BadRequestError)
    async def bad_request(request: Request, exc: BadRequestError) -> Response:
        return error_page(request, 400, str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error_page(request, 400, f"{where}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(WebError)
    async def web_error(request: Request, exc: WebError) -> Response:
        return error_page(request, 400, str(exc))

    @app.exception_handler(404)
    async def not_found(request: Request, _exc: Exception) -> Response:
        return error_page(request, 404, f"nothing at {request.url.path}")


def _quote(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="/")


class Background:
    """The application's background threads: the MQTT link, escalations, retention, the webhook."""

    def __init__(self, services: Services, webhook: WebhookPoster | None) -> None:
        self.services = services
        self.webhook = webhook
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start the link and every job."""
        self.services.link.start()
        if self.webhook is not None:
            self.webhook.start()
        settings = self.services.settings
        self._every("web-escalation", settings.poll_interval_s, self.services.desk.escalate_due)
        self._every("web-retention", settings.retention_interval_s, self.run_retention)

    def run_retention(self) -> None:
        """Delete raw data past its age (the rollups stay); logged."""
        result = retention.run_retention(self.services.db, self.services.clock(), self.services.retention)
        logger.info(
            "retention: deleted %d events, %d metrics payloads, %d staff calls, %d chat conversations older "
            "than %s, and %d chat messages of transcripts older than %s",
            result.events,
            result.metrics,
            result.staff_calls,
            result.chat_conversations,
            result.cutoff.isoformat(),
            result.chat_messages,
            result.chat_cutoff.isoformat() if result.chat_cutoff else "-",
        )

    def _every(self, name: str, interval_s: float, job: Callable[[], object]) -> None:
        def loop() -> None:
            while not self._stop.is_set():
                try:
                    job()
                except Exception:
                    logger.exception("background job %s failed; it runs again in %.0f s", name, interval_s)
                if self._stop.wait(interval_s):
                    return

        thread = threading.Thread(target=loop, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        """Stop every job and the link."""
        self._stop.set()
        for thread in self._threads:
            thread.join(10)
        if self.webhook is not None:
            self.webhook.stop()
        self.services.link.stop()
