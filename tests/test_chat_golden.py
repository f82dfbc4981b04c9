"""The chat's screens against golden images (tests/golden/chat_*.png), in Russian and English, landscape and
portrait, rendered under SDL's dummy driver like tests/test_ui_golden.py:

    UPDATE_GOLDEN=1 pytest tests/test_chat_golden.py     # rewrite the references after a deliberate change

and the acceptance screenshots: the conversation view with the on-screen keyboard, a person joined and
writing, in Russian and English at 1280x720 and 720x1280, saved in test-artifacts/kiosk-chat-screenshots/
(``VITRINA_KIOSK_SCREENSHOTS`` moves it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pygame
import pytest
from chat_support import conversation
from ui_support import make_ui, state

from kiosk.i18n import Language
from kiosk.ui.renderer import Renderer, release_caches
from kiosk.views.layout import compute_layout
from kiosk.views.screen import ScreenView

REPO = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
SHOTS = Path(os.environ.get("VITRINA_KIOSK_SCREENSHOTS", REPO / "test-artifacts" / "kiosk-chat-screenshots"))
SIZES = {"landscape": (640, 360), "portrait": (360, 640)}
MEAN_TOLERANCE = 2.0
PIXEL_TOLERANCE = 0.01
SCREENS = (
    "chat_bot",
    "chat_operator",
    "chat_no_operator",
    "chat_rating",
    "attract_questions",
    "offer_questions",
)


@pytest.fixture(scope="module")
def display() -> Iterator[None]:
    pygame.display.init()
    pygame.font.init()
    pygame.display.set_mode((8, 8))
    yield
    release_caches()
    pygame.quit()


def chat_view(screen: str, language: Language) -> ScreenView:
    """The view of one of :data:`SCREENS`, put there through the brain and the screen."""
    if screen in ("attract_questions", "offer_questions"):
        ui = make_ui(language=language)
        runtime = state("attract", chat_available=True)
        if screen == "offer_questions":
            runtime = state("offer", "croissant-pair", chat_available=True)
        ui.observe(runtime, 100.0)
        return ui.view(100.0 + 1.0)
    return conversation(language, screen.removeprefix("chat_")).view()


def render(view: ScreenView, size: tuple[int, int]) -> pygame.Surface:
    surface = pygame.Surface(size)
    Renderer().draw(surface, view, compute_layout(view, *size))
    return surface


def difference(a: pygame.Surface, b: pygame.Surface) -> tuple[float, float]:
    x = pygame.surfarray.array3d(a).astype(np.int16)
    y = pygame.surfarray.array3d(b).astype(np.int16)
    delta = np.abs(x - y)
    return float(delta.mean()), float((delta.max(axis=2) > 48).mean())


@pytest.mark.parametrize("orientation", sorted(SIZES))
@pytest.mark.parametrize("language", ["ru", "en"])
@pytest.mark.parametrize("screen", SCREENS)
def test_chat_screen_matches_its_golden_image(
    display: None, screen: str, language: Language, orientation: str
) -> None:
    size = SIZES[orientation]
    surface = render(chat_view(screen, language), size)
    path = GOLDEN / f"{screen}_{language}_{orientation}.png"
    if UPDATE:
        pygame.image.save(surface, str(path))
        return
    assert path.exists(), f"{path.name} is missing: run UPDATE_GOLDEN=1 pytest {__file__}"
    reference = pygame.image.load(str(path))
    assert reference.get_size() == size
    mean, share = difference(surface, reference)
    if mean > MEAN_TOLERANCE or share > PIXEL_TOLERANCE:
        failed = Path(os.environ.get("GOLDEN_FAILURES", "/tmp/vitrina-golden-failures"))
        failed.mkdir(parents=True, exist_ok=True)
        pygame.image.save(surface, str(failed / path.name))
        pytest.fail(f"{path.name}: mean difference {mean:.2f}, {share:.2%} of pixels differ; see {failed}")


def test_the_chat_screens_differ_by_language_and_state(display: None) -> None:
    ru = render(chat_view("chat_operator", "ru"), (640, 360))
    en = render(chat_view("chat_operator", "en"), (640, 360))
    bot = render(chat_view("chat_bot", "ru"), (640, 360))
    assert difference(ru, en)[0] > 0.1 and difference(ru, bot)[0] > 0.1


@pytest.mark.parametrize("language", ["ru", "en"])
def test_screenshots_of_the_conversation_view_with_the_keyboard(display: None, language: Language) -> None:
    """Acceptance (issue 19): the kiosk's conversation view in Russian and English with the on-screen
    keyboard, a person joined and answering, the shopper typing."""
    view = chat_view("chat_operator", language)
    assert view.chat is not None and view.chat.keys and view.chat.draft
    SHOTS.mkdir(parents=True, exist_ok=True)
    for name, size in (("landscape", (1280, 720)), ("portrait", (720, 1280))):
        layout = compute_layout(view, *size)
        surface = render(view, size)
        path = SHOTS / f"conversation-{language}-{name}.png"
        pygame.image.save(surface, str(path))
        assert path.stat().st_size > 10_000
        keyboard = layout.regions["keyboard"]
        pixels = pygame.surfarray.array3d(surface.subsurface(pygame.Rect(keyboard)))
        assert pixels.std() > 10, "the keyboard is drawn"
        transcript = layout.regions["chat_transcript"]
        assert pygame.surfarray.array3d(surface.subsurface(pygame.Rect(transcript))).std() > 10
