"""Helpers of the web application's tests: the app on a real store, a signed-in client, a recording MQTT
link (a test double behind the ``KioskLink`` seam; the real link is tested on a real broker in
tests/test_web_link.py and the browser test), and a reader of the pages' tables."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from backoffice.db import Database
from backoffice.reports.models import LiveDevice
from backoffice.settings import AlertSettings, ReportSettings, RetentionSettings
from backoffice.web.app import create_app, migrate_store
from backoffice.web.link import LinkError, SentCommand, SentOperatorMessage
from backoffice.web.reports import Reports
from backoffice.web.settings import WebSettings
from backoffice.web.users import ROLES, Users
from backoffice.web.webhook import WebhookPoster
from mqtt_bridge.contract.chat import OperatorChatMessage
from mqtt_bridge.contract.payloads import CommandResult

PASSWORD = "correct horse battery staple"


@dataclass
class RecordingLink:
    """A ``KioskLink`` that records the staff_acks and operator chat messages it is asked to send (no
    broker)."""

    connected: bool = True
    live: dict[tuple[str, str], LiveDevice] = field(default_factory=dict)
    sent: list[SentCommand] = field(default_factory=list)
    results: dict[str, CommandResult] = field(default_factory=dict)
    fail: bool = False
    chat: list[tuple[str, str, OperatorChatMessage]] = field(default_factory=list)
    #: Whether the operator messages count as signed (a server started with --key).
    signs: bool = True

    def live_devices(self) -> Mapping[tuple[str, str], LiveDevice]:
        return dict(self.live)

    def send_staff_ack(self, store_id: str, device_id: str, call_id: str) -> SentCommand:
        if self.fail:
            raise LinkError("no broker (test)")
        command = SentCommand(f"cmd{len(self.sent)}", store_id, device_id, call_id, datetime.now(UTC), True)
        self.sent.append(command)
        return command

    def command_result(self, command_id: str) -> CommandResult | None:
        return self.results.get(command_id)

    def send_operator_message(
        self, store_id: str, device_id: str, message: OperatorChatMessage
    ) -> SentOperatorMessage:
        if self.fail:
            raise LinkError("no broker (test)")
        self.chat.append((store_id, device_id, message))
        return SentOperatorMessage(
            message.message_id, store_id, device_id, message.conversation_id, datetime.now(UTC), self.signs
        )

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


@dataclass
class MovableClock:
    """The application's wall clock, moved by the test."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


def make_app(
    db: Database,
    clock: Callable[[], datetime],
    *,
    link: RecordingLink | None = None,
    settings: WebSettings | None = None,
    k: int = 5,
    webhook: WebhookPoster | None = None,
) -> tuple[FastAPI, RecordingLink]:
    """The application on ``db`` (migrated here), with an account per role (``<role>-user``)."""
    migrate_store(db)
    users = Users(db, clock)
    for role in ROLES:
        if users.get(f"{role}-user") is None:
            users.add(f"{role}-user", PASSWORD, role)
    link = link or RecordingLink()
    app = create_app(
        settings or WebSettings(),
        db,
        Reports(db, ReportSettings(k_anonymity=k), AlertSettings()),
        link,
        clock,
        retention_settings=RetentionSettings(),
        webhook=webhook,
        background=False,
    )
    return app, link


def sign_in(app: FastAPI, username: str, password: str = PASSWORD, address: str = "testclient") -> TestClient:
    """A client signed in as ``username`` (asserts it worked)."""
    client = TestClient(app, client=(address, 50000))
    response = login(client, username, password)
    assert response.status_code == 303, response.text
    return client


def login(client: TestClient, username: str, password: str) -> Any:
    """POST the sign-in form as a browser would (the CSRF token from the form's cookie)."""
    client.get("/login")
    token = client.cookies.get("csrftoken")
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrftoken": token or "", "next": "/fleet"},
        follow_redirects=False,
    )


def csrf(client: TestClient) -> dict[str, str]:
    """The header an HTMX request carries."""
    return {"x-csrftoken": client.cookies.get("csrftoken") or ""}


def read_csv(text: str) -> list[dict[str, str]]:
    """A CSV export's rows."""
    return list(csv.DictReader(io.StringIO(text)))


def read_json(text: str) -> dict[str, Any]:
    """A JSON export."""
    data = json.loads(text)
    assert isinstance(data, dict)
    return data


class _Tables(HTMLParser):
    """The page's data tables: section id -> rows of {data-key: cell text}."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[dict[str, str]]] = {}
        self._table: str | None = None
        self._row: dict[str, str] | None = None
        self._key: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "section" and (values.get("id") or "").startswith("table-"):
            self._table = (values["id"] or "").removeprefix("table-")
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self._row = {}
        elif tag == "td" and self._row is not None:
            self._key, self._text = values.get("data-key") or "", []

    def handle_data(self, data: str) -> None:
        if self._key is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._row is not None and self._key is not None:
            self._row[self._key] = "".join(self._text).strip()
            self._key = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            if self._row:
                self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "section":
            self._table = None


def page_tables(html: str) -> dict[str, list[dict[str, str]]]:
    """The tables of a page, as a person reads them: cell texts by column key."""
    parser = _Tables()
    parser.feed(html)
    return parser.tables
