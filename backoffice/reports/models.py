"""The reports' value types: frozen pydantic models, what pages, CSV and the API render.

Every audience figure is a :data:`Cell`: either a :class:`Value` or a :class:`Suppressed`, which carries no
number at all (only the threshold ``k`` it was suppressed under), so a cell built from fewer than k visits
cannot leak through any renderer. Which visits a cell is built from is defined per report
(docs/backoffice-data.md, "k-suppression"); figures that are not about shoppers (fleet health, staff-call
response times) are plain numbers.

Times are aware datetimes in the filters' display time zone (``Filters.tz``); a bucket's ``start`` is the
start of its hour or day there.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from mqtt_bridge.contract.payloads import BirthPayload, StatusPayload


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- cells -----------------------------------------------------------------------------------------------


class Value(_Frozen):
    """A figure that may be shown. ``value`` is None where it is undefined (a rate over nothing)."""

    kind: Literal["value"] = "value"
    value: float | None = Field(description="The figure; None where undefined (e.g. a rate over zero).")

    def text(self, digits: int = 0) -> str:
        """The figure as text (``digits`` after the point); '' where undefined."""
        return "" if self.value is None else f"{self.value:.{digits}f}"


class Suppressed(_Frozen):
    """A figure built from fewer than ``k`` visits: withheld. It holds no number to leak."""

    kind: Literal["suppressed"] = "suppressed"
    k: int = Field(ge=2, description="The k it was suppressed under: shown as '< k'.")

    def text(self, digits: int = 0) -> str:
        """'< k'."""
        return f"< {self.k}"


#: One figure of a report: a :class:`Value` or a :class:`Suppressed`.
Cell = Annotated[Value | Suppressed, Field(discriminator="kind")]


def cell(value: float | None, visits: int, k: int) -> Value | Suppressed:
    """``value`` as a cell built from ``visits`` visits: suppressed when 0 < visits < k (a cell of no visits
    at all reveals no one and is shown, usually as 0 or undefined)."""
    if 0 < visits < k:
        return Suppressed(k=k)
    return Value(value=value)


def ratio(numerator: float, denominator: float) -> float | None:
    """numerator / denominator, None over zero."""
    return numerator / denominator if denominator else None


# --- filters ---------------------------------------------------------------------------------------------


class Filters(_Frozen):
    """What a report covers: stores, devices and a time range, and the time zone it is shown in.

    Rollups are hourly: an hour is in the report when its start (UTC) lies in [start, end); so pass
    starts and ends on whole hours (a day in the display time zone starts on a whole UTC hour in every
    zone whose offset is whole hours)."""

    start: AwareDatetime = Field(description="First instant covered (inclusive).")
    end: AwareDatetime = Field(description="End of the range (exclusive).")
    stores: tuple[str, ...] = Field(default=(), description="Store ids; empty: every store.")
    devices: tuple[str, ...] = Field(
        default=(), description="Device ids; empty: every device (combine with stores when ids repeat)."
    )
    tz: str = Field(default="UTC", description="IANA time zone the hours and days are shown in.")

    @field_validator("tz")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r}: use an IANA name such as 'Europe/Moscow'"
            ) from exc
        return value

    @model_validator(mode="after")
    def _ordered(self) -> Filters:
        if self.end <= self.start:
            raise ValueError("the range is empty: end must be after start")
        return self

    @property
    def zone(self) -> ZoneInfo:
        """The display time zone."""
        return ZoneInfo(self.tz)


# --- fleet -----------------------------------------------------------------------------------------------

AlertKind = Literal["offline", "camera_lost", "clock_drift", "outbox_growing"]
Lifecycle = Literal["active", "revoked", "decommissioned"]


class Alert(_Frozen):
    """A fleet alert raised by a rule of :mod:`backoffice.alerts` (pure, with a clock)."""

    store_id: str
    device_id: str
    kind: AlertKind = Field(
        description="offline: not online for longer than the threshold; camera_lost: the latest health "
        "event says the camera delivers no frames; clock_drift: the device's clock is off; outbox_growing: "
        "its outbox depth grew steadily over the window."
    )
    since: datetime | None = Field(default=None, description="Since when the condition holds, where known.")
    value: float = Field(
        description="The measured figure: minutes offline, seconds of drift, events of growth; 1 for "
        "camera_lost."
    )
    threshold: float = Field(description="The setting it was compared with (AlertSettings).")


class DeviceRow(_Frozen):
    """One device of the fleet, from the ``devices`` table (retained status and birth) and its latest
    health and metrics (``device_health``)."""

    store_id: str
    device_id: str
    status: Literal["online", "offline", "stopped"] | None = Field(
        description="The retained status: online, offline (its last will) or stopped (a clean exit); "
        "None when only events were seen."
    )
    online: bool = Field(description="status == 'online'.")
    status_at: datetime | None = Field(description="When the status was set.")
    last_seen: datetime | None = Field(
        description="The latest time the back office received anything from it (status, birth, metrics, "
        "events)."
    )
    software_version: str | None = Field(description="From its birth.")
    models: dict[str, str] = Field(description="Model name -> version or sha256, from its birth.")
    capabilities: tuple[str, ...] = Field(description="From its birth.")
    privacy_mode: str | None = Field(description="Consent mode from its birth (schema 2); None before.")
    config_hash: str | None = Field(description="From its birth.")
    fps: float | None = Field(description="Frames a second, latest health event.")
    inference_ms: float | None = Field(description="Mean presence inference time, latest health event.")
    dropped_frames: int | None = Field(description="Frames dropped since the kiosk started, latest health.")
    camera_ok: bool | None = Field(description="Whether the camera delivers frames, latest health event.")
    health_at: datetime | None = Field(description="ts of the latest health event.")
    outbox_depth: int | None = Field(description="Events waiting in its outbox, latest metrics payload.")
    outbox_bytes: int | None = Field(description="Bytes waiting in its outbox, latest metrics payload.")
    metrics_at: datetime | None = Field(description="ts of the latest metrics payload (device clock).")
    metrics_received_at: datetime | None = Field(description="When the back office received it.")
    clock_drift_s: float | None = Field(
        description="metrics_received_at - metrics_at, seconds (delivery delay included)."
    )
    lifecycle: Lifecycle | None = Field(
        default=None,
        description="Its place in the fleet: revoked (the fleet's notice: `provision revoke`), "
        "decommissioned (it cleared its retained status and birth: `provision decommission`), active "
        "(enrolled or renewed); None when the fleet said nothing of it (no provisioning). A revoked or "
        "decommissioned device is never online and raises no alert.",
    )
    lifecycle_at: datetime | None = Field(
        default=None, description="When: the notice's time, or when the clearing was received."
    )
    lifecycle_reason: str | None = Field(default=None, description="A revocation's reason.")
    alerts: tuple[Alert, ...] = Field(description="The alerts this device raises now.")

    @property
    def out_of_service(self) -> bool:
        """Revoked or decommissioned: taken out of the fleet on purpose."""
        return self.lifecycle in ("revoked", "decommissioned")


class FleetReport(_Frozen):
    """Every device (of the stores/devices asked), and the alerts raised now."""

    generated_at: datetime
    devices: tuple[DeviceRow, ...]
    alerts: tuple[Alert, ...]


class DeviceHour(_Frozen):
    """One hour of one device: health (plain numbers) and audience (cells, suppressed under k visits)."""

    start: datetime
    health_samples: int = Field(description="Health events received for the hour.")
    fps_mean: float | None
    inference_ms_mean: float | None
    dropped_frames_max: int | None = Field(description="Largest dropped-frames count seen (cumulative).")
    camera_lost_samples: int = Field(description="Health events with camera_ok false.")
    metrics_samples: int = Field(description="Metrics payloads received for the hour.")
    outbox_depth_max: int | None
    outbox_depth_mean: float | None
    visits: Value | Suppressed
    watchers: Value | Suppressed
    offers_shown: Value | Suppressed = Field(
        description="offer_shown events (population: showings to a visit)."
    )


class DeviceHistory(_Frozen):
    """A device's page: what it is now and its hours in the range."""

    store_id: str
    device_id: str
    device: DeviceRow | None = Field(description="None when the devices table does not know it.")
    hours: tuple[DeviceHour, ...]


