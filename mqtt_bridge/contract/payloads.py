"""Wire models of every JSON payload on Vitrina's topics. Each carries ``schema_version``.

The JSON Schemas in docs/schemas/ are generated from these models (``backoffice schemas``) and a test checks
that the committed files match. A change to a model that is not backwards compatible bumps its
``schema_version`` (and, for the whole tree, the ``v1`` in the topic prefix).

Events inside a batch are plain JSON objects here: :mod:`mqtt_bridge` knows nothing of Vitrina's event
schema (``mqtt_bridge.contract.events``); the ingest validates each event against it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, JsonValue, field_validator

from mqtt_bridge.contract.chat import CHAT_WIRE_MODELS
from mqtt_bridge.contract.enrolment import ENROLMENT_MODELS

#: Largest payload Vitrina publishes or accepts (bytes); the ingest and the bridge refuse larger ones.
MAX_PAYLOAD_BYTES: Final = 256 * 1024


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Wire(_Frozen):
    schema_version: Literal[1] = Field(default=1, description="Version of this payload's schema.")


class StatusPayload(_Wire):
    """Retained on ``status``: whether the device is connected."""

    state: Literal["online", "offline", "stopped"] = Field(
        description="'online' after connecting, 'offline' (the last will: the connection was lost), "
        "'stopped' (a clean exit)."
    )
    ts: datetime | None = Field(
        default=None, description="When the state was set (UTC); absent in the last will, set at connect."
    )


class BirthPayload(_Frozen):
    """Retained on ``birth``: what the device runs. Schema 2 added ``privacy_mode``."""

    schema_version: Literal[1, 2] = Field(
        default=2, description="Version of this payload's schema: 2 is written, 1 still accepted."
    )

    software_version: str = Field(description="Version of the kiosk software.")
    models: dict[str, str] = Field(default_factory=dict, description="Model name -> version or sha256.")
    capabilities: list[str] = Field(
        default_factory=list, description="What the device can do (e.g. 'expression', 'offers', 'cmd:purge')."
    )
    config_hash: str = Field(description="SHA-256 of the effective configuration (secrets excluded).")
    protocol: Literal["5", "3.1.1"] = Field(default="5", description="MQTT protocol version in use.")
    ts: datetime = Field(description="When the device connected (UTC).")
    privacy_mode: Literal["presence_only", "notice", "opt_in"] | None = Field(
        default=None,
        description="The device's consent mode ([privacy] mode): 'presence_only' (expression never read), "
        "'notice' (read unless the shopper declines), 'opt_in' (read only after consent); None from a "
        "device older than birth schema 2.",
    )


class EventBatch(_Wire):
    """On ``events`` and ``alerts``: a batch of anonymised events, oldest first."""

    batch_id: str = Field(description="Unique id of this batch (a redelivered batch keeps its id).")
    store_id: str = Field(description="Store of the device that sent the batch.")
    device_id: str = Field(description="Device that sent the batch.")
    events: list[dict[str, JsonValue]] = Field(
        min_length=1,
        description="Anonymised events (mqtt_bridge.contract.events schema), each with its event_id.",
    )


class MetricsPayload(_Wire):
    """On ``metrics``: periodic health of the device and its outbox."""

    ts: datetime = Field(description="When the metrics were taken (UTC).")
    uptime_s: float = Field(ge=0, description="Seconds since the bridge started.")
    outbox_depth: int = Field(ge=0, description="Events waiting in the outbox.")
    outbox_bytes: int = Field(ge=0, description="Bytes of payload waiting in the outbox.")
    dropped: dict[str, int] = Field(
        default_factory=dict,
        description="Counts of everything dropped since start, by where (queue or outbox priority).",
    )
    values: dict[str, float] = Field(
        default_factory=dict, description="Other gauges (fps, inference_ms, ...)."
    )


class CommandResult(_Wire):
    """On ``cmd/<name>/result``: what happened to a command."""

    command: str = Field(description="Name of the command (the <name> of its topic).")
    command_id: str | None = Field(
        default=None, description="The command's id, when the command could be parsed far enough to read it."
    )
    status: Literal["applied", "duplicate", "refused"] = Field(
        description="'applied': done now; 'duplicate': done before, nothing changed; 'refused': not done."
    )
    reason: str = Field(default="", description="Why it was refused, for a person to read.")
    ts: datetime = Field(description="When the device decided (UTC).")


class CommandEnvelope(_Wire):
    """On ``cmd/<name>``: a command from the back office.

    ``signature`` is the back office's Ed25519 signature (URL-safe base64, no padding) over
    :func:`mqtt_bridge.commands.signing_bytes` of the envelope: its canonical JSON without ``signature``.
    Catalogue, configuration and purge commands must be signed; every command is refused after
    ``expires_at`` and when its ``nonce`` was seen before.
    """

    command_id: str = Field(
        min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="Unique id of the command."
    )
    name: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[a-z0-9][a-z0-9_-]*$",
        description="Command name (topic level).",
    )
    issued_at: AwareDatetime = Field(description="When the back office issued it (with a time zone).")
    expires_at: AwareDatetime = Field(
        description="After this instant the device refuses it (with a time zone)."
    )
    nonce: str = Field(
        min_length=16, max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="Random, used once."
    )
    args: dict[str, JsonValue] = Field(default_factory=dict, description="Arguments of the command.")
    signature: str | None = Field(
        default=None, max_length=128, description="Ed25519 signature (base64url) by the back office."
    )


#: One level of an asset's name: letters, digits, '.', '_' and '-', not starting with '.' (no '..').
ASSET_NAME_LEVEL: Final = r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}"
#: An asset's name: a relative POSIX path of such levels (at most 8), as offers' ``image`` refer to it.
ASSET_NAME: Final = rf"^{ASSET_NAME_LEVEL}(/{ASSET_NAME_LEVEL}){{0,7}}$"


class CatalogueAsset(BaseModel):
    """A file the catalogue refers to (an offer's picture), carried inline in the release."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        max_length=255,
        pattern=ASSET_NAME,
        description="Relative POSIX path, as an offer's `image` refers to it (no '..', no leading '/').",
    )
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the file, lowercase hex.")
    size: int = Field(ge=0, description="Size of the file in bytes.")
    data: str | None = Field(
        default=None,
        description="The file, base64url without padding; absent: the device must already hold a file "
        "with this sha256 (from an earlier release), or it refuses the release.",
    )


