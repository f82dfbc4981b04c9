"""Signing in and out, and the language of the pages (remembered in the session)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from backoffice.web.access import (
    PUBLIC,
    SESSION_EPOCH,
    SESSION_LANGUAGE,
    SESSION_SIGNED_IN_AT,
    SESSION_USER,
    allow,
)
from backoffice.web.context import services_of
from backoffice.web.i18n import LANGUAGES
from backoffice.web.render import template, words
from backoffice.web.users import EVERYONE, User

router = APIRouter()


def client_address(request: Request) -> str:
    """The client's address as the server sees it (behind a proxy: run uvicorn with --proxy-headers)."""
    return request.client.host if request.client is not None else "unknown"


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of this site, never another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/fleet"
    return target


@router.get("/", name="home")
def home(user: User | None = PUBLIC) -> Response:
    """The fleet page, or the sign-in page."""
    return RedirectResponse("/fleet" if user is not None else "/login", status_code=303)


@router.get("/login", name="login_form")
def login_form(request: Request, next: str = "/fleet", _user: Any = PUBLIC) -> Response:
    """The sign-in form."""
    return template(request, "login.html", next=safe_next(next), problem="", username="")


@router.post("/login", name="login")
def login(
    request: Request,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/fleet",
    _user: Any = PUBLIC,
) -> Response:
    """Check the password (rate-limited per account and per address); start a session."""
    services = services_of(request)
    t = words(request)
    address = client_address(request)
    name = username.strip()
    if not services.limits.allowed(name, address):
        wait = services.limits.retry_after_s(name, address)
        services.audit.record(
            name or "(empty)", "sign_in_refused", address=address, detail=f"retry in {wait} s"
        )
        return template(
            request,
            "login.html",
            status_code=429,
            next=safe_next(next),
            username=name,
            problem=t.login_too_many.format(minutes=max(1, (wait + 59) // 60)),
        )
    user = services.users.authenticate(name, password)
    if user is None:
        services.limits.failed(name, address)
        services.audit.record(name or "(empty)", "sign_in_failed", address=address)
        return template(
            request, "login.html", status_code=401, next=safe_next(next), username=name, problem=t.login_wrong
        )
    services.limits.succeeded(name)
    language = request.session.get(SESSION_LANGUAGE)
    request.session.clear()  # a new session: nothing from before signing in carries over
    if language is not None:
        request.session[SESSION_LANGUAGE] = language
    request.session[SESSION_USER] = user.username
    request.session[SESSION_EPOCH] = user.session_epoch
    request.session[SESSION_SIGNED_IN_AT] = services.clock().timestamp()
    services.audit.record(user.username, "sign_in", address=address)
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/logout", name="logout")
def logout(request: Request, user: User = allow(*EVERYONE)) -> Response:
    """End the session."""
    services_of(request).audit.record(user.username, "sign_out", address=client_address(request))
    language = request.session.get(SESSION_LANGUAGE)
    request.session.clear()
    if language is not None:
        request.session[SESSION_LANGUAGE] = language
    return RedirectResponse("/login", status_code=303)


@router.get("/lang/{language}", name="language")
def choose_language(request: Request, language: str, next: str = "/fleet", _user: Any = PUBLIC) -> Response:
    """Show the pages in ``language`` (ru or en) from now on, in this session."""
    if language in LANGUAGES:
        request.session[SESSION_LANGUAGE] = language
    return RedirectResponse(safe_next(next), status_code=303)