# --- audience --------------------------------------------------------------------------------------------


class AudienceRow(_Frozen):
    """Audience of one bucket (hour, day or the whole range). Population: its visits (visit_ended)."""

    start: datetime | None = Field(description="Start of the hour or day; None for the total.")
    visits: Value | Suppressed = Field(description="Opportunities to see: visits that ended (OTS).")
    watchers: Value | Suppressed
    glances: Value | Suppressed
    watcher_rate: Value | Suppressed = Field(description="watchers / visits.")
    dwell_s_mean: Value | Suppressed = Field(description="Mean dwell time of a visit, seconds.")
    attention_s_mean: Value | Suppressed = Field(description="Mean attention time of a visit, seconds.")
    dwell_s_total: Value | Suppressed
    attention_s_total: Value | Suppressed
    valence_s: Value | Suppressed = Field(description="Seconds of valence read (every class).")
    negative_share: Value | Suppressed = Field(description="Negative seconds / valence seconds.")
    neutral_share: Value | Suppressed
    positive_share: Value | Suppressed


class AudienceReport(_Frozen):
    """Audience by hour, by day (in the display time zone) and over the range."""

    filters: Filters
    k: int
    by_hour: tuple[AudienceRow, ...] = Field(description="Hours with data, oldest first.")
    by_day: tuple[AudienceRow, ...] = Field(description="Days with data, oldest first.")
    total: AudienceRow


