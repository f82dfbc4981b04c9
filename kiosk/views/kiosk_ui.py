"""The shopper's screen as a pure state: it turns the brain's read model into a :class:`ScreenView`, and
the shopper's actions into intents for the brain. No pygame, no threads, no clock of its own: every method
takes ``now`` (the kiosk's monotonic seconds), and randomness is passed in.

The brain decides (screens, consent, the redemption code, every event); the screen keeps only what is its
own: the language, the open notice, the press highlight, the NPS question some visits get after the CSAT
one (the state machine asks CSAT only; the answer goes to the brain as an
:class:`~kiosk.decisions.brain.NpsAnswer`), and the staff-coming message, which outlives the session so the
shopper sees the acknowledgement or, after a timeout, the fallback.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Literal

from kiosk.chat.inputs import ChatOpen
from kiosk.chat.session import ChatState
from kiosk.config import EngagementConfig, PrivacyConfig, UiConfig
from kiosk.decisions.brain import Intent, NpsAnswer, ScreenState, ShowCode
from kiosk.decisions.engagement import Screen, Touch
from kiosk.decisions.redemption import qr_matrix
from kiosk.i18n import Language, Messages, load_messages
from kiosk.views.chat import ChatScreen
from kiosk.views.port import KioskPort, RuntimeView
from kiosk.views.screen import Button, Notice, ScreenName, ScreenView, UiAction
from mqtt_bridge.contract.catalogue import Catalogue, Offer

Output = Intent
FeedbackKind = Literal["csat", "nps"]

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_SESSION_ENDS: frozenset[Screen] = frozenset(("attract", "maintenance"))
_FADE_S = 0.6
#: How long a touched button stays highlighted (unless its screen goes first): the answer a shopper sees in
#: the very frame after the touch, before the state machine has moved the screen on.
PRESS_S = 0.3
_SCREENS: dict[Screen, ScreenName] = {
    "attract": "attract",
    "welcome": "welcome",
    "offer": "offer",
    "help": "help",
    "details": "details",
    "feedback": "feedback_csat",
    "thanks": "thanks",
    "staff_coming": "staff_coming",
    "maintenance": "maintenance",
    "chat": "chat",
}
#: The screens that offer "Questions?" (with the assistant on).
_QUESTIONS_ON: frozenset[ScreenName] = frozenset(("attract", "no_camera", "offer"))
#: Printable characters a physical keyboard may type into the chat beyond the on-screen keys.
_TYPED_MAX = 8


def deliver(port: KioskPort, outputs: list[Output]) -> None:
    """Hand the screen's intents to the runtime, in order."""
    for out in outputs:
        port.send(out)


def format_date(day: date, language: Language) -> str:
    """31.12.2027 in Russian, 31 Dec 2027 in English (no locale needed)."""
    if language == "ru":
        return day.strftime("%d.%m.%Y")
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def _q(value: float, steps: int) -> float:
    """Quantised to ``steps`` levels: the view changes (and is redrawn) only when it shows."""
    return round(max(0.0, min(1.0, value)) * steps) / steps


@dataclass
class _Staff:
    since: float
    acks_before: int
    acked_at: float | None = None


