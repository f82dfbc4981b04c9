"""Everything the campaign, proof-of-play and till pages use, built once per application
(:meth:`CampaignDesk.build`), and the background jobs that keep releases and rewards moving
(:class:`CampaignJobs`)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from backoffice.campaigns import device_versions, proof_of_play, schema
from backoffice.campaigns.drafts import Drafts
from backoffice.campaigns.errors import CampaignError
from backoffice.campaigns.images import ImageStore
from backoffice.campaigns.link import CampaignLink, MqttCampaignLink, OfflineCampaignLink
from backoffice.campaigns.publishing import Publisher
from backoffice.campaigns.settings import CampaignSettings
from backoffice.db import Database
from backoffice.redemption import RewardCourier, Till
from backoffice.redemption import migrate as migrate_redemption
from backoffice.web.audit import AuditLog
from mqtt_bridge.errors import MqttBridgeError
from mqtt_bridge.settings import BrokerSettings
from mqtt_bridge.transport import MqttTransport

logger = logging.getLogger(__name__)


def migrate(db: Database) -> None:
    """Make or update the campaigns' and the till's tables (and the ingest's catalogue results and proof
    of play, which the ingest makes too, for a web application that starts first)."""
    schema.migrate(db)
    device_versions.migrate(db)
    proof_of_play.migrate(db)
    migrate_redemption(db)


def known_devices(db: Database) -> list[tuple[str, str]]:
    """Every (store, device) the back office has heard of: status or birth, events, catalogue results."""
    found: set[tuple[str, str]] = set()
    for table in ("devices", "device_health", "device_catalogue"):
        if db.table_exists(table):
            found.update((str(s), str(d)) for s, d in db.query(f"SELECT store_id, device_id FROM {table}"))  # noqa: S608
    return sorted(found)


def master_key(settings: CampaignSettings) -> bytes | None:
    """The fleet's redemption master key, read now from where ``[campaigns] redemption_master_key`` says;
    None when it is not configured."""
    if settings.redemption_master_key is None:
        return None
    try:
        return settings.redemption_master_key.resolve().get_secret_value().encode("utf-8")
    except MqttBridgeError as exc:
        raise CampaignError(f"[campaigns] redemption_master_key: {exc}") from exc


@dataclass
class CampaignDesk:
    """The campaigns' parts, shared by every request."""

    db: Database
    settings: CampaignSettings
    images: ImageStore
    drafts: Drafts
    publisher: Publisher
    till: Till
    courier: RewardCourier
    link: CampaignLink

    @classmethod
    def build(
        cls,
        db: Database,
        *,
        settings: CampaignSettings,
        clock: Callable[[], datetime],
        audit: AuditLog,
        zone: ZoneInfo,
        link: CampaignLink | None = None,
        key: Ed25519PrivateKey | None = None,
        redemption_key: bytes | None = None,
    ) -> CampaignDesk:
        """The desk on a migrated ``db`` (:func:`migrate`). ``link`` None: no broker (releases and rewards
        wait); ``key``: the back office's Ed25519 key that signs releases and commands;
        ``redemption_key``: the fleet's redemption master key (else read from ``settings``)."""
        chosen_link = link or OfflineCampaignLink()
        images = ImageStore(db, settings, clock)
        drafts = Drafts(db, images, clock)
        publisher = Publisher(
            db,
            drafts=drafts,
            images=images,
            settings=settings,
            clock=clock,
            audit=audit,
            link=chosen_link,
            key=key,
        )
        till = Till(
            db,
            master_key=redemption_key if redemption_key is not None else master_key(settings),
            devices=lambda: known_devices(db),
            offers=publisher.offer_ids,
            clock=clock,
            zone=zone,
            audit=audit,
        )
        courier = RewardCourier(till, chosen_link, settings, clock)
        return cls(db, settings, images, drafts, publisher, till, courier, chosen_link)


def served_desk(
    db: Database,
    *,
    broker: BrokerSettings,
    settings: CampaignSettings,
    clock: Callable[[], datetime],
    key: Ed25519PrivateKey | None,
    zone: ZoneInfo,
    transport: MqttTransport | None = None,
) -> CampaignDesk:
    """The desk ``backoffice serve`` runs: its own MQTT link (``[campaigns] client_id``), or a share of
    ``transport`` (another link's connection), signing with the back office's key, the master key read
    from ``[campaigns] redemption_master_key`` (a warning is logged when there is none: the till then
    refuses every code)."""
    if settings.redemption_master_key is None:
        logger.warning("no [campaigns] redemption_master_key: the till refuses every code")
    link = MqttCampaignLink(
        broker,
        client_id=settings.client_id,
        clock=clock,
        key=key,
        command_ttl_s=settings.command_ttl_s,
        transport=transport,
    )
    return CampaignDesk.build(
        db, settings=settings, clock=clock, audit=AuditLog(db, clock), zone=zone, link=link, key=key
    )


class CampaignJobs:
    """The campaigns' background thread (``web-campaign-jobs``): every ``interval_s``, the kiosks' answers
    to rewards are recorded and due rewards sent (:meth:`RewardCourier.step`), and releases the broker
    did not take are sent again (:meth:`Publisher.send_pending`)."""

    def __init__(self, desk: CampaignDesk, interval_s: float = 2.0) -> None:
        self.desk = desk
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def step(self) -> None:
        """One round of both jobs."""
        self.desk.courier.step()
        if self.desk.link.connected:
            self.desk.publisher.send_pending()

    def start(self) -> None:
        """Start the link and the thread."""
        self.desk.link.start()
        self._thread = threading.Thread(target=self._run, name="web-campaign-jobs", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.step()
            except Exception:
                logger.exception("campaign jobs failed; they run again in %.0f s", self.interval_s)

    def stop(self) -> None:
        """Stop the thread and the link."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self.desk.link.stop()
