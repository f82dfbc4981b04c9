"""A screen's regions and touch targets as plain rectangles, from what the screen holds and its size.

Landscape puts the picture left of the text; portrait puts it above. Sizes follow the short side, so
1920x1080, 1280x720 and their portrait turns all look alike; touch targets are at least 9 % of it.

:func:`screen_regions` takes a :class:`ScreenShape` (which parts a screen has: a picture or a code, how many
buttons and of which kind) and returns a :class:`Regions`: named rectangles (``top``, ``footer``,
``content``, ``image`` or ``code``/``qr``, ``text``, ``main``, ``progress``, ...) and the rectangle of every
button, in the shape's order. ``kiosk.views.layout`` maps them onto a view's buttons; the back office's
preview draws an offer into them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, NamedTuple


class Rect(NamedTuple):
    """x, y, width, height in pixels."""

    x: int
    y: int
    w: int
    h: int

    def contains(self, px: float, py: float) -> bool:
        """Whether the point is inside."""
        return self.x <= px < self.x + self.w and self.y <= py < self.y + self.h

    @property
    def centre(self) -> tuple[int, int]:
        """The middle point."""
        return self.x + self.w // 2, self.y + self.h // 2

    def inset(self, d: int) -> Rect:
        """Shrunk by ``d`` on every side."""
        return Rect(self.x + d, self.y + d, max(0, self.w - 2 * d), max(0, self.h - 2 * d))


#: How a screen's own buttons are arranged: one row (most screens), CSAT faces, or two rows of NPS scores.
MainKind = Literal["row", "csat", "nps"]


@dataclass(frozen=True)
class ScreenShape:
    """Which parts a screen has (never what they say): enough to lay it out."""

    #: The camera-active indicator in the top bar.
    camera: bool = False
    #: The language toggle in the top bar.
    toggle: bool = False
    #: The footer's buttons in order, True for the call-a-consultant one (placed on the right).
    footer: tuple[bool, ...] = ()
    #: The transparency notice is open over the screen.
    notice: bool = False
    #: A picture beside (landscape) or above (portrait) the text.
    image: bool = False
    #: A redemption code in the picture's place, and whether a QR code goes with it.
    code: bool = False
    qr: bool = False
    #: How many buttons of the screen's own it has, and how they are arranged.
    main: int = 0
    main_kind: MainKind = "row"


@dataclass(frozen=True)
class Regions:
    """Where a screen's parts go: named rectangles, and the buttons' rectangles.

    ``camera`` and ``toggle`` are the top bar's buttons (None when absent); ``footer`` and ``main`` hold one
    rectangle per button of the shape, in its order; ``close`` is the open notice's close button."""

    width: int
    height: int
    #: 1 % of the short side, times the font scale: the unit every size is a multiple of.
    unit: float
    regions: dict[str, Rect] = field(default_factory=dict)
    camera: Rect | None = None
    toggle: Rect | None = None
    footer: tuple[Rect, ...] = ()
    main: tuple[Rect, ...] = ()
    close: Rect | None = None


