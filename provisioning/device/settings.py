"""The self-test's thresholds: what counts as pass, warn and fail. One model, every field described."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SelfTestSettings(BaseModel):
    """Limits of ``provision check``. The defaults suit a Raspberry Pi 4 or 5 and a Jetson."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    camera_frames: int = Field(default=10, ge=1, le=1000, description="Frames the camera must deliver.")
    camera_timeout_s: float = Field(
        default=10.0, gt=0, le=120, description="Time the camera has to open and deliver them."
    )
    latency_runs: int = Field(
        default=30, ge=5, le=1000, description="Timed model calls (after ten untimed warm-up calls)."
    )
    presence_budget_ms: float = Field(
        default=50.0,
        gt=0,
        description="Most p95 milliseconds of one presence (face detection) call: the kiosk needs about 10 "
        "frames a second of perception, and face detection is most of a frame's work.",
    )
    emotion_budget_ms: float = Field(
        default=20.0,
        gt=0,
        description="Most p95 milliseconds of one expression call: at most 2 faces 5 times a second, so "
        "20 ms is a fifth of one core, the most the kiosk can spare beside face detection.",
    )
    broker_timeout_s: float = Field(
        default=10.0, gt=0, le=120, description="Time the broker has to accept the device and echo a message."
    )
    certificate_warn_days: float = Field(
        default=30.0, ge=0, description="Warn when the device's certificate expires sooner than this."
    )
    crl_warn_hours: float = Field(
        default=24.0,
        ge=0,
        description="Warn when the fleet's revocation list (CRL) must be re-signed sooner than this: past "
        "its next update the broker refuses every device.",
    )
    clock_tolerance_s: float = Field(
        default=5.0,
        gt=0,
        description="Most difference, in seconds, between this device's clock and the fleet's (the "
        "enrolment service's time reply, beyond the round trip's uncertainty). A clock kept by NTP is "
        "within milliseconds, so 5 s catches a clock that is not synchronised long before it matters: "
        "signed commands allow 120 s of skew, and certificates, events and redemption codes are dated.",
    )
    disk_fail_mb: float = Field(
        default=200.0, ge=0, description="Fail with less free space than this where the kiosk keeps data."
    )
    disk_warn_mb: float = Field(
        default=1024.0, ge=0, description="Warn with less free space than this where the kiosk keeps data."
    )
    outbox_warn_age_s: float = Field(
        default=3600.0, gt=0, description="Warn when the oldest event waiting to be sent is older than this."
    )
    outbox_fail_age_s: float = Field(
        default=86_400.0,
        gt=0,
        description="Fail when the oldest event waiting is older than this: nothing has reached the back "
        "office for that long.",
    )
    outbox_warn_share: float = Field(
        default=0.5, gt=0, le=1, description="Warn when the outbox holds more than this share of max_rows."
    )
    outbox_fail_share: float = Field(
        default=0.9,
        gt=0,
        le=1,
        description="Fail when it holds more than this share: low-priority events are about to be dropped.",
    )
