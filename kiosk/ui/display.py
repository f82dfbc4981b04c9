"""Choosing SDL's drivers before pygame starts: a real window where there is a display, dummy otherwise."""

from __future__ import annotations

import os
from collections.abc import MutableMapping


def has_display(environ: MutableMapping[str, str] | None = None) -> bool:
    """True when an X11 or Wayland display is available to open a window on."""
    env = os.environ if environ is None else environ
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def use_headless_drivers_if_needed(headless: bool, environ: MutableMapping[str, str] | None = None) -> bool:
    """Select SDL's dummy video and audio drivers when asked to, or when there is no display.

    Must run before ``pygame.init()``. Returns True when the run is headless. An SDL driver already chosen
    in the environment is respected unless ``headless`` is asked for explicitly.
    """
    env = os.environ if environ is None else environ
    if headless or (not has_display(env) and "SDL_VIDEODRIVER" not in env):
        env["SDL_VIDEODRIVER"] = "dummy"
        env.setdefault("SDL_AUDIODRIVER", "dummy")
        return True
    return env.get("SDL_VIDEODRIVER") == "dummy"
