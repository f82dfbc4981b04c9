"""The kiosk's events: frozen, schema-versioned pydantic models, discriminated by ``type``.

Events are what the kiosk commits to its local store and what, anonymised, leaves the device. None of
them carries an image, a crop, an embedding or a stable person identifier. A visit is referred to only by
``visit_ref``: a keyed hash of the tracker's ephemeral visit id under a salt that lives in memory and
rotates daily, so events of one visit can be joined (an offer shown, then tapped) but two visits cannot be
linked, and nothing on disk leads back to a person.

This module is a pure schema: it imports nothing else of Vitrina's, so that :mod:`cloud_sync` (the outbox
and the back office's ingest) can share it without importing the rest of the kiosk.

Versions: schema 2 added, each with a default so that a version-1 event still parses, the bandit ``arm`` on
``offer_shown`` and ``offer_tapped``, the ``visit_ref`` and ``offer_id`` of a ``staff_call``, ``frustrated``
and ``frustrated_after`` on ``visit_ended``, and the ``offer_ended`` event, which carries what the back
office cannot compute from minute-floored times: how long the offer was on screen, whether it was attended,
and the shopper's valence in the seconds before it and while it was shown (two aggregates, computed on the
device). Schema 2 also carries the ``catalogue_version`` an offer was shown from (``offer_shown``,
``offer_ended``, ``feedback``: proof of play per offer and version) and the bandit ``arm`` of an
``offer_redeemed`` (from the device's record of the code). A device writes version 2; the ingest accepts 1
and 2.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, ClassVar, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

#: The version a device writes; the back office accepts 1 and 2.
EVENT_SCHEMA_VERSION: Final[Literal[2]] = 2

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

    schema_version: Literal[1, 2] = Field(
        default=EVENT_SCHEMA_VERSION,
        description="Version of the event schema: 2 is written; 1 (no arm, offer_ended or frustration "
        "fields) is still accepted.",
    )
    event_id: str = Field(default_factory=new_event_id, description="Unique id; storage is idempotent on it.")
    ts: datetime = Field(default_factory=utc_now, description="When it happened (UTC).")
    store_id: str = Field(description="Store the device belongs to.")
    device_id: str = Field(description="Device that recorded the event.")


#: How the ``arm`` fields are described (one text for every event that carries one).
ARM_DESCRIPTION = (
    "The bandit arm the outcome is credited to: '<offer_id>|<context bucket>' (valence, dwell band, crowd "
    "band, daypart; kiosk.decisions.offers.context_bucket), also when one eligible offer left the bandit "
    "no choice; None when no arm learns from the outcome: a help entry, which rules alone choose (schema 2)."
)

#: How the ``catalogue_version`` fields are described.
CATALOGUE_VERSION_DESCRIPTION = (
    "The version of the back office's catalogue release the offer came from (the kiosk's installed "
    "release); None for a catalogue read from a file, or before any release was installed (schema 2)."
)


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
    frustrated: bool = Field(
        default=False,
        description="Sustained negative valence (the staff watch's negative_enter_s) was reached during the "
        "visit, whether or not a staff call followed (schema 2).",
    )
    frustrated_after: str | None = Field(
        default=None,
        description="The offer last shown to this visit before its frustration began, if any (schema 2).",
    )


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
    arm: str | None = Field(default=None, max_length=128, description=ARM_DESCRIPTION)
    catalogue_version: int | None = Field(default=None, ge=1, description=CATALOGUE_VERSION_DESCRIPTION)


class OfferTapped(EventBase):
    """The shopper tapped an offer."""

    type: Literal["offer_tapped"] = "offer_tapped"
    offer_id: str = Field(description="Catalogue id of the offer.")
    visit_ref: str | None = Field(default=None, description="The visit it was tapped in.")
    arm: str | None = Field(default=None, max_length=128, description=ARM_DESCRIPTION)


class OfferEnded(EventBase):
    """An offer left the screen (schema 2). It carries, as aggregates computed on the device, what the back
    office cannot compute from minute-floored times: how long the offer showed, whether the shopper it was
    shown to attended to it, and that shopper's valence before and while it showed (mood uplift)."""

    type: Literal["offer_ended"] = "offer_ended"
    offer_id: str = Field(description="Catalogue id of the offer.")
    visit_ref: str | None = Field(default=None, description="The visit it was shown to; None in attract.")
    arm: str | None = Field(default=None, max_length=128, description=ARM_DESCRIPTION)
    catalogue_version: int | None = Field(default=None, ge=1, description=CATALOGUE_VERSION_DESCRIPTION)
    shown_s: float = Field(ge=0, description="Seconds the offer was on screen.")
    attention_s: float = Field(
        default=0.0, ge=0, description="Seconds the shopper it was shown to was frontal while it showed."
    )
    attended: bool = Field(
        default=False,
        description="The shopper's attention while it showed reached the audience meter's watcher threshold.",
    )
    tapped: bool = Field(default=False, description="The shopper tapped it while it showed.")
    valence_before: ValenceMix = Field(
        default_factory=ValenceMix,
        description="Seconds of each smoothed valence of the shopper in the window before it showed "
        "(the device's [audience] uplift_window_s); empty where expression was not read.",
    )
    valence_during: ValenceMix = Field(
        default_factory=ValenceMix,
        description="Seconds of each smoothed valence of the shopper while it showed; empty where "
        "expression was not read.",
    )


class OfferRedeemed(EventBase):
    """A till redeemed an offer's code, and the device that issued it rewarded the code's bandit arm."""

    type: Literal["offer_redeemed"] = "offer_redeemed"
    offer_id: str = Field(description="Catalogue id of the offer.")
    code: str = Field(
        description="The redemption code as issued (XXXX-XXXX-XXXX-XXXX, mqtt_bridge.contract.redemption): "
        "it ties to the offer and the device, never to a person."
    )
    arm: str | None = Field(
        default=None,
        max_length=128,
        description="The bandit arm the tap that issued the code was credited to, from the device's record "
        "of the code: the arm the redemption rewards (schema 2).",
    )


class Feedback(EventBase):
    """One-tap feedback: CSAT (1-5) or NPS (0-10)."""

    type: Literal["feedback"] = "feedback"
    kind: Literal["csat", "nps"] = Field(description="Which question was answered.")
    score: int = Field(ge=0, le=10, description="The answer: 1-5 for CSAT, 0-10 for NPS.")
    offer_id: str | None = Field(default=None, description="Offer the interaction was about, if any.")
    visit_ref: str | None = Field(default=None, description="The visit it was given in.")
    valence: Valence | None = Field(default=None, description="Smoothed valence when given, if read.")
    catalogue_version: int | None = Field(
        default=None,
        ge=1,
        description="The catalogue release version of the offer the answer is about, when there is one "
        "(schema 2).",
    )


class StaffCall(EventBase):
    """A staff call: a frustrated shopper, or one who asked for a person. Never carries an image."""

    type: Literal["staff_call"] = "staff_call"
    priority: ClassVar[Priority] = "alert"
    call_id: str = Field(default_factory=new_event_id, description="Id the back office acknowledges.")
    reason: Literal["negative_valence", "shopper_request"] = Field(description="What raised the call.")
    zone: str = Field(description="Where in the store the screen stands.")
    visit_ref: str | None = Field(
        default=None, description="The visit the call is for, when one is in view (schema 2)."
    )
    offer_id: str | None = Field(
        default=None, description="The offer on screen (or last shown to the visit) when raised (schema 2)."
    )


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
    | OfferEnded
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
