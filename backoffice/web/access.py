"""Who may call a route: one dependency per route, :func:`allow` (signed in, with one of these roles) or
:data:`PUBLIC`. :func:`check_every_route_has_a_rule` refuses to build an application where a route has
neither, and tests/test_web_access.py walks every route with every role.

Sessions are signed cookies (Starlette's ``SessionMiddleware``, itsdangerous) that end after
``session_idle_s`` without a request and ``session_absolute_s`` after sign-in; a change to the account (its
role, password, or being disabled) ends its sessions at once (the account's ``session_epoch``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from fastapi import Depends, FastAPI, Request
from fastapi.routing import APIRoute
from starlette.routing import Mount

from backoffice.web.context import services_of
from backoffice.web.errors import WebError
from backoffice.web.users import ROLES, Role, User


class NotSignedInError(WebError):
    """The request has no valid session: pages redirect to the sign-in page, data answers 401."""


class ForbiddenError(WebError):
    """The signed-in user's role does not admit this route (403)."""

    def __init__(self, user: User, roles: frozenset[Role]) -> None:
        super().__init__(
            f"{user.username} ({user.role}) may not do this: it needs one of {', '.join(sorted(roles))}"
        )
        self.user = user
        self.roles = roles


#: Session keys.
SESSION_USER: Final = "user"
SESSION_EPOCH: Final = "epoch"
SESSION_SIGNED_IN_AT: Final = "signed_in_at"
SESSION_LANGUAGE: Final = "lang"


def current_user(request: Request) -> User | None:
    """The session's user when the session is valid (signed, within its absolute age, the account enabled
    and unchanged since sign-in); else None, and the session is cleared."""
    session = request.session
    name = session.get(SESSION_USER)
    if not isinstance(name, str):
        return None
    services = services_of(request)
    signed_in_at = session.get(SESSION_SIGNED_IN_AT)
    now = services.clock().timestamp()
    user = services.users.get(name)
    if (
        user is None
        or not isinstance(signed_in_at, int | float)
        or now - signed_in_at > services.settings.session_absolute_s
        or session.get(SESSION_EPOCH) != user.session_epoch
    ):
        for key in (SESSION_USER, SESSION_EPOCH, SESSION_SIGNED_IN_AT):
            session.pop(key, None)
        return None
    return user


@dataclass(frozen=True)
class RoleCheck:
    """The dependency of a route that needs a signed-in user with one of ``roles``."""

    roles: frozenset[Role]

    def __call__(self, request: Request) -> User:
        user = current_user(request)
        if user is None:
            raise NotSignedInError("sign in first")
        if user.role not in self.roles:
            raise ForbiddenError(user, self.roles)
        request.state.user = user
        return user


@dataclass(frozen=True)
class PublicAccess:
    """The dependency of a route anyone may call (sign-in, health, metrics, static files)."""

    def __call__(self, request: Request) -> User | None:
        user = current_user(request)
        request.state.user = user
        return user


def allow(*roles: Role) -> Any:
    """The route's rule: signed in, with one of ``roles``. Use as ``user: User = allow("operator", "admin")``
    or in ``dependencies=[allow(...)]``."""
    unknown = set(roles) - set(ROLES)
    if not roles or unknown:
        raise ValueError(f"allow() needs roles out of {ROLES}, got {roles}")
    return Depends(RoleCheck(frozenset(roles)))


#: The rule of a route anyone may call.
PUBLIC: Any = Depends(PublicAccess())

Rule = RoleCheck | PublicAccess


def rules_of(route: APIRoute) -> list[Rule]:
    """The access rules a route declares (its own dependencies and its parameters')."""
    found: list[Rule] = []
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        if isinstance(dep.call, RoleCheck | PublicAccess):
            found.append(dep.call)
        stack.extend(dep.dependencies)
    return found


def api_routes(app: FastAPI) -> Iterable[APIRoute]:
    """Every route of the application that runs an endpoint (static files are a mount)."""
    return (route for route in app.routes if isinstance(route, APIRoute))


def check_every_route_has_a_rule(app: FastAPI) -> None:
    """Raise :class:`WebError` naming each route without exactly one access rule, and any route that is
    neither an endpoint (an ``APIRoute``, whose rules can be read) nor the static files' mount."""
    unchecked = [
        f"{type(route).__name__} {getattr(route, 'path', '')}".strip()
        for route in app.routes
        if not isinstance(route, APIRoute) and not (isinstance(route, Mount) and route.path == "/static")
    ]
    if unchecked:
        raise WebError(
            "routes whose access rules cannot be checked (add endpoints to the application's route list, "
            f"not with include_router or add_route): {', '.join(unchecked)}"
        )
    bad = [
        f"{','.join(sorted(route.methods or ()))} {route.path} ({len(rules_of(route))} rules)"
        for route in api_routes(app)
        if len(rules_of(route)) != 1
    ]
    if bad:
        raise WebError(
            "every route needs exactly one access rule (backoffice.web.access.allow or PUBLIC): "
            + "; ".join(bad)
        )
