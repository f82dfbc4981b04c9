"""Fonts: a system font that has Cyrillic glyphs where one is installed, pygame's own font otherwise."""

from __future__ import annotations

import functools

import pygame

# Families with full Cyrillic coverage, in order of preference (Debian: fonts-dejavu-core, fonts-noto-core).
_CYRILLIC_FAMILIES = "dejavusans,notosans,liberationsans,freesans"


@functools.cache
def font_path() -> str | None:
    """Path of a Cyrillic-capable system font, or None when only pygame's default font is available."""
    return pygame.font.match_font(_CYRILLIC_FAMILIES)


@functools.cache
def font(size: int, bold: bool = False) -> pygame.font.Font:
    """A font of ``size`` pixels. Cached: creating fonts is slow and the render loop asks every frame."""
    found = font_path()
    result = pygame.font.Font(found, size) if found else pygame.font.Font(None, size)
    result.set_bold(bold)
    return result
