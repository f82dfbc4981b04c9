"""A whole visit tapped through the screen, on the real state machine: touches land on the buttons
drawn, and each becomes the input the machine expects. Pure: no pygame."""

from __future__ import annotations

from pathlib import Path

from ui_support import FakeClock, make_runtime, make_ui

from kiosk.config import PrivacyMode
from kiosk.decisions.engagement import Primary, Seen, Touch
from kiosk.perception.types import Valence
from kiosk.views.kiosk_ui import KioskUi, deliver
from kiosk.views.layout import compute_layout
from kiosk.views.port import RuntimeView
from kiosk.views.screen import UiAction

SIZES = ((640, 360), (360, 640), (1920, 1080), (1080, 1920))


class Visit:
    """The screen and the runtime, and a finger."""

    def __init__(self, ui: KioskUi, size: tuple[int, int] = (1280, 720)) -> None:
        self.clock = FakeClock()
        self.runtime = make_runtime(self.clock)
        self.ui = ui
        self.size = size
        self.frame()

    def frame(self, dt: float = 0.05) -> str:
        self.clock.t += dt
        self.ui.observe(self.runtime.runtime_view(), self.clock.t)
        return self.ui.screen_name()

    def tap(self, key: str) -> None:
        """Touch the centre of the button named ``key`` where the layout put it."""
        view = self.ui.view(self.clock.t)
        layout = compute_layout(view, *self.size)
        x, y = layout.rect_of(key).centre
        action = layout.hit(x, y, view)
        assert action is not None and action.key == key
        deliver(self.runtime, self.ui.handle(action, self.clock.t))
        self.frame()

    def someone(self, attention_s: float, valence: Valence = "neutral") -> None:
        primary = Primary("visit-1", 1.2, 1.0, attention_s, valence)
        self.runtime.see(Seen(self.clock.t, 1, primary))
        self.frame()


def test_a_whole_visit_with_code_and_csat() -> None:
    visit = Visit(make_ui(nps_share=0.0))
    assert visit.frame() == "attract"
    visit.someone(0.2)
    assert visit.frame() == "welcome"
    visit.someone(2.0)
    assert visit.frame() == "offer"
    offer_id = visit.ui.runtime.offer_id
    assert offer_id is not None and offer_id != "help-desk"
    visit.tap("opt_out")
    assert visit.runtime.record.consent[0].opted_in is False
    assert not visit.ui.consent.reads_expression("visit-1")
    visit.tap("tap")
    assert visit.frame() == "details"
    visit.tap("show_code")
    view = visit.ui.view(visit.clock.t)
    assert view.code is not None and visit.runtime.codes.verify(offer_id, view.code)
    visit.tap("done")
    assert visit.frame() == "feedback_csat"
    visit.tap("feedback:4")
    assert visit.runtime.record.feedback == [("csat", 4)]
    assert visit.frame() == "thanks"
    visit.clock.t += 60
    visit.frame()
    visit.clock.t += 60
    assert visit.frame() == "attract"
    assert visit.ui.consent.reads_expression("visit-2"), "consent resets after the visit"
    assert visit.runtime.record.taps == 1 and visit.runtime.record.offers_shown == [offer_id]


def test_nps_follows_csat_on_the_configured_share_at_most_once_a_visit() -> None:
    visit = Visit(make_ui(nps_share=1.0))
    visit.someone(0.2)
    visit.someone(2.0)
    visit.tap("tap")
    visit.tap("done")
    assert visit.frame() == "feedback_csat", "the state machine asks CSAT"
    visit.tap("feedback:4")
    assert visit.frame() == "feedback_nps", "then this visit is in the NPS share"
    visit.tap("feedback:2")
    assert visit.runtime.record.feedback == [("csat", 4), ("nps", 2)]
    assert visit.frame() == "thanks"
    # The same visit reaching feedback again is not asked NPS a second time.
    visit.ui.observe(RuntimeView("feedback", "coffee-to-go", "visit-1"), visit.clock.t + 1)
    visit.ui.handle(UiAction("feedback", 5), visit.clock.t + 1)
    assert visit.ui.screen_name() == "feedback_csat"


def test_an_unanswered_nps_question_goes_away() -> None:
    ui = make_ui(nps_share=1.0)
    ui.observe(RuntimeView("feedback", "coffee-to-go", "v"), 1.0)
    ui.handle(UiAction("feedback", 3), 1.0)
    ui.observe(RuntimeView("thanks"), 1.1)
    assert ui.screen_name() == "feedback_nps"
    ui.observe(RuntimeView("attract"), 14.0)
    assert ui.screen_name() == "attract"


def test_the_share_of_nps_follows_the_injected_random() -> None:
    asked = 0
    for seed in range(200):
        ui = make_ui(nps_share=0.25, seed=seed)
        ui.observe(RuntimeView("feedback", "coffee-to-go", "v"), 1.0)
        ui.handle(UiAction("feedback", 5), 1.0)
        asked += ui.screen_name() == "feedback_nps"
    assert 30 <= asked <= 70


def test_staff_call_shows_the_acknowledgement_when_the_back_office_answers() -> None:
    visit = Visit(make_ui())
    visit.someone(2.0)
    visit.tap("call_staff")
    assert visit.runtime.record.staff_calls == ["shopper_request"]
    assert visit.frame() == "staff_coming"
    visit.clock.t += 5
    assert visit.frame() == "staff_coming", "the message outlives the machine's thanks and cooldown"
    visit.runtime.acknowledge_staff()
    visit.frame()
    assert "entrance" in visit.ui.view(visit.clock.t).subtitle
    visit.clock.t += 11
    assert visit.frame() == "attract"


