"""Turns a :class:`~kiosk.views.screen.ScreenView` into pixels, inside the rectangles of its
:class:`~kiosk.views.layout.Layout`. Stateless apart from caches of pictures and fonts."""

from __future__ import annotations

import functools
import logging
import math
from pathlib import Path

import pygame

from kiosk.ui.fonts import font
from kiosk.views.layout import Layout, Rect
from kiosk.views.screen import Button, ScreenView
from offer_layout import text as text_layout
from offer_layout.theme import HIGH_CONTRAST, Colour, Theme

__all__ = ["HIGH_CONTRAST", "MEASURE", "Colour", "Renderer", "Theme", "draw_qr", "fit", "release_caches"]

log = logging.getLogger(__name__)

FACE_COLOURS: tuple[Colour, ...] = (
    (229, 57, 53),
    (251, 140, 0),
    (253, 216, 53),
    (124, 179, 66),
    (67, 160, 71),
)


class PygameMeasure:
    """:class:`offer_layout.text.Measure` with pygame's fonts (the shipped DejaVu Sans)."""

    def width(self, text: str, size: int, bold: bool) -> int:
        """How wide ``text`` is drawn."""
        return int(font(size, bold).size(text)[0])

    def line_height(self, size: int, bold: bool) -> int:
        """The font's line skip."""
        return int(font(size, bold).get_linesize())


MEASURE = PygameMeasure()


def fit(
    text: str, box: Rect, size: int, bold: bool = False, min_size: int = text_layout.MIN_SIZE
) -> tuple[pygame.font.Font, list[str]]:
    """The largest font up to ``size`` whose wrapped text fits ``box``, and its lines
    (:func:`offer_layout.text.fit`, the rule the back office's preview follows too)."""
    fitted, lines = text_layout.fit(text, box, size, MEASURE, bold=bold, min_size=min_size)
    return font(fitted, bold), lines


