"""The campaign loop in a real browser (Playwright driving Debian's chromium, headless; never `playwright
install`), against the back office's real web application on uvicorn, its real MQTT links and ingest, a
real Mosquitto and a real kiosk:

a marketer creates a campaign (an offer with its picture, targeted by store and the moment of the visit),
previews it as the kiosk draws it, asks to publish it; a second admin approves; the kiosk installs it (the
history page says the device is up to date); the marketer changes the price and it is published as version
2; the marketer rolls back to version 1 (approved again), which the kiosk installs as version 3; a shopper
taps the offer on the kiosk and gets a code; the operator redeems it at the till page, once (a second try
says when it was used), the kiosk's bandit is rewarded and the conversion figure on the offers page moves.

Screenshots of the campaign editor, the preview, the history and the till page are saved under
``test-artifacts/campaign-screenshots/`` of the checkout (README, Development;
``VITRINA_CAMPAIGN_SCREENSHOTS`` moves it).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from campaign_support import MASTER, png
from campaign_system import STORE, kiosk_config, start_kiosk, tap
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from mosquitto_broker import MosquittoBroker, free_ports
from sync_helpers import broker_settings
from waiting import wait_for
from web_helpers import PASSWORD

from backoffice.campaigns.desk import CampaignDesk
from backoffice.campaigns.link import MqttCampaignLink
from backoffice.campaigns.settings import CampaignSettings
from backoffice.db import Database, open_database
from backoffice.ingest import BackofficeStore, Ingest
from backoffice.settings import AlertSettings, IngestSettings, ReportSettings, RetentionSettings
from backoffice.web.app import create_app, migrate_store
from backoffice.web.audit import AuditLog
from backoffice.web.link import MqttKioskLink
from backoffice.web.reports import Reports
from backoffice.web.settings import WebSettings
from backoffice.web.users import Users

CHROMIUM = Path("/usr/bin/chromium")
#: Chromium as root in a container: no sandbox; /dev/shm may be small.
LAUNCH_ARGS = ["--no-sandbox", "--disable-dev-shm-usage"]
ZONE = "Europe/Moscow"


def screenshots_dir(repo_root: Path) -> Path:
    folder = Path(
        os.environ.get("VITRINA_CAMPAIGN_SCREENSHOTS", repo_root / "test-artifacts" / "campaign-screenshots")
    )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Server:
    """The web application on uvicorn in a thread of this process."""

    def __init__(self, app: Any, port: int) -> None:
        import uvicorn

        self.url = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    def start(self) -> Server:
        self.thread.start()
        wait_for(lambda: self.server.started, "the web application listening", 30)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)


@pytest.fixture
def system(mosquitto: MosquittoBroker, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The back office (web application with approval required, its live link, campaign link and ingest)
    and a kiosk on ``mosquitto``."""
    db: Database = open_database(f"sqlite:///{tmp_path / 'backoffice.sqlite'}")
    migrate_store(db)

    def clock() -> datetime:
        return datetime.now(UTC)

    users = Users(db, clock)
    for name, role in (("marketer", "marketer"), ("admin", "admin"), ("cashier", "operator")):
        users.add(name, PASSWORD, role)
    key = Ed25519PrivateKey.generate()
    broker = broker_settings(mosquitto)
    web = WebSettings(time_zone=ZONE, default_language="en", poll_interval_s=0.5)
    campaign_settings = CampaignSettings(require_approval=True, reward_resend_s=1.0)
    desk = CampaignDesk.build(
        db,
        settings=campaign_settings,
        clock=clock,
        audit=AuditLog(db, clock),
        zone=web.zone,
        link=MqttCampaignLink(broker, client_id="bo-campaigns-e2e", clock=clock, key=key),
        key=key,
        redemption_key=MASTER,
    )
    app = create_app(
        web,
        db,
        Reports(db, ReportSettings(k_anonymity=2), AlertSettings()),
        MqttKioskLink(broker, client_id="bo-live-e2e", clock=clock, key=key),
        clock,
        retention_settings=RetentionSettings(),
        campaign_desk=desk,
    )
    ingest = Ingest(broker, IngestSettings(client_id="ingest-e2e"), BackofficeStore(db))
    ingest.start()
    stop_ingest = threading.Event()
    ingest_thread = threading.Thread(target=ingest.run, args=(stop_ingest,), daemon=True)
    ingest_thread.start()
    (port,) = free_ports(1)
    server = Server(app, port).start()
    kiosk = start_kiosk(kiosk_config(tmp_path / "kiosk", mosquitto, key))
    parts: dict[str, Any] = {"db": db, "desk": desk, "url": server.url, "kiosk": kiosk}
    try:
        yield parts
    finally:
        parts["kiosk"].stop()
        server.stop()
        stop_ingest.set()
        ingest_thread.join(10)
        db.close()


