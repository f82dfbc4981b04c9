"""Helpers for the UI tests: a KioskUi on the demo catalogue, the kiosk's own brain stepped in-process on a
manual clock (fed snapshots of detections, as the perception worker makes them), and read models put on any
screen deterministically for the golden images."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from kiosk.app.demo import DEMO_CATALOGUE
from kiosk.app.screen_port import InProcessBrain
from kiosk.clock import ManualClock
from kiosk.config import EngagementConfig, KioskConfig, PrivacyConfig, PrivacyMode, UiConfig
from kiosk.decisions.brain import ScreenState
from kiosk.decisions.consent import Consents
from kiosk.decisions.engagement import Screen
from kiosk.decisions.offers import load_catalogue
from kiosk.i18n import Language
from kiosk.perception.types import Box, Detection, Snapshot, Valence, ValenceReading
from kiosk.views.kiosk_ui import KioskUi
from kiosk.views.port import RuntimeView
from kiosk.views.screen import UiAction
from mqtt_bridge.contract.redemption import issue, qr_payload

TODAY = date(2026, 6, 1)
#: 12:00 in Moscow (the default device time zone): the demo catalogue's lunch offers run.
NOON = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
SECRET = b"vitrina-test-secret-32-bytes-long"
CATALOGUE = load_catalogue(DEMO_CATALOGUE)
SCREENS = (
    "attract",
    "no_camera",
    "welcome",
    "offer",
    "help",
    "details",
    "feedback_csat",
    "feedback_nps",
    "thanks",
    "staff_coming",
    "maintenance",
    "notice",
    "offer_opt_in",
    "offer_opted_out",
    "staff_acknowledged",
    "staff_fallback",
    "notice_presence_only",
)


def make_ui(
    mode: PrivacyMode = "notice",
    language: Language = "ru",
    nps_share: float = 0.0,
    seed: int = 7,
) -> KioskUi:
    """A screen on the demo catalogue with fixed date and seed."""
    return KioskUi(
        privacy=PrivacyConfig(mode=mode),
        engagement=EngagementConfig(),
        rng=random.Random(seed),
        catalogue=CATALOGUE,
        image_base=DEMO_CATALOGUE.parent,
        zone="entrance",
        language=language,
        settings=UiConfig(nps_share=nps_share),
        local_time=lambda: datetime(2026, 6, 1, 12, 0),
    )


def make_clock() -> ManualClock:
    """A manual clock at noon in the store."""
    return ManualClock(NOON, monotonic=100.0)


def make_runtime(
    clock: ManualClock, config: KioskConfig | None = None, seed: int = 3, camera_ok: bool = True
) -> InProcessBrain:
    """The kiosk's brain on the demo catalogue, stepped in-process on ``clock``."""
    return InProcessBrain(
        config or KioskConfig(),
        clock,
        random.Random(seed),
        catalogue=CATALOGUE,
        image_base=DEMO_CATALOGUE.parent,
        camera_ok=camera_ok,
    )


def face(
    valence: Valence | None = "neutral",
    distance_m: float = 1.2,
    box: Box = Box(260, 140, 380, 260),  # noqa: B008 (a frozen value)
) -> Detection:
    """One frontal face, as the detector reports it."""
    reading = ValenceReading(valence, 0.9) if valence is not None else None
    return Detection(box, distance_m=distance_m, yaw_deg=0.0, reading=reading)


def snapshot(clock: ManualClock, *faces: Detection) -> Snapshot:
    """One frame's detections, stamped now."""
    return Snapshot(clock.monotonic(), tuple(faces))


def state(
    screen: Screen = "attract", offer_id: str | None = None, mode: PrivacyMode = "notice", **fields: Any
) -> RuntimeView:
    """A read model for a fresh visit under ``mode`` (the consent buttons the brain's rule offers), with
    ``fields`` of :class:`ScreenState` replaced."""
    consents = Consents(mode)
    base = ScreenState(
        screen=screen,
        offer_id=offer_id,
        offers_opt_in=consents.offers_opt_in("v"),
        offers_opt_out=consents.offers_opt_out("v"),
    )
    return RuntimeView(replace(base, **fields))


def shown_code(offer_id: str = "coffee-to-go", seed: int = 7) -> tuple[str, str]:
    """A fixed redemption code in the contract's format and its QR payload."""
    code = issue(
        secret=SECRET,
        device_id="demo-kiosk",
        offer_id=offer_id,
        expires=TODAY + timedelta(days=14),
        rng=random.Random(seed),
    )
    return code, qr_payload(code)


VARIANTS: dict[str, tuple[str, PrivacyMode]] = {
    "offer_opt_in": ("offer", "opt_in"),
    "offer_opted_out": ("offer", "notice"),
    "staff_acknowledged": ("staff_coming", "notice"),
    "staff_fallback": ("staff_coming", "notice"),
    "notice_presence_only": ("notice", "presence_only"),
}


def ui_showing(screen: str, language: Language, mode: PrivacyMode = "notice") -> tuple[KioskUi, float]:
    """A screen put on ``screen`` (a ScreenName, 'notice': the notice over an offer, or one of
    :data:`VARIANTS`) by the read models the brain gives for it; returns it and the time to render it at
    (progress cues part-way)."""
    variant = screen
    screen, mode = VARIANTS.get(variant, (screen, mode))
    ui = make_ui(mode, language, nps_share=1.0 if screen == "feedback_nps" else 0.0)
    t = 100.0
    runtime = {
        "attract": state("attract", mode=mode),
        "no_camera": state("attract", mode=mode, camera_ok=False),
        "welcome": state("welcome", mode=mode),
        "offer": state("offer", "croissant-pair", mode),
        "notice": state("offer", "croissant-pair", mode),
        "help": state("help", "help-desk", mode),
        "details": state("details", "coffee-to-go", mode, code_ready=True),
        "feedback_csat": state("feedback", "coffee-to-go", mode),
        "feedback_nps": state("feedback", "coffee-to-go", mode),  # then CSAT answered: NPS
        "thanks": state("thanks", mode=mode),
        "staff_coming": state("offer", "croissant-pair", mode),
        "maintenance": state("maintenance", mode=mode),
    }[screen]
    ui.observe(state("welcome", mode=mode), t - 1.0)  # a session, so attract below starts fresh at t
    ui.observe(runtime, t)
    if screen == "details":
        ui.handle(UiAction("show_code"), t)
        code, payload = shown_code()
        ui.observe(state("details", "coffee-to-go", mode, code_ready=True, code=code, qr_payload=payload), t)
    elif screen == "staff_coming":
        ui.handle(UiAction("call_staff"), t)
        if variant == "staff_acknowledged":
            ui.observe(state("offer", "croissant-pair", mode, staff_acks=1), t + 0.5)
        elif variant == "staff_fallback":
            t += ui.settings.staff_fallback_s
            ui.observe(state("offer", "croissant-pair", mode), t)
    elif screen == "notice":
        ui.handle(UiAction("notice"), t)
    elif screen == "feedback_nps":
        ui.handle(UiAction("feedback", 4), t)
        ui.observe(state("thanks", mode=mode), t)
    if variant == "offer_opted_out":
        ui.handle(UiAction("opt_out"), t)
        ui.observe(state("offer", "croissant-pair", mode, consent="opted_out", offers_opt_out=False), t)
    return ui, t + (1.0 if screen not in ("attract", "no_camera") else 2.0)
