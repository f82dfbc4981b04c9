"""The role walk: the application's routes, enumerated from the application itself, each called by every
role and by nobody signed in, admitted or refused as its rule says. A route added without a rule here (or
without an access rule in the app, which refuses to build) fails this test."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from PIL import Image
from web_helpers import PASSWORD, MovableClock, csrf, make_app, sign_in

from backoffice import staff_calls
from backoffice.db import Database, open_database
from backoffice.web.access import (
    PUBLIC,
    PublicAccess,
    RoleCheck,
    api_routes,
    check_every_route_has_a_rule,
    rules_of,
)
from backoffice.web.errors import WebError
from backoffice.web.users import ROLES, Users
from mqtt_bridge.contract.events import StaffCall

EVERYONE = frozenset(ROLES)
RESPONDERS = frozenset({"operator", "admin"})
ADMINS = frozenset({"admin"})
CAMPAIGNERS = frozenset({"marketer", "admin"})
CASHIERS = frozenset({"operator", "admin"})
#: None: public (no sign-in needed).
Rule = frozenset[str] | None

#: Who may call each route. A route the application has and this table lacks fails the test.
EXPECTED: dict[tuple[str, str], Rule] = {
    ("GET", "/"): None,
    ("GET", "/login"): None,
    ("POST", "/login"): None,
    ("POST", "/logout"): EVERYONE,
    ("GET", "/lang/{language}"): None,
    ("GET", "/healthz"): None,
    ("GET", "/metrics"): None,
    ("GET", "/definitions"): EVERYONE,
    **{
        ("GET", f"{page}{suffix}"): EVERYONE
        for page in ("/fleet", "/fleet/{store}/{device}", "/audience", "/offers", "/feedback", "/staff")
        for suffix in ("", ".json", "/{table}.csv")
    },
    ("GET", "/staff/live"): EVERYONE,
    ("GET", "/staff/stream"): EVERYONE,
    ("POST", "/staff/calls/{call_id}/ack"): RESPONDERS,
    ("POST", "/staff/calls/{call_id}/resolve"): RESPONDERS,
    **{("GET", f"/audit{suffix}"): ADMINS for suffix in ("", ".json", "/{table}.csv")},
    **{("GET", f"/users{suffix}"): ADMINS for suffix in ("", ".json", "/{table}.csv")},
    ("POST", "/users"): ADMINS,
    ("POST", "/users/{username}/role"): ADMINS,
    ("POST", "/users/{username}/disable"): ADMINS,
    ("POST", "/users/{username}/enable"): ADMINS,
    ("POST", "/users/{username}/password"): ADMINS,
    # Campaigns, proof of play and the till (#18).
    **{("GET", f"/campaigns{suffix}"): CAMPAIGNERS for suffix in ("", ".json", "/{table}.csv")},
    **{("GET", f"/campaigns/history{suffix}"): CAMPAIGNERS for suffix in ("", ".json", "/{table}.csv")},
    ("GET", "/campaigns/offers/new"): CAMPAIGNERS,
    ("GET", "/campaigns/offers/{offer_id}"): CAMPAIGNERS,
    ("GET", "/campaigns/offers/{offer_id}/preview"): CAMPAIGNERS,
    ("GET", "/campaigns/offers/{offer_id}/preview.png"): CAMPAIGNERS,
    ("GET", "/campaigns/images/{sha256}"): CAMPAIGNERS,
    ("GET", "/campaigns/history/{number}"): CAMPAIGNERS,
    ("GET", "/campaigns/history/{number}/changes.csv"): CAMPAIGNERS,
    ("POST", "/campaigns/offers"): CAMPAIGNERS,
    ("POST", "/campaigns/offers.json"): CAMPAIGNERS,
    ("POST", "/campaigns/images"): CAMPAIGNERS,
    ("POST", "/campaigns/offers/{offer_id}/delete"): CAMPAIGNERS,
    ("POST", "/campaigns/dayparts"): CAMPAIGNERS,
    ("POST", "/campaigns/dayparts/{name}/delete"): CAMPAIGNERS,
    ("POST", "/campaigns/publish"): CAMPAIGNERS,
    ("POST", "/campaigns/history/{number}/rollback"): CAMPAIGNERS,
    ("POST", "/campaigns/requests/{request_id}/approve"): ADMINS,
    ("POST", "/campaigns/requests/{request_id}/reject"): ADMINS,
    **{("GET", f"/proof{suffix}"): EVERYONE for suffix in ("", ".json", "/{table}.csv")},
    **{("GET", f"/till{suffix}"): CASHIERS for suffix in ("", ".json", "/{table}.csv")},
    ("POST", "/till"): CASHIERS,
    ("POST", "/till/redeem.json"): CASHIERS,
}

#: Path parameters that exist in the test store.
PARAMS = {
    "store": "s1",
    "device": "d1",
    "language": "en",
    "call_id": "c1",
    "username": "target-user",
    "offer_id": "o1",
    "sha256": "0" * 64,
    "name": "morning",
    "number": "1",
    "request_id": "1",
}
#: A table of each page, for its CSV URL.
TABLES = {
    "/fleet": "devices",
    "/fleet/{store}/{device}": "hours",
    "/audience": "by_hour",
    "/offers": "per_offer",
    "/feedback": "by_day",
    "/staff": "calls",
    "/audit": "entries",
    "/users": "users",
    "/campaigns": "offers",
    "/campaigns/history": "versions",
    "/proof": "per_version",
    "/till": "redemptions",
}
#: Form fields of the POST routes.
FORMS = {
    "/login": {"username": "viewer-user", "password": PASSWORD},
    "/users": {"username": "new-user", "password": PASSWORD, "role": "viewer"},
    "/users/{username}/role": {"role": "viewer"},
    "/users/{username}/password": {"password": PASSWORD},
    "/campaigns/dayparts": {"name": "evening", "hours": "17:00-22:00"},
    "/till": {"code": "0000-0000-0000-0000", "store": "s1"},
}


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    opened = open_database(f"sqlite:///{tmp_path / 'backoffice.sqlite'}")
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def app(db: Database) -> FastAPI:
    clock = MovableClock(datetime(2026, 11, 2, 12, tzinfo=UTC))
    application, _ = make_app(db, clock)
    Users(db, clock).add("target-user", PASSWORD, "viewer")
    call = StaffCall(store_id="s1", device_id="d1", call_id="c1", reason="shopper_request", zone="entrance")
    staff_calls.record_events(db, [call], clock())
    # A draft with one offer and one daypart, so the campaign pages render with data (#18).
    desk = application.state.campaigns
    picture = io.BytesIO()
    Image.new("RGB", (400, 300), (200, 120, 40)).save(picture, "PNG")
    stored = desk.images.add(picture.getvalue(), "o1.png", "marketer-user")
    PARAMS["sha256"] = stored.sha256
    desk.drafts.set_daypart("morning", "07:00-11:00", "marketer-user")
    offer = {
        "id": "o1",
        "title": {"ru": "Кофе", "en": "Coffee"},
        "body": {"ru": "Второй за полцены", "en": "Second half price"},
        "valid_from": "2026-11-01",
        "valid_to": "2026-12-31",
        "dayparts": ["morning"],
    }
    desk.drafts.save_offer(offer, stores=["s1"], image_sha256=stored.sha256, by="marketer-user")
    return application


def url_of(route: APIRoute) -> str:
    path = route.path
    if path.endswith("/{table}.csv"):
        path = path.replace("{table}", TABLES[path.removesuffix("/{table}.csv")])
    return re.sub(r"\{(\w+)\}", lambda m: PARAMS[m.group(1)], path)


def rule_of(route: APIRoute) -> Rule:
    (rule,) = rules_of(route)
    return None if isinstance(rule, PublicAccess) else frozenset(rule.roles)


def call(client: TestClient, method: str, route: APIRoute) -> int:
    url = url_of(route)
    if route.path == "/staff/stream":
        with client.stream(
            "GET", url, follow_redirects=False
        ) as response:  # an event stream: its status is enough
            return response.status_code
    if method == "GET":
        return client.get(url, follow_redirects=False).status_code
    data = {**FORMS.get(route.path, {}), "csrftoken": client.cookies.get("csrftoken") or ""}
    return client.post(url, data=data, headers=csrf(client), follow_redirects=False).status_code


def test_every_route_has_a_rule_in_this_table(app: FastAPI) -> None:
    found = {
        (method, route.path): rule_of(route) for route in api_routes(app) for method in route.methods or ()
    }
    missing = sorted(set(found) - set(EXPECTED))
    assert not missing, f"routes without an expected rule in this test: {missing}"
    gone = sorted(set(EXPECTED) - set(found))
    assert not gone, f"rules for routes the application no longer has: {gone}"
    wrong = {key: (found[key], EXPECTED[key]) for key in found if found[key] != EXPECTED[key]}
    assert not wrong, f"routes whose rule differs from the expected one (found, expected): {wrong}"


def test_the_application_refuses_a_route_without_a_rule(app: FastAPI) -> None:
    router = APIRouter()

    @router.get("/forgotten")
    def forgotten() -> str:
        return "anyone"

    app.router.routes.extend(router.routes)
    with pytest.raises(WebError, match="GET /forgotten"):
        check_every_route_has_a_rule(app)
    # A router included the usual way hides its routes from the walk: refused as well.
    wrapped = FastAPI()
    wrapped.include_router(router)
    with pytest.raises(WebError, match="cannot be checked"):
        check_every_route_has_a_rule(wrapped)

    twice = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    twice.add_api_route("/twice", forgotten, dependencies=[PUBLIC, PUBLIC])
    with pytest.raises(WebError, match="2 rules"):
        check_every_route_has_a_rule(twice)
    assert isinstance(rules_of(next(iter(api_routes(twice))))[0], PublicAccess | RoleCheck)


@pytest.mark.parametrize("role", [*ROLES, None])
def test_every_role_is_admitted_or_refused_as_its_rule_says(app: FastAPI, role: str | None) -> None:
    routes = [(m, r) for r in api_routes(app) for m in sorted(r.methods or ())]
    # Signing out, then in, last, so the walk keeps its session (or its lack of one) until then.
    routes.sort(key=lambda mr: (mr[1].path == "/login" and mr[0] == "POST", mr[1].path == "/logout"))
    client = sign_in(app, f"{role}-user") if role is not None else TestClient(app)
    if role is None:
        client.get("/login")  # a CSRF cookie, as a browser would have
    admitted, refused = [], []
    for method, route in routes:
        rule = EXPECTED[(method, route.path)]
        status = call(client, method, route)
        allowed = rule is None or (role is not None and role in rule)
        where = f"{method} {route.path} as {role or 'nobody'}: {status}"
        if allowed:
            assert status not in (401, 403), where
            assert status < 500, where
            admitted.append(route.path)
        elif role is None:
            # Pages send nobody to the sign-in page; data and HTMX requests get 401.
            assert status in (303, 401), where
            refused.append(route.path)
        else:
            assert status == 403, where
            refused.append(route.path)
    # Every role is refused somewhere except admin, and admitted somewhere.
    assert admitted
    assert bool(refused) == (role != "admin")


def test_a_signed_out_page_request_goes_to_sign_in(app: FastAPI) -> None:
    client = TestClient(app)
    response = client.get("/audience?start=2026-11-01", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/audience%3Fstart%3D2026-11-01"
    assert client.get("/audience.json").status_code == 401
    assert client.get("/audience", headers={"hx-request": "true"}).headers.get("hx-redirect") == "/login"