class Renderer:
    """Draws views. One per display; keeps scaled pictures cached."""

    def __init__(self, theme: Theme | None = None, font_scale: float = 1.0) -> None:
        self.theme = theme or Theme()
        self.font_scale = font_scale

    def draw(self, surface: pygame.Surface, view: ScreenView, layout: Layout) -> None:
        """Draw ``view`` onto ``surface`` (the whole screen)."""
        th = self.theme
        surface.fill(th.background)
        u = layout.unit
        regions = layout.regions
        text_box = regions["text"]
        if view.notice_line and "notice_line" in regions:
            self._text_line(surface, view.notice_line, regions["notice_line"], round(2.6 * u), th.muted)
        self._content(surface, view, layout, text_box)
        if "image" in regions and view.image is not None:
            self._image(surface, view.image, regions["image"], view.fade)
        if view.code is not None:
            self._code(surface, view, layout)
        if view.progress is not None:
            bar = regions["progress"]
            pygame.draw.rect(surface, th.panel, bar)
            pygame.draw.rect(surface, th.accent, Rect(bar.x, bar.y, round(bar.w * view.progress), bar.h))
        if view.status and "status" in regions:
            self._text_line(surface, view.status, regions["status"], round(3 * u), th.live)
        for button, rect in reversed(layout.buttons):
            if view.notice is not None and button is view.notice.close:
                continue
            self._button(surface, button, rect, layout)
        if view.pressed is not None and view.notice is None:
            self._pressed(surface, view, layout)
        if view.notice is not None:
            self._notice(surface, view, layout)

    # ---- parts --------------------------------------------------------------------------------------

    def _content(self, surface: pygame.Surface, view: ScreenView, layout: Layout, box: Rect) -> None:
        th, u = self.theme, layout.unit
        alpha = round(255 * view.fade)
        colours: dict[text_layout.Role, Colour] = {
            "title": th.accent,
            "subtitle": th.foreground,
            "meta": th.muted,
        }
        centred = view.image is None and view.code is None
        texts = (view.title, view.subtitle, view.meta)
        for line in text_layout.content_lines(texts, box, u, MEASURE, centred=centred):
            image = font(line.size, line.bold).render(line.text, True, colours[line.role])
            image.set_alpha(alpha)
            surface.blit(image, (line.x, line.y))
        if view.screen == "feedback_nps" and view.scale_labels[0]:
            main = layout.regions["main"]
            fnt = font(max(9, round(2.8 * u)))
            low, high = (fnt.render(t, True, th.muted) for t in view.scale_labels)
            surface.blit(low, (main.x, main.y - low.get_height()))
            surface.blit(high, (main.x + main.w - high.get_width(), main.y - high.get_height()))

    def _text_line(self, surface: pygame.Surface, text: str, box: Rect, size: int, colour: Colour) -> None:
        fnt, lines = fit(text, box, size)
        y = box.y + max(0, (box.h - len(lines) * fnt.get_linesize()) // 2)
        for line in lines:
            surface.blit(fnt.render(line, True, colour), (box.x, y))
            y += fnt.get_linesize()

    def _image(self, surface: pygame.Surface, path: str, box: Rect, fade: float) -> None:
        picture = _scaled(path, box.w, box.h)
        if picture is None:
            pygame.draw.rect(surface, self.theme.panel, box, border_radius=max(2, box.w // 30))
            return
        picture.set_alpha(round(255 * fade))
        surface.blit(picture, picture.get_rect(center=box.centre))

    def _button(self, surface: pygame.Surface, button: Button, rect: Rect, layout: Layout) -> None:
        th, u = self.theme, layout.unit
        radius = max(3, round(1.6 * u))
        if button.style == "face":
            self._face(surface, button, rect, layout)
            return
        if button.style == "indicator":
            dot = rect.h // 4
            pygame.draw.rect(surface, th.panel, rect, border_radius=radius)
            pygame.draw.circle(surface, th.live, (rect.x + dot + round(u), rect.y + rect.h // 2), dot // 1)
            inner = Rect(rect.x + 2 * dot + round(2 * u), rect.y, rect.w - 2 * dot - round(3 * u), rect.h)
            icon = max(6, rect.h // 2)
            text = Rect(inner.x, inner.y, inner.w - icon - round(u), inner.h)
            self._label(surface, button.label, text, round(2.8 * u), th.foreground, centred=False)
            centre = (rect.x + rect.w - icon // 2 - round(u), rect.y + rect.h // 2)
            pygame.draw.circle(surface, th.foreground, centre, icon // 2, max(1, icon // 10))
            glyph = font(max(6, round(icon * 0.7)), bold=True).render("i", True, th.foreground)
            surface.blit(glyph, glyph.get_rect(center=centre))
            return
        primary = button.style in ("primary", "score")
        fill = th.accent if button.style == "primary" else th.panel
        pygame.draw.rect(surface, fill, rect, border_radius=radius)
        if not primary or button.style == "score":
            pygame.draw.rect(
                surface, th.foreground if button.style != "score" else th.accent, rect, 2, radius
            )
        colour = th.on_accent if button.style == "primary" else th.foreground
        size = round(3.6 * u) if button.style != "score" else round(4.4 * u)
        self._label(surface, button.label, rect.inset(round(u)), size, colour, bold=primary)

    def _pressed(self, surface: pygame.Surface, view: ScreenView, layout: Layout) -> None:
        """The touch's instant answer: a ring round the touched button, or round the screen for a tap
        anywhere."""
        ring = max(3, round(0.8 * layout.unit))
        radius = max(3, round(1.6 * layout.unit))
        for button, rect in layout.buttons:
            if button.action.key == view.pressed:
                outer = Rect(rect.x - ring, rect.y - ring, rect.w + 2 * ring, rect.h + 2 * ring)
                pygame.draw.rect(surface, self.theme.live, outer, ring, radius + ring)
                return
        pygame.draw.rect(surface, self.theme.live, surface.get_rect(), ring)

    def _label(
        self,
        surface: pygame.Surface,
        text: str,
        box: Rect,
        size: int,
        colour: Colour,
        *,
        bold: bool = False,
        centred: bool = True,
    ) -> None:
        fnt, lines = fit(text, box, size, bold)
        line_h = fnt.get_linesize()
        y = box.y + max(0, (box.h - len(lines) * line_h) // 2)
        for line in lines:
            image = fnt.render(line, True, colour)
            x = box.x + (box.w - image.get_width()) // 2 if centred else box.x
            surface.blit(image, (x, y))
            y += line_h

    def _face(self, surface: pygame.Surface, button: Button, rect: Rect, layout: Layout) -> None:
        """A face from frowning (1) to beaming (5), its label under it."""
        score = button.action.score or 3
        label_h = round(rect.h * 0.24)
        r = min(rect.w, rect.h - label_h) // 2 - 2
        cx, cy = rect.x + rect.w // 2, rect.y + r + 2
        pygame.draw.circle(surface, FACE_COLOURS[score - 1], (cx, cy), r)
        eye = max(2, r // 8)
        for dx in (-r // 3, r // 3):
            pygame.draw.circle(surface, (20, 20, 20), (cx + dx, cy - r // 4), eye)
        width = max(2, r // 10)
        curve = (score - 3) / 2  # -1 frown .. +1 smile
        mouth_w = r
        y0 = cy + r // 3
        points = []
        for i in range(17):
            x = -mouth_w / 2 + mouth_w * i / 16
            bend = 1 - (2 * x / mouth_w) ** 2
            points.append((cx + x, y0 + curve * bend * r * 0.3))
        pygame.draw.lines(surface, (20, 20, 20), False, points, width)
        box = Rect(
            rect.x - round(layout.unit), rect.y + rect.h - label_h, rect.w + 2 * round(layout.unit), label_h
        )
        self._label(surface, button.label, box, round(2.8 * layout.unit), self.theme.foreground)

    def _code(self, surface: pygame.Surface, view: ScreenView, layout: Layout) -> None:
        th, u = self.theme, layout.unit
        box = layout.regions["code"]
        pygame.draw.rect(surface, th.panel, box, border_radius=max(3, round(1.6 * u)))
        inner = box.inset(round(1.5 * u))
        hint_h = inner.h // 3
        self._label(
            surface,
            view.code or "",
            Rect(inner.x, inner.y, inner.w, inner.h - hint_h),
            round(8 * u),
            th.accent,
            bold=True,
        )
        self._label(
            surface,
            view.code_hint,
            Rect(inner.x, inner.y + inner.h - hint_h, inner.w, hint_h),
            round(3 * u),
            th.foreground,
        )
        if view.qr is not None and "qr" in layout.regions:
            draw_qr(surface, view.qr, layout.regions["qr"])

    def _notice(self, surface: pygame.Surface, view: ScreenView, layout: Layout) -> None:
        assert view.notice is not None
        th, u = self.theme, layout.unit
        shade = pygame.Surface(surface.get_size(), pygame.SRCALPHA)
        shade.fill((0, 0, 0, 200))
        surface.blit(shade, (0, 0))
        panel = layout.regions["notice"]
        pygame.draw.rect(surface, th.panel, panel, border_radius=max(3, round(2 * u)))
        pygame.draw.rect(surface, th.accent, panel, 2, max(3, round(2 * u)))
        text = layout.regions["notice_text"]
        title_h = round(text.h * 0.2)
        self._label(
            surface,
            view.notice.title,
            Rect(text.x, text.y, text.w, title_h),
            round(5 * u),
            th.accent,
            bold=True,
        )
        body = Rect(text.x, text.y + title_h, text.w, text.h - title_h)
        fnt, lines = fit(view.notice.body, body, round(3.4 * u))
        y = body.y
        for line in lines:
            surface.blit(fnt.render(line, True, th.foreground), (body.x, y))
            y += fnt.get_linesize()
        self._button(surface, view.notice.close, layout.rect_of("close"), layout)


def release_caches() -> None:
    """Forget cached fonts and pictures. Call before ``pygame.quit()``: a font kept past it crashes SDL
    when pygame starts again in the same process."""
    font.cache_clear()
    _scaled.cache_clear()


def draw_qr(surface: pygame.Surface, rows: tuple[str, ...], box: Rect) -> None:
    """A QR code, dark on white with its quiet zone, as large as fits ``box``."""
    modules = len(rows) + 8  # four modules of quiet zone each side
    cell = max(1, box.w // modules)
    side = cell * modules
    x0, y0 = box.x + (box.w - side) // 2, box.y + (box.h - side) // 2
    pygame.draw.rect(surface, (255, 255, 255), (x0, y0, side, side))
    for r, row in enumerate(rows):
        for c, bit in enumerate(row):
            if bit == "1":
                surface.fill((0, 0, 0), (x0 + (c + 4) * cell, y0 + (r + 4) * cell, cell, cell))


@functools.lru_cache(maxsize=64)
def _scaled(path: str, width: int, height: int) -> pygame.Surface | None:
    """The picture at ``path`` scaled to fit ``width`` x ``height``, aspect kept; None if unreadable."""
    try:
        picture = pygame.image.load(str(Path(path)))
    except (pygame.error, FileNotFoundError) as exc:
        log.warning("picture %s cannot be shown: %s", path, exc)
        return None
    pw, ph = picture.get_size()
    scale = min(width / pw, height / ph)
    size = (max(1, math.floor(pw * scale)), max(1, math.floor(ph * scale)))
    return pygame.transform.smoothscale(
        picture.convert_alpha() if pygame.display.get_surface() else picture, size
    )
