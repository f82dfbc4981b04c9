"""The parts of a whole campaign run on a real Mosquitto, for the broker and browser tests: a kiosk (the real
``KioskApp``, no camera model, its redemption secret derived from the fleet's master key, trusting the back
office's key) and a back office (a store, its ingest in a thread, the campaign desk on the real MQTT link
with its background jobs)."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2
import numpy as np
from campaign_support import MASTER
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from mosquitto_broker import MosquittoBroker
from sync_helpers import broker_settings

from backoffice.campaigns.desk import CampaignDesk, CampaignJobs
from backoffice.campaigns.link import MqttCampaignLink
from backoffice.campaigns.settings import CampaignSettings
from backoffice.db import Database
from backoffice.ingest import BackofficeStore, Ingest
from backoffice.settings import IngestSettings
from backoffice.web.app import migrate_store
from backoffice.web.audit import AuditLog
from cloud_sync.settings import OutboxSettings
from kiosk.app.root import KioskApp, NoDetector
from kiosk.cli import _start_catalogue
from kiosk.config import KioskConfig
from kiosk.decisions.offers import OfferContext
from mqtt_bridge.contract.redemption import device_secret
from mqtt_bridge.signing import public_key_text

STORE, DEVICE = "s1", "k1"


def clip(path: Path, frames: int = 40) -> Path:
    """A short black video for the kiosk's camera."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (160, 120))
    for _ in range(frames):
        writer.write(np.zeros((120, 160, 3), np.uint8))
    writer.release()
    return path


def kiosk_config(folder: Path, broker: MosquittoBroker, key: Ed25519PrivateKey) -> KioskConfig:
    """A kiosk of store s1 on ``broker``: its redemption secret derived from the master key (in a file, as
    provisioning will put it), the back office's public key trusted for commands and catalogues."""
    folder.mkdir(parents=True, exist_ok=True)
    secret = folder / "redemption.secret"
    secret.write_text(device_secret(MASTER, STORE, DEVICE) + "\n", encoding="utf-8")
    return KioskConfig.model_validate(
        {
            "device": {"store_id": STORE, "device_id": DEVICE, "zone": "entrance"},
            "storage": {"data_dir": str(folder / "var")},
            "camera": {"source": str(clip(folder / "camera.avi")), "loop": True},
            "runtime": {"health_interval_s": 0.5},
            "offers": {"installed_dir": str(folder / "var" / "catalogue")},
            "redemption": {"secret": {"file": str(secret)}},
            "mqtt": {
                **broker_settings(broker).model_dump(),
                "commands": {"public_keys": [public_key_text(key)]},
            },
            "outbox": OutboxSettings(
                path=folder / "var" / "outbox.sqlite", synchronous="NORMAL"
            ).model_dump(),
        }
    )


def start_kiosk(config: KioskConfig) -> KioskApp:
    """The kiosk as ``kiosk run`` starts it: with the release it has installed, if any."""
    catalogue, image_base, version = _start_catalogue(config)
    app = KioskApp(
        config, NoDetector(), catalogue=catalogue, image_base=image_base, catalogue_version=version
    )
    app.start()
    return app


def tap(app: KioskApp, offer_id: str) -> tuple[str, str]:
    """A shopper is shown ``offer_id`` and taps it (the offer engine's choice and settle, under the brain's
    lock, as the brain does): the code the details screen shows, and the arm it credits."""
    with app.brain_worker.lock:
        engine = app.engine
        assert engine is not None
        for _ in range(200):
            choice = engine.choose(
                OfferContext(datetime(2026, 6, 1, 9, 30), "positive", 3.0, 1, zone="entrance")
            )
            if choice.offer_id == offer_id:
                break
            engine.settle(tapped=False)
        assert choice.offer_id == offer_id, "the offer was never chosen"
        engine.settle(tapped=True)
        code = engine.last_code()
    assert code is not None and choice.arm is not None
    return code, choice.arm


@dataclass
class BackOffice:
    """A store, its ingest (a plain subscription, in a thread) and the campaign desk on the real link."""

    db: Database
    store: BackofficeStore
    ingest: Ingest
    desk: CampaignDesk
    jobs: CampaignJobs
    key: Ed25519PrivateKey
    _stop: threading.Event
    _thread: threading.Thread

    @classmethod
    def start(
        cls,
        db: Database,
        broker: MosquittoBroker,
        *,
        require_approval: bool = False,
        jobs_interval_s: float = 0.2,
    ) -> BackOffice:
        key = Ed25519PrivateKey.generate()
        migrate_store(db)  # every table: the ingest's, the web application's, the campaigns'
        store = BackofficeStore(db)
        ingest = Ingest(broker_settings(broker), IngestSettings(client_id="ingest-campaigns"), store)
        ingest.start()
        stop = threading.Event()
        thread = threading.Thread(target=ingest.run, args=(stop,), daemon=True)
        thread.start()

        def clock() -> datetime:
            return datetime.now(UTC)

        settings = CampaignSettings(require_approval=require_approval, reward_resend_s=1.0)
        link = MqttCampaignLink(broker_settings(broker), client_id="bo-campaigns", clock=clock, key=key)
        desk = CampaignDesk.build(
            db,
            settings=settings,
            clock=clock,
            audit=AuditLog(db, clock),
            zone=ZoneInfo("Europe/Moscow"),
            link=link,
            key=key,
            redemption_key=MASTER,
        )
        jobs = CampaignJobs(desk, interval_s=jobs_interval_s)
        jobs.start()
        link.wait_connected(10)
        ingest.transport.wait_connected(10)
        return cls(db, store, ingest, desk, jobs, key, stop, thread)

    def stop(self) -> None:
        self.jobs.stop()
        self._stop.set()
        self._thread.join(10)


def seeded() -> random.Random:
    return random.Random(5)
