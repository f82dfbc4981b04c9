"""Where everything goes on a screen of a given size, as plain rectangles: the renderer draws into them
and the input mapping hit-tests them, so a touch always means what is drawn under it.

Landscape puts the picture left of the text; portrait puts it above. Sizes follow the short side, so
1920x1080, 1280x720 and their portrait turns all look alike; touch targets are at least 9 % of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from kiosk.views.screen import Button, ScreenView, UiAction


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


@dataclass(frozen=True)
class Layout:
    """Regions by name (``image``, ``text``, ``code``, ``progress``...) and every button's rectangle."""

    width: int
    height: int
    unit: float  # 1 % of the short side, times the font scale
    regions: dict[str, Rect] = field(default_factory=dict)
    buttons: tuple[tuple[Button, Rect], ...] = ()

    @property
    def portrait(self) -> bool:
        """Taller than wide."""
        return self.height > self.width

    def hit(self, x: float, y: float, view: ScreenView) -> UiAction | None:
        """The action under a touch at (x, y): a button, else the screen's tap-anywhere action."""
        for button, rect in self.buttons:
            if rect.contains(x, y):
                return button.action
        if view.notice is not None:
            return None
        return view.tap_anywhere

    def rect_of(self, key: str) -> Rect:
        """The rectangle of the button whose action key is ``key`` (tests tap through it)."""
        for button, rect in self.buttons:
            if button.action.key == key:
                return rect
        raise KeyError(f"no button {key!r} on screen")


#: Screens whose buttons are the five CSAT faces.
_FACES = frozenset(("feedback_csat", "chat_rating"))


