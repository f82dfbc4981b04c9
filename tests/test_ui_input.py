"""Input mapping and the render loop: pygame events become actions, the loop draws only on change, and a
visit tapped through real mouse and touch events reaches the kiosk's brain (stepped in-process)."""

from __future__ import annotations

from pathlib import Path

import pygame
import pytest
from ui_support import face, make_clock, make_runtime, make_ui, snapshot, state

from kiosk.ui.input import map_event
from kiosk.ui.screen_app import ScreenApp
from kiosk.views.layout import Layout, compute_layout
from kiosk.views.port import RuntimeView
from kiosk.views.screen import ScreenView, UiAction
from mqtt_bridge.contract.events import Feedback, OfferTapped


def _offer_view() -> tuple[ScreenView, Layout]:
    ui = make_ui(language="en")
    ui.observe(state("offer", "croissant-pair"), 1.0)
    view = ui.view(1.0)
    return view, compute_layout(view, 1280, 720)


def _key(key: int, mod: int = 0) -> pygame.event.Event:
    return pygame.event.Event(pygame.KEYDOWN, key=key, mod=mod, unicode="")


def test_clicks_and_touches_hit_the_buttons_under_them() -> None:
    view, layout = _offer_view()
    x, y = layout.rect_of("call_staff").centre
    click = pygame.event.Event(pygame.MOUSEBUTTONUP, pos=(x, y), button=1, touch=False)
    assert map_event(click, view, layout) == UiAction("call_staff")
    finger = pygame.event.Event(pygame.FINGERUP, x=x / 1280, y=y / 720, finger_id=0, touch_id=0)
    assert map_event(finger, view, layout) == UiAction("call_staff")
    synthetic = pygame.event.Event(pygame.MOUSEBUTTONUP, pos=(x, y), button=1, touch=True)
    assert map_event(synthetic, view, layout) is None, "one touch is one action"
    elsewhere = pygame.event.Event(pygame.MOUSEBUTTONUP, pos=(640, 130), button=1, touch=False)
    assert map_event(elsewhere, view, layout) == UiAction("tap"), "the card itself opens the offer"


def test_every_button_has_a_keyboard_equivalent() -> None:
    view, layout = _offer_view()
    assert map_event(_key(pygame.K_RETURN), view, layout) == UiAction("tap")
    assert map_event(_key(pygame.K_ESCAPE), view, layout) == UiAction("dismiss")
    assert map_event(_key(pygame.K_s), view, layout) == UiAction("call_staff")
    assert map_event(_key(pygame.K_l), view, layout) == UiAction("language")
    assert map_event(_key(pygame.K_n), view, layout) == UiAction("opt_out")
    assert map_event(_key(pygame.K_i), view, layout) == UiAction("notice")
    assert map_event(_key(pygame.K_5), view, layout) is None, "no scores on an offer"
    assert map_event(_key(pygame.K_q, pygame.KMOD_CTRL), view, layout) == "quit"
    ui = make_ui(nps_share=1.0)
    ui.observe(state("feedback", "croissant-pair"), 1.0)
    ui.handle(UiAction("feedback", 5), 1.0)
    nps = ui.view(1.0)
    nps_layout = compute_layout(nps, 640, 360)
    assert map_event(_key(pygame.K_0), nps, nps_layout) == UiAction("feedback", 0)
    assert map_event(_key(pygame.K_EQUALS), nps, nps_layout) == UiAction("feedback", 10)


def test_a_visit_through_the_render_loop(tmp_path: Path) -> None:
    clock = make_clock()
    runtime = make_runtime(clock)
    ui = make_ui(nps_share=0.0)
    plan = {"offer": UiAction("tap"), "details": UiAction("done"), "feedback_csat": UiAction("feedback", 5)}
    done: set[str] = set()
    frames = 0

    def shopper(now: float, view: ScreenView, layout: Layout) -> list[UiAction]:
        nonlocal frames
        frames += 1
        clock.advance(0.1)  # ten times faster than the wall clock: timeouts are in machine seconds
        if 5 <= frames < 40:
            runtime.see(snapshot(clock, face()))
        action = plan.get(view.screen)
        if action is not None and view.screen not in done and frames % 5 == 0:
            done.add(view.screen)
            return [action]
        return []

    app = ScreenApp(ui, runtime, size=(640, 360), headless=True, fps=120, clock=clock.monotonic, hook=shopper)
    app.screenshot_dir = tmp_path
    stats = app.run(None, stop=lambda: frames > 150)
    events = list(runtime.events)
    assert len([e for e in events if isinstance(e, OfferTapped)]) == 1
    assert [(e.kind, e.score) for e in events if isinstance(e, Feedback)] == [("csat", 5)]
    assert {"attract", "welcome", "offer", "details", "feedback_csat", "thanks"} <= set(stats.screens)
    assert stats.draws < stats.frames, "frames without a change are not drawn"
    assert (tmp_path / "offer-ru.png").stat().st_size > 1000
    assert stats.taps_answered == 3 and stats.tap_frames_max == 0, "each tap's answer is on the next flip"
    assert stats.taps_unanswered == 0


