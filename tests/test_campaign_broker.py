"""A campaign end to end on a real Mosquitto, without a browser: the back office publishes a signed release
(its own MQTT link), the kiosk installs it and its answer reaches the ingest; a shopper taps and gets a
code; the kiosk restarts; the till redeems the code; the back office's signed ``redeem`` command reaches the
restarted kiosk, which rewards the arm of the tap once (its bandit state on disk shows it) and records
``offer_redeemed`` with that arm, which the ingest counts under the arm; a second try at the till is refused
and rewards nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from campaign_support import offer_doc, png
from campaign_system import STORE, BackOffice, kiosk_config, start_kiosk, tap
from mosquitto_broker import MosquittoBroker
from waiting import wait_for

from backoffice.campaigns.device_versions import reported
from backoffice.db import open_database
from mqtt_bridge.contract.redemption import normalise


@pytest.mark.integration
def test_a_code_issued_before_a_kiosk_restart_rewards_the_bandit_after_it_once(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'backoffice.sqlite'}")
    office = BackOffice.start(db, mosquitto)
    kiosk = None
    try:
        desk = office.desk
        image = desk.images.add(png(), "latte.png", "marketer")
        desk.drafts.save_offer(offer_doc("o1"), stores=[STORE], image_sha256=image.sha256, by="marketer")
        config = kiosk_config(tmp_path / "kiosk", mosquitto, office.key)
        kiosk = start_kiosk(config)
        assert kiosk.engine is None  # nothing installed yet
        outcome = desk.publisher.request(STORE, "marketer")
        assert outcome.version is not None and outcome.unsent == ()
        wait_for(
            lambda: kiosk.engine is not None and kiosk.engine.catalogue_version == 1, "the release installed"
        )
        wait_for(lambda: ("s1", "k1") in reported(db), "the kiosk's catalogue result in the back office")
        assert reported(db)[("s1", "k1")].installed_version == 1

        code, arm = tap(kiosk, "o1")
        tapped = kiosk.engine.bandit.posterior(*arm.split("|", 1))  # type: ignore[union-attr]
        kiosk.stop()
        kiosk = start_kiosk(config)  # a restart: the code lives on in redemption.sqlite
        assert kiosk.engine is not None and kiosk.engine.catalogue_version == 1
        assert kiosk.engine.bandit.posterior(*arm.split("|", 1)) == tapped

        verdict = desk.till.redeem(code.lower(), STORE, by="cashier", till="1")
        assert verdict.ok and verdict.redemption is not None
        desk.courier.send(verdict.redemption)
        wait_for(
            lambda: (found := desk.till.find(code)) is not None and found.reward_status == "rewarded",
            "the kiosk's answer to the reward",
        )
        weight = config.offers.redemption_weight
        on_disk = json.loads(kiosk.bandit_path.read_text(encoding="utf-8"))["arms"][arm]
        assert on_disk == [tapped[0] + weight, tapped[1]]  # saved at once, not only at stop
        wait_for(
            lambda: (
                db.scalar("SELECT sum(redeemed) FROM offer_hourly WHERE offer_id = 'o1' AND arm = ?", [arm])
                == 1
            ),
            "offer_redeemed counted under its arm",
        )
        stored = db.query("SELECT payload FROM events WHERE type = 'offer_redeemed'")
        assert len(stored) == 1
        event = json.loads(stored[0][0])
        assert (event["code"], event["arm"], event["device_id"]) == (normalise(code), arm, "k1")

        again = desk.till.redeem(code, STORE, by="another cashier", till="2")
        assert again.status == "already_used"
        # The kiosk, asked again under a new command id, refuses: the arm is rewarded once.
        assert kiosk.redeem(code) is None
        assert kiosk.engine.bandit.posterior(*arm.split("|", 1)) == (tapped[0] + weight, tapped[1])
    finally:
        if kiosk is not None:
            kiosk.stop()
        office.stop()
        db.close()