# --- offers ----------------------------------------------------------------------------------------------


class FunnelRow(_Frozen):
    """Funnel of one offer (or every offer). Population: showings to a visit (offer_shown with a visit)."""

    offer_id: str | None = Field(description="None for the total over every offer.")
    shown: Value | Suppressed = Field(description="offer_shown events, attract mode included.")
    shown_to_visits: Value | Suppressed = Field(description="offer_shown events with a visit.")
    ended: Value | Suppressed = Field(description="offer_ended events (schema 2 devices only).")
    attended: Value | Suppressed = Field(description="offer_ended events with attended.")
    tapped: Value | Suppressed = Field(description="offer_tapped events.")
    redeemed: Value | Suppressed = Field(description="offer_redeemed events.")
    attended_rate: Value | Suppressed = Field(description="attended / ended.")
    tap_rate: Value | Suppressed = Field(description="tapped / shown (conversion to a tap).")
    redemption_rate: Value | Suppressed = Field(description="redeemed / shown (conversion to a sale).")
    shown_s_mean: Value | Suppressed = Field(description="Mean seconds on screen (offer_ended).")


class ArmRow(_Frozen):
    """One bandit arm of an offer. Population: its showings to a visit. A redemption counts under the arm
    of the tap that issued its code (``offer_redeemed.arm``, schema 2, #18; one of schema 1 under no arm);
    frustrations carry no arm, so they are per offer only (:class:`FrustrationOfferRow`)."""

    offer_id: str
    arm: str | None = Field(description="The arm ('<offer>|<context bucket>'); None: rules alone chose.")
    shown: Value | Suppressed
    shown_to_visits: Value | Suppressed
    ended: Value | Suppressed
    attended: Value | Suppressed
    tapped: Value | Suppressed
    redeemed: Value | Suppressed = Field(description="Codes of this arm's taps redeemed at a till (#18).")
    attended_rate: Value | Suppressed = Field(description="attended / ended.")
    tap_rate: Value | Suppressed = Field(description="tapped / shown.")
    redemption_rate: Value | Suppressed = Field(description="redeemed / shown (conversion to a sale, #18).")


class OffersReport(_Frozen):
    """The funnel shown -> attended -> tapped -> redeemed, per offer and per arm."""

    filters: Filters
    k: int
    total: FunnelRow
    per_offer: tuple[FunnelRow, ...] = Field(description="Sorted by offer id.")
    per_arm: tuple[ArmRow, ...] = Field(description="Sorted by offer id, then arm (None first).")


class MoodRow(_Frozen):
    """Mood uplift of one offer (or all). Population: its paired showings, offer_ended events whose shopper's
    valence was read both in the window before and while it showed."""

    offer_id: str | None
    pairs: Value | Suppressed
    before_positive_share: Value | Suppressed = Field(description="Positive / all valence seconds before.")
    during_positive_share: Value | Suppressed = Field(description="Positive / all valence seconds during.")
    positive_uplift: Value | Suppressed = Field(description="during - before positive share (a fraction).")
    before_negative_share: Value | Suppressed
    during_negative_share: Value | Suppressed
    negative_uplift: Value | Suppressed = Field(description="during - before negative share (a fraction).")


class MoodReport(_Frozen):
    """Mood uplift per offer: the valence mix while an offer showed against the seconds before it."""

    filters: Filters
    k: int
    total: MoodRow
    per_offer: tuple[MoodRow, ...]


