"""Does the screen work? Open a window with a real video driver, draw one frame, close it.

For the device's self-test (``provision check``), which calls :func:`probe_display`; pygame stays under
``kiosk/ui/``. SDL's ``dummy`` and ``offscreen`` drivers draw nowhere a shopper can see, so under them the
probe answers ``skipped`` ("no display"), never ``pass``; with no X11 or Wayland display and no driver
named, SDL tries what it has (KMS/DRM on a Raspberry Pi console) and, finding nothing, the answer is
``skipped`` too. A real driver that fails to open a window is ``fail``, with what SDL said.
"""

from __future__ import annotations

import os
import time
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Literal

from kiosk.ui.display import has_display

#: Drivers that draw off screen: a probe under them proves nothing about the shop's screen.
OFF_SCREEN_DRIVERS = frozenset({"dummy", "offscreen"})


@dataclass(frozen=True)
class DisplayProbe:
    """What the display probe found. ``driver``: SDL's video driver; ``size``: the window opened."""

    status: Literal["pass", "fail", "skipped"]
    detail: str
    driver: str = ""
    size: tuple[int, int] = (0, 0)


def probe_display(
    size: tuple[int, int] = (640, 360),
    *,
    fullscreen: bool = False,
    show_s: float = 0.3,
    environ: MutableMapping[str, str] | None = None,
) -> DisplayProbe:
    """Open a window of ``size`` (full screen when asked), fill it, flip, keep it ``show_s`` seconds, close.

    Never raises for a display problem: the answer says what happened."""
    env = os.environ if environ is None else environ
    named = env.get("SDL_VIDEODRIVER", "")
    if named in OFF_SCREEN_DRIVERS:
        return DisplayProbe(
            "skipped", f"no display: SDL_VIDEODRIVER={named} draws off screen (unset it on the device)"
        )
    env.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame

    try:
        pygame.display.init()
    except pygame.error as exc:
        if not has_display(env) and not named:
            return DisplayProbe(
                "skipped",
                f"no display: no X11 or Wayland session here and SDL found no screen ({exc}); run the "
                "check in the kiosk's session or on the device's console",
            )
        return DisplayProbe("fail", f"SDL could not start its video driver: {exc}")
    try:
        driver = pygame.display.get_driver()
        if driver in OFF_SCREEN_DRIVERS:
            return DisplayProbe("skipped", f"no display: SDL chose its {driver} driver", driver)
        flags = pygame.FULLSCREEN if fullscreen else 0
        try:
            surface = pygame.display.set_mode(size, flags)
            surface.fill((24, 96, 160))
            pygame.display.flip()
            pygame.event.pump()
            time.sleep(show_s)
            opened = surface.get_size()
        except pygame.error as exc:
            return DisplayProbe("fail", f"the {driver} driver could not open a window: {exc}", driver)
        mode = "full screen" if fullscreen else "window"
        return DisplayProbe(
            "pass", f"{driver}: a {opened[0]}x{opened[1]} {mode} opened and drawn", driver, opened
        )
    finally:
        pygame.display.quit()