class CatalogueRelease(_Wire):
    """Retained on ``{prefix}/{store}/catalogue``: the store's offer catalogue, signed by the back office.

    ``signature`` is the back office's Ed25519 signature (base64url) over
    :func:`mqtt_bridge.catalogue.release_signing_bytes`: the canonical JSON of the release without
    ``signature``, so it covers the store, the version, the catalogue text and every asset's bytes.
    """

    store_id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", description="The store it is for.")
    version: int = Field(ge=1, description="Release number, increasing: a device installs only a newer one.")
    issued_at: AwareDatetime = Field(description="When the back office issued it (with a time zone).")
    catalogue: str = Field(
        min_length=2,
        description="The catalogue document (kiosk.decisions.offers.Catalogue) as JSON text; images "
        "relative to it.",
    )
    assets: list[CatalogueAsset] = Field(
        default_factory=list, max_length=1024, description="Every file the catalogue refers to."
    )
    signature: str | None = Field(
        default=None, max_length=128, description="Ed25519 signature (base64url) by the back office."
    )

    @field_validator("assets")
    @classmethod
    def _unique_names(cls, assets: list[CatalogueAsset]) -> list[CatalogueAsset]:
        names = [a.name for a in assets]
        if len(set(names)) != len(names):
            raise ValueError("two assets have the same name")
        return assets


class CatalogueResult(_Wire):
    """On ``{prefix}/{store}/{device}/catalogue/result``: what a device did with a catalogue release."""

    store_id: str = Field(description="Store of the device.")
    device_id: str = Field(description="The device.")
    version: int | None = Field(
        default=None, description="The release's version, when it could be read that far."
    )
    status: Literal["installed", "refused", "kept"] = Field(
        description="'installed': now in use; 'refused': invalid, the previous catalogue is kept; 'kept': "
        "not newer than the installed one (a retained or replayed release), nothing changed."
    )
    reason: str = Field(default="", max_length=200, description="Why, for a person to read.")
    installed_version: int | None = Field(
        default=None, description="The version in use after the decision; absent: none installed."
    )
    ts: datetime = Field(description="When the device decided (UTC).")


#: Every wire model, by the name of its schema file in docs/schemas/ (with enrolment's, renewal's and the
#: fleet's notices, and the signed identity config they carry: :mod:`mqtt_bridge.contract.enrolment`; the
#: chat's batch and operator message: :mod:`mqtt_bridge.contract.chat`).
WIRE_MODELS: Final[dict[str, type[BaseModel]]] = {
    **ENROLMENT_MODELS,
    **CHAT_WIRE_MODELS,
    "status": StatusPayload,
    "birth": BirthPayload,
    "event_batch": EventBatch,
    "metrics": MetricsPayload,
    "command_result": CommandResult,
    "command": CommandEnvelope,
    "catalogue_release": CatalogueRelease,
    "catalogue_result": CatalogueResult,
}


def json_schemas(extra: dict[str, type[BaseModel]] | None = None) -> dict[str, dict[str, Any]]:
    """JSON Schema of every wire model (plus ``extra``), by file stem."""
    models = {**WIRE_MODELS, **(extra or {})}
    return {name: model.model_json_schema(mode="validation") for name, model in sorted(models.items())}
