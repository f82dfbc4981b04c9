"""Fonts: DejaVu Sans, shipped with Vitrina (offer_layout/fonts, Bitstream Vera licence) for its Cyrillic
glyphs.

Shipping the font, rather than finding one on the system, makes every screen render the same on every
device and in the golden-image tests, and the back office's campaign preview (Pillow) draws with the same
files (:mod:`offer_layout`).
"""

from __future__ import annotations

import functools
from pathlib import Path

import pygame

import offer_layout

FONT_DIR: Path = offer_layout.FONT_DIR
REGULAR = offer_layout.REGULAR_FONT
BOLD = offer_layout.BOLD_FONT


@functools.cache
def font(size: int, bold: bool = False) -> pygame.font.Font:
    """DejaVu Sans at ``size`` pixels. Cached: creating fonts is slow and the render loop asks every frame."""
    return pygame.font.Font(str(BOLD if bold else REGULAR), size)
