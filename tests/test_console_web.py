"""The operator console and the chat KPI page in the web application (in process, a real SQLite store fed
through the ingest, a recording link behind the KioskLink seam; the real link and kiosk are in
tests/test_browser_chat.py): the inbox with transcripts and the bot's guesses, accept / reply / hand back
/ resolve telling the kiosk and the audit log, two operators at once, a broker that is down, the badge, the
live stream, the KPIs with their suppression, CSV and JSON, and the console's words in both languages."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from console_support import Script, send
from fastapi import FastAPI
from web_helpers import MovableClock, RecordingLink, csrf, make_app, page_tables, read_csv, read_json, sign_in

from backoffice.chat import store as chat_store
from backoffice.db import Database, open_database
from backoffice.ingest import BackofficeStore
from backoffice.web.audit import AuditFilter, AuditLog
from backoffice.web.i18n_chat import EN, RU, ChatWords
from backoffice.web.settings import WebSettings

T0 = datetime(2026, 11, 2, 10, 0, 30, tzinfo=UTC)
HX = {"hx-request": "true"}


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


def _app(
    db: Database, clock: MovableClock, *, k: int = 5, link: RecordingLink | None = None
) -> tuple[FastAPI, RecordingLink]:
    return make_app(db, clock, settings=WebSettings(default_language="en"), k=k, link=link)


def _handed_off(
    db: Database, clock: MovableClock, *, device: str = "d1", text: str = "Do you deliver to Tver?"
) -> Script:
    script = Script(device_id=device)
    script.opened()
    question = script.shopper(text)
    script.bot(
        question,
        "decline",
        guesses=(("delivery_areas", 0.31), ("pickup", 0.12)),
        text="Sorry, I do not know.",
    )
    script.handoff("repeated_declines")
    send(BackofficeStore(db, clock=clock), script)
    return script


def _state(html: str, cid: str) -> str:
    found = re.search(rf'data-conversation="{cid}" data-state="(\w+)"', html)
    assert found, html[:2000]
    return found.group(1)


def test_the_console_accepts_replies_hands_back_and_resolves_telling_the_kiosk(
    db: Database, clock: MovableClock
) -> None:
    app, link = _app(db, clock)
    script = _handed_off(db, clock)
    cid = script.conversation_id
    operator = sign_in(app, "operator-user")

    page = operator.get("/console").text
    assert _state(page, cid) == "waiting"
    assert "Do you deliver to Tver?" in page and "Sorry, I do not know." in page
    assert "delivery_areas (0.31)" in page and "pickup (0.12)" in page  # the bot's last guesses
    assert "the bot could not answer, repeatedly" in page
    assert 'id="console-badge"' in page

    clock.now = T0 + timedelta(seconds=20)
    accepted = operator.post(
        f"/console/{cid}/accept", data={"display_name": "  Anna  K. "}, headers={**csrf(operator), **HX}
    )
    assert accepted.status_code == 200 and _state(accepted.text, cid) == "open"
    assert "with Anna K. (operator-user)" in accepted.text
    ((store_id, device_id, message),) = link.chat
    assert (store_id, device_id, message.action, message.display_name) == ("s1", "d1", "accept", "Anna K.")
    assert message.expires_at - message.issued_at == timedelta(seconds=WebSettings().command_ttl_s)
    assert 'id="reply-' in accepted.text  # the reply box, for the operator who has the chat

    # Another operator: told who was first, cannot write in it, sees no reply box.
    admin = sign_in(app, "admin-user")
    late = admin.post(f"/console/{cid}/accept", data={"display_name": "Boris"}, headers={**csrf(admin), **HX})
    assert "Already accepted by operator-user." in late.text and 'id="reply-' not in late.text
    refused = admin.post(f"/console/{cid}/reply", data={"text": "hi"}, headers={**csrf(admin), **HX})
    assert "operator-user has this chat" in refused.text
    assert len(link.chat) == 1

    clock.now = T0 + timedelta(seconds=45)
    replied = operator.post(
        f"/console/{cid}/reply", data={"text": " Yes, we deliver to Tver. "}, headers={**csrf(operator), **HX}
    )
    assert "Yes, we deliver to Tver." in replied.text
    message = link.chat[-1][2]
    assert (message.action, message.text, message.display_name) == (
        "message",
        "Yes, we deliver to Tver.",
        "Anna K.",
    )
    line = chat_store.transcript(db, cid)[-1]
    assert (line.type, line.status, line.sent_by) == ("operator_message", "sent", "operator-user")
    # The kiosk's receipt: the line says the shopper's screen shows it.
    script.receipt(message, "shown")
    send(BackofficeStore(db, clock=clock), script, script.messages[-1:])
    assert f'data-message="{message.message_id}" data-status="shown"' in operator.get("/console/live").text

    handed = operator.post(f"/console/{cid}/hand_back", headers={**csrf(operator), **HX})
    assert _state(handed.text, cid) == "bot" and "handed back to the bot by operator-user" in handed.text
    script.handoff("button")  # the shopper asks again
    send(BackofficeStore(db, clock=clock), script, script.messages[-1:])
    assert _state(operator.get("/console/live").text, cid) == "waiting"
    resolved = operator.post(f"/console/{cid}/resolve", headers=csrf(operator), follow_redirects=False)
    assert resolved.status_code == 303  # without HTMX: back to the console
    assert [m.action for _, _, m in link.chat] == ["accept", "message", "hand_back", "resolve"]
    conversation = chat_store.get_conversation(db, cid)
    assert conversation is not None and conversation.state == "resolved"
    audit = [(e.actor, e.action, e.target) for e in AuditLog(db, clock).entries(AuditFilter())]
    assert [a for a in audit if a[1].startswith("chat_")] == [
        ("operator-user", "chat_resolve", cid),
        ("operator-user", "chat_hand_back", cid),
        ("operator-user", "chat_accept", cid),
    ]


def test_a_broker_that_is_down_changes_nothing_and_says_so(db: Database, clock: MovableClock) -> None:
    app, link = _app(db, clock, link=RecordingLink(connected=False))
    cid = _handed_off(db, clock).conversation_id
    operator = sign_in(app, "operator-user")
    response = operator.post(f"/console/{cid}/accept", headers={**csrf(operator), **HX})
    assert "not connected to the broker" in response.text
    assert _state(response.text, cid) == "waiting" and link.chat == []

    # Connected, but the publish fails: the chat is accepted here and the line says it was not sent.
    link.connected, link.fail = True, True
    response = operator.post(f"/console/{cid}/accept", headers={**csrf(operator), **HX})
    assert (
        "the kiosk was not told: no broker (test)" in response.text and _state(response.text, cid) == "open"
    )
    assert chat_store.transcript(db, cid)[-1].status == "not_sent"


def test_unsigned_messages_are_called_out(db: Database, clock: MovableClock) -> None:
    app, _ = _app(db, clock, link=RecordingLink(signs=False))
    cid = _handed_off(db, clock).conversation_id
    operator = sign_in(app, "operator-user")
    response = operator.post(f"/console/{cid}/accept", headers={**csrf(operator), **HX})
    assert "kiosks refuse unsigned operator messages" in response.text


def test_an_unknown_conversation_is_a_404_and_an_empty_reply_sends_nothing(
    db: Database, clock: MovableClock
) -> None:
    app, link = _app(db, clock)
    cid = _handed_off(db, clock).conversation_id
    operator = sign_in(app, "operator-user")
    assert operator.post(f"/console/{'f' * 32}/accept", headers=csrf(operator)).status_code == 404
    operator.post(f"/console/{cid}/accept", headers={**csrf(operator), **HX})
    assert (
        operator.post(
            f"/console/{cid}/reply", data={"text": "   "}, headers={**csrf(operator), **HX}
        ).status_code
        == 200
    )
    assert (
        operator.post(
            f"/console/{cid}/reply", data={"text": "x" * 1001}, headers={**csrf(operator), **HX}
        ).status_code
        == 400
    )
    assert [m.action for _, _, m in link.chat] == ["accept"]


def test_the_badge_counts_chats_waiting_and_viewers_see_no_console(db: Database, clock: MovableClock) -> None:
    app, _ = _app(db, clock)
    operator = sign_in(app, "operator-user")
    assert read_json(operator.get("/console/badge.json").text) == {
        "waiting": 0,
        "newest": None,
        "title": "0 chats waiting for a person",
    }
    _handed_off(db, clock)
    clock.now = T0 + timedelta(seconds=9)
    _handed_off(db, clock, device="d2")
    badge = read_json(operator.get("/console/badge.json").text)
    assert (badge["waiting"], badge["newest"]) == (2, clock.now.timestamp())
    viewer = sign_in(app, "viewer-user")
    assert viewer.get("/console/badge.json").status_code == 403
    assert viewer.get("/console", follow_redirects=False).status_code == 403
    assert 'id="console-badge"' not in viewer.get("/chat").text  # no badge where the console is not allowed
    assert 'href="/chat"' in viewer.get("/chat").text


def test_the_inbox_streams_a_new_hand_off(db: Database, clock: MovableClock) -> None:
    app, _ = _app(db, clock)
    operator = sign_in(app, "operator-user")
    events: list[str] = []
    with operator.stream("GET", "/console/stream") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        data: list[str] = []
        for line in stream.iter_lines():
            if line.startswith("data:"):
                data.append(line.removeprefix("data:").removeprefix(" "))
            elif not line and data:
                events.append("\n".join(data))
                data = []
                if len(events) == 1:
                    _handed_off(db, clock, text="Where is the fitting room?")
                else:
                    break
    assert "No chat is waiting" in events[0]
    assert "Where is the fitting room?" in events[1] and 'data-state="waiting"' in events[1]


def _kpi_store(db: Database, clock: MovableClock) -> list[Script]:
    """Six conversations in one hour: 3 answered by the bot and ended, 3 handed off (one answered by an
    operator in 30 s and resolved 90 s after its hand-off, one unanswered off duty, one still waiting)."""
    store = BackofficeStore(db, clock=clock)
    scripts = []
    for i, score in enumerate((5, 4, 2)):
        script = Script()
        script.opened()
        question = script.shopper(f"opening hours {i}?")
        script.bot(question, "answer", entry="hours")
        script.ended("done")
        script.csat(score)
        send(store, script)
        scripts.append(script)
    reasons = ("button", "words", "repeated_declines")
    for i, reason in enumerate(reasons):
        script = Script()
        script.opened(on_duty=i != 1)
        question = script.shopper("Can I pay with [card] by instalments?" if i == 2 else "help")
        script.bot(question, "decline")
        script.handoff(reason, on_duty=i != 1)
        if i == 1:
            script.unanswered("off_duty")
        send(store, script)
        scripts.append(script)
    return scripts


def test_the_kpi_page_counts_and_suppresses(db: Database, clock: MovableClock) -> None:
    scripts = _kpi_store(db, clock)
    app, _ = _app(db, clock)
    operator = sign_in(app, "operator-user")
    cid = scripts[3].conversation_id
    clock.now = T0 + timedelta(seconds=30)
    operator.post(f"/console/{cid}/accept", headers={**csrf(operator), **HX})
    clock.now = T0 + timedelta(seconds=40)
    operator.post(f"/console/{cid}/reply", data={"text": "Hello"}, headers={**csrf(operator), **HX})
    clock.now = T0 + timedelta(seconds=120)
    operator.post(f"/console/{cid}/resolve", headers={**csrf(operator), **HX})

    query = "?start=2026-11-01&end=2026-11-03"
    data = read_json(operator.get(f"/chat.json{query}").text)
    (total,) = data["tables"]["total"]["rows"]
    assert total["conversations"] == 6 and total["finished"] == 4 and total["contained"] == 3
    assert total["containment_rate"] == 0.75 and total["handed_off"] == 3 and total["handoff_rate"] == 0.5
    assert (total["unanswered_off_duty"], total["unanswered_timeout"], total["declined"]) == (1, 0, 3)
    assert (total["accepted"], total["accept_mean_s"], total["first_replies"]) == (1, 30, 1)
    assert (total["first_reply_mean_s"], total["first_reply_within_60s_share"]) == (40, 1)
    assert (total["resolved"], total["resolution_mean_s"]) == (1, 120)
    # Ratings: 3 answers, under k = 5: suppressed, with the conversations' figures shown.
    assert (total["csat_responses"], total["csat_mean"]) == ("< 5", "< 5")
    reasons = {r["reason"]: r for r in data["tables"]["reasons"]["rows"]}
    assert reasons["button"]["handed_off"] == 1 and reasons["frustrated"]["handed_off"] == 0
    assert abs(reasons["words"]["share"] - 1 / 3) < 1e-6
    unanswered = data["tables"]["unanswered"]["rows"]
    assert [(q["question"], q["asked"]) for q in unanswered] == [
        ("help", 2),
        ("Can I pay with [card] by instalments?", 1),
    ]
    # CSV and the page show the same.
    rows = read_csv(operator.get(f"/chat/total.csv{query}").text)
    assert float(rows[0]["conversations"]) == 6 and rows[0]["csat_mean"] == "< 5"
    tables = page_tables(operator.get(f"/chat{query}").text)
    assert tables["total"][0]["handoff_rate"] == "50.0 %"
    assert tables["unanswered"][0]["question"] == "help"

    # The same store with k = 1: nothing suppressed.
    app1, _ = _app(db, clock, k=1)
    plain = read_json(sign_in(app1, "viewer-user").get(f"/chat.json{query}").text)
    assert plain["tables"]["total"]["rows"][0]["csat_mean"] == pytest.approx(11 / 3)
    # A day with 1 conversation under k = 5: every figure of its row suppressed.
    clock.now = T0 + timedelta(days=1)
    lone = Script()
    lone.opened()
    send(BackofficeStore(db, clock=clock), lone)
    viewer = sign_in(app, "viewer-user")  # a day later: a session of today
    days = read_json(viewer.get(f"/chat.json{query}").text)["tables"]["by_day"]["rows"]
    assert days[-1]["conversations"] == "< 5" and days[-1]["handoff_rate"] == "< 5"
    assert days[0]["conversations"] == 6


def test_the_console_and_the_kpis_speak_russian(db: Database, clock: MovableClock) -> None:
    app, _ = _app(db, clock)
    _handed_off(db, clock, text="Есть ли доставка в Тверь?")
    operator = sign_in(app, "operator-user")
    operator.get("/lang/ru")
    page = operator.get("/console").text
    assert "Чат с покупателями" in page and "ждёт сотрудника" in page and "Есть ли доставка в Тверь?" in page
    assert "Вопросы без ответа" in operator.get("/chat").text


def test_every_chat_text_asked_for_exists_in_both_languages() -> None:
    web = Path(__file__).resolve().parent.parent / "backoffice" / "web"
    fields = {f.name for f in dataclasses.fields(ChatWords)}
    asked: set[str] = set()
    # The chat's own templates and routes: the campaign pages name their own words `c` too.
    for path in [
        web / "templates" / "console.html",
        web / "templates" / "_conversations.html",
        web / "routes" / "console.py",
        web / "routes" / "chat_kpis.py",
        web / "i18n_chat.py",
    ]:
        text = path.read_text(encoding="utf-8")
        asked |= set(re.findall(r"\bc\.([a-z][a-z0-9_]+)\b", text)) if path.suffix == ".html" else set()
        asked |= set(
            re.findall(
                r"\b(?:c|words)\.((?:col|kpi|chart|reason|state|console|already|not)_[a-z0-9_]+)\b", text
            )
        )
        for prefix in re.findall(r'c\["([a-z_]+_)" ~', text):
            assert any(f.startswith(prefix) for f in fields), (path.name, prefix)
    assert asked <= fields, f"texts asked for and missing: {sorted(asked - fields)}"
    same = [f.name for f in dataclasses.fields(ChatWords) if getattr(RU, f.name) == getattr(EN, f.name)]
    assert same == [], same
    assert all(
        getattr(RU, f.name).strip() and getattr(EN, f.name).strip() for f in dataclasses.fields(ChatWords)
    )
    # Placeholders match between the languages.
    for f in dataclasses.fields(ChatWords):
        assert set(re.findall(r"\{(\w+)\}", getattr(RU, f.name))) == set(
            re.findall(r"\{(\w+)\}", getattr(EN, f.name))
        ), f.name
