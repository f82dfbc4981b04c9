"""The kiosk's events: frozen, schema-versioned pydantic models, discriminated by ``type``.

Events are what the kiosk commits to its local store and what, anonymised, leaves the device. None of
them carries an image, a crop, an embedding or a stable person identifier. A visit is referred to only by
``visit_ref``: a keyed hash of the tracker's ephemeral visit id under a salt that lives in memory and
rotates daily, so events of one visit can be joined (an offer shown, then tapped) but two visits cannot be
linked, and nothing on disk leads back to a person.

This module is a pure schema: it imports nothing else of Vitrina's, so that :mod:`cloud_sync` (the outbox
and the back office's ingest) can share it without importing the rest of the kiosk.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

EVENT_SCHEMA_VERSION = 1

Valence = Literal["negative", "neutral", "positive"]
Priority = Literal["alert", "normal", "low"]


def new_event_id() -> str:
    """A random, unique event id (UUID4 hex): the key that makes storage and delivery idempotent."""
    return uuid.uuid4().hex


def utc_now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class EventBase(BaseModel):
    """Fields every event has. Subclasses add a ``type`` literal and their own fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Delivery priority: alerts jump the outbox queue; low-priority events are dropped first when full.
    priority: ClassVar[Priority] = "normal"

    schema_version: Literal[1] = Field(default=1, description="Version of the event schema.")
    event_id: str = Field(default_factory=new_event_id, description="Unique id; storage is idempotent on it.")
    ts: datetime = Field(default_factory=utc_now, description="When it happened (UTC).")
    store_id: str = Field(description="Store the device belongs to.")
    device_id: str = Field(description="Device that recorded the event.")


class ValenceMix(BaseModel):
    """Seconds of each smoothed valence observed (abstentions are not counted)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    negative_s: float = Field(default=0.0, ge=0, description="Seconds read as negative.")
    neutral_s: float = Field(default=0.0, ge=0, description="Seconds read as neutral.")
    positive_s: float = Field(default=0.0, ge=0, description="Seconds read as positive.")


class VisitStarted(EventBase):
    """A face came into view and a visit began."""

    type: Literal["visit_started"] = "visit_started"
    visit_ref: str = Field(description="Keyed hash of the ephemeral visit id (daily in-memory salt).")
    distance_m: float | None = Field(default=None, ge=0, description="Estimated distance when first seen.")
    crowd_size: int = Field(default=1, ge=1, description="Faces in view when the visit began.")


class VisitEnded(EventBase):
    """A visit ended: the face left the view. Carries the visit's audience metrics."""

    type: Literal["visit_ended"] = "visit_ended"
    visit_ref: str = Field(description="Keyed hash of the ephemeral visit id (daily in-memory salt).")
    dwell_s: float = Field(ge=0, description="Seconds the face was in view (opportunity to see).")
    attention_s: float = Field(ge=0, description="Seconds the face was frontal (attention).")
    watcher: bool = Field(description="Attention reached the watcher threshold.")
    glance: bool = Field(description="Attention was under 2 s.")
    valence: ValenceMix = Field(default_factory=ValenceMix, description="Valence mix over the visit.")


class OfferShown(EventBase):
    """An offer was put on screen."""

    type: Literal["offer_shown"] = "offer_shown"
    offer_id: str = Field(description="Catalogue id of the offer.")
    visit_ref: str | None = Field(
        default=None, description="The visit it was shown to; None in attract mode."
    )
    reason: Literal["attract", "rules", "bandit", "help"] = Field(description="Why this offer was chosen.")
    language: Literal["ru", "en"] = Field(description="Language it was shown in.")
    valence: Valence | None = Field(default=None, description="Smoothed valence when shown, if read.")


class OfferTapped(EventBase):
    """The shopper tapped an offer."""

    type: Literal["offer_tapped"] = "offer_tapped"
    offer_id: str = Field(description="Catalogue id of the offer.")
    visit_ref: str | None = Field(default=None, description="The visit it was tapped in.")


class OfferRedeemed(EventBase):
    """A till redeemed an offer's code."""

    type: Literal["offer_redeemed"] = "offer_redeemed"
    offer_id: str = Field(description="Catalogue id of the offer.")
    code: str = Field(
        description="The redemption code as issued (XXXX-XXXX-XXXX-XXXX, mqtt_bridge.contract.redemption): "
        "it ties to the offer and the device, never to a person."
    )


class Feedback(EventBase):
    """One-tap feedback: CSAT (1-5) or NPS (0-10)."""

    type: Literal["feedback"] = "feedback"
    kind: Literal["csat", "nps"] = Field(description="Which question was answered.")
    score: int = Field(ge=0, le=10, description="The answer: 1-5 for CSAT, 0-10 for NPS.")
    offer_id: str | None = Field(default=None, description="Offer the interaction was about, if any.")
    visit_ref: str | None = Field(default=None, description="The visit it was given in.")
    valence: Valence | None = Field(default=None, description="Smoothed valence when given, if read.")


class StaffCall(EventBase):
    """A staff call: a frustrated shopper, or one who asked for a person. Never carries an image."""

    type: Literal["staff_call"] = "staff_call"
    priority: ClassVar[Priority] = "alert"
    call_id: str = Field(default_factory=new_event_id, description="Id the back office acknowledges.")
    reason: Literal["negative_valence", "shopper_request"] = Field(description="What raised the call.")
    zone: str = Field(description="Where in the store the screen stands.")


class StaffCallAcknowledged(EventBase):
    """The back office acknowledged a staff call."""

    type: Literal["staff_call_acknowledged"] = "staff_call_acknowledged"
    priority: ClassVar[Priority] = "alert"
    call_id: str = Field(description="The call acknowledged.")
    response_s: float = Field(ge=0, description="Seconds from the call to its acknowledgement (a KPI).")


class ConsentChanged(EventBase):
    """The shopper's consent state for expression reading changed, for this visit only."""

    type: Literal["consent_changed"] = "consent_changed"
    visit_ref: str | None = Field(default=None, description="The visit the choice applies to.")
    state: Literal["opted_in", "opted_out"] = Field(description="The new state.")
    mode: Literal["presence_only", "notice", "opt_in"] = Field(description="The deployment's privacy mode.")


class Health(EventBase):
    """Periodic device health."""

    type: Literal["health"] = "health"
    priority: ClassVar[Priority] = "low"
    fps: float = Field(ge=0, description="Frames processed a second.")
    inference_ms: float = Field(ge=0, description="Mean presence inference time.")
    dropped_frames: int = Field(ge=0, description="Frames dropped at the camera queue since start.")
    camera_ok: bool = Field(description="The camera delivers frames.")
    queue_depths: dict[str, int] = Field(default_factory=dict, description="Depth of each bounded queue.")


Event = Annotated[
    VisitStarted
    | VisitEnded
    | OfferShown
    | OfferTapped
    | OfferRedeemed
    | Feedback
    | StaffCall
    | StaffCallAcknowledged
    | ConsentChanged
    | Health,
    Field(discriminator="type"),
]

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def parse_event(data: str | bytes) -> Event:
    """Parse one event from JSON, choosing the model by its ``type``."""
    return EVENT_ADAPTER.validate_json(data)
