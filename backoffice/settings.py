"""Settings of the back office's processes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class IngestSettings(BaseModel):
    """The back office's ingest: which broker topics it reads and where it stores them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    share_group: str | None = Field(
        default="vitrina-ingest",
        description="MQTT 5 shared subscription group; consumers in it split the load. None: a plain "
        "subscription (one consumer), for brokers that lose shared-subscription queues on restart "
        "(Mosquitto 2.0.11 with persistence, see docs/mqtt.md).",
    )
    db_url: str = Field(
        default="sqlite:///var/backoffice.sqlite",
        description="Store: 'sqlite:///path' (default) or 'postgresql://user@host/db' (a fleet).",
    )
    session_expiry_s: int = Field(
        default=3600, ge=0, description="How long the broker keeps the ingest's queue while it is away."
    )
    queue_size: int = Field(
        default=10_000, ge=10, description="Messages buffered between paho and the store."
    )
