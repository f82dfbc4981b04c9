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
