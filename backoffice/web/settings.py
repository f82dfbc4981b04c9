"""Settings of the web application: one pydantic model, every field described (docs/backoffice.md)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator

#: The live subscriber's MQTT client id when none is configured: stable, its own, never the ingest's.
DEFAULT_LIVE_CLIENT_ID = "vitrina-web"

Language = Literal["ru", "en"]

_CLIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class WebSettings(BaseModel):
    """``backoffice serve``: sessions, sign-in limits, staff-call escalation, the live subscription,
    retention, and what the pages show."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    time_zone: str = Field(
        default="UTC",
        description="IANA time zone the pages show hours and days in (e.g. 'Europe/Moscow'); stored times "
        "are UTC.",
    )
    default_language: Language = Field(
        default="ru", description="Language of the pages until a user picks one (remembered in the session)."
    )
    session_idle_s: int = Field(
        default=30 * 60,
        ge=60,
        description="A session ends after this many seconds without a request (the signed cookie's max age, "
        "renewed on every response).",
    )
    session_absolute_s: int = Field(
        default=12 * 3600,
        ge=300,
        description="A session ends this many seconds after sign-in, however active (then sign in again).",
    )
    https_only: bool = Field(
        default=False,
        description="Send the session and CSRF cookies only over HTTPS (set it behind a TLS proxy in "
        "production).",
    )
    login_limit_account: str = Field(
        default="5/15 minutes",
        description="Failed sign-ins allowed per account in a moving window (the `limits` notation); past it "
        "the account is refused until the window moves on.",
    )
    login_limit_address: str = Field(
        default="20/15 minutes",
        description="Failed sign-ins allowed per client address in a moving window (the `limits` notation).",
    )
    escalate_after_s: float = Field(
        default=120.0,
        gt=0,
        description="A staff call still unacknowledged this many seconds after it was raised escalates: "
        "marked on the staff page and posted to webhook_url.",
    )
    webhook_url: HttpUrl | None = Field(
        default=None, description="Where escalations are POSTed as JSON; none: they are only shown."
    )
    webhook_timeout_s: float = Field(default=5.0, gt=0, le=60, description="Timeout of one webhook POST.")
    webhook_attempts: int = Field(
        default=3,
        ge=1,
        le=10,
        description="Attempts per escalation (the first and its retries), then given up.",
    )
    webhook_backoff_s: float = Field(
        default=2.0, ge=0, le=60, description="Wait before a retry, doubled after each failed attempt."
    )
    live_client_id: str = Field(
        default=DEFAULT_LIVE_CLIENT_ID,
        description="The web application's own MQTT client id for its plain (non-shared) subscription to the "
        "fleet's retained status and birth: stable across restarts, and never the ingest's.",
    )
    command_key: Path | None = Field(
        default=None,
        description="Ed25519 key (PEM, `backoffice keygen`) that signs the staff_ack sent to a kiosk when a "
        "call is acknowledged; none: calls are acknowledged here but kiosks refuse the unsigned command.",
    )
    command_ttl_s: int = Field(default=300, ge=10, description="Seconds a staff_ack command stays valid.")
    retention_interval_s: float = Field(
        default=3600.0, gt=0, description="How often the retention job deletes raw events past their age."
    )
    poll_interval_s: float = Field(
        default=1.0,
        gt=0,
        le=30,
        description="How often the live staff-call list looks for changes in the store (the ingest may be "
        "another process) and the escalation check runs.",
    )
    page_rows: int = Field(default=500, ge=10, description="Rows at most in one table of a page (CSV: all).")
    live_rows: int = Field(
        default=100,
        ge=10,
        description="Calls at most in the staff page's live list, first in its order (CSV and JSON: all).",
    )
    fleet_rows: int = Field(
        default=100,
        ge=10,
        description="Devices one page of the fleet's device table shows, those with alerts first, then those "
        "not online; its pager leads to the rest (CSV and JSON: every device).",
    )

    @property
    def zone(self) -> ZoneInfo:
        """The display time zone."""
        return ZoneInfo(self.time_zone)

    @field_validator("time_zone")
    @classmethod
    def _check_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r}: use an IANA name such as 'Europe/Moscow'"
            ) from exc
        return value

    @field_validator("live_client_id")
    @classmethod
    def _check_client_id(cls, value: str) -> str:
        if not _CLIENT_ID.fullmatch(value):
            raise ValueError(
                f"client id {value!r} is not usable: 1 to 64 letters, digits, '.', '_' or '-' "
                "(e.g. 'vitrina-web')"
            )
        return value
