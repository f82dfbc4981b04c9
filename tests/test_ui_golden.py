"""Golden images: every screen, in Russian and English, landscape and portrait, rendered under SDL's dummy
driver and compared with tests/golden/*.png within a small tolerance.

    UPDATE_GOLDEN=1 pytest tests/test_ui_golden.py     # rewrite the references after a deliberate change

Rendered at 640x360 and 360x640 to keep the references small; the layout scales with the short side, so
1920x1080 looks the same, larger.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pygame
import pytest
from ui_support import SCREENS, ui_showing

from kiosk.ui.renderer import Renderer, release_caches
from kiosk.views.layout import compute_layout

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
SIZES = {"landscape": (640, 360), "portrait": (360, 640)}
MEAN_TOLERANCE = 2.0  # mean absolute difference per channel, 0-255
PIXEL_TOLERANCE = 0.01  # share of pixels allowed to differ by more than 48 in some channel


@pytest.fixture(scope="module")
def display() -> Iterator[None]:
    pygame.display.init()
    pygame.font.init()
    pygame.display.set_mode((8, 8))
    yield
    release_caches()
    pygame.quit()


def render(screen: str, language: str, size: tuple[int, int]) -> pygame.Surface:
    ui, now = ui_showing(screen, language)  # type: ignore[arg-type]
    view = ui.view(now)
    surface = pygame.Surface(size)
    Renderer().draw(surface, view, compute_layout(view, *size))
    return surface


def difference(a: pygame.Surface, b: pygame.Surface) -> tuple[float, float]:
    """Mean absolute difference, and the share of pixels that differ a lot."""
    x = pygame.surfarray.array3d(a).astype(np.int16)
    y = pygame.surfarray.array3d(b).astype(np.int16)
    delta = np.abs(x - y)
    return float(delta.mean()), float((delta.max(axis=2) > 48).mean())


@pytest.mark.parametrize("orientation", sorted(SIZES))
@pytest.mark.parametrize("language", ["ru", "en"])
@pytest.mark.parametrize("screen", SCREENS)
def test_screen_matches_its_golden_image(display: None, screen: str, language: str, orientation: str) -> None:
    if screen == "details":
        pytest.importorskip("segno", reason="the details golden shows the QR code")
    size = SIZES[orientation]
    surface = render(screen, language, size)
    path = GOLDEN / f"{screen}_{language}_{orientation}.png"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
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
        pytest.fail(
            f"{path.name}: mean difference {mean:.2f} (limit {MEAN_TOLERANCE}), {share:.2%} of pixels "
            f"differ (limit {PIXEL_TOLERANCE:.0%}); the new rendering is in {failed / path.name}"
        )


def test_goldens_stay_small() -> None:
    total = sum(p.stat().st_size for p in GOLDEN.glob("*.png"))
    assert total < 3_000_000, f"tests/golden holds {total} bytes"


def test_the_comparison_notices_a_change(display: None) -> None:
    a = render("thanks", "ru", (640, 360))
    b = render("thanks", "en", (640, 360))
    mean, share = difference(a, b)
    assert mean > 0.1 and share > 0.001
    assert difference(a, a) == (0.0, 0.0)