class KioskUi:
    """The screen's own state and the view it shows."""

    def __init__(
        self,
        *,
        privacy: PrivacyConfig,
        engagement: EngagementConfig,
        rng: random.Random,
        catalogue: Catalogue | None = None,
        image_base: Path | None = None,
        zone: str = "",
        language: Language = "ru",
        settings: UiConfig | None = None,
        messages: Messages | None = None,
        local_time: Callable[[], datetime] = datetime.now,
    ) -> None:
        self.privacy = privacy
        self.engagement = engagement
        self.rng = rng
        self.catalogue = catalogue
        self.image_base = image_base
        self.zone = zone
        self.language: Language = language
        self.default_language: Language = language
        self.settings = settings or UiConfig()
        self.messages = messages or load_messages()
        self.local_time = local_time  # the store's local time (validity, dayparts and hours of offers)
        self.runtime = RuntimeView()
        self._since = 0.0
        self._attract_since = 0.0
        self.notice_open = False
        self._qr: tuple[str | None, tuple[str, ...] | None] = (None, None)  # (payload, its matrix)
        self.nps_since: float | None = None  # the NPS question is up since
        self._nps_asked = False
        self.staff: _Staff | None = None
        self.feedback_given: list[tuple[FeedbackKind, int]] = []
        self.presses = 0  # actions accepted so far (the screen loop times each one's answer)
        self._pressed: tuple[str, float, ScreenName] | None = None
        self.chat = ChatScreen(self.messages)

    # ---- the runtime's side -----------------------------------------------------------------------

    @property
    def state(self) -> ScreenState:
        """The brain's read model, as of the last frame."""
        return self.runtime.state

    def observe(self, runtime: RuntimeView, now: float) -> None:
        """Take the runtime's state for this frame."""
        before = self.runtime.state
        self.runtime = runtime
        state = runtime.state
        if runtime.catalogue is not None and runtime.catalogue is not self.catalogue:
            self.catalogue, self.image_base = runtime.catalogue, runtime.image_base
        if (state.screen, state.offer_id) != (before.screen, before.offer_id):
            self._since = now
            if state.screen in _SESSION_ENDS and before.screen not in _SESSION_ENDS:
                self._end_visit(now)
            if state.screen == "staff_coming" and self.staff is None:
                self.staff = _Staff(now, before.staff_acks)
        if self.nps_since is not None and now - self.nps_since >= self.engagement.feedback_timeout_s:
            self.nps_since = None
        staff = self.staff
        if staff is not None:
            if staff.acked_at is None and state.staff_acks > staff.acks_before:
                staff.acked_at = now
            if self._staff_over(staff, now):
                self.staff = None

    def _end_visit(self, now: float) -> None:
        self.language = self.default_language  # the next shopper starts in the kiosk's language
        self.notice_open = False
        self._nps_asked = False
        self._attract_since = now

    def _maybe_ask_nps(self, now: float) -> None:
        if not self._nps_asked and self.rng.random() < self.settings.nps_share:
            self.nps_since, self._nps_asked = now, True

    def _staff_over(self, staff: _Staff, now: float) -> bool:
        linger = self.settings.staff_linger_s
        if staff.acked_at is not None:
            return now - staff.acked_at >= linger
        return now - staff.since >= self.settings.staff_fallback_s + linger

    # ---- the shopper's side -----------------------------------------------------------------------

    def handle(self, action: UiAction, now: float) -> list[Output]:
        """A touch, click or key on the current view. Actions the view does not offer are ignored."""
        view = self.view(now)
        typed = view.chat is not None and action.name == "chat_key" and _printable(action.text)
        if action not in {b.action for b in view.buttons} and action != view.tap_anywhere and not typed:
            return []
        self._pressed = (action.key, now, view.screen)
        self.presses += 1
        if action.name.startswith("chat_"):
            return list(self.chat.handle(action, now, self.language, self.state.chat))
        handler = getattr(self, f"_on_{action.name}")
        outputs: list[Output] = handler(action, now)
        return outputs

    def _on_language(self, _action: UiAction, _now: float) -> list[Output]:
        self.language = "en" if self.language == "ru" else "ru"
        self.chat.language_changed(self.language)
        return []

    def _on_questions(self, _action: UiAction, now: float) -> list[Output]:
        self.chat.reset(self.language)
        offer = self.state.screen in ("offer", "details")
        return [ChatOpen(now, self.language, "offer" if offer else "attract")]

    def _on_notice(self, _action: UiAction, _now: float) -> list[Output]:
        self.notice_open = True
        return []

    def _on_close(self, _action: UiAction, _now: float) -> list[Output]:
        if self.notice_open:
            self.notice_open = False
        else:
            self.staff = None
        return []

    def _on_opt_in(self, _action: UiAction, now: float) -> list[Output]:
        return [Touch(now, "consent")]

    def _on_opt_out(self, _action: UiAction, now: float) -> list[Output]:
        return [Touch(now, "decline")]

    def _on_show_code(self, _action: UiAction, now: float) -> list[Output]:
        return [ShowCode(now)]

    def _on_call_staff(self, _action: UiAction, now: float) -> list[Output]:
        self.staff = _Staff(now, self.state.staff_acks)
        return [Touch(now, "call_staff")]

    def _on_feedback(self, action: UiAction, now: float) -> list[Output]:
        assert action.score is not None
        if self.nps_since is not None:
            self.nps_since = None
            self.feedback_given.append(("nps", action.score))
            return [NpsAnswer(now, action.score)]
        self.feedback_given.append(("csat", action.score))
        self._maybe_ask_nps(now)
        return [Touch(now, "feedback", score=action.score)]

    def _on_tap(self, _action: UiAction, now: float) -> list[Output]:
        return [Touch(now, "tap")]

    def _on_done(self, _action: UiAction, now: float) -> list[Output]:
        return [Touch(now, "done")]

    def _on_dismiss(self, _action: UiAction, now: float) -> list[Output]:
        return [Touch(now, "dismiss")]

    # ---- the view ---------------------------------------------------------------------------------

    def _t(self, key: str, **values: str) -> str:
        return self.messages.get(key, self.language, **values)

    def _offer(self) -> Offer | None:
        if self.catalogue is None or self.state.offer_id is None:
            return None
        return next((o for o in self.catalogue.offers if o.id == self.state.offer_id), None)

    def _image(self, offer: Offer) -> str | None:
        return str(self.image_base / offer.image) if self.image_base is not None else None

    def _progress(self, timeout_s: float, now: float) -> float:
        return _q(1.0 - (now - self._since) / timeout_s, 100) if timeout_s > 0 else 0.0

    def screen_name(self) -> ScreenName:
        """Which screen shows now."""
        if self.staff is not None:
            return "staff_coming"
        screen = self.state.screen
        if screen in ("chat", "attract"):
            return self._chat_screen_name() if screen == "chat" else self._attract_name()
        if self.nps_since is not None:
            return "feedback_nps"
        if screen == "offer" and self._offer() is None:
            return "welcome"
        if screen == "staff_coming":
            return "thanks"  # the shopper closed the staff message; the machine still thanks them
        return _SCREENS[screen]

    def view(self, now: float) -> ScreenView:
        """What the screen shows at ``now``."""
        name = self.screen_name()
        base = self._chrome(name)
        builder: Callable[[float, ScreenView], ScreenView] = getattr(self, f"_view_{name}")
        view = builder(now, base)
        pressed = self._pressed
        if pressed is not None and pressed[2] == name and now - pressed[1] < PRESS_S:
            keys = {b.action.key for b in view.buttons}
            if view.tap_anywhere is not None:
                keys.add(view.tap_anywhere.key)
            if pressed[0] in keys:
                view = replace(view, pressed=pressed[0])
        return view

    def _chrome(self, name: ScreenName) -> ScreenView:
        """What every screen has: the language toggle, the camera indicator, the notice, the footer."""
        t = self._t
        camera, notice_line, notice = None, "", None
        state = self.state
        if state.camera_ok:
            camera = Button(UiAction("notice"), t("camera_active"), "indicator", "I")
            notice_line = t(
                "notice_short_presence" if self.privacy.mode == "presence_only" else "notice_short"
            )
        if self.notice_open:
            body_key = "notice_body_presence" if self.privacy.mode == "presence_only" else "notice_body"
            notice = Notice(
                t("notice_title"),
                t(body_key, controller=self.privacy.controller, contact=self.privacy.contact),
                Button(UiAction("close"), t("close"), "primary", "Esc"),
            )
        footer: list[Button] = []
        if state.chat_available and name in _QUESTIONS_ON:
            footer.append(Button(UiAction("questions"), t("questions"), "secondary", "Q"))
        if name not in ("thanks", "staff_coming", "maintenance", "chat", "chat_rating"):
            if state.offers_opt_in:
                footer.append(Button(UiAction("opt_in"), t("personalise_me"), "secondary", "P"))
            if state.offers_opt_out:
                footer.append(Button(UiAction("opt_out"), t("dont_analyse_me"), "secondary", "N"))
            if name != "help":
                footer.append(Button(UiAction("call_staff"), t("call_staff"), "primary", "S"))
        choice, status = state.consent, ""
        if choice == "opted_out" and self.privacy.mode != "presence_only":
            status = t("consent_opted_out")
        elif choice == "opted_in":
            status = t("consent_opted_in")
        return ScreenView(
            screen=name,
            language=self.language,
            title="",
            toggle=Button(UiAction("language"), t("language_toggle"), "toggle", "L"),
            camera=camera,
            notice_line=notice_line,
            notice=notice,
            footer=tuple(footer),
            status=status,
        )

    def _slides(self) -> list[tuple[str, str, str | None]]:
        t = self._t
        slides: list[tuple[str, str, str | None]] = [(t("attract_title"), t("attract_subtitle"), None)]
        if self.catalogue is not None:
            moment = self.local_time()
            for offer in self.catalogue.offers:
                if self._on_attract(offer, moment):
                    title = getattr(offer.title, self.language)
                    body = getattr(offer.body, self.language)
                    slides.append((title, body, self._image(offer)))
        return slides

    def _on_attract(self, offer: Offer, moment: datetime) -> bool:
        """Whether the attract loop may show ``offer`` now: an offer (not help), valid today, in one of its
        dayparts and hours; never an age-restricted one (the attract loop addresses everyone passing)."""
        assert self.catalogue is not None
        if offer.kind != "offer" or offer.age_restricted:
            return False
        if not offer.valid_from <= moment.date() <= offer.valid_to:
            return False
        clock = moment.time()
        dayparts = self.catalogue.dayparts
        if offer.dayparts and not any(dayparts[d].contains(clock) for d in offer.dayparts):
            return False
        return not offer.targeting.hours or any(r.contains(clock) for r in offer.targeting.hours)

    def _view_attract(self, now: float, base: ScreenView) -> ScreenView:
        slides = self._slides()
        elapsed = max(0.0, now - self._attract_since)
        period = self.settings.attract_slide_s
        title, subtitle, image = slides[int(elapsed // period) % len(slides)]
        into = elapsed % period
        hint = "tap_to_start" if base.screen == "no_camera" else "attract_title"
        return replace(
            base,
            title=title,
            subtitle=subtitle,
            image=image,
            meta=self._t(hint) if image is not None or base.screen == "no_camera" else "",
            fade=_q(into / _FADE_S, 20),
            tap_anywhere=UiAction("tap"),
        )

    _view_no_camera = _view_attract

    def _view_welcome(self, now: float, base: ScreenView) -> ScreenView:
        t = self._t
        return replace(
            base,
            title=t("approach_title"),
            subtitle=t("approach_subtitle"),
            main=(Button(UiAction("tap"), t("see_offers"), "primary", "Enter"),),
            progress=self._progress(self.engagement.approach_timeout_s, now),
            tap_anywhere=UiAction("tap"),
        )

    def _with_offer(self, base: ScreenView, offer: Offer | None) -> ScreenView:
        if offer is None:
            return base
        return replace(
            base,
            title=getattr(offer.title, self.language),
            subtitle=getattr(offer.body, self.language),
            meta=" · ".join(
                part
                for part in (
                    offer.price,
                    self._t("offer_valid_until", date=format_date(offer.valid_to, self.language)),
                )
                if part
            ),
            image=self._image(offer),
        )

    def _view_offer(self, now: float, base: ScreenView) -> ScreenView:
        offer = self._offer()
        assert offer is not None
        t = self._t
        return replace(
            self._with_offer(base, offer),
            main=(
                Button(UiAction("tap"), t("learn_more"), "primary", "Enter"),
                Button(UiAction("dismiss"), t("not_for_me"), "secondary", "Esc"),
            ),
            progress=self._progress(self.engagement.offer_timeout_s, now),
            tap_anywhere=UiAction("tap"),
        )

    def _view_help(self, now: float, base: ScreenView) -> ScreenView:
        t = self._t
        offer = self._offer()
        return replace(
            base,
            title=t("help_title"),
            subtitle=getattr(offer.body, self.language) if offer is not None else t("help_subtitle"),
            meta=t("help_subtitle"),
            image=self._image(offer) if offer is not None else None,
            main=(Button(UiAction("call_staff"), t("call_staff"), "primary", "Enter"),),
            progress=self._progress(self.engagement.offer_timeout_s, now),
            tap_anywhere=UiAction("call_staff"),
        )

    def _view_details(self, now: float, base: ScreenView) -> ScreenView:
        t = self._t
        offer = self._offer()
        state = self.state
        main: list[Button] = []
        if state.code is None and state.code_ready and offer is not None:
            main.append(Button(UiAction("show_code"), t("offer_show_code"), "primary", "C"))
        main.append(Button(UiAction("done"), t("done"), "secondary" if main else "primary", "Enter"))
        return replace(
            self._with_offer(base, offer),
            main=tuple(main),
            code=state.code,
            code_hint=t("offer_code_hint") if state.code is not None else "",
            qr=self._qr_of(state.qr_payload),
            progress=self._progress(self.engagement.interaction_timeout_s, now),
        )

    def _qr_of(self, payload: str | None) -> tuple[str, ...] | None:
        """The QR matrix of ``payload``, made once per code (the view is built every frame)."""
        if payload is None:
            return None
        if self._qr[0] != payload:
            self._qr = (payload, qr_matrix(payload))
        return self._qr[1]

    def _view_feedback_csat(self, now: float, base: ScreenView) -> ScreenView:
        t = self._t
        faces = tuple(
            Button(UiAction("feedback", score), t(f"csat_{score}"), "face", str(score))
            for score in range(1, 6)
        )
        return replace(
            base,
            title=t("feedback_csat"),
            main=faces,
            progress=self._progress(self.engagement.feedback_timeout_s, now),
        )

    def _view_feedback_nps(self, now: float, base: ScreenView) -> ScreenView:
        t = self._t
        scores = tuple(
            Button(UiAction("feedback", score), str(score), "score", str(score)) for score in range(11)
        )
        return replace(
            base,
            title=t("feedback_nps"),
            main=scores,
            scale_labels=(t("nps_low"), t("nps_high")),
            progress=_q(1.0 - (now - (self.nps_since or now)) / self.engagement.feedback_timeout_s, 100),
        )

    def _view_thanks(self, now: float, base: ScreenView) -> ScreenView:
        return replace(base, title=self._t("thanks"), subtitle=self._t("thanks_subtitle"))

    def _view_staff_coming(self, now: float, base: ScreenView) -> ScreenView:
        t = self._t
        staff = self.staff
        assert staff is not None
        title = t("staff_coming")
        if staff.acked_at is not None:
            subtitle = t("staff_acknowledged", zone=self.zone or "-")
        elif now - staff.since >= self.settings.staff_fallback_s:
            title, subtitle = t("staff_busy"), t("staff_fallback")
        else:
            subtitle = t("help_subtitle")
        return replace(
            base,
            title=title,
            subtitle=subtitle,
            main=(Button(UiAction("close"), t("ok"), "primary", "Enter"),),
        )

    def _attract_name(self) -> ScreenName:
        return "attract" if self.state.camera_ok else "no_camera"

    def _chat_screen_name(self) -> ScreenName:
        chat = self.state.chat
        return "chat_rating" if chat is not None and chat.phase == "rating" else "chat"

    def _chat_state(self) -> ChatState:
        return self.state.chat or ChatState(phase="bot")

    def _view_chat(self, now: float, base: ScreenView) -> ScreenView:
        return self.chat.view(base, self._chat_state(), self.language)

    def _view_chat_rating(self, now: float, base: ScreenView) -> ScreenView:
        return self.chat.rating_view(base, self._chat_state(), self.language)

    def _view_maintenance(self, now: float, base: ScreenView) -> ScreenView:
        t = self._t
        return replace(base, title=t("maintenance"), subtitle=t("maintenance_subtitle"))


def _printable(text: str | None) -> bool:
    """A short run of printable characters (what a physical keyboard types), no control characters."""
    return bool(text) and text is not None and len(text) <= _TYPED_MAX and text.isprintable()
