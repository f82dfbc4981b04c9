"""Signing in: argon2 hashes, sign-in limits per account and per address, sessions that expire (idle and
absolute) and end when the account changes, CSRF protection of every form, the language kept in the
session, and the audit log of it all."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from itsdangerous import TimestampSigner
from web_helpers import PASSWORD, MovableClock, csrf, login, make_app, sign_in

from backoffice.db import Database, open_database
from backoffice.web.audit import AuditFilter, AuditLog
from backoffice.web.settings import WebSettings
from backoffice.web.users import SignInLimits, UserError, Users

T0 = datetime(2026, 11, 2, 12, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    opened = open_database(f"sqlite:///{tmp_path / 'backoffice.sqlite'}")
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(T0)


def _app(db: Database, clock: MovableClock, **settings: object) -> FastAPI:
    app, _ = make_app(db, clock, settings=WebSettings.model_validate({"default_language": "en", **settings}))
    return app


def _actions(db: Database, clock: MovableClock) -> list[tuple[str, str, str]]:
    return [(e.actor, e.action, e.address) for e in reversed(AuditLog(db, clock).entries(AuditFilter()))]


def test_passwords_are_argon2_hashes_and_checked(db: Database, clock: MovableClock) -> None:
    _app(db, clock)
    stored = db.scalar("SELECT password_hash FROM web_users WHERE username = 'viewer-user'")
    assert str(stored).startswith("$argon2id$") and PASSWORD not in str(stored)
    users = Users(db, clock)
    assert users.authenticate("viewer-user", PASSWORD) is not None
    assert users.authenticate("viewer-user", PASSWORD + "x") is None
    assert users.authenticate("nobody", PASSWORD) is None
    with pytest.raises(UserError, match="at least 10"):
        users.add("short", "123456789", "viewer")
    with pytest.raises(UserError, match="exists already"):
        users.add("viewer-user", PASSWORD, "viewer")
    with pytest.raises(UserError, match="not usable"):
        users.add("bad name", PASSWORD, "viewer")


def test_sign_in_out_and_the_audit_log(db: Database, clock: MovableClock) -> None:
    app = _app(db, clock)
    client = TestClient(app, client=("10.0.0.7", 1234))
    wrong = login(client, "operator-user", "not the password")
    assert wrong.status_code == 401 and "Wrong user name or password" in wrong.text
    right = login(client, "operator-user", PASSWORD)
    assert right.status_code == 303 and right.headers["location"] == "/fleet"
    assert client.get("/fleet").status_code == 200
    out = client.post(
        "/logout", data={"csrftoken": client.cookies.get("csrftoken") or ""}, follow_redirects=False
    )
    assert out.status_code == 303
    assert client.get("/fleet", follow_redirects=False).status_code == 303
    assert _actions(db, clock) == [
        ("operator-user", "sign_in_failed", "10.0.0.7"),
        ("operator-user", "sign_in", "10.0.0.7"),
        ("operator-user", "sign_out", "10.0.0.7"),
    ]


def test_sign_in_sends_back_where_asked_but_never_to_another_site(db: Database, clock: MovableClock) -> None:
    client = TestClient(_app(db, clock))
    client.get("/login")
    token = client.cookies.get("csrftoken") or ""

    def go(target: str) -> str:
        response = client.post(
            "/login",
            data={"username": "viewer-user", "password": PASSWORD, "csrftoken": token, "next": target},
            follow_redirects=False,
        )
        return str(response.headers["location"])

    assert go("/offers?start=2026-11-01") == "/offers?start=2026-11-01"
    assert go("https://evil.example/") == "/fleet"
    assert go("//evil.example/") == "/fleet"


def test_failed_sign_ins_are_limited_per_account(db: Database, clock: MovableClock) -> None:
    client = TestClient(_app(db, clock, login_limit_account="3/15 minutes"), client=("10.0.0.1", 1))
    for _ in range(3):
        assert login(client, "admin-user", "wrong password!").status_code == 401
    refused = login(client, "admin-user", PASSWORD)  # the right password, but the account is locked now
    assert refused.status_code == 429 and "Too many failed attempts" in refused.text
    # Another address is refused too (the limit is the account's), another account is not.
    other = TestClient(_app(db, clock, login_limit_account="3/15 minutes"), client=("10.0.0.2", 1))
    assert login(other, "viewer-user", PASSWORD).status_code == 303
    assert ("admin-user", "sign_in_refused", "10.0.0.1") in _actions(db, clock)


def test_failed_sign_ins_are_limited_per_address(db: Database, clock: MovableClock) -> None:
    app = _app(db, clock, login_limit_address="4/15 minutes")
    spraying = TestClient(app, client=("10.0.0.9", 1))
    for name in ("viewer-user", "operator-user", "marketer-user", "admin-user"):
        assert login(spraying, name, "wrong password!").status_code == 401
    assert login(spraying, "viewer-user", PASSWORD).status_code == 429
    elsewhere = TestClient(app, client=("10.0.0.10", 1))
    assert login(elsewhere, "viewer-user", PASSWORD).status_code == 303


def test_the_limits_forget_after_their_window() -> None:
    limits = SignInLimits("2/1 second", "100/1 second")
    limits.failed("a", "x")
    limits.failed("a", "x")
    assert not limits.allowed("a", "x") and limits.retry_after_s("a", "x") >= 1
    deadline = datetime.now(UTC) + timedelta(seconds=5)
    while not limits.allowed("a", "x"):
        assert datetime.now(UTC) < deadline, "the account stayed locked past its window"
    limits.failed("a", "x")
    limits.succeeded("a")  # a right password clears the account's failures
    limits.failed("a", "x")
    assert limits.allowed("a", "x")


def test_sessions_expire_when_idle(db: Database, clock: MovableClock) -> None:
    # The cookie's own signature carries its age (itsdangerous): past session_idle_s it is refused.
    app = _app(db, clock, session_idle_s=60)
    client = sign_in(app, "viewer-user")
    assert client.get("/fleet").status_code == 200
    cookie = client.cookies.get("vitrina_session")
    assert cookie is not None
    secret = str(db.scalar("SELECT value FROM web_secrets WHERE name = 'session'"))
    payload = TimestampSigner(secret).unsign(cookie, max_age=60)

    class SignedEarlier(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 61

    client.cookies.clear()
    client.cookies.set("vitrina_session", TimestampSigner(secret).sign(payload).decode())
    assert client.get("/fleet").status_code == 200  # the same session, signed now: valid
    client.cookies.clear()
    client.cookies.set("vitrina_session", SignedEarlier(secret).sign(payload).decode())
    assert client.get("/fleet", follow_redirects=False).status_code == 303  # signed 61 s ago: expired


def test_sessions_end_after_their_absolute_age_however_active(db: Database, clock: MovableClock) -> None:
    app = _app(db, clock, session_absolute_s=3600)
    client = sign_in(app, "viewer-user")
    clock.now = T0 + timedelta(minutes=59)
    assert client.get("/fleet").status_code == 200
    clock.now = T0 + timedelta(minutes=61)
    response = client.get("/fleet", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


def test_a_changed_account_ends_its_sessions(db: Database, clock: MovableClock) -> None:
    app = _app(db, clock)
    viewer = sign_in(app, "viewer-user")
    admin = sign_in(app, "admin-user")
    assert viewer.get("/fleet").status_code == 200
    changed = admin.post(
        "/users/viewer-user/role", data={"role": "operator"}, headers=csrf(admin), follow_redirects=False
    )
    assert changed.status_code == 303
    assert viewer.get("/fleet", follow_redirects=False).status_code == 303  # signed out
    operator = sign_in(app, "viewer-user")  # signs in again, now an operator
    assert "operator" in operator.get("/fleet").text
    admin.post("/users/viewer-user/disable", headers=csrf(admin))
    assert operator.get("/fleet", follow_redirects=False).status_code == 303
    assert login(TestClient(app), "viewer-user", PASSWORD).status_code == 401


def test_the_last_admin_cannot_be_demoted_or_disabled(db: Database, clock: MovableClock) -> None:
    admin = sign_in(_app(db, clock), "admin-user")
    for path, data in (("/users/admin-user/role", {"role": "viewer"}), ("/users/admin-user/disable", {})):
        response = admin.post(path, data=data, headers=csrf(admin))
        assert response.status_code == 400 and "last enabled admin" in response.text
    assert Users(db, clock).get("admin-user") is not None


def test_forms_without_the_csrf_token_are_refused(db: Database, clock: MovableClock) -> None:
    app = _app(db, clock)
    admin = sign_in(app, "admin-user")
    # A form posted from elsewhere carries the session cookie but not the page's token.
    forged = admin.post("/users", data={"username": "mallory", "password": PASSWORD, "role": "admin"})
    assert forged.status_code == 403 and "CSRF" in forged.text
    wrong = admin.post(
        "/users", data={"username": "mallory", "password": PASSWORD, "role": "admin", "csrftoken": "forged"}
    )
    assert wrong.status_code == 403
    assert Users(db, clock).get("mallory") is None
    # The sign-in form is protected too, even without a session (login CSRF).
    fresh = TestClient(app)
    assert fresh.post("/login", data={"username": "viewer-user", "password": PASSWORD}).status_code == 403
    # With the token (form field or HTMX header), it works.
    made = admin.post(
        "/users",
        data={"username": "mallory", "password": PASSWORD, "role": "viewer"},
        headers=csrf(admin),
        follow_redirects=False,
    )
    assert made.status_code == 303 and Users(db, clock).get("mallory") is not None


def test_cookies_and_headers(db: Database, clock: MovableClock) -> None:
    client = TestClient(_app(db, clock, https_only=True), base_url="https://testserver")
    login_page = client.get("/login")
    assert "secure" in login_page.headers["set-cookie"].lower()
    assert login_page.headers["content-security-policy"].startswith("default-src 'self'")
    assert login_page.headers["x-frame-options"] == "DENY"
    signed = login(client, "viewer-user", PASSWORD)
    session_cookie = next(
        c for c in signed.headers.get_list("set-cookie") if c.startswith("vitrina_session=")
    )
    assert "httponly" in session_cookie.lower() and "secure" in session_cookie.lower()
    assert "samesite=lax" in session_cookie.lower()


def test_the_language_is_kept_in_the_session(db: Database, clock: MovableClock) -> None:
    client = sign_in(_app(db, clock), "viewer-user")
    assert "Fleet" in client.get("/fleet").text
    moved = client.get("/lang/ru?next=/audience", follow_redirects=False)
    assert moved.status_code == 303 and moved.headers["location"] == "/audience"
    page = client.get("/fleet").text
    assert "Устройства" in page and 'lang="ru"' in page
    assert (
        client.get("/lang/xx?next=https://evil.example", follow_redirects=False).headers["location"]
        == "/fleet"
    )
    assert 'lang="ru"' in client.get("/fleet").text  # an unknown language changes nothing
