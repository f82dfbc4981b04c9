"""The offer as a kiosk shows it, drawn with Pillow on the server (no pygame).

Where things go is :mod:`offer_layout`'s, the module the kiosk's own layout and renderer use: the screen's
regions (:func:`offer_layout.geometry.screen_regions` of the offer screen's shape: a picture, two buttons
of its own, the call-a-consultant button in the footer), each text line's size and place
(:func:`offer_layout.text.content_lines`, measured with Pillow on the same DejaVu Sans files, with
SDL_ttf's line metrics from :mod:`offer_layout.metrics`), the theme's colours. So the preview's title, body
and validity line land where the kiosk draws them, to within a pixel or two of glyph widths
(tests/test_preview_layout.py renders one offer both ways and compares the text boxes).

The words the kiosk adds round an offer (its buttons, "valid until") are the kiosk's messages
(``kiosk/messages.toml``), repeated here because the server does not import the kiosk; a test keeps them
equal.
"""

from __future__ import annotations

import functools
import io
import math
from dataclasses import dataclass
from datetime import date
from typing import Final, Literal

from PIL import Image, ImageDraw, ImageFont

from mqtt_bridge.contract.catalogue import Offer
from offer_layout import font_file
from offer_layout.geometry import Rect, Regions, ScreenShape, screen_regions
from offer_layout.metrics import ascent, line_skip
from offer_layout.text import TextLine, content_lines, fit
from offer_layout.theme import Colour, Theme

Language = Literal["ru", "en"]

#: The kiosk's words round an offer (kiosk/messages.toml: learn_more, not_for_me, call_staff,
#: offer_valid_until).
KIOSK_WORDS: Final[dict[Language, dict[str, str]]] = {
    "ru": {
        "learn_more": "Подробнее",
        "not_for_me": "Не интересно",  # noqa: RUF001
        "call_staff": "Позвать консультанта",
        "offer_valid_until": "Действует до {date}",
    },
    "en": {
        "learn_more": "Learn more",
        "not_for_me": "Not for me",
        "call_staff": "Call a consultant",
        "offer_valid_until": "Valid until {date}",
    },
}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

#: The offer screen's shape: a picture, "learn more" and "not for me", the consultant's button.
OFFER_SHAPE: Final = ScreenShape(image=True, footer=(True,), main=2, main_kind="row")


def format_date(day: date, language: Language) -> str:
    """A date as the kiosk writes it: 31.12.2027 in Russian, 31 Dec 2027 in English."""
    if language == "ru":
        return day.strftime("%d.%m.%Y")
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def offer_texts(offer: Offer, language: Language) -> tuple[str, str, str]:
    """The offer's title, body and meta line (price · valid until) as the kiosk's offer screen shows them."""
    valid = KIOSK_WORDS[language]["offer_valid_until"].format(date=format_date(offer.valid_to, language))
    meta = " · ".join(part for part in (offer.price, valid) if part)
    return getattr(offer.title, language), getattr(offer.body, language), meta


@functools.cache
def _font(size: int, bold: bool) -> ImageFont.FreeTypeFont:
    # The basic layout: FreeType's hinted, whole-pixel advances, as SDL_ttf adds them up (Raqm's shaping
    # would give fractional widths that drift from the kiosk's by a few pixels a line).
    return ImageFont.truetype(str(font_file(bold)), size, layout_engine=ImageFont.Layout.BASIC)


class PillowMeasure:
    """:class:`offer_layout.text.Measure` with Pillow: glyph widths from FreeType, line metrics as SDL_ttf."""

    def width(self, text: str, size: int, bold: bool) -> int:
        """How wide ``text`` is drawn: the sum of its hinted advances."""
        return round(_font(size, bold).getlength(text))

    def line_height(self, size: int, bold: bool) -> int:
        """The line skip (:func:`offer_layout.metrics.line_skip`)."""
        return line_skip(size, bold)


MEASURE: Final = PillowMeasure()


@dataclass(frozen=True)
class Preview:
    """A drawn preview: the PNG, and where its regions and text lines are (for tests and the page)."""

    png: bytes
    width: int
    height: int
    regions: Regions
    lines: tuple[TextLine, ...]


