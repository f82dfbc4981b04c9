"""Helpers of the campaign and till tests: pictures made with Pillow, offer documents, a recording campaign
link (a test double behind the ``CampaignLink`` seam; the real MQTT link runs in the browser test and in
tests/test_campaign_broker.py), and a campaign desk on a real store."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image

from backoffice.campaigns.desk import CampaignDesk, migrate
from backoffice.campaigns.link import LinkDownError
from backoffice.campaigns.settings import CampaignSettings
from backoffice.db import Database
from backoffice.web.audit import AuditLog
from backoffice.web.users import migrate as migrate_web
from mqtt_bridge.contract.payloads import CommandResult

#: A fleet redemption master key for tests (32 bytes).
MASTER = b"vitrina-test-master-key-32-bytes!"


def png(
    width: int = 800, height: int = 600, colour: tuple[int, ...] = (200, 120, 40), *, alpha: bool = False
) -> bytes:
    """A picture as PNG bytes (RGBA with a transparent corner when ``alpha``)."""
    mode = "RGBA" if alpha else "RGB"
    image = Image.new(mode, (width, height), colour if not alpha else (*colour[:3], 255))
    if alpha:
        image.paste((0, 0, 0, 0), (0, 0, width // 4, height // 4))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def noisy_jpeg(width: int, height: int, seed: int = 1) -> bytes:
    """A JPEG of noise (it compresses badly: a large file for its size)."""
    image = Image.effect_noise((width, height), 120).convert("RGB")
    image = Image.merge("RGB", [image.getchannel(0).rotate(90 * i) for i in range(3)])
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95)
    del seed
    return out.getvalue()


def offer_doc(offer_id: str = "o1", **fields: Any) -> dict[str, Any]:
    """A valid offer document (the contract's offer without its picture)."""
    doc: dict[str, Any] = {
        "id": offer_id,
        "title": {"ru": f"Кофе {offer_id}", "en": f"Coffee {offer_id}"},
        "body": {"ru": "Второй за полцены", "en": "Second cup half price"},
        "valid_from": "2026-01-01",
        "valid_to": "2027-12-31",
    }
    doc.update(fields)
    return doc


@dataclass
class RecordingCampaignLink:
    """A ``CampaignLink`` that records what it is asked to send (no broker)."""

    connected: bool = True
    releases: list[tuple[str, bytes]] = field(default_factory=list)
    redeems: list[tuple[str, str, str, str]] = field(default_factory=list)
    results: dict[str, CommandResult] = field(default_factory=dict)

    def publish_release(self, store_id: str, payload: bytes) -> None:
        if not self.connected:
            raise LinkDownError("no broker (test)")
        self.releases.append((store_id, payload))

    def send_redeem(self, store_id: str, device_id: str, command_id: str, code: str) -> None:
        if not self.connected:
            raise LinkDownError("no broker (test)")
        self.redeems.append((store_id, device_id, command_id, code))

    def redeem_result(self, command_id: str) -> CommandResult | None:
        return self.results.get(command_id)

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


def make_desk(
    db: Database,
    clock: Callable[[], datetime],
    *,
    settings: CampaignSettings | None = None,
    link: RecordingCampaignLink | None = None,
    key: Ed25519PrivateKey | None = None,
    master: bytes | None = MASTER,
) -> tuple[CampaignDesk, RecordingCampaignLink]:
    """A campaign desk on ``db`` (migrated here, the web's audit table included)."""
    from backoffice.schema import migrate_all

    migrate_all(db)
    migrate_web(db)
    migrate(db)
    chosen = link or RecordingCampaignLink()
    desk = CampaignDesk.build(
        db,
        settings=settings or CampaignSettings(),
        clock=clock,
        audit=AuditLog(db, clock),
        zone=ZoneInfo("Europe/Moscow"),
        link=chosen,
        key=key if key is not None else Ed25519PrivateKey.generate(),
        redemption_key=master,
    )
    return desk, chosen
