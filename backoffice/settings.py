"""Settings of the back office's processes."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: The ingest's client id when none is configured: stable, so a restarted ingest resumes its session.
DEFAULT_INGEST_CLIENT_ID = "vitrina-ingest"

#: What a client id may hold: portable across brokers (MQTT guarantees only [0-9a-zA-Z]; these are
#: accepted by Mosquitto, EMQX, HiveMQ and VerneMQ), and never a wildcard or a '$share' look-alike.
_CLIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class IngestSettings(BaseModel):
    """The back office's ingest: its identity on the broker, the topics it reads, where it stores them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    client_id: str = Field(
        default=DEFAULT_INGEST_CLIENT_ID,
        description="The consumer's MQTT client id. It names the broker-side session that queues what "
        "arrives while the ingest is away, so it must stay the same across restarts; two consumers running "
        "at once (in one share group or not) need different ids, or the broker disconnects one whenever "
        "the other connects.",
    )
    share_group: str | None = Field(
        default=None,
        description="MQTT 5 shared subscription group, for scale: consumers in it split the load. None "
        "(the default): a plain subscription, the one design that loses nothing across a broker restart "
        "on Mosquitto 2.0.11 (a group loses what is published between the restart and its members' "
        "reconnection, see docs/mqtt.md).",
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

    @field_validator("client_id")
    @classmethod
    def _check_client_id(cls, value: str) -> str:
        if not _CLIENT_ID.fullmatch(value):
            raise ValueError(
                f"client id {value!r} is not usable: use 1 to 64 letters, digits, '.', '_' or '-', starting "
                "with a letter or digit (e.g. 'vitrina-ingest-2'), the same on every restart"
            )
        return value


class ReportSettings(BaseModel):
    """What the back office's reports (pages, CSV, API) may show about the audience."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    k_anonymity: int = Field(
        default=5,
        ge=1,
        description="k-suppression: a report cell built from fewer than this many visits (each report "
        "defines what its cells' visits are, docs/backoffice-data.md) is returned suppressed, a value "
        "that carries no number, so pages, CSV and the API can only show '< k'. 1 turns suppression off. "
        "The back office's own setting, independent of the devices' [anonymisation] k_anonymity.",
    )


class AlertSettings(BaseModel):
    """Thresholds of the fleet's alert rules (:mod:`backoffice.alerts`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    offline_after_min: float = Field(
        default=10.0,
        gt=0,
        description="A device whose retained status is not 'online' (offline: its last will; stopped: a "
        "clean exit), or that was never seen online, for longer than this many minutes raises 'offline'.",
    )
    clock_drift_s: float = Field(
        default=120.0,
        gt=0,
        description="A device whose latest metrics payload's ts differs from the time the back office "
        "received it by more than this many seconds raises 'clock_drift' (its events' times are then "
        "wrong by as much).",
    )
    outbox_window_min: float = Field(
        default=30.0,
        gt=0,
        description="The window over which 'outbox_growing' looks at the device's metrics payloads.",
    )
    outbox_growth_events: int = Field(
        default=100,
        ge=1,
        description="'outbox_growing' is raised when, over the window, the outbox depth never fell from one "
        "payload to the next and grew by at least this many events (a device that cannot deliver).",
    )
    outbox_min_samples: int = Field(
        default=3,
        ge=2,
        description="Metrics payloads the window must hold before 'outbox_growing' can be raised.",
    )


class RetentionSettings(BaseModel):
    """Storage limitation (152-FZ, GDPR art. 5(1)(e)): how long raw data is kept; rollups stay."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    raw_days: float = Field(
        default=90.0,
        gt=0,
        description="Raw events, metrics payloads and staff-call records whose time (the event's or "
        "payload's ts; a call's raised time) is older than this many days are deleted; the hourly rollups "
        "that counted them stay.",
    )
    chat_transcript_days: float = Field(
        default=30.0,
        gt=0,
        description="Chat transcripts (every message of a conversation: the shopper's masked text, the "
        "bot's replies and guesses, the operator's messages; with them the texts of the unanswered "
        "questions) are deleted this many days after the back office first heard of the conversation; the "
        "conversation's record (no text) goes with the raw data after raw_days, and the chat's KPI rollups "
        "stay (issue #19, docs/chat.md).",
    )
    batch_rows: int = Field(
        default=10_000,
        ge=100,
        description="Rows deleted per transaction, so a large deletion never holds the store's write lock "
        "for long.",
    )
