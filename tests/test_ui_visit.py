"""A whole visit tapped through the screen, on the kiosk's own brain stepped in-process: touches land on
the buttons drawn, each becomes the intent the brain expects, and the brain's events record it. Pure: no
pygame."""

from __future__ import annotations

from pathlib import Path

from ui_support import face, make_clock, make_runtime, make_ui, snapshot, state

from kiosk.config import KioskConfig, PrivacyConfig, PrivacyMode
from kiosk.decisions.engagement import Touch
from kiosk.perception.types import Valence
from kiosk.views.kiosk_ui import KioskUi, deliver
from kiosk.views.layout import compute_layout
from kiosk.views.screen import UiAction
from mqtt_bridge.contract.events import ConsentChanged, Event, Feedback, OfferShown, OfferTapped, StaffCall
from mqtt_bridge.contract.redemption import qr_payload

SIZES = ((640, 360), (360, 640), (1920, 1080), (1080, 1920))


class Visit:
    """The screen and the brain, a face in front of the camera, and a finger."""

    def __init__(self, ui: KioskUi, size: tuple[int, int] = (1280, 720), config: KioskConfig | None = None):
        self.clock = make_clock()
        self.runtime = make_runtime(self.clock, config)
        self.ui = ui
        self.size = size
        self.frame()

    def frame(self, dt: float = 0.05) -> str:
        self.clock.advance(dt)
        self.ui.observe(self.runtime.runtime_view(), self.clock.monotonic())
        return self.ui.screen_name()

    def tap(self, key: str) -> None:
        """Touch the centre of the button named ``key`` where the layout put it."""
        now = self.clock.monotonic()
        view = self.ui.view(now)
        layout = compute_layout(view, *self.size)
        x, y = layout.rect_of(key).centre
        action = layout.hit(x, y, view)
        assert action is not None and action.key == key
        deliver(self.runtime, self.ui.handle(action, now))
        self.frame()

    def until(self, screen: str, valence: Valence | None = "neutral", limit_s: float = 6.0) -> None:
        """Someone stands in front of the screen (frames at 10 Hz) until ``screen`` shows."""
        waited = 0.0
        while self.ui.screen_name() != screen:
            assert waited < limit_s, f"{screen} never came (still {self.ui.screen_name()})"
            self.runtime.see(snapshot(self.clock, face(valence)))
            self.frame(0.1)
            waited += 0.1

    def leaves(self) -> None:
        """Nobody in view any more, long enough for the visit to end."""
        for _ in range(20):
            self.runtime.see(snapshot(self.clock))
            self.frame(0.1)

    def events(self, kind: type[Event]) -> list[Event]:
        return [e for e in self.runtime.events if isinstance(e, kind)]


def test_a_whole_visit_with_code_and_csat() -> None:
    visit = Visit(make_ui(nps_share=0.0))
    assert visit.frame() == "attract"
    visit.until("welcome")
    visit.until("offer")
    offer_id = visit.ui.state.offer_id
    assert offer_id is not None and offer_id != "help-desk"
    visit.tap("opt_out")
    (consent,) = visit.events(ConsentChanged)
    assert isinstance(consent, ConsentChanged) and consent.state == "opted_out" and consent.visit_ref
    assert not visit.runtime.brain.expression_wanted(), "nobody in view may be read now"
    assert visit.ui.view(visit.clock.monotonic()).status, "the screen says the shopper opted out"
    assert "opt_out" not in {b.action.name for b in visit.ui.view(visit.clock.monotonic()).footer}
    visit.tap("tap")
    assert visit.frame() == "details"
    visit.tap("show_code")
    view = visit.ui.view(visit.clock.monotonic())
    assert view.code is not None and view.code == visit.runtime.brain.redemption_code
    assert view.qr is not None and visit.ui.state.qr_payload == qr_payload(view.code)
    visit.tap("done")
    assert visit.frame() == "feedback_csat"
    visit.tap("feedback:4")
    assert [(e.kind, e.score) for e in visit.events(Feedback) if isinstance(e, Feedback)] == [("csat", 4)]
    assert visit.frame() == "thanks"
    visit.leaves()
    visit.clock.advance(60)
    visit.frame()
    visit.clock.advance(60)
    assert visit.frame() == "attract"
    visit.until("welcome")  # the next shopper
    assert visit.runtime.brain.expression_wanted(), "consent resets after the visit"
    assert visit.ui.state.consent == "none" and visit.ui.state.offers_opt_out
    assert len(visit.events(OfferTapped)) == 1
    assert [e.offer_id for e in visit.events(OfferShown) if isinstance(e, OfferShown)] == [offer_id]