def row(area: Rect, count: int, gap: int, max_w: int) -> list[Rect]:
    """``count`` equal rectangles side by side, centred in ``area``, each at most ``max_w`` wide."""
    if count == 0:
        return []
    w = min(max_w, (area.w - gap * (count - 1)) // count)
    total = w * count + gap * (count - 1)
    x0 = area.x + (area.w - total) // 2
    return [Rect(x0 + i * (w + gap), area.y, w, area.h) for i in range(count)]


def screen_regions(shape: ScreenShape, width: int, height: int, font_scale: float = 1.0) -> Regions:
    """Lay a screen of ``shape`` out on ``width`` x ``height`` pixels."""
    short = min(width, height)
    u = short / 100.0
    pad = round(3 * u)
    target = round(11 * u * max(1.0, min(font_scale, 1.6)))  # touch targets grow with the font
    regions: dict[str, Rect] = {}
    top, footer, camera, toggle, footer_rects = _bars(shape, width, height, u, regions)

    content = Rect(pad, top.h + pad, width - 2 * pad, footer.y - top.h - 2 * pad - round(5 * u))
    regions["content"] = content
    regions["progress"] = Rect(0, footer.y - round(1.2 * u), width, max(2, round(1.2 * u)))

    main_h = _main_height(shape, target, pad)
    close = _notice(content, u, regions) if shape.notice else None

    if shape.image or shape.code:
        if width >= height:
            side = Rect(content.x, content.y, round(content.w * 0.42), content.h)
            text = Rect(side.x + side.w + pad, content.y, content.w - side.w - pad, content.h - main_h)
        else:
            side = Rect(content.x, content.y, content.w, round(content.h * 0.38))
            text = Rect(content.x, side.y + side.h + pad, content.w, content.h - side.h - pad - main_h)
        if shape.code:
            regions.update(_code_regions(side, shape.qr, pad))
        else:
            regions["image"] = side
    else:
        text = Rect(content.x, content.y, content.w, content.h - main_h)
    regions["text"] = text
    main_area = Rect(text.x, text.y + text.h, text.w, main_h)
    regions["main"] = main_area
    main = _main_buttons(shape, main_area, target, pad, u)
    return Regions(width, height, u * font_scale, regions, camera, toggle, footer_rects, tuple(main), close)


def _bars(
    shape: ScreenShape, width: int, height: int, u: float, regions: dict[str, Rect]
) -> tuple[Rect, Rect, Rect | None, Rect | None, tuple[Rect, ...]]:
    """The top bar (camera indicator, language toggle) and the footer (consent, call a consultant)."""
    pad = round(3 * u)
    target = round(11 * u)
    top = Rect(0, 0, width, round(10 * u))
    regions["top"] = top
    camera = toggle = None
    if shape.camera:
        camera = Rect(pad, round(1.5 * u), round(min(width * 0.4, 40 * u)), round(7 * u))
        regions["notice_line"] = Rect(
            camera.x + camera.w + pad, camera.y, width - camera.w - 3 * pad - round(24 * u), camera.h
        )
    if shape.toggle:
        w = round(22 * u)
        toggle = Rect(width - w - pad, round(1.5 * u), w, round(7 * u))
    footer_h = target + 2 * pad if shape.footer else pad
    footer = Rect(0, height - footer_h, width, footer_h)
    regions["footer"] = footer
    rects: list[Rect | None] = [None] * len(shape.footer)
    if shape.footer:
        # Call a consultant on the right; consent controls from the left.
        bw = round(min((width - 4 * pad) / max(1, len(shape.footer)), 40 * u))
        x = width - pad
        for index, is_staff in enumerate(shape.footer):
            if is_staff:
                x -= bw
                rects[index] = Rect(x, footer.y + pad, bw, target)
                x -= pad
        x = pad
        for index, is_staff in enumerate(shape.footer):
            if not is_staff:
                rects[index] = Rect(x, footer.y + pad, bw, target)
                x += bw + pad
        regions["status"] = Rect(pad, footer.y - round(6 * u), width - 2 * pad, round(5 * u))
    return top, footer, camera, toggle, tuple(r for r in rects if r is not None)


def _notice(content: Rect, u: float, regions: dict[str, Rect]) -> Rect:
    pad, target = round(3 * u), round(11 * u)
    panel = content.inset(round(2 * u))
    regions["notice"] = panel
    close = Rect(
        panel.x + (panel.w - round(30 * u)) // 2, panel.y + panel.h - target - pad, round(30 * u), target
    )
    regions["notice_text"] = Rect(
        panel.x + pad, panel.y + pad, panel.w - 2 * pad, close.y - panel.y - 2 * pad
    )
    return close


def _main_height(shape: ScreenShape, target: int, pad: int) -> int:
    if not shape.main:
        return 0
    if shape.main_kind == "csat":
        return round(target * 1.9) + pad
    if shape.main_kind == "nps":
        return 2 * target + 3 * pad
    return target + pad


def _main_buttons(shape: ScreenShape, area: Rect, target: int, pad: int, u: float) -> list[Rect]:
    if not shape.main:
        return []
    if shape.main_kind == "csat":
        size = round(target * 1.5)
        return row(Rect(area.x, area.y, area.w, size), shape.main, pad, size)
    if shape.main_kind == "nps":
        first = min(shape.main, 6)
        out: list[Rect] = []
        for index, count in enumerate((first, shape.main - first)):
            y = area.y + index * (target + pad)
            out.extend(row(Rect(area.x, y, area.w, target), count, pad // 2, round(12 * u)))
        return out
    return row(Rect(area.x, area.y, area.w, target), shape.main, pad, round(40 * u))


def _code_regions(side: Rect, qr: bool, pad: int) -> dict[str, Rect]:
    """The code's box and the QR square share the picture's place."""
    if not qr:
        return {"code": side}
    if side.w >= 1.6 * side.h:  # a wide place (portrait screens): side by side
        q = min(side.h, side.w // 2)
        return {
            "code": Rect(side.x, side.y, side.w - q - pad, side.h),
            "qr": Rect(side.x + side.w - q, side.y + (side.h - q) // 2, q, q),
        }
    code_h = round(side.h * 0.3)
    q = min(side.w, side.h - code_h - pad)
    return {
        "code": Rect(side.x, side.y, side.w, code_h),
        "qr": Rect(side.x + (side.w - q) // 2, side.y + code_h + pad, q, q),
    }
