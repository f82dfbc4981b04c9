"""The shopper's screen: its render loop, in phases.

    events -> actions -> port      (input mapping; touches go to the state machine at once)
    update(runtime view, now)      (the pure KioskUi builds this frame's ScreenView)
    draw, only when the view changed or a transition runs
    flip, then wait for the next frame (60 fps target)

Transitions are a short cross-fade drawn frame by frame: input is read every frame, so they never block it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pygame

from kiosk.decisions.redemption import qr_matrix
from kiosk.ui.display import use_headless_drivers_if_needed
from kiosk.ui.input import map_event
from kiosk.ui.renderer import Renderer, Theme, release_caches
from kiosk.ui.stats import StreamingHistogram
from kiosk.views.kiosk_ui import KioskUi, deliver
from kiosk.views.layout import Layout, compute_layout
from kiosk.views.port import KioskPort
from kiosk.views.screen import ScreenView, UiAction

log = logging.getLogger(__name__)

TRANSITION_S = 0.25
#: A tap whose answer has not shown after this long is counted unanswered (the screen had nothing to show).
TAP_GIVE_UP_S = 1.0

#: Called once a frame before the update with the time, the last view and its layout; returns actions a
#: scripted shopper performs (the loop turns them into real clicks on their buttons).
FrameHook = Callable[[float, ScreenView, Layout], list[UiAction]]


@dataclass
class ScreenStats:
    """What a run of the screen did. Bounded: the frame and tap times are streaming histograms, so a
    screen that runs for months holds no more than one that ran for a minute."""

    frames: int = 0
    draws: int = 0
    seconds: float = 0.0
    #: Frame times (update + draw + flip) in ms.
    frame_ms: StreamingHistogram = field(default_factory=StreamingHistogram)
    screens: list[str] = field(default_factory=list)  # every screen reached, in order of first sight
    screenshots: dict[str, Path] = field(default_factory=dict)
    headless: bool = True
    video_driver: str = ""
    # A tap's answer: frames from the frame that read the touch to the frame that showed its answer
    # (0: the same frame, i.e. on the next flip), and milliseconds from reading it to that flip.
    taps_answered: int = 0
    tap_frames_max: int = 0
    tap_ms: StreamingHistogram = field(default_factory=StreamingHistogram)
    taps_unanswered: int = 0

    def percentile(self, pct: float) -> float:
        """A percentile of the frame times (update + draw + flip), in ms."""
        return self.frame_ms.percentile(pct)

    @property
    def frame_ms_p50(self) -> float:
        """Median frame time in ms."""
        return self.frame_ms.percentile(50)

    def tap_answered(self, frames: int, ms: float) -> None:
        """A tap was answered ``frames`` frames and ``ms`` milliseconds after it was read."""
        self.taps_answered += 1
        self.tap_frames_max = max(self.tap_frames_max, frames)
        self.tap_ms.add(ms)


class ScreenApp:
    """Opens the display (full screen, a window, or off screen) and runs the loop."""

    def __init__(
        self,
        ui: KioskUi,
        port: KioskPort,
        *,
        size: tuple[int, int] = (1280, 720),
        fullscreen: bool = False,
        headless: bool = False,
        fps: int = 60,
        font_scale: float = 1.0,
        theme: Theme | None = None,
        clock: Callable[[], float] = time.monotonic,
        hook: FrameHook | None = None,
        screenshot_dir: Path | None = None,
    ) -> None:
        self.ui = ui
        self.port = port
        self.size = size
        self.fullscreen = fullscreen
        self.headless = headless
        self.fps = fps
        self.font_scale = font_scale
        self.renderer = Renderer(theme, font_scale)
        self.clock = clock
        self.hook = hook
        self.screenshot_dir = screenshot_dir
        self.stats = ScreenStats()
        self._failures: set[str] = set()

    def run(
        self,
        seconds: float | None,
        stop: Callable[[], bool] = lambda: False,
        on_start: Callable[[], None] | None = None,
    ) -> ScreenStats:
        """Run until ``seconds`` pass, ``stop()`` is true, or the window is closed. ``on_start`` is called
        once the first frame is on screen (the runtime starts then, so the screen never misses its start)."""
        headless = use_headless_drivers_if_needed(self.headless)
        self.stats.headless = headless
        pygame.display.init()
        pygame.font.init()
        try:
            flags = pygame.FULLSCREEN if self.fullscreen and not headless else 0
            surface = pygame.display.set_mode(self.size, flags)
            self.stats.video_driver = pygame.display.get_driver()
            pygame.display.set_caption("Vitrina")
            pygame.mouse.set_visible(not self.fullscreen)
            log.info("screen %dx%d (%s)", *self.size, "headless" if headless else "display")
            qr_matrix("VITRINA")  # imports the QR encoder now, not in the frame a shopper asks for a code
            self._loop(surface, seconds, stop, on_start)
        finally:
            release_caches()
            pygame.quit()
        return self.stats

    def _loop(
        self,
        surface: pygame.Surface,
        seconds: float | None,
        stop: Callable[[], bool],
        on_start: Callable[[], None] | None,
    ) -> None:
        ticker = pygame.time.Clock()
        width, height = surface.get_size()
        start = self.clock()
        self.ui.observe(self.port.runtime_view(), start)
        view = self.ui.view(start)
        layout = compute_layout(view, width, height, self.font_scale)
        drawn: ScreenView | None = None
        previous: pygame.Surface | None = None
        # One buffer for the outgoing frame, reused: a fresh copy per transition costs SDL a new blit
        # mapping on its first alpha blit (tens of ms at 1080p).
        fading = surface.copy()
        transition_at = -1.0
        tap: _PendingTap | None = None
        while True:
            now = self.clock()
            shot_s = 0.0
            if (seconds is not None and now - start >= seconds) or stop():
                break
            # 1. events -> actions -> the runtime
            presses = self.ui.presses
            if not self._events(now, view, layout):
                break
            if self.ui.presses != presses and tap is None:
                tap = _PendingTap(self.stats.frames, now, drawn)
            # 2. update
            view = self._update(now, view)
            # 3. draw only when something changed
            if drawn is None or view != drawn or previous is not None:
                if drawn is not None and view.screen != drawn.screen:
                    fading.blit(surface, (0, 0))
                    previous, transition_at = fading, now
                layout = compute_layout(view, width, height, self.font_scale)
                self.renderer.draw(surface, view, layout)
                progress = (now - transition_at) / TRANSITION_S
                if previous is not None and progress < 1.0:
                    # 254 at most: SDL blits a surface with alpha 255 through a slow path (20 ms at 1080p).
                    previous.set_alpha(min(254, round(255 * (1.0 - progress))))
                    surface.blit(previous, (0, 0))
                elif progress >= 1.0:
                    previous = None
                    shot_s = self._screenshot(surface, view)
                # 4. flip
                pygame.display.flip()
                self.stats.draws += 1
                drawn = view
                if on_start is not None:
                    on_start()
                    on_start = None
            if tap is not None:
                tap = self._answered(tap, drawn, now, shot_s)
            self.stats.frames += 1
            # Frame time: events, update, draw, flip; not the demo's screenshots (saving a PNG).
            self.stats.frame_ms.add((self.clock() - now - shot_s) * 1000.0)
            ticker.tick(self.fps)
        self.stats.seconds = self.clock() - start

    def _answered(
        self, tap: _PendingTap, drawn: ScreenView | None, now: float, shot_s: float
    ) -> _PendingTap | None:
        """Time the tap's answer: the first flipped frame that differs from what was on screen when the tap
        came in anything but what changes by itself (the progress cue, a fade). Like the frame time, the time
        leaves out the demo's screenshots (``shot_s``)."""
        if drawn is not None and (tap.before is None or _settled(drawn) != _settled(tap.before)):
            self.stats.tap_answered(
                self.stats.frames - tap.frame, (self.clock() - tap.read_at - shot_s) * 1000.0
            )
            return None
        if now - tap.read_at > TAP_GIVE_UP_S:
            self.stats.taps_unanswered += 1
            return None
        return tap

    def _update(self, now: float, last: ScreenView) -> ScreenView:
        """This frame's view. A bug in building it must not take the shopper's screen down: it is logged
        (once per kind of failure) and the last good view stays up."""
        try:
            self.ui.observe(self.port.runtime_view(), now)
            return self.ui.view(now)
        except Exception as exc:
            kind = f"{type(exc).__name__}: {exc}"
            if kind not in self._failures:
                self._failures.add(kind)
                log.exception("the screen could not be updated; keeping the last view")
            return last

    def _events(self, now: float, view: ScreenView, layout: Layout) -> bool:
        """Read every pending event (and the scripted shopper's clicks); False when quitting."""
        if self.hook is not None:
            for action in self.hook(now, view, layout):
                _post_click(layout, action)
        keep_going = True
        for event in pygame.event.get():
            asked = map_event(event, view, layout)
            if asked == "quit":
                keep_going = False
            elif asked is not None:
                deliver(self.port, self.ui.handle(asked, now))
        return keep_going

    def _screenshot(self, surface: pygame.Surface, view: ScreenView) -> float:
        """Save a picture the first time a screen shows in a language (and the open notice, likewise).

        Files are named ``{screen}-{language}.png`` and ``notice-{language}.png``. Returns the seconds spent.
        """
        if view.screen not in self.stats.screens:
            self.stats.screens.append(view.screen)
        key = f"{'notice' if view.notice is not None else view.screen}-{view.language}"
        if self.screenshot_dir is None or key in self.stats.screenshots:
            return 0.0
        started = self.clock()
        self.screenshot_dir.mkdir(parents=True, exist_ok=True)
        path = self.screenshot_dir / f"{key}.png"
        pygame.image.save(surface, str(path))
        self.stats.screenshots[key] = path
        return self.clock() - started


@dataclass(frozen=True)
class _PendingTap:
    """A touch read in frame ``frame`` at ``read_at``, while ``before`` was on screen."""

    frame: int
    read_at: float
    before: ScreenView | None


def _settled(view: ScreenView) -> ScreenView:
    """The view without what moves on its own."""
    return replace(view, progress=None, fade=1.0)


def _post_click(layout: Layout, action: UiAction) -> None:
    """A left click on the action's button, as the mouse would make it."""
    try:
        pos = layout.rect_of(action.key).centre
    except KeyError:
        return
    pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=pos, button=1, touch=False))
    pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONUP, pos=pos, button=1, touch=False))