def _row(area: Rect, count: int, gap: int, max_w: int) -> list[Rect]:
    if count == 0:
        return []
    w = min(max_w, (area.w - gap * (count - 1)) // count)
    total = w * count + gap * (count - 1)
    x0 = area.x + (area.w - total) // 2
    return [Rect(x0 + i * (w + gap), area.y, w, area.h) for i in range(count)]


def compute_layout(view: ScreenView, width: int, height: int, font_scale: float = 1.0) -> Layout:
    """Lay ``view`` out on a ``width`` x ``height`` screen (the conversation view: :mod:`.chat_layout`)."""
    if view.chat is not None:
        from kiosk.views.chat_layout import chat_layout

        return chat_layout(view, width, height, font_scale)
    short = min(width, height)
    u = short / 100.0
    pad = round(3 * u)
    target = round(11 * u * max(1.0, min(font_scale, 1.6)))  # touch targets grow with the font
    regions: dict[str, Rect] = {}
    buttons: list[tuple[Button, Rect]] = []
    top, footer = _bars(view, width, height, u=u, regions=regions, buttons=buttons)

    content = Rect(pad, top.h + pad, width - 2 * pad, footer.y - top.h - 2 * pad - round(5 * u))
    regions["content"] = content
    regions["progress"] = Rect(0, footer.y - round(1.2 * u), width, max(2, round(1.2 * u)))

    main_h = _main_height(view, target, pad)
    if view.notice is not None:
        _notice(view, content, u, regions, buttons)

    has_visual = view.image is not None or view.code is not None
    if has_visual:
        if width >= height:
            side = Rect(content.x, content.y, round(content.w * 0.42), content.h)
            text = Rect(side.x + side.w + pad, content.y, content.w - side.w - pad, content.h - main_h)
        else:
            side = Rect(content.x, content.y, content.w, round(content.h * 0.38))
            text = Rect(content.x, side.y + side.h + pad, content.w, content.h - side.h - pad - main_h)
        if view.code is not None:
            regions.update(_code_regions(side, view, pad))
        else:
            regions["image"] = side
    else:
        text = Rect(content.x, content.y, content.w, content.h - main_h)
    regions["text"] = text
    main_area = Rect(text.x, text.y + text.h, text.w, main_h)
    regions["main"] = main_area
    buttons.extend(_main_buttons(view, main_area, target, pad, u))
    return Layout(width, height, u * font_scale, regions, tuple(buttons))


def _bars(
    view: ScreenView,
    width: int,
    height: int,
    *,
    u: float,
    regions: dict[str, Rect],
    buttons: list[tuple[Button, Rect]],
) -> tuple[Rect, Rect]:
    """The top bar (camera indicator, language toggle) and the footer (consent, call a consultant)."""
    pad = round(3 * u)
    target = round(11 * u)
    top = Rect(0, 0, width, round(10 * u))
    regions["top"] = top
    if view.camera is not None:
        cam = Rect(pad, round(1.5 * u), round(min(width * 0.4, 40 * u)), round(7 * u))
        buttons.append((view.camera, cam))
        regions["notice_line"] = Rect(
            cam.x + cam.w + pad, cam.y, width - cam.w - 3 * pad - round(24 * u), cam.h
        )
    if view.toggle is not None:
        w = round(22 * u)
        buttons.append((view.toggle, Rect(width - w - pad, round(1.5 * u), w, round(7 * u))))
    footer_h = target + 2 * pad if view.footer else pad
    footer = Rect(0, height - footer_h, width, footer_h)
    regions["footer"] = footer
    if view.footer:
        # Call a consultant on the right; consent controls from the left.
        staff = [b for b in view.footer if b.action.name == "call_staff"]
        others = [b for b in view.footer if b.action.name != "call_staff"]
        bw = round(min((width - 4 * pad) / max(1, len(view.footer)), 40 * u))
        x = width - pad
        for b in staff:
            x -= bw
            buttons.append((b, Rect(x, footer.y + pad, bw, target)))
            x -= pad
        x = pad
        for b in others:
            buttons.append((b, Rect(x, footer.y + pad, bw, target)))
            x += bw + pad
        regions["status"] = Rect(pad, footer.y - round(6 * u), width - 2 * pad, round(5 * u))
    return top, footer


def _notice(
    view: ScreenView, content: Rect, u: float, regions: dict[str, Rect], buttons: list[tuple[Button, Rect]]
) -> None:
    assert view.notice is not None
    pad, target = round(3 * u), round(11 * u)
    panel = content.inset(round(2 * u))
    regions["notice"] = panel
    close = Rect(
        panel.x + (panel.w - round(30 * u)) // 2, panel.y + panel.h - target - pad, round(30 * u), target
    )
    buttons.insert(0, (view.notice.close, close))
    regions["notice_text"] = Rect(
        panel.x + pad, panel.y + pad, panel.w - 2 * pad, close.y - panel.y - 2 * pad
    )


def _main_height(view: ScreenView, target: int, pad: int) -> int:
    if not view.main:
        return 0
    if view.screen in _FACES:
        return round(target * 1.9) + pad
    if view.screen == "feedback_nps":
        return 2 * target + 3 * pad
    return target + pad


def _main_buttons(view: ScreenView, area: Rect, target: int, pad: int, u: float) -> list[tuple[Button, Rect]]:
    if not view.main:
        return []
    if view.screen in _FACES:
        size = round(target * 1.5)
        row = _row(Rect(area.x, area.y, area.w, size), len(view.main), pad, size)
        return list(zip(view.main, row, strict=True))
    if view.screen == "feedback_nps":
        first, second = view.main[:6], view.main[6:]
        out: list[tuple[Button, Rect]] = []
        for index, chunk in enumerate((first, second)):
            y = area.y + index * (target + pad)
            row = _row(Rect(area.x, y, area.w, target), len(chunk), pad // 2, round(12 * u))
            out.extend(zip(chunk, row, strict=True))
        return out
    row = _row(Rect(area.x, area.y, area.w, target), len(view.main), pad, round(40 * u))
    return list(zip(view.main, row, strict=True))


def _code_regions(side: Rect, view: ScreenView, pad: int) -> dict[str, Rect]:
    """The code's box and the QR square share the picture's place."""
    if view.qr is None:
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