def test_a_touched_button_answers_at_once_and_lets_go() -> None:
    from kiosk.ui.renderer import Renderer, Theme, release_caches
    from kiosk.views.kiosk_ui import PRESS_S

    ui = make_ui(language="en")
    ui.observe(state("offer", "croissant-pair"), 1.0)
    assert ui.view(1.0).pressed is None
    ui.handle(UiAction("language"), 1.0)
    touched = ui.view(1.0)
    assert touched.pressed == "language" and touched.language == "ru"
    assert ui.view(1.0 + PRESS_S).pressed is None, "the highlight lets go"
    ui.handle(UiAction("feedback", 3), 1.5)  # not on this screen: ignored, nothing highlighted
    assert ui.view(1.5).pressed is None

    pygame.display.init()
    pygame.font.init()
    try:
        pygame.display.set_mode((1, 1))
        layout = compute_layout(touched, 1280, 720)
        rect = layout.rect_of("language")
        live = Theme().live
        pictures = []
        for view in (touched, ui.view(1.0 + PRESS_S)):
            surface = pygame.Surface((1280, 720))
            Renderer().draw(surface, view, layout)
            pictures.append(surface)
        ring = (rect.x + rect.w // 2, rect.y - 1)  # just above the button: on the ring
        assert tuple(pictures[0].get_at(ring))[:3] == live
        assert tuple(pictures[1].get_at(ring))[:3] != live
    finally:
        release_caches()
        pygame.quit()


@pytest.mark.parametrize("size", [(1920, 1080), (1080, 1920), (1280, 720)])
def test_the_loop_opens_every_supported_size(size: tuple[int, int]) -> None:
    clock = make_clock()
    frames = 0

    def count(now: float, view: ScreenView, layout: Layout) -> list[UiAction]:
        nonlocal frames
        frames += 1
        clock.advance(1 / 60)
        return []

    app = ScreenApp(
        make_ui(), make_runtime(clock), size=size, headless=True, fps=240, clock=clock.monotonic, hook=count
    )
    stats = app.run(None, stop=lambda: frames >= 5)
    assert stats.frames >= 4 and stats.draws >= 1


def test_a_transition_never_blocks_input() -> None:
    from kiosk.ui.screen_app import TRANSITION_S

    clock = make_clock()
    runtime = make_runtime(clock)
    ui = make_ui()
    seen: dict[str, float] = {}
    frames = 0

    def shopper(now: float, view: ScreenView, layout: Layout) -> list[UiAction]:
        nonlocal frames
        frames += 1
        clock.advance(1 / 60)
        seen.setdefault(view.screen, now)
        if frames >= 3:
            runtime.see(snapshot(clock, face()))
        if view.screen == "welcome":
            return [UiAction("tap")]  # at once, while the cross-fade to welcome is still running
        return []

    app = ScreenApp(ui, runtime, size=(640, 360), headless=True, fps=240, clock=clock.monotonic, hook=shopper)
    app.run(None, stop=lambda: frames > 40)
    assert "offer" in seen, "the tap during the fade reached the state machine"
    assert seen["offer"] - seen["welcome"] < TRANSITION_S


def test_font_scale_grows_text_and_touch_targets() -> None:
    ui = make_ui()
    ui.observe(state("offer", "croissant-pair"), 1.0)
    view = ui.view(1.0)
    normal, large = compute_layout(view, 1280, 720), compute_layout(view, 1280, 720, font_scale=1.5)
    assert large.unit == pytest.approx(normal.unit * 1.5)
    assert large.rect_of("tap").h > normal.rect_of("tap").h
    assert large.rect_of("call_staff").h >= normal.rect_of("call_staff").h


def test_a_failing_update_keeps_the_last_view_up(caplog: pytest.LogCaptureFixture) -> None:
    clock = make_clock()
    runtime = make_runtime(clock)
    frames = 0
    real = runtime.runtime_view

    def flaky() -> RuntimeView:
        if 5 <= frames <= 8:
            raise RuntimeError("simulated bug")
        return real()

    runtime.runtime_view = flaky  # type: ignore[method-assign]

    def count(now: float, view: ScreenView, layout: Layout) -> list[UiAction]:
        nonlocal frames
        frames += 1
        clock.advance(1 / 60)
        return []

    app = ScreenApp(
        make_ui(), runtime, size=(640, 360), headless=True, fps=240, clock=clock.monotonic, hook=count
    )
    stats = app.run(None, stop=lambda: frames >= 15)
    assert stats.frames >= 14
    assert sum("could not be updated" in r.message for r in caplog.records) == 1


def test_a_new_catalogue_from_the_runtime_is_shown_from_the_next_frame(tmp_path: Path) -> None:
    from mqtt_bridge.contract.catalogue import Catalogue

    ui = make_ui(language="en")
    assert ui.catalogue is not None
    first = ui.catalogue.offers[0]
    renamed = first.model_copy(update={"title": first.title.model_copy(update={"en": "Released today"})})
    released = Catalogue.model_validate({"schema_version": 1, "offers": [renamed]})
    ui.observe(RuntimeView(state("offer", first.id).state, catalogue=released, image_base=tmp_path), 1.0)
    view = ui.view(1.0)
    assert view.title == "Released today" and view.image == str(tmp_path / first.image)
    ui.observe(state("offer", first.id), 1.1)  # a runtime without one: the screen keeps it
    assert ui.view(1.1).title == "Released today"
