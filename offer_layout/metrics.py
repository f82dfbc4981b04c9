"""Vertical font metrics of the shipped fonts, read from the font files and scaled as SDL_ttf scales them.

pygame (SDL_ttf) and Pillow both rasterise with FreeType, so glyph widths agree to a pixel or so; their
vertical metrics do not: SDL_ttf rounds a line's height up from the unrounded scale, Pillow reports
FreeType's rounded size metrics. A renderer that is not pygame (the back office's preview) takes its
ascent and line skip from here, which reproduces SDL_ttf's arithmetic (FreeType's 16.16 fixed-point
``FT_DivFix``, ``FT_MulFix`` and ``FT_CEIL``) on the ``head`` and ``hhea`` tables of the same file, so lines
land on the same rows.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass
from pathlib import Path

from offer_layout import font_file


@dataclass(frozen=True)
class FaceMetrics:
    """A face's design metrics, in font units."""

    units_per_em: int
    ascender: int
    descender: int  # negative: below the baseline
    line_gap: int

    @property
    def height(self) -> int:
        """FreeType's ``face->height``: the baseline-to-baseline distance in font units."""
        return self.ascender - self.descender + self.line_gap


def read_face_metrics(path: Path) -> FaceMetrics:
    """``unitsPerEm`` from the ``head`` table and ascender, descender and line gap from ``hhea`` (FreeType's
    choice for these faces) of a TrueType file."""
    data = path.read_bytes()
    (count,) = struct.unpack_from(">H", data, 4)
    tables: dict[bytes, int] = {}
    for index in range(count):
        tag, _checksum, offset, _length = struct.unpack_from(">4sIII", data, 12 + 16 * index)
        tables[tag] = offset
    (units_per_em,) = struct.unpack_from(">H", data, tables[b"head"] + 18)
    ascender, descender, line_gap = struct.unpack_from(">hhh", data, tables[b"hhea"] + 4)
    return FaceMetrics(units_per_em, ascender, descender, line_gap)


@functools.cache
def face_metrics(bold: bool) -> FaceMetrics:
    """The shipped regular or bold face's metrics."""
    return read_face_metrics(font_file(bold))


def _div_fix(a: int, b: int) -> int:
    """FreeType's ``FT_DivFix``: a / b in 16.16 fixed point, rounded."""
    sign = -1 if (a < 0) != (b < 0) else 1
    a, b = abs(a), abs(b)
    return sign * (((a << 16) + (b >> 1)) // b)


def _mul_fix(a: int, b: int) -> int:
    """FreeType's ``FT_MulFix``: a * b / 65536, rounded."""
    sign = -1 if (a < 0) != (b < 0) else 1
    a, b = abs(a), abs(b)
    return sign * ((a * b + 0x8000) >> 16)


def _ceil_26_6(value: int) -> int:
    """FreeType's ``FT_CEIL``: a 26.6 value rounded up to whole pixels."""
    return (value + 63) >> 6


def _scale(size: int, metrics: FaceMetrics) -> int:
    # FT_Set_Char_Size(size * 64 at 72 dpi), as SDL_ttf opens a font at a point size: y_scale in 16.16.
    return _div_fix(size * 64, metrics.units_per_em)


def ascent(size: int, bold: bool) -> int:
    """Pixels from the top of a drawn line to its baseline (SDL_ttf's ``TTF_FontAscent``)."""
    metrics = face_metrics(bold)
    return _ceil_26_6(_mul_fix(metrics.ascender, _scale(size, metrics)))


def line_skip(size: int, bold: bool) -> int:
    """Pixels from one line to the next (SDL_ttf's ``TTF_FontLineSkip``, pygame's ``get_linesize``)."""
    metrics = face_metrics(bold)
    return _ceil_26_6(_mul_fix(metrics.height, _scale(size, metrics)))
