"""The shipped font renders Cyrillic as real glyphs, not tofu boxes."""

from __future__ import annotations

from collections.abc import Iterator

import pygame
import pytest

from kiosk.ui.fonts import BOLD, REGULAR, font

CYRILLIC = "АБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯабвгдежзийклмнопрстуфхцчшщъыьэюяЁё"
ABSENT = "\U0010fffd"  # a private-use code point no font has a glyph for: renders as .notdef (tofu)


@pytest.fixture(autouse=True)
def _fonts() -> Iterator[None]:
    pygame.font.init()
    yield
    pygame.font.quit()


def _bitmap(text: str, bold: bool = False) -> bytes:
    surface = font(48, bold).render(text, True, (255, 255, 255), (0, 0, 0))
    return bytes(pygame.image.tobytes(surface, "RGB"))


@pytest.mark.parametrize("bold", [False, True])
def test_every_cyrillic_letter_is_a_distinct_real_glyph(bold: bool) -> None:
    tofu = _bitmap(ABSENT, bold)
    bitmaps = {letter: _bitmap(letter, bold) for letter in CYRILLIC}
    assert all(bitmap != tofu for bitmap in bitmaps.values())
    # Tofu boxes all look alike; real glyphs differ from one another.
    assert len(set(bitmaps.values())) == len(CYRILLIC)


def test_font_files_and_licence_ship_with_the_package() -> None:
    assert REGULAR.stat().st_size > 100_000 and BOLD.stat().st_size > 100_000
    assert "Bitstream" in (REGULAR.parent / "LICENSE-DejaVu.txt").read_text()