def _sign_in(browser: Any, url: str, username: str) -> Any:
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, locale="en-GB")
    page = context.new_page()
    page.goto(f"{url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/fleet")
    return page


def _approve(admin: Any, url: str) -> str:
    admin.goto(f"{url}/campaigns")
    admin.click("#pending button.approve")
    admin.wait_for_selector("#campaign-message")
    return str(admin.inner_text("#campaign-message"))


@pytest.mark.integration
@pytest.mark.slow
def test_a_campaign_from_the_editor_to_the_till(
    system: dict[str, Any], tmp_path: Path, repo_root: Path
) -> None:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: apt-get install chromium (make test installs it)")
    from playwright.sync_api import expect, sync_playwright

    url, desk, db = system["url"], system["desk"], system["db"]
    kiosk = system["kiosk"]
    shots = screenshots_dir(repo_root)
    picture = tmp_path / "latte.png"
    picture.write_bytes(png(1600, 1000, (180, 110, 60)))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        try:
            marketer = _sign_in(browser, url, "marketer")
            admin = _sign_in(browser, url, "admin")
            cashier = _sign_in(browser, url, "cashier")

            # --- create the campaign ------------------------------------------------------------------
            marketer.goto(f"{url}/campaigns")
            marketer.fill("section.dayparts input[name=name]", "morning")
            marketer.fill("section.dayparts input[name=hours]", "07:00-11:00")
            marketer.click("section.dayparts button[type=submit]")
            marketer.click("#new-offer")
            form = marketer.locator("#offer-form")
            form.locator("input[name=offer_id]").fill("latte")
            form.locator("input[name=title_ru]").fill("Тыквенный латте")
            form.locator("input[name=title_en]").fill("Pumpkin spice latte")
            form.locator("textarea[name=body_ru]").fill("Второй стакан за полцены до воскресенья")
            form.locator("textarea[name=body_en]").fill("Second cup half price until Sunday")
            form.locator("input[name=price]").fill("199 ₽")
            form.locator("input[name=valid_from]").fill("2026-01-01")
            form.locator("input[name=valid_to]").fill("2027-12-31")
            form.locator("input[name=stores]").fill(STORE)
            form.locator("input[name=zones]").fill("entrance")
            form.locator("input[name=valence][value=positive]").check()
            form.locator("input[name=valence][value=neutral]").check()
            form.locator("input[name=picture]").set_input_files(str(picture))
            # The form has no field for who the shopper is: nothing to fill in for age, gender or looks.
            names = form.evaluate("f => Array.from(f.elements).map(e => e.name)")
            assert not {"age", "gender", "ethnicity", "appearance"} & set(names)
            with marketer.expect_navigation(url=f"{url}/campaigns/offers/latte"):
                form.locator("#save-offer").click()
            previews = marketer.locator("#previews img")
            expect(previews).to_have_count(2)
            marketer.wait_for_function(
                "() => Array.from(document.querySelectorAll('#previews img'))"
                ".every(i => i.naturalWidth === 1280)"
            )
            marketer.screenshot(path=str(shots / "campaign-editor.png"), full_page=True)

            # --- preview ------------------------------------------------------------------------------
            marketer.goto(f"{url}/campaigns/offers/latte/preview")
            marketer.wait_for_function(
                "() => Array.from(document.querySelectorAll('#preview-grid img'))"
                ".every(i => i.complete && i.naturalWidth > 0)"
            )
            expect(marketer.locator("#preview-grid img")).to_have_count(4)
            marketer.screenshot(path=str(shots / "campaign-preview.png"), full_page=True)

            # --- publish: asked by the marketer, approved by a second account -------------------------
            marketer.goto(f"{url}/campaigns")
            marketer.select_option("#publish-scope", STORE)
            marketer.click("#publish-button")
            expect(marketer.locator("#campaign-message")).to_contain_text("waiting for a second admin")
            assert kiosk.engine is None  # nothing published before the approval
            assert "Version 1 published to s1" in _approve(admin, url)
            wait_for(
                lambda: kiosk.engine is not None and kiosk.engine.catalogue_version == 1,
                "the kiosk installs v1",
            )

            def device_state() -> str:
                marketer.goto(f"{url}/campaigns/history")
                row = marketer.locator("#table-devices tbody tr", has_text="k1")
                return row.locator("td[data-key=state]").inner_text() if row.count() else ""

            wait_for(lambda: device_state() == "up to date", "the history page: the kiosk runs version 1", 30)

            # --- a change, published as version 2 -----------------------------------------------------
            marketer.goto(f"{url}/campaigns/offers/latte")
            marketer.fill("#offer-form input[name=price]", "149 ₽")
            with marketer.expect_navigation(url=f"{url}/campaigns/offers/latte"):
                marketer.click("#save-offer")  # HTMX, then HX-Redirect: a navigation to the offer's page
            marketer.goto(f"{url}/campaigns")
            expect(marketer.locator("#table-changes")).to_contain_text("149 ₽")
            marketer.select_option("#publish-scope", STORE)
            marketer.click("#publish-button")
            assert "Version 2 published" in _approve(admin, url)
            wait_for(lambda: kiosk.engine.catalogue_version == 2, "the kiosk installs v2")
            assert kiosk.engine.catalogue.offers[0].price == "149 ₽"

            # --- history, diff and rollback -----------------------------------------------------------
            marketer.goto(f"{url}/campaigns/history/2")
            expect(marketer.locator("#table-changes")).to_contain_text("price")
            expect(marketer.locator("#table-changes")).to_contain_text("199 ₽")
            marketer.goto(f"{url}/campaigns/history/1")
            marketer.click("#rollback-button")
            expect(marketer.locator("#campaign-message")).to_contain_text("waiting for a second admin")
            assert "Version 3 published" in _approve(admin, url)
            wait_for(lambda: kiosk.engine.catalogue_version == 3, "the kiosk installs the rollback as v3")
            assert kiosk.engine.catalogue.offers[0].price == "199 ₽"
            wait_for(lambda: device_state() == "up to date", "the history page: the kiosk runs version 3", 30)
            expect(marketer.locator("#table-versions")).to_contain_text("rollback")
            marketer.screenshot(path=str(shots / "campaign-history.png"), full_page=True)

            # --- the shopper's code, redeemed at the till --------------------------------------------
            code, arm = tap(kiosk, "latte")
            tapped = kiosk.engine.bandit.posterior(*arm.split("|", 1))
            cashier.goto(f"{url}/till")
            cashier.select_option("#till-store", STORE)
            cashier.fill("input[name=till]", "1")
            cashier.fill("#till-code", code.lower().replace("-", " "))  # as a cashier might type it
            cashier.click("#till-redeem")
            expect(cashier.locator("#till-verdict")).to_have_attribute("data-status", "ok")
            expect(cashier.locator("#till-verdict")).to_contain_text("Pumpkin spice latte")
            cashier.screenshot(path=str(shots / "till.png"), full_page=True)
            cashier.fill("#till-code", code)
            cashier.click("#till-redeem")
            expect(cashier.locator("#till-verdict")).to_have_attribute("data-status", "already_used")
            expect(cashier.locator("#till-verdict")).to_contain_text("Already used at")
            cashier.screenshot(path=str(shots / "till-already-used.png"), full_page=True)

            wait_for(
                lambda: (found := desk.till.find(code)) is not None and found.reward_status == "rewarded",
                "the kiosk rewarded",
            )
            weight = kiosk.config.offers.redemption_weight
            assert kiosk.engine.bandit.posterior(*arm.split("|", 1)) == (tapped[0] + weight, tapped[1])

            def redeemed_on_offers_page() -> float:
                response = cashier.request.get(f"{url}/offers/per_offer.csv")
                rows = [line.split(",") for line in response.text().splitlines()]
                header, body = rows[0], rows[1:]
                for row in body:
                    if row[header.index("offer_id")] == "latte":
                        return float(row[header.index("redeemed")] or 0)
                return 0.0

            wait_for(lambda: redeemed_on_offers_page() == 1, "the redemption counted on the offers page", 30)
            arms = cashier.request.get(f"{url}/offers.json").json()["tables"]["per_arm"]["rows"]
            assert [r["redeemed"] for r in arms if r["arm"] == arm] == [1.0]  # conversion per arm moves too
            audit = admin.request.get(f"{url}/audit.json?action=approve").json()
            assert {row["actor"] for row in audit["tables"]["entries"]["rows"]} == {"admin"}
            published = admin.request.get(f"{url}/audit.json?action=publish").json()
            assert all(
                "requested by marketer, approved by admin" in r["detail"]
                for r in published["tables"]["entries"]["rows"]
            )
        finally:
            browser.close()
    assert json.loads(kiosk.bandit_path.read_text(encoding="utf-8"))["arms"][arm][0] == tapped[0] + weight
    assert db.scalar("SELECT count(*) FROM redemptions") == 1
    for name in ("campaign-editor", "campaign-preview", "campaign-history", "till"):
        assert (shots / f"{name}.png").stat().st_size > 10_000
