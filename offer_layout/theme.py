"""The screen's colours, shared by the kiosk's renderer and the back office's preview."""

from __future__ import annotations

from dataclasses import dataclass

Colour = tuple[int, int, int]


@dataclass(frozen=True)
class Theme:
    """Colours. The default is high contrast already (light on near-black, >= 12:1 for body text)."""

    background: Colour = (12, 18, 32)
    panel: Colour = (28, 36, 56)
    foreground: Colour = (245, 245, 240)
    muted: Colour = (190, 196, 210)
    accent: Colour = (255, 196, 0)
    on_accent: Colour = (12, 18, 32)
    alert: Colour = (255, 120, 90)
    live: Colour = (80, 220, 120)


HIGH_CONTRAST = Theme(
    background=(0, 0, 0),
    panel=(20, 20, 20),
    foreground=(255, 255, 255),
    muted=(235, 235, 235),
    accent=(255, 221, 0),
    on_accent=(0, 0, 0),
)
