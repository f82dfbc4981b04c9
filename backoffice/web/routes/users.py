"""The users page (admin): every account, add one, change a role, disable or enable, set a password. Every
change is in the audit log; the last enabled admin cannot be demoted or disabled."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from backoffice.web.access import allow
from backoffice.web.context import services_of
from backoffice.web.page import Chart, Column, Page, Series, Table
from backoffice.web.render import template, words
from backoffice.web.routes.common import register_page
from backoffice.web.routes.session import client_address
from backoffice.web.users import ROLES, Role, User, UserError

router = APIRouter()

ADMINS: tuple[Role, ...] = ("admin",)


def build_users(request: Request) -> Page:
    """The users page's data."""
    t = words(request)
    accounts = services_of(request).users.all()
    return Page(
        "users",
        t.users_title,
        "roles",
        tables=(
            Table(
                "users",
                t.users_accounts,
                (
                    Column("username", t.col_username),
                    Column("role", t.col_role),
                    Column("disabled", t.col_disabled, "bool"),
                    Column("created_at", t.col_created_at, "time"),
                ),
                tuple((name, role, disabled, created) for name, role, disabled, created in accounts),
                "roles",
            ),
        ),
        charts=(
            Chart(
                "roles",
                t.chart_roles,
                "bar",
                ROLES,
                (Series(t.col_users, tuple(float(sum(a[1] == r for a in accounts)) for r in ROLES)),),
            ),
        ),
    )


register_page(
    router,
    "/users",
    "users",
    allow(*ADMINS),
    build_users,
    template_name="users.html",
    context=lambda _request, _page: {"roles": ROLES, "problem": ""},
)


def _role(value: str) -> Role:
    for role in ROLES:
        if role == value:
            return role
    raise UserError(f"role {value!r} does not exist: use one of {', '.join(ROLES)}")


def _done(request: Request, problem: str = "") -> Response:
    if not problem:
        return RedirectResponse("/users", status_code=303)
    page = build_users(request)
    return template(request, "users.html", status_code=400, page=page, roles=ROLES, problem=problem)


@router.post("/users", name="user_add")
def user_add(
    request: Request,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    role: Annotated[str, Form()],
    admin: User = allow(*ADMINS),
) -> Response:
    """Make an account."""
    services = services_of(request)
    try:
        made = services.users.add(username.strip(), password, _role(role))
    except UserError as exc:
        return _done(request, str(exc))
    services.audit.record(
        admin.username, "user_add", target=made.username, address=client_address(request), detail=made.role
    )
    return _done(request)


def _guard_last_admin(request: Request, username: str, becomes_admin: bool) -> str:
    users = services_of(request).users
    current = users.get(username)
    if current is not None and current.role == "admin" and not becomes_admin and users.count_admins() <= 1:
        return words(request).users_last_admin
    return ""


@router.post("/users/{username}/role", name="user_role")
def user_role(
    request: Request, username: str, role: Annotated[str, Form()], admin: User = allow(*ADMINS)
) -> Response:
    """Change an account's role (its sessions end)."""
    services = services_of(request)
    try:
        new_role = _role(role)
        problem = _guard_last_admin(request, username, new_role == "admin")
        if problem:
            return _done(request, problem)
        services.users.set_role(username, new_role)
    except UserError as exc:
        return _done(request, str(exc))
    services.audit.record(
        admin.username, "user_role", target=username, address=client_address(request), detail=new_role
    )
    return _done(request)


@router.post("/users/{username}/disable", name="user_disable")
def user_disable(request: Request, username: str, admin: User = allow(*ADMINS)) -> Response:
    """Disable an account (its sessions end at once)."""
    services = services_of(request)
    problem = _guard_last_admin(request, username, becomes_admin=False)
    if problem:
        return _done(request, problem)
    try:
        services.users.set_disabled(username, True)
    except UserError as exc:
        return _done(request, str(exc))
    services.audit.record(admin.username, "user_disable", target=username, address=client_address(request))
    return _done(request)


@router.post("/users/{username}/enable", name="user_enable")
def user_enable(request: Request, username: str, admin: User = allow(*ADMINS)) -> Response:
    """Enable an account again."""
    services = services_of(request)
    try:
        services.users.set_disabled(username, False)
    except UserError as exc:
        return _done(request, str(exc))
    services.audit.record(admin.username, "user_enable", target=username, address=client_address(request))
    return _done(request)


@router.post("/users/{username}/password", name="user_password")
def user_password(
    request: Request, username: str, password: Annotated[str, Form()], admin: User = allow(*ADMINS)
) -> Response:
    """Set an account's password (its sessions end)."""
    services = services_of(request)
    try:
        services.users.set_password(username, password)
    except UserError as exc:
        return _done(request, str(exc))
    services.audit.record(admin.username, "user_password", target=username, address=client_address(request))
    return _done(request)