class FrustrationRow(_Frozen):
    """Frustration in one bucket. Population: visits whose expression was read (visit_ended of schema 2
    with a valence mix that is not empty): a visit never read cannot be frustrated, so it is left out of
    the count and of the denominator (docs/backoffice-data.md, Frustration)."""

    start: datetime | None
    visits_read: Value | Suppressed = Field(
        description="visit_ended events of schema 2 whose valence mix is not empty."
    )
    frustrated: Value | Suppressed = Field(description="Of them, frustrated ones.")
    per_100_visits_read: Value | Suppressed = Field(description="100 * frustrated / visits_read.")


class FrustrationOfferRow(_Frozen):
    """Which offers frustration follows. Population: the offer's showings to a visit."""

    offer_id: str
    shown_to_visits: Value | Suppressed
    frustrated_after: Value | Suppressed = Field(
        description="Frustrated visits whose last offer before the frustration was this one."
    )
    per_100_showings: Value | Suppressed = Field(description="100 * frustrated_after / shown_to_visits.")
    share_of_frustrated: Value | Suppressed = Field(
        description="frustrated_after / every frustrated visit of the range (population: those visits)."
    )


class FrustrationReport(_Frozen):
    """Frustration rate (sustained negative valence per 100 visits whose expression was read) and the
    offers it follows."""

    filters: Filters
    k: int
    by_hour: tuple[FrustrationRow, ...]
    by_day: tuple[FrustrationRow, ...]
    total: FrustrationRow
    per_offer: tuple[FrustrationOfferRow, ...] = Field(description="Most frustrated_after first.")


# --- feedback --------------------------------------------------------------------------------------------


class FeedbackRow(_Frozen):
    """CSAT and NPS of one bucket. Population: for CSAT figures its CSAT answers, for NPS its NPS answers."""

    start: datetime | None
    csat_responses: Value | Suppressed
    csat_mean: Value | Suppressed = Field(description="Mean CSAT score, 1-5.")
    csat_satisfied_share: Value | Suppressed = Field(description="Share of answers 4 or 5.")
    csat_distribution: tuple[Value | Suppressed, ...] = Field(description="Answers 1, 2, 3, 4, 5.")
    nps_responses: Value | Suppressed
    promoters: Value | Suppressed = Field(description="Answers 9-10.")
    passives: Value | Suppressed = Field(description="Answers 7-8.")
    detractors: Value | Suppressed = Field(description="Answers 0-6.")
    nps: Value | Suppressed = Field(description="100 * (promoters - detractors) / answers, -100..100.")


class FeedbackReport(_Frozen):
    """CSAT and NPS over time."""

    filters: Filters
    k: int
    by_day: tuple[FeedbackRow, ...]
    total: FeedbackRow


# --- staff calls -----------------------------------------------------------------------------------------


class StaffKpiRow(_Frozen):
    """Staff-call KPIs of one store or hour (or all). Not about shoppers: plain numbers. Calls are counted
    in the hour they were raised (the back office's receipt time)."""

    store_id: str | None = Field(description="The store (per-store rows); None otherwise.")
    start: datetime | None = Field(description="The hour (per-hour rows); None otherwise.")
    raised: int
    raised_negative_valence: int = Field(description="Raised by sustained frustration.")
    raised_shopper_request: int = Field(description="Raised by a tap on the screen.")
    acknowledged: int
    resolved: int
    escalated: int
    device_acks: int = Field(description="staff_call_acknowledged events: the kiosk got the acknowledgement.")
    ack_mean_s: float | None = Field(description="Mean seconds from raised to acknowledged.")
    ack_within_60s_share: float | None = Field(description="Share of acknowledgements within 60 s.")
    ack_over_300s: int = Field(description="Acknowledgements after more than 300 s.")
    resolve_mean_s: float | None = Field(description="Mean seconds from raised to resolved.")


class StaffKpiReport(_Frozen):
    """Time to acknowledge and to resolve, per store and per hour."""

    filters: Filters
    total: StaffKpiRow
    per_store: tuple[StaffKpiRow, ...]
    by_hour: tuple[StaffKpiRow, ...]


# --- live fleet state --------------------------------------------------------------------------------------


class LiveDevice(_Frozen):
    """What a live (plain, non-shared) subscription holds of one device's retained messages; passed to
    :func:`backoffice.reports.fleet.fleet` it overrides the ``devices`` table, which a shared-group ingest
    never fills from retained messages."""

    status: StatusPayload | None = Field(default=None, description="The latest retained status.")
    status_received_at: datetime | None = Field(default=None, description="When it was received.")
    birth: BirthPayload | None = Field(default=None, description="The latest retained birth.")
