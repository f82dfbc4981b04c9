"""The attract screen and its render loop: events -> update(view, dt) -> draw when changed -> flip."""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pygame

from kiosk.ui.display import use_headless_drivers_if_needed
from kiosk.ui.fonts import font
from kiosk.views.attract import AttractView

log = logging.getLogger(__name__)

BACKGROUND = (12, 18, 32)
FOREGROUND = (245, 245, 240)
ACCENT = (255, 196, 0)


@dataclass(frozen=True)
class RenderStats:
    """What a run of the render loop did, for summaries and benchmarks."""

    frames: int
    draws: int
    seconds: float
    frame_ms_p50: float
    frame_ms_p99: float
    headless: bool
    screenshot: Path | None


def draw_attract(surface: pygame.Surface, view: AttractView, font_scale: float = 1.0) -> None:
    """Render ``view`` onto ``surface``: a headline, a line under it and a progress strip."""
    width, height = surface.get_size()
    surface.fill(BACKGROUND)
    alpha = int(255 * view.fade)
    title = font(max(12, int(height * 0.12 * font_scale)), bold=True).render(view.slide.title, True, ACCENT)
    subtitle = font(max(10, int(height * 0.05 * font_scale))).render(view.slide.subtitle, True, FOREGROUND)
    for text, centre_y in ((title, 0.42), (subtitle, 0.58)):
        text.set_alpha(alpha)
        surface.blit(text, text.get_rect(center=(width // 2, int(height * centre_y))))
    progress = (view.elapsed % view.seconds_per_slide) / view.seconds_per_slide
    pygame.draw.rect(surface, ACCENT, pygame.Rect(0, height - 8, int(width * progress), 8))


def run_attract(
    seconds: float | None,
    *,
    size: tuple[int, int] = (1280, 720),
    fullscreen: bool = False,
    headless: bool = False,
    fps: int = 60,
    font_scale: float = 1.0,
    screenshot: Path | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> RenderStats:
    """Show the attract loop until ``seconds`` pass (None: until the window closes or Escape is pressed)."""
    headless = use_headless_drivers_if_needed(headless)
    pygame.display.init()  # display and fonts only: the mixer would open a sound card for nothing
    pygame.font.init()
    try:
        flags = pygame.FULLSCREEN if fullscreen and not headless else 0
        surface = pygame.display.set_mode(size, flags)
        pygame.display.set_caption("Vitrina")
        log.info("attract screen %dx%d (%s)", size[0], size[1], "headless" if headless else "window")
        view = AttractView()
        ticker = pygame.time.Clock()
        frame_ms: list[float] = []
        draws = 0
        start = last = clock()
        dirty = True
        running = True
        while running:
            for event in pygame.event.get():
                if event.type == pygame.QUIT or (
                    event.type == pygame.KEYDOWN and event.key == pygame.K_ESCAPE
                ):
                    running = False
            now = clock()
            dirty = view.update(now - last) or dirty
            last = now
            if dirty:
                draw_attract(surface, view, font_scale)
                pygame.display.flip()
                draws += 1
                dirty = False
            frame_ms.append((clock() - now) * 1000.0)
            if seconds is not None and now - start >= seconds:
                running = False
            ticker.tick(fps)
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            draw_attract(surface, view, font_scale)
            pygame.image.save(surface, str(screenshot))
        elapsed = clock() - start
        return RenderStats(
            frames=len(frame_ms),
            draws=draws,
            seconds=elapsed,
            frame_ms_p50=statistics.median(frame_ms) if frame_ms else 0.0,
            frame_ms_p99=_percentile(frame_ms, 99),
            headless=headless,
            screenshot=screenshot,
        )
    finally:
        font.cache_clear()  # a font kept past pygame.quit() crashes SDL when pygame starts again
        pygame.quit()


def _percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]