def _box(rect: Rect) -> tuple[int, int, int, int]:
    return rect.x, rect.y, rect.x + rect.w - 1, rect.y + rect.h - 1


def _text(
    draw: ImageDraw.ImageDraw, text: str, at: tuple[int, int], face: tuple[int, bool], colour: Colour
) -> None:
    # pygame blits a line with its top at the font's ascent above the baseline: draw on the same baseline.
    size, bold = face
    draw.text((at[0], at[1] + ascent(size, bold)), text, font=_font(size, bold), fill=colour, anchor="ls")


def _label(
    draw: ImageDraw.ImageDraw, text: str, box: Rect, size: int, colour: Colour, *, bold: bool = False
) -> None:
    fitted, lines = fit(text, box, size, MEASURE, bold=bold)
    line_h = MEASURE.line_height(fitted, bold)
    y = box.y + max(0, (box.h - len(lines) * line_h) // 2)
    for line in lines:
        width = MEASURE.width(line, fitted, bold)
        _text(draw, line, (box.x + (box.w - width) // 2, y), (fitted, bold), colour)
        y += line_h


def _button(
    draw: ImageDraw.ImageDraw, label: str, rect: Rect, unit: float, theme: Theme, *, primary: bool
) -> None:
    radius = max(3, round(1.6 * unit))
    draw.rounded_rectangle(_box(rect), radius, fill=theme.accent if primary else theme.panel)
    if not primary:
        draw.rounded_rectangle(_box(rect), radius, outline=theme.foreground, width=2)
    colour = theme.on_accent if primary else theme.foreground
    _label(draw, label, rect.inset(round(unit)), round(3.6 * unit), colour, bold=primary)


def _picture(canvas: Image.Image, data: bytes | None, box: Rect, theme: Theme) -> None:
    picture: Image.Image | None = None
    if data is not None:
        try:
            picture = Image.open(io.BytesIO(data)).convert("RGBA")
        except OSError:
            picture = None
    if picture is None:
        ImageDraw.Draw(canvas).rounded_rectangle(_box(box), max(2, box.w // 30), fill=theme.panel)
        return
    scale = min(box.w / picture.width, box.h / picture.height)
    size = (max(1, math.floor(picture.width * scale)), max(1, math.floor(picture.height * scale)))
    picture = picture.resize(size, Image.Resampling.LANCZOS)
    cx, cy = box.centre
    canvas.paste(picture, (cx - size[0] // 2, cy - size[1] // 2), picture)


def render_offer(
    offer: Offer,
    image: bytes | None,
    language: Language,
    *,
    width: int = 1280,
    height: int = 720,
    theme: Theme | None = None,
) -> Preview:
    """The offer screen of ``offer`` with its picture ``image`` (bytes; None: a blank panel where it goes) in
    ``language`` on a ``width`` x ``height`` screen, as a PNG."""
    theme = theme or Theme()
    regions = screen_regions(OFFER_SHAPE, width, height)
    unit = regions.unit
    canvas = Image.new("RGB", (width, height), theme.background)
    draw = ImageDraw.Draw(canvas)
    lines = content_lines(offer_texts(offer, language), regions.regions["text"], unit, MEASURE, centred=False)
    colours = {"title": theme.accent, "subtitle": theme.foreground, "meta": theme.muted}
    for line in lines:
        _text(draw, line.text, (line.x, line.y), (line.size, line.bold), colours[line.role])
    _picture(canvas, image, regions.regions["image"], theme)
    draw = ImageDraw.Draw(canvas)
    progress = regions.regions["progress"]
    draw.rectangle(_box(progress), fill=theme.accent)
    words = KIOSK_WORDS[language]
    learn, dismiss = regions.main
    _button(draw, words["learn_more"], learn, unit, theme, primary=True)
    _button(draw, words["not_for_me"], dismiss, unit, theme, primary=False)
    (staff,) = regions.footer
    _button(draw, words["call_staff"], staff, unit, theme, primary=True)
    out = io.BytesIO()
    canvas.save(out, "PNG", optimize=True)
    return Preview(out.getvalue(), width, height, regions, tuple(lines))