def test_the_code_shows_only_once_asked_and_only_for_this_tap() -> None:
    visit = Visit(make_ui())
    visit.until("offer")
    visit.tap("tap")
    assert visit.ui.view(visit.clock.monotonic()).code is None, "the code waits for the shopper to ask"
    assert visit.ui.state.code_ready
    visit.tap("show_code")
    shown = visit.ui.view(visit.clock.monotonic()).code
    assert shown is not None
    visit.tap("done")
    assert visit.ui.state.code is None and not visit.ui.state.code_ready, "it leaves with the details"


def test_nps_follows_csat_on_the_configured_share_at_most_once_a_visit() -> None:
    visit = Visit(make_ui(nps_share=1.0))
    visit.until("offer")
    visit.tap("tap")
    visit.tap("done")
    assert visit.frame() == "feedback_csat", "the state machine asks CSAT"
    visit.tap("feedback:4")
    assert visit.frame() == "feedback_nps", "then this visit is in the NPS share"
    visit.tap("feedback:2")
    csat, nps = (e for e in visit.events(Feedback) if isinstance(e, Feedback))
    assert (csat.kind, csat.score, nps.kind, nps.score) == ("csat", 4, "nps", 2)
    assert nps.offer_id == csat.offer_id is not None and nps.visit_ref == csat.visit_ref is not None
    assert visit.frame() == "thanks"
    # The same visit reaching feedback again is not asked NPS a second time.
    visit.ui.observe(state("feedback", "coffee-to-go"), visit.clock.monotonic() + 1)
    visit.ui.handle(UiAction("feedback", 5), visit.clock.monotonic() + 1)
    assert visit.ui.screen_name() == "feedback_csat"


def test_an_unanswered_nps_question_goes_away() -> None:
    ui = make_ui(nps_share=1.0)
    ui.observe(state("feedback", "coffee-to-go"), 1.0)
    ui.handle(UiAction("feedback", 3), 1.0)
    ui.observe(state("thanks"), 1.1)
    assert ui.screen_name() == "feedback_nps"
    ui.observe(state("attract"), 14.0)
    assert ui.screen_name() == "attract"


def test_the_share_of_nps_follows_the_injected_random() -> None:
    asked = 0
    for seed in range(200):
        ui = make_ui(nps_share=0.25, seed=seed)
        ui.observe(state("feedback", "coffee-to-go"), 1.0)
        ui.handle(UiAction("feedback", 5), 1.0)
        asked += ui.screen_name() == "feedback_nps"
    assert 30 <= asked <= 70


def test_staff_call_shows_the_acknowledgement_when_the_back_office_answers() -> None:
    visit = Visit(make_ui())
    visit.until("offer")
    visit.tap("call_staff")
    (call,) = visit.events(StaffCall)
    assert isinstance(call, StaffCall) and call.reason == "shopper_request"
    assert visit.frame() == "staff_coming"
    visit.clock.advance(5)
    assert visit.frame() == "staff_coming", "the message outlives the machine's thanks and cooldown"
    assert visit.runtime.acknowledge_staff()
    visit.frame()
    assert "entrance" in visit.ui.view(visit.clock.monotonic()).subtitle
    visit.clock.advance(11)
    assert visit.frame() == "attract"


def test_staff_call_falls_back_when_nobody_answers() -> None:
    visit = Visit(make_ui(language="en"))
    visit.until("offer")
    visit.tap("call_staff")
    visit.clock.advance(31)
    visit.frame()
    assert visit.ui.view(visit.clock.monotonic()).subtitle.startswith("Please ask at the till")
    visit.tap("close")
    assert visit.frame() == "attract"


def test_a_frustrated_shopper_gets_help_and_one_tap_calls_a_person() -> None:
    visit = Visit(make_ui())
    visit.until("help", "negative")
    view = visit.ui.view(visit.clock.monotonic())
    assert view.tap_anywhere == UiAction("call_staff")
    visit.tap("call_staff")
    assert [e.reason for e in visit.events(StaffCall) if isinstance(e, StaffCall)] == ["shopper_request"]


def test_language_toggle_switches_every_text() -> None:
    ui = make_ui(language="ru")
    ui.observe(state("offer", "croissant-pair"), 1.0)
    ru = ui.view(1.0)
    assert ru.title == "Два круассана по цене одного" and ru.toggle is not None
    assert ru.toggle.label == "English"
    ui.handle(UiAction("language"), 1.1)
    en = ui.view(1.1)
    assert en.title == "Two croissants for one" and en.meta == "199 ₽ · Valid until 31 Dec 2030"
    assert en.toggle is not None and en.toggle.label == "Русский"
    ui.observe(state("attract"), 2.0)
    assert ui.language == "ru", "the next shopper starts in the kiosk's language"


def test_actions_the_screen_does_not_offer_are_ignored() -> None:
    ui = make_ui()
    ui.observe(state("thanks"), 1.0)
    assert ui.handle(UiAction("feedback", 5), 1.0) == []
    assert ui.handle(UiAction("call_staff"), 1.0) == []


