"""Text in boxes: word wrap, the largest size that fits, and where each line of a screen's content goes.

Measuring is the renderer's (a :class:`Measure`: pygame's fonts on the kiosk, Pillow's in the back office's
preview, both on :data:`offer_layout.FONT_DIR`'s DejaVu Sans); deciding sizes, lines and positions is this
module's, so both draw the same lines at the same places.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from offer_layout.geometry import Rect

#: Which part of a screen's content a line belongs to.
Role = Literal["title", "subtitle", "meta"]

#: The smallest size text shrinks to before it is allowed to overflow its box.
MIN_SIZE = 9


class Measure(Protocol):
    """A renderer's text metrics, in pixels, for DejaVu Sans at ``size`` (regular or bold)."""

    def width(self, text: str, size: int, bold: bool) -> int:
        """How wide ``text`` is drawn."""
        ...

    def line_height(self, size: int, bold: bool) -> int:
        """The distance from one line to the next (the font's line skip)."""
        ...


def wrap(text: str, measure: Measure, size: int, bold: bool, width: int) -> list[str]:
    """Greedy word wrap to ``width`` pixels (a word longer than the line stays whole); a newline starts a
    new line."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}" if line else word
            if line and measure.width(candidate, size, bold) > width:
                lines.append(line)
                line = word
            else:
                line = candidate
        lines.append(line)
    return lines


def fit(
    text: str, box: Rect, size: int, measure: Measure, *, bold: bool = False, min_size: int = MIN_SIZE
) -> tuple[int, list[str]]:
    """The largest size up to ``size`` whose wrapped text fits ``box`` (shrinking by a tenth at a time,
    never below ``min_size``), and its lines."""
    size = max(min_size, size)
    while True:
        lines = wrap(text, measure, size, bold, box.w)
        height = len(lines) * measure.line_height(size, bold)
        fits = height <= box.h and all(measure.width(line, size, bold) <= box.w for line in lines)
        if fits or size <= min_size:
            return size, lines
        size = max(min_size, int(size * 0.9))


@dataclass(frozen=True)
class TextLine:
    """One line of text as it is drawn: its words, size and face, and its box's top-left corner."""

    role: Role
    text: str
    size: int
    bold: bool
    x: int
    y: int
    #: The line's drawn width and the line skip below it (its box is ``x, y, width, height``).
    width: int
    height: int

    @property
    def box(self) -> Rect:
        """The line's box."""
        return Rect(self.x, self.y, self.width, self.height)


#: Each part's size in units, and whether it is bold.
_PARTS: tuple[tuple[Role, float, bool], ...] = (
    ("title", 9.0, True),
    ("subtitle", 5.0, False),
    ("meta", 3.6, False),
)
#: The shares of the text region's height of the first, second and third part present.
_SHARES = (0.5, 0.32, 0.18)


def content_lines(
    texts: tuple[str, str, str], box: Rect, unit: float, measure: Measure, *, centred: bool
) -> list[TextLine]:
    """Where a screen's ``texts``, its title (bold, 9 units), subtitle (5 units) and meta line (3.6 units),
    go in ``box``.

    The parts present (the title always) get shares of the box's height in their order (1/2, 0.32, 0.18,
    renormalised over the parts present) and the largest size up to their own that fits them; the lines
    are stacked with 1.5 units between parts and the block centred vertically in the box; each line is
    centred horizontally when ``centred`` (a screen without a picture), else left-aligned."""
    present = [
        (role, units, bold, text)
        for (role, units, bold), text in zip(_PARTS, texts, strict=True)
        if role == "title" or text
    ]
    shares = _SHARES[: len(present)]
    total = sum(shares)
    placed: list[tuple[Role, str, int, bool, int]] = []  # role, text, size, bold, line height
    gaps: list[int] = []  # the space after each line
    for (role, units, bold, text), share in zip(present, shares, strict=True):
        sub = Rect(box.x, box.y, box.w, max(1, round(box.h * share / total)))
        size, lines = fit(text, sub, round(units * unit), measure, bold=bold)
        line_h = measure.line_height(size, bold)
        for line in lines:
            placed.append((role, line, size, bold, line_h))
            gaps.append(line_h)
        gaps[-1] += round(1.5 * unit)  # between parts (the last part's is not counted)
    height = sum(gaps) - round(1.5 * unit)
    y = box.y + max(0, (box.h - height) // 2)
    out: list[TextLine] = []
    for (role, line, size, bold, line_h), gap in zip(placed, gaps, strict=True):
        width = measure.width(line, size, bold)
        x = box.x + (box.w - width) // 2 if centred else box.x
        out.append(TextLine(role, line, size, bold, x, y, width, line_h))
        y += gap
    return out
