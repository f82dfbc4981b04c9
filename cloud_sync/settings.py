"""Settings of :mod:`cloud_sync`: the ``[outbox]`` and ``[anonymisation]`` sections.

Every model forbids unknown keys and describes every field; every field has a default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class OutboxSettings(BaseModel):
    """The durable outbox on the device: where it lives, how big it may grow, how it publishes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path = Field(default=Path("var/outbox.sqlite"), description="SQLite file of the outbox (WAL mode).")
    max_rows: int = Field(
        default=500_000,
        ge=100,
        description="Most events kept; beyond it the oldest low-priority ones go first.",
    )
    max_bytes: int = Field(
        default=256 * 1024 * 1024,
        ge=64 * 1024,
        description="Most payload bytes kept; beyond it the oldest low-priority events are dropped first.",
    )
    batch_size: int = Field(default=200, ge=1, le=5000, description="Events in one MQTT message at most.")
    batch_max_bytes: int = Field(
        default=128 * 1024, ge=4096, description="Bytes of events in one MQTT message at most."
    )
    max_inflight_batches: int = Field(
        default=64, ge=1, le=1000, description="Batches published and not yet acknowledged (PUBACK) at most."
    )
    resend_after_s: float = Field(
        default=60.0, gt=0, description="A batch without PUBACK after this long is published again."
    )
    drain_on_stop_s: float = Field(
        default=5.0,
        ge=0,
        le=20,
        description="On a clean stop, wait up to this long (while connected) for the outbox to empty, every "
        "event acknowledged by the broker, before disconnecting; what is left is sent after the next start.",
    )
    synchronous: Literal["NORMAL", "FULL"] = Field(
        default="FULL",
        description="SQLite synchronous mode: FULL survives a power cut; NORMAL (WAL) survives a "
        "process crash and is faster.",
    )


class AnonymisationSettings(BaseModel):
    """What is done to events before they leave the device (allowlist, hashing, coarsening)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    visit_ref: Literal["rehash", "unlink"] = Field(
        default="rehash",
        description="'rehash': visit_ref re-hashed with a salt that rotates daily (events of one visit still "
        "join that day); 'unlink': dropped where optional, a one-off random value where required.",
    )
    ts_bucket_s: int = Field(
        default=60, ge=1, le=86_400, description="Timestamps are floored to a multiple of this many seconds."
    )
    k_anonymity: int = Field(
        default=5, ge=1, description="Aggregate counts below k are suppressed (sent as null)."
    )
    distance_step_m: float = Field(
        default=0.5, gt=0, description="Distances are rounded to a multiple of this many metres."
    )
    duration_step_s: float = Field(
        default=1.0,
        gt=0,
        le=3600,
        description="Durations (every field ending in _s: dwell, attention, staff response, seconds of each "
        "valence) are rounded to a multiple of this many seconds, so that they cannot be matched against "
        "CCTV or till times; 1 s keeps the KPIs.",
    )
