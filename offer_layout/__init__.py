"""Where an offer screen's parts go, shared by the kiosk and the back office's preview.

The kiosk draws its screens with pygame (``kiosk/ui/renderer.py``); the back office draws a campaign's
preview with Pillow (``backoffice/campaigns/preview.py``). Both place every region, button and line of text
with this package, and both draw text with the fonts it ships, so a preview shows an offer where the kiosk
would (``tests/test_preview_layout.py`` compares the two).

- :mod:`offer_layout.geometry`: rectangles (:class:`~offer_layout.geometry.Rect`) and
  :func:`~offer_layout.geometry.screen_regions`, the regions and touch targets of a screen of a given size
  from its :class:`~offer_layout.geometry.ScreenShape` (which parts it has, not what they say);
- :mod:`offer_layout.text`: greedy word wrap, the largest size that fits a box, and
  :func:`~offer_layout.text.content_lines`, where each line of an offer's title, body and validity line
  goes, measured by a :class:`~offer_layout.text.Measure` (pygame's fonts on the kiosk, Pillow's on the
  server);
- :data:`FONT_DIR`: DejaVu Sans, regular and bold (Cyrillic included), with its licence
  (``fonts/LICENSE-DejaVu.txt``, the Bitstream Vera licence, which allows redistribution with the notice).

This package is the bottom floor: standard library only; it imports no pygame, no Pillow and nothing else of
Vitrina's (an import-linter contract in pyproject.toml).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

#: The folder of the shipped fonts.
FONT_DIR: Final = Path(__file__).resolve().parent / "fonts"
#: DejaVu Sans, regular and bold: every screen's text, on the kiosk and in the preview.
REGULAR_FONT: Final = FONT_DIR / "DejaVuSans.ttf"
BOLD_FONT: Final = FONT_DIR / "DejaVuSans-Bold.ttf"


def font_file(bold: bool) -> Path:
    """The font file of the regular or bold face."""
    return BOLD_FONT if bold else REGULAR_FONT