def test_staff_call_falls_back_when_nobody_answers() -> None:
    visit = Visit(make_ui(language="en"))
    visit.someone(2.0)
    visit.tap("call_staff")
    visit.clock.t += 31
    visit.frame()
    assert visit.ui.view(visit.clock.t).subtitle.startswith("Please ask at the till")
    visit.tap("close")
    assert visit.frame() == "attract"


def test_a_frustrated_shopper_gets_help_and_one_tap_calls_a_person() -> None:
    visit = Visit(make_ui())
    visit.someone(0.2, "negative")
    visit.someone(2.0, "negative")
    assert visit.frame() == "help"
    view = visit.ui.view(visit.clock.t)
    assert view.tap_anywhere == UiAction("call_staff")
    visit.tap("call_staff")
    assert visit.runtime.record.staff_calls == ["shopper_request"]


def test_language_toggle_switches_every_text() -> None:
    ui = make_ui(language="ru")
    ui.observe(RuntimeView("offer", "croissant-pair", "v"), 1.0)
    ru = ui.view(1.0)
    assert ru.title == "Два круассана по цене одного" and ru.toggle is not None
    assert ru.toggle.label == "English"
    ui.handle(UiAction("language"), 1.1)
    en = ui.view(1.1)
    assert en.title == "Two croissants for one" and en.meta == "199 ₽ · Valid until 31 Dec 2030"
    assert en.toggle is not None and en.toggle.label == "Русский"
    ui.observe(RuntimeView("attract"), 2.0)
    assert ui.language == "ru", "the next shopper starts in the kiosk's language"


def test_actions_the_screen_does_not_offer_are_ignored() -> None:
    ui = make_ui()
    ui.observe(RuntimeView("thanks"), 1.0)
    assert ui.handle(UiAction("feedback", 5), 1.0) == []
    assert ui.handle(UiAction("call_staff"), 1.0) == []


def test_consent_controls_follow_the_mode() -> None:
    cases: tuple[tuple[PrivacyMode, set[str]], ...] = (
        ("presence_only", set()),
        ("notice", {"opt_out"}),
        ("opt_in", {"opt_in"}),
    )
    for mode, expected in cases:
        ui = make_ui(mode=mode)
        ui.observe(RuntimeView("offer", "croissant-pair", "v"), 1.0)
        footer = {b.action.name for b in ui.view(1.0).footer} - {"call_staff"}
        assert footer == expected, mode
    ui = make_ui(mode="opt_in")
    ui.observe(RuntimeView("offer", "croissant-pair", "v"), 1.0)
    assert ui.handle(UiAction("opt_in"), 1.0) == [Touch(1.0, "consent")]
    assert ui.consent.reads_expression("v")
    assert {b.action.name for b in ui.view(1.0).footer} == {"opt_out", "call_staff"}


def test_the_camera_indicator_shows_while_the_camera_runs_and_opens_the_notice() -> None:
    ui = make_ui(mode="notice", language="en")
    ui.observe(RuntimeView("attract"), 1.0)
    view = ui.view(1.0)
    assert view.camera is not None and view.notice_line == "No images are stored or sent"
    ui.handle(UiAction("notice"), 1.0)
    notice = ui.view(1.0).notice
    assert notice is not None and "privacy@example.com" in notice.body and "Demo Store LLC" in notice.body
    ui.observe(RuntimeView("attract", camera_ok=False), 2.0)
    assert ui.view(2.0).camera is None and ui.screen_name() == "no_camera"


def test_every_interactive_screen_has_a_call_button_and_large_targets() -> None:
    for name, runtime in (
        ("attract", RuntimeView("attract")),
        ("welcome", RuntimeView("welcome")),
        ("offer", RuntimeView("offer", "croissant-pair", "v")),
        ("help", RuntimeView("help", "help-desk", "v")),
        ("details", RuntimeView("details", "croissant-pair", "v")),
        ("feedback", RuntimeView("feedback", "croissant-pair", "v")),
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
            ui.observe(RuntimeView("attract"), 1000.0 + step * ui.settings.attract_slide_s)
            seen.add(ui.view(1000.0 + step * ui.settings.attract_slide_s).title)
        return seen

    morning, evening = titles_at(9), titles_at(19)
    assert "Coffee to go, 20% off" in morning and "Coffee to go, 20% off" not in evening
    assert "Wine tasting 18+" not in evening, "age-restricted offers never run on the attract loop"
    assert "Need a hand?" not in morning | evening, "help entries are not advertised"


def test_closing_the_staff_message_while_the_machine_still_shows_it() -> None:
    ui = make_ui()
    ui.observe(RuntimeView("offer", "croissant-pair", "v"), 1.0)
    ui.handle(UiAction("call_staff"), 1.0)
    ui.observe(RuntimeView("staff_coming"), 1.1)
    assert ui.screen_name() == "staff_coming"
    ui.handle(UiAction("close"), 1.2)
    ui.observe(RuntimeView("staff_coming"), 1.3)
    assert ui.screen_name() == "thanks" and ui.view(1.3).title
    ui2 = make_ui()
    ui2.observe(RuntimeView("staff_coming"), 1.0)  # a call the screen did not see being made
    assert ui2.screen_name() == "staff_coming" and ui2.view(1.0).title
