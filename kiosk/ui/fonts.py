"""Fonts: DejaVu Sans, shipped with Vitrina (kiosk/ui/fonts, Bitstream Vera licence) for its Cyrillic glyphs.

Shipping the font, rather than finding one on the system, makes every screen render the same on every
device and in the golden-image tests.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pygame

FONT_DIR = Path(__file__).resolve().parent / "fonts"
REGULAR = FONT_DIR / "DejaVuSans.ttf"
BOLD = FONT_DIR / "DejaVuSans-Bold.ttf"


@functools.cache
def font(size: int, bold: bool = False) -> pygame.font.Font:
    """DejaVu Sans at ``size`` pixels. Cached: creating fonts is slow and the render loop asks every frame."""
    return pygame.font.Font(str(BOLD if bold else REGULAR), size)
