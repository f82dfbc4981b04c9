"""Staff calls in the web application: acknowledge and resolve record who and when (and the audit log),
acknowledging tells the kiosk (a staff_ack through the link), two operators clicking at once get one
winner, the live list streams over server-sent events, and an unacknowledged call escalates once: shown,
audited and posted to the webhook, with bounded retries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from web_helpers import MovableClock, RecordingLink, csrf, make_app, read_csv, sign_in

from backoffice import staff_calls
from backoffice.db import Database, open_database
from backoffice.web.audit import AuditFilter, AuditLog
from backoffice.web.settings import WebSettings
from backoffice.web.webhook import Escalation, WebhookPoster
from mqtt_bridge.contract.events import StaffCall
from mqtt_bridge.contract.payloads import CommandResult

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


def raise_call(db: Database, call_id: str, at: datetime, device: str = "d1") -> None:
    call = StaffCall(store_id="s1", device_id=device, call_id=call_id, reason="shopper_request", zone="till")
    staff_calls.record_events(db, [call], at)


def _app(db: Database, clock: MovableClock, **kwargs: object) -> tuple[FastAPI, RecordingLink]:
    return make_app(db, clock, settings=WebSettings(default_language="en", escalate_after_s=120), **kwargs)  # type: ignore[arg-type]


def test_acknowledge_tells_the_kiosk_and_records_who_and_when(db: Database, clock: MovableClock) -> None:
    app, link = _app(db, clock)
    raise_call(db, "c1", T0)
    operator = sign_in(app, "operator-user")
    clock.now = T0 + timedelta(seconds=42)
    response = operator.post("/staff/calls/c1/ack", headers={**csrf(operator), "hx-request": "true"})
    assert response.status_code == 200
    assert 'data-call="c1" data-state="acknowledged"' in response.text  # the list's new state, for HTMX
    assert "operator-user" in response.text
    assert [(s.store_id, s.device_id, s.call_id) for s in link.sent] == [("s1", "d1", "c1")]
    call = staff_calls.get_call(db, "c1")
    assert call is not None and call.acknowledged_by == "operator-user"
    assert call.acknowledged_at == T0 + timedelta(seconds=42)
    # The kiosk answers: the list says the shopper was told.
    link.results[link.sent[0].command_id] = CommandResult(
        command="staff_ack", command_id=link.sent[0].command_id, status="applied", ts=clock.now
    )
    assert "told the shopper" in operator.get("/staff/live").text
    calls = {r["call_id"]: r for r in read_csv(operator.get("/staff/calls.csv").text)}
    assert calls["c1"]["kiosk_answer"] == "applied" and calls["c1"]["waiting_s"] == "42"

    clock.now = T0 + timedelta(minutes=5)
    resolved = operator.post("/staff/calls/c1/resolve", headers=csrf(operator), follow_redirects=False)
    assert resolved.status_code == 303  # without HTMX: back to the page
    call = staff_calls.get_call(db, "c1")
    assert call is not None and call.state == "resolved" and call.resolved_by == "operator-user"
    assert len(link.sent) == 1  # resolving an acknowledged call sends nothing more
    entries = [(e.actor, e.action, e.target) for e in AuditLog(db, clock).entries(AuditFilter())]
    assert entries[:2] == [("operator-user", "staff_resolve", "c1"), ("operator-user", "staff_ack", "c1")]


def test_two_operators_at_once_one_wins_the_other_is_told(db: Database, clock: MovableClock) -> None:
    app, link = _app(db, clock)
    raise_call(db, "c1", T0)
    first, second = sign_in(app, "operator-user"), sign_in(app, "admin-user")
    first.post("/staff/calls/c1/ack", headers={**csrf(first), "hx-request": "true"})
    late = second.post("/staff/calls/c1/ack", headers={**csrf(second), "hx-request": "true"})
    assert late.status_code == 200 and "Already acknowledged by operator-user" in late.text
    assert len(link.sent) == 1
    actions = [e.action for e in AuditLog(db, clock).entries(AuditFilter(action="staff_ack"))]
    assert actions == ["staff_ack"]


def test_resolving_an_open_call_acknowledges_it_and_tells_the_kiosk(
    db: Database, clock: MovableClock
) -> None:
    app, link = _app(db, clock)
    raise_call(db, "c1", T0)
    admin = sign_in(app, "admin-user")
    admin.post("/staff/calls/c1/resolve", headers=csrf(admin))
    assert [s.call_id for s in link.sent] == ["c1"]
    assert {e.action for e in AuditLog(db, clock).entries(AuditFilter())} >= {"staff_ack", "staff_resolve"}


def test_a_broker_that_is_down_is_said_and_the_call_stays_acknowledged(
    db: Database, clock: MovableClock
) -> None:
    app, _ = _app(db, clock, link=RecordingLink(fail=True))
    raise_call(db, "c1", T0)
    operator = sign_in(app, "operator-user")
    response = operator.post("/staff/calls/c1/ack", headers={**csrf(operator), "hx-request": "true"})
    assert "the screen could not be told" in response.text
    call = staff_calls.get_call(db, "c1")
    assert call is not None and call.state == "acknowledged"


def test_an_unknown_call_is_a_404(db: Database, clock: MovableClock) -> None:
    app, _ = _app(db, clock)
    operator = sign_in(app, "operator-user")
    assert operator.post("/staff/calls/nope/ack", headers=csrf(operator)).status_code == 404


def test_the_live_list_streams_changes(db: Database, clock: MovableClock) -> None:
    app, _ = _app(db, clock)
    raise_call(db, "c1", T0)
    viewer = sign_in(app, "viewer-user")
    operator = sign_in(app, "operator-user")
    events: list[tuple[str, str]] = []
    with viewer.stream("GET", "/staff/stream") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        name = ""
        data: list[str] = []
        for line in stream.iter_lines():
            if line.startswith("event:"):
                name = line.removeprefix("event:").strip()
            elif line.startswith("data:"):
                data.append(line.removeprefix("data:").removeprefix(" "))
            elif not line and data:
                events.append((name, "\n".join(data)))
                data = []
                if len(events) == 1:
                    raise_call(db, "c2", T0 + timedelta(seconds=5), device="d2")  # a new call arrives
                elif len(events) == 2:
                    operator.post("/staff/calls/c2/ack", headers=csrf(operator))  # someone answers it
                else:
                    break
    assert [name for name, _ in events] == ["calls", "calls", "calls"]
    first, second, third = (html for _, html in events)
    assert 'data-call="c1"' in first and 'data-call="c2"' not in first
    assert 'data-call="c2" data-state="open"' in second
    assert 'data-call="c2" data-state="acknowledged"' in third
    assert "/staff/calls/c1/ack" not in first  # the viewer's stream has no buttons


def test_escalation_is_shown_audited_and_posted_once(db: Database, clock: MovableClock) -> None:
    posted: list[dict[str, object]] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        posted.append(json.loads(request.content))
        return httpx.Response(204)

    webhook = WebhookPoster(
        "https://hooks.example/escalate", timeout_s=1, attempts=3, backoff_s=0,
        transport=httpx.MockTransport(receiver),
    )  # fmt: skip
    app, _ = _app(db, clock, webhook=webhook)
    desk = app.state.services.desk
    raise_call(db, "c1", T0)
    raise_call(db, "c2", T0 + timedelta(seconds=60))
    clock.now = T0 + timedelta(seconds=119)
    assert desk.escalate_due() == []
    clock.now = T0 + timedelta(seconds=121)
    assert [c.call_id for c in desk.escalate_due()] == ["c1"]  # c2 has waited 61 s only
    assert desk.escalate_due() == []  # once
    webhook.post(webhook._queue.get_nowait())
    assert posted == [
        {
            "kind": "vitrina.staff_call.escalated", "call_id": "c1", "store_id": "s1", "device_id": "d1",
            "zone": "till", "reason": "shopper_request", "raised_at": T0.isoformat(), "waiting_s": 121.0,
            "url": "",
        }
    ]  # fmt: skip
    viewer = sign_in(app, "viewer-user")
    assert "escalated" in viewer.get("/staff/live").text
    audit = AuditLog(db, clock).entries(AuditFilter(action="staff_escalated"))
    assert [(e.actor, e.target) for e in audit] == [("(system)", "c1")]
    # An acknowledged call never escalates.
    operator = sign_in(app, "operator-user")
    operator.post("/staff/calls/c2/ack", headers=csrf(operator))
    clock.now = T0 + timedelta(hours=1)
    assert desk.escalate_due() == []


def test_the_webhook_retries_a_bounded_number_of_times() -> None:
    attempts: list[str] = []
    waits: list[float] = []

    def failing(request: httpx.Request) -> httpx.Response:
        attempts.append(str(request.url))
        if len(attempts) == 1:
            raise httpx.ConnectTimeout("timed out", request=request)
        return httpx.Response(503)

    def sleep(seconds: float) -> bool:
        waits.append(seconds)
        return False

    poster = WebhookPoster(
        "https://hooks.example/x", timeout_s=0.5, attempts=3, backoff_s=2,
        transport=httpx.MockTransport(failing), sleep=sleep,
    )  # fmt: skip
    escalation = Escalation(
        call_id="c1",
        store_id="s1",
        device_id="d1",
        zone="till",
        reason="shopper_request",
        raised_at="",
        waiting_s=1,
    )
    assert poster.post(escalation) is False
    assert len(attempts) == 3 and waits == [2, 4]  # three attempts, the wait doubling between them
    assert poster.counters == {"failed_attempts": 3, "given_up": 1}
    # Then one that answers.
    ok = WebhookPoster(
        "https://hooks.example/x", timeout_s=0.5, attempts=3, backoff_s=0,
        transport=httpx.MockTransport(lambda r: httpx.Response(200)),
    )  # fmt: skip
    assert ok.post(escalation) is True and ok.counters["posted"] == 1


def test_the_webhook_queue_is_bounded_and_counts_what_it_drops() -> None:
    poster = WebhookPoster(
        "https://hooks.example/x", timeout_s=0.5, attempts=1, backoff_s=0,
        transport=httpx.MockTransport(lambda r: httpx.Response(200)),
    )  # fmt: skip
    escalation = Escalation(
        call_id="c1",
        store_id="s1",
        device_id="d1",
        zone="till",
        reason="shopper_request",
        raised_at="",
        waiting_s=1,
    )
    accepted = [poster.submit(escalation) for _ in range(1001)]  # not started: nothing drains it
    assert accepted.count(True) == 1000 and accepted[-1] is False and poster.counters["dropped"] == 1
    poster.start()
    poster.stop()


def test_the_staff_page_for_an_operator_has_buttons(db: Database, clock: MovableClock) -> None:
    app, _ = _app(db, clock)
    raise_call(db, "c1", T0)
    page = sign_in(app, "operator-user").get("/staff")
    assert 'hx-post="/staff/calls/c1/ack"' in page.text and 'hx-post="/staff/calls/c1/resolve"' in page.text
    metrics = TestClient(app).get("/metrics").text
    assert (
        "vitrina_staff_calls_open 1.0" in metrics
        and 'vitrina_web_page_seconds_count{page="staff"} 1.0' in metrics
    )
