"""``[campaigns]``: publishing, pictures and redemption at the till (``backoffice serve --settings FILE``)."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mqtt_bridge.catalogue import DEFAULT_MAX_RELEASE_BYTES
from mqtt_bridge.settings import SecretRef

#: The campaigns' MQTT client id when none is configured: its own, never the ingest's or the live link's.
DEFAULT_CAMPAIGN_CLIENT_ID = "vitrina-web-campaigns"

_CLIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class CampaignSettings(BaseModel):
    """Campaigns, their releases and pictures, and redemption at the till."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    require_approval: bool = Field(
        default=False,
        description="Publishing (and rolling back) needs a second admin's approval: the request is made by "
        "one account and approved by another admin account; the audit log shows both.",
    )
    max_release_bytes: int = Field(
        default=DEFAULT_MAX_RELEASE_BYTES,
        ge=64 * 1024,
        description="A store's signed release, its pictures inline (base64url), may not be larger than this "
        "(the devices' limit, 4 MiB by default): publishing a larger one is refused.",
    )
    image_upload_max_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1024, description="An uploaded picture file may not be larger than this."
    )
    image_formats: tuple[str, ...] = Field(
        default=("PNG", "JPEG", "WEBP"),
        min_length=1,
        description="Picture formats accepted on upload (Pillow's names); every picture is stored as PNG "
        "(with transparency) or JPEG, which every kiosk can show.",
    )
    image_min_side: int = Field(
        default=160, ge=16, description="Pictures narrower or lower than this many pixels are refused."
    )
    image_max_pixels: int = Field(
        default=40_000_000,
        ge=10_000,
        description="Pictures of more pixels than this are refused unread (a decompression bomb guard).",
    )
    image_long_side: int = Field(
        default=960,
        ge=64,
        le=4096,
        description="Pictures are resized so that their longer side is at most this many pixels (the "
        "kiosk shows a picture in at most 42 % of a 1920-pixel screen).",
    )
    image_max_bytes: int = Field(
        default=400 * 1024,
        ge=16 * 1024,
        description="A stored picture is at most this large (JPEG quality is lowered, then the picture made "
        "smaller, until it fits), so that a release with its pictures inline stays under "
        "max_release_bytes.",
    )
    redemption_master_key: SecretRef | None = Field(
        default=None,
        description="Where the fleet's redemption master key lives (an environment variable or a file, at "
        "least 32 bytes): every device's redemption secret is derived from it "
        "(mqtt_bridge.contract.redemption.device_secret), so the till checks any device's codes. None: "
        "the till refuses every code and says redemption is not set up.",
    )
    client_id: str = Field(
        default=DEFAULT_CAMPAIGN_CLIENT_ID,
        description="The campaigns' own MQTT client id (releases and redeem commands out, their results in).",
    )
    command_ttl_s: int = Field(
        default=600, ge=10, le=86_400, description="Seconds a redeem command stays valid once sent."
    )
    reward_resend_s: float = Field(
        default=30.0,
        gt=0,
        description="A redeem command the kiosk has not answered is sent again after this many seconds (the "
        "kiosk applies it once: the same command id is answered 'duplicate').",
    )
    reward_give_up_days: int = Field(
        default=30,
        ge=1,
        description="A reward still undelivered this many days after the code's last valid day is given up "
        "(the kiosk forgets its codes then).",
    )

    @field_validator("client_id")
    @classmethod
    def _check_client_id(cls, value: str) -> str:
        if not _CLIENT_ID.fullmatch(value):
            raise ValueError(
                f"client id {value!r} is not usable: 1 to 64 letters, digits, '.', '_' or '-' "
                "(e.g. 'vitrina-web-campaigns')"
            )
        return value

    @field_validator("image_formats")
    @classmethod
    def _upper(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(v.upper() for v in value)
