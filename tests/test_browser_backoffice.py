"""The back office in a real browser (Playwright driving Debian's chromium, headless; never
``playwright install``), end to end on a real broker:

a kiosk (the real models on the shipped footage) connects to a private Mosquitto; then ``backoffice serve
--ingest`` starts (after the kiosk: the fleet page must still show it online, from the retained status);
an admin signs in, opens every page and sees non-empty charts; the kiosk raises a staff call; it appears
on the staff page without a reload (server-sent events); the operator acknowledges it in the browser; the
kiosk receives the signed staff_ack (its ``staff_call_acknowledged`` event, and its screen state); the
audit page lists the acknowledgement. A screenshot of every page is saved under
``test-artifacts/backoffice-screenshots/`` (README, Development; ``VITRINA_SCREENSHOTS`` moves it).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import backoffice_fixture as fx
import pytest
from mosquitto_broker import MosquittoBroker
from serve_process import ServeProcess
from sync_helpers import write_command_key
from waiting import wait_for

from backoffice.db import open_database
from backoffice.ingest import open_store
from backoffice.web.app import migrate_store
from backoffice.web.users import Users

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parent.parent
SHOTS = Path(os.environ.get("VITRINA_SCREENSHOTS", REPO / "test-artifacts" / "backoffice-screenshots"))
BIN = Path(sys.executable).parent
PASSWORD = "correct horse battery staple"
#: The fixture's days, so its figures are on the pages.
RANGE = "start=2026-11-01&end=2026-11-03"
#: Every page, with the query it is opened with (audit and users: today's sign-ins and accounts).
PAGES = {
    "fleet": f"/fleet?{RANGE}",
    "device": f"/fleet/s1/d1?{RANGE}",
    "audience": f"/audience?{RANGE}",
    "offers": f"/offers?{RANGE}",
    "feedback": f"/feedback?{RANGE}",
    "staff": f"/staff?{RANGE}",
    "audit": "/audit",
    "users": "/users",
    "definitions": "/definitions",
}
#: Pages with no chart of their own.
NO_CHARTS = {"definitions"}


def _chromium_args() -> list[str]:
    args = [
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ]
    if os.geteuid() == 0:
        args.append("--no-sandbox")
    return args


@pytest.fixture
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(
            "Debian's chromium is missing (/usr/bin/chromium): `make test` installs it as root, or "
            "sudo apt-get install chromium",
            pytrace=False,
        )
    playwright = pytest.importorskip("playwright.sync_api", reason="the dev extra installs Playwright")
    with playwright.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=_chromium_args())
        try:
            yield launched
        finally:
            launched.close()


class Kiosk:
    """The whole kiosk in this process (the real models on the shipped footage), linked to the broker."""

    def __init__(self, tmp_path: Path, broker: MosquittoBroker, public_key: str) -> None:
        from cloud_sync.settings import OutboxSettings
        from kiosk.app.root import KioskApp
        from kiosk.config import CameraConfig, KioskConfig, RuntimeConfig, StorageConfig
        from kiosk.perception.demo_media import write_walk_in_clip
        from kiosk.perception.detector import open_model_detector
        from mqtt_bridge.settings import BrokerSettings, CommandSettings

        clip = write_walk_in_clip(tmp_path / "walk-in.avi")
        self.data = tmp_path / "kiosk"
        config = KioskConfig.model_validate(
            {
                "device": {"store_id": "s1", "device_id": "k1"},
                "storage": StorageConfig(data_dir=self.data),
                "camera": CameraConfig(source=str(clip), loop=True),
                "runtime": RuntimeConfig(health_interval_s=1.0),
                "mqtt": BrokerSettings(
                    enabled=True, host=broker.host, port=broker.port, reconnect_min_s=0.05,
                    reconnect_max_s=0.5, commands=CommandSettings(public_keys=[public_key]),
                ),
                "outbox": OutboxSettings(path=self.data / "outbox.sqlite", synchronous="NORMAL"),
            }
        )  # fmt: skip
        self.detector = open_model_detector(config.presence, config.emotion)
        self.app = KioskApp(config, self.detector)
        self.stop_event = threading.Event()
        self.result: dict[str, object] = {}
        self.thread = threading.Thread(target=lambda: self.result.update(self.app.run(None, self.stop_event)))

    def start(self) -> None:
        self.thread.start()

    def call_staff(self) -> None:
        from kiosk.decisions.engagement import Touch

        self.app.send(
            Touch(self.app.clock.monotonic(), "call_staff")
        )  # the shopper asks, as the screen would

    def events(self, kind: str) -> list[dict[str, object]]:
        from kiosk.link.store import DB_NAME, open_existing, read_events

        db = open_existing(self.data / DB_NAME)
        try:
            return [
                json.loads(row["json"]) for _, row in read_events(db, limit=100_000) if row["type"] == kind
            ]
        finally:
            db.close()

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(120)
        self.detector.close()


def _chart_points(page: Any) -> list[int]:
    """Points drawn by each chart of the page (Chart.js instances the page's script made)."""
    return list(
        page.evaluate(
            """() => Array.from(document.querySelectorAll('canvas[data-chart]')).map(c => !c.chart ? -1 :
                 c.chart.data.datasets.reduce((n, d) => n + d.data.filter(v => v !== null).length, 0))"""
        )
    )


def test_the_back_office_end_to_end_in_a_browser(
    mosquitto: MosquittoBroker, browser: Any, tmp_path: Path
) -> None:
    if SHOTS.exists():
        shutil.rmtree(SHOTS)
    SHOTS.mkdir(parents=True)
    # The store: the fixture's known contents, and an admin.
    db_url = f"sqlite:///{tmp_path / 'backoffice.sqlite'}"
    clock = fx.Clock()
    store = open_store(db_url, clock=clock)
    fx.fill(store, clock)
    store.close()
    db = open_database(db_url)
    migrate_store(db)
    Users(db, lambda: datetime.now(UTC)).add("ops-admin", PASSWORD, "admin")
    db.close()
    key_path = tmp_path / "backoffice-commands.pem"
    _, public_key = write_command_key(key_path)

    kiosk = Kiosk(tmp_path, mosquitto, public_key)
    kiosk.start()
    server: ServeProcess | None = None
    try:
        wait_for(
            lambda: kiosk.app.sync is not None and kiosk.app.sync.status().connected, "the kiosk online", 60
        )
        # The back office starts after the kiosk: the kiosk's retained status is all that says it is online.
        server = ServeProcess(tmp_path, db_url, mosquitto, key_path, poll_interval_s=0.5)
        wait_for(server.healthy, "backoffice serve up and on the broker", 60)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        # A request that fails, except the live list's stream and the chat console's badge poll (#19),
        # which navigating away ends (aborted).
        page.on(
            "requestfailed",
            lambda request: (
                None
                if "/staff/stream" in request.url or "/console/badge" in request.url
                else errors.append(f"failed: {request.url}")
            ),
        )

        page.goto(f"{server.url}/login")
        page.fill("input[name=username]", "ops-admin")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/fleet")

        # The fleet page lists the kiosk online although the back office started after it.
        page.goto(f"{server.url}/fleet?{RANGE}")
        online = page.locator("#table-devices tr", has=page.locator("td[data-key=device_id]", has_text="k1"))
        assert online.locator("td[data-key=status]").inner_text() == "online"

        for name, path in PAGES.items():
            page.goto(f"{server.url}{path}")
            page.wait_for_load_state("networkidle") if name != "staff" else page.wait_for_timeout(500)
            assert page.locator("h1").first.is_visible(), name
            if name not in NO_CHARTS:
                points = _chart_points(page)
                assert points and all(n >= 0 for n in points), f"{name}: charts not drawn: {points}"
                assert any(n > 0 for n in points), f"{name}: every chart is empty: {points}"
            page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
        assert page.locator("article.definitions h2").count() > 0  # the definitions rendered

        # The staff page is open (its stream connected) when the kiosk raises a call.
        page.goto(f"{server.url}/staff")
        page.wait_for_selector("#stream-state.on", timeout=15_000)
        wait_for(lambda: kiosk.app.brain.stats.visits >= 1, "a visit seen by the real models", 120)
        kiosk.call_staff()
        wait_for(lambda: kiosk.events("staff_call"), "the kiosk's staff call", 30)
        call_id = str(kiosk.events("staff_call")[-1]["call_id"])
        row = page.locator(f'tr[data-call="{call_id}"]')
        row.wait_for(timeout=30_000)  # arrived without a reload: the SSE stream swapped it in
        assert row.get_attribute("data-state") == "open"
        page.screenshot(path=str(SHOTS / "staff-call-open.png"), full_page=True)
        row.locator("button.ack").click()
        page.locator(f'tr[data-call="{call_id}"][data-state="acknowledged"]').wait_for(timeout=10_000)

        # The kiosk got the signed staff_ack: its own event, and its screen says someone is coming.
        wait_for(
            lambda: any(e["call_id"] == call_id for e in kiosk.events("staff_call_acknowledged")),
            "the kiosk's staff_call_acknowledged",
            30,
        )
        assert kiosk.app.brain.screen_state().staff_acks >= 1
        page.locator(f'tr[data-call="{call_id}"] td.answer', has_text="told the shopper").wait_for(
            timeout=15_000
        )
        page.screenshot(path=str(SHOTS / "staff-call-acknowledged.png"), full_page=True)

        # The audit page lists the acknowledgement, by whom.
        page.goto(f"{server.url}/audit?action=staff_ack")
        entry = page.locator("#table-entries tr", has=page.locator("td[data-key=target]", has_text=call_id))
        assert entry.locator("td[data-key=actor]").inner_text() == "ops-admin"
        page.screenshot(path=str(SHOTS / "audit-acknowledgement.png"), full_page=True)
        assert not errors, errors
    finally:
        if server is not None:
            server.stop()
        kiosk.stop()
    assert kiosk.result.get("fatal") is None
    assert sorted(p.name for p in SHOTS.glob("*.png")) == sorted(
        [f"{n}.png" for n in PAGES]
        + ["staff-call-open.png", "staff-call-acknowledged.png", "audit-acknowledgement.png"]
    )
