"""Helpers for the UI tests: a KioskUi on the demo catalogue, put on any screen deterministically."""

from __future__ import annotations

import random
from datetime import date, datetime

from kiosk.app.demo import DEMO_CATALOGUE
from kiosk.config import EngagementConfig, KioskConfig, PrivacyConfig, PrivacyMode, UiConfig
from kiosk.decisions.consent import ConsentState
from kiosk.decisions.offers import load_catalogue
from kiosk.decisions.redemption import RedemptionCodes
from kiosk.i18n import Language
from kiosk.local_runtime import LocalRuntime
from kiosk.views.kiosk_ui import KioskUi
from kiosk.views.port import RuntimeView
from kiosk.views.screen import UiAction

TODAY = date(2026, 6, 1)
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


class FakeClock:
    """Monotonic seconds that move only when told."""

    def __init__(self, t: float = 100.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def make_ui(
    mode: PrivacyMode = "notice",
    language: Language = "ru",
    nps_share: float = 0.0,
    seed: int = 7,
) -> KioskUi:
    """A screen on the demo catalogue with fixed date, seed and code secret."""
    rng = random.Random(seed)
    codes = RedemptionCodes(SECRET, random.Random(seed))
    return KioskUi(
        privacy=PrivacyConfig(mode=mode),
        engagement=EngagementConfig(),
        consent=ConsentState(mode),
        rng=rng,
        catalogue=CATALOGUE,
        image_base=DEMO_CATALOGUE.parent,
        zone="entrance",
        language=language,
        settings=UiConfig(nps_share=nps_share),
        local_time=lambda: datetime(2026, 6, 1, 12, 0),
        redemption=codes.issue,
    )


def make_runtime(clock: FakeClock, config: KioskConfig | None = None, seed: int = 3) -> LocalRuntime:
    """The real state machine and offer engine on the demo catalogue."""
    return LocalRuntime(
        config or KioskConfig(),
        catalogue=CATALOGUE,
        rng=random.Random(seed),
        clock=clock,
        wall=lambda: datetime(2026, 6, 1, 12, 0),
        codes=RedemptionCodes(SECRET, random.Random(seed)),
    )


VARIANTS: dict[str, tuple[str, PrivacyMode]] = {
    "offer_opt_in": ("offer", "opt_in"),
    "offer_opted_out": ("offer", "notice"),
    "staff_acknowledged": ("staff_coming", "notice"),
    "staff_fallback": ("staff_coming", "notice"),
    "notice_presence_only": ("notice", "presence_only"),
}


def ui_showing(screen: str, language: Language, mode: PrivacyMode = "notice") -> tuple[KioskUi, float]:
    """A screen put on ``screen`` (a ScreenName, 'notice': the notice over an offer, or one of
    :data:`VARIANTS`); returns it and the time to render it at (progress cues part-way)."""
    variant = screen
    screen, mode = VARIANTS.get(variant, (screen, mode))
    ui = make_ui(mode, language, nps_share=1.0 if screen == "feedback_nps" else 0.0)
    t = 100.0
    runtime = {
        "attract": RuntimeView("attract"),
        "no_camera": RuntimeView("attract", camera_ok=False),
        "welcome": RuntimeView("welcome"),
        "offer": RuntimeView("offer", "croissant-pair", "v1"),
        "notice": RuntimeView("offer", "croissant-pair", "v1"),
        "help": RuntimeView("help", "help-desk", "v1"),
        "details": RuntimeView("details", "coffee-to-go", "v1"),
        "feedback_csat": RuntimeView("feedback", "coffee-to-go", "v1"),
        "feedback_nps": RuntimeView("feedback", "coffee-to-go", "v1"),  # then CSAT answered: NPS
        "thanks": RuntimeView("thanks"),
        "staff_coming": RuntimeView("offer", "croissant-pair", "v1"),
        "maintenance": RuntimeView("maintenance"),
    }[screen]
    ui.observe(RuntimeView("welcome"), t - 1.0)  # a session, so attract below starts fresh at t
    ui.observe(runtime, t)
    if screen == "details":
        ui.handle(UiAction("show_code"), t)
    elif screen == "staff_coming":
        ui.handle(UiAction("call_staff"), t)
        if variant == "staff_acknowledged":
            ui.observe(RuntimeView("offer", "croissant-pair", "v1", staff_acks=1), t + 0.5)
        elif variant == "staff_fallback":
            t += ui.settings.staff_fallback_s
            ui.observe(RuntimeView("offer", "croissant-pair", "v1"), t)
    elif screen == "notice":
        ui.handle(UiAction("notice"), t)
    elif screen == "feedback_nps":
        ui.handle(UiAction("feedback", 4), t)
        ui.observe(RuntimeView("thanks"), t)
    if variant == "offer_opted_out":
        ui.handle(UiAction("opt_out"), t)
    return ui, t + (1.0 if screen not in ("attract", "no_camera") else 2.0)