def test_consent_controls_follow_the_mode() -> None:
    cases: tuple[tuple[PrivacyMode, set[str]], ...] = (
        ("presence_only", set()),
        ("notice", {"opt_out"}),
        ("opt_in", {"opt_in"}),
    )
    for mode, expected in cases:
        visit = Visit(make_ui(mode=mode), config=KioskConfig(privacy=PrivacyConfig(mode=mode)))
        visit.until("offer")
        footer = {b.action.name for b in visit.ui.view(visit.clock.monotonic()).footer} - {"call_staff"}
        assert footer == expected, mode


def test_opting_in_reads_that_visit_and_offers_to_withdraw() -> None:
    visit = Visit(make_ui(mode="opt_in"), config=KioskConfig(privacy=PrivacyConfig(mode="opt_in")))
    assert not visit.runtime.brain.expression_wanted()
    visit.until("offer")
    now = visit.clock.monotonic()
    assert visit.ui.handle(UiAction("opt_in"), now) == [Touch(now, "consent")]
    visit.tap("opt_in")
    assert visit.runtime.brain.expression_wanted() and visit.ui.state.consent == "opted_in"
    assert {b.action.name for b in visit.ui.view(visit.clock.monotonic()).footer} == {"opt_out", "call_staff"}
    visit.tap("opt_out")
    assert not visit.runtime.brain.expression_wanted()
    states = [e.state for e in visit.events(ConsentChanged) if isinstance(e, ConsentChanged)]
    assert states == ["opted_in", "opted_out"]


def test_the_camera_indicator_shows_while_the_camera_runs_and_opens_the_notice() -> None:
    ui = make_ui(mode="notice", language="en")
    ui.observe(state("attract"), 1.0)
    view = ui.view(1.0)
    assert view.camera is not None and view.notice_line == "No images are stored or sent"
    ui.handle(UiAction("notice"), 1.0)
    notice = ui.view(1.0).notice
    assert notice is not None and "privacy@example.com" in notice.body and "Demo Store LLC" in notice.body
    ui.observe(state("attract", camera_ok=False), 2.0)
    assert ui.view(2.0).camera is None and ui.screen_name() == "no_camera"


def test_every_interactive_screen_has_a_call_button_and_large_targets() -> None:
    for name, runtime in (
        ("attract", state("attract")),
        ("welcome", state("welcome")),
        ("offer", state("offer", "croissant-pair")),
        ("help", state("help", "help-desk")),
        ("details", state("details", "croissant-pair")),
        ("feedback", state("feedback", "croissant-pair")),
    ):
        ui = make_ui()
        ui.observe(runtime, 1.0)
        view = ui.view(1.0)
        assert UiAction("call_staff") in {b.action for b in view.buttons}, name
        for size in SIZES:
            layout = compute_layout(view, *size)
            short = min(size)
            for button, rect in layout.buttons:
                assert rect.h >= 0.069 * short, (name, size, button.label)
                assert (
                    rect.x >= 0 and rect.y >= 0 and rect.x + rect.w <= size[0] and rect.y + rect.h <= size[1]
                )


def test_the_attract_loop_shows_what_may_run_now_and_nothing_age_restricted() -> None:
    from datetime import datetime

    from kiosk.decisions.offers import load_catalogue

    example = Path(__file__).resolve().parent.parent / "examples" / "catalogue.toml"
    catalogue = load_catalogue(example)

    def titles_at(hour: int) -> set[str]:
        ui: KioskUi = make_ui(language="en")
        ui.catalogue, ui.local_time = catalogue, lambda: datetime(2026, 6, 5, hour, 0)
        seen = set()
        for step in range(12):
            ui.observe(state("attract"), 1000.0 + step * ui.settings.attract_slide_s)
            seen.add(ui.view(1000.0 + step * ui.settings.attract_slide_s).title)
        return seen

    morning, evening = titles_at(9), titles_at(19)
    assert "Coffee to go, 20% off" in morning and "Coffee to go, 20% off" not in evening
    assert "Wine tasting 18+" not in evening, "age-restricted offers never run on the attract loop"
    assert "Need a hand?" not in morning | evening, "help entries are not advertised"


def test_closing_the_staff_message_while_the_machine_still_shows_it() -> None:
    ui = make_ui()
    ui.observe(state("offer", "croissant-pair"), 1.0)
    ui.handle(UiAction("call_staff"), 1.0)
    ui.observe(state("staff_coming"), 1.1)
    assert ui.screen_name() == "staff_coming"
    ui.handle(UiAction("close"), 1.2)
    ui.observe(state("staff_coming"), 1.3)
    assert ui.screen_name() == "thanks" and ui.view(1.3).title
    ui2 = make_ui()
    ui2.observe(state("staff_coming"), 1.0)  # a call the screen did not see being made
    assert ui2.screen_name() == "staff_coming" and ui2.view(1.0).title
