"""Draws the conversation view's own parts (the buttons and keys are drawn by the renderer like every
button): the header, the privacy line, the transcript's bubbles (newest at the bottom, as many as fit)
and the draft being typed."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pygame

from kiosk.ui.fonts import font
from kiosk.ui.renderer import MEASURE, fit
from kiosk.views.layout import Layout, Rect
from kiosk.views.screen import ChatBubble, ScreenView
from offer_layout.text import wrap

if TYPE_CHECKING:
    from kiosk.ui.renderer import Colour, Theme

#: A bubble's widest share of the transcript.
BUBBLE_SHARE = 0.74


def draw_chat(surface: pygame.Surface, view: ScreenView, layout: Layout, theme: Theme) -> None:
    """The header, privacy line, transcript and draft of ``view.chat``."""
    _Painter(surface, layout, theme).draw(view)


class _Painter:
    def __init__(self, surface: pygame.Surface, layout: Layout, theme: Theme) -> None:
        self.surface = surface
        self.u = layout.unit
        self.regions = layout.regions
        self.theme = theme
        self.text_size = max(9, round(3.1 * self.u))
        self.text_font = font(self.text_size)
        self.label_font = font(max(8, round(2.3 * self.u)), bold=True)
        self.pad = max(3, round(1.2 * self.u))

    def draw(self, view: ScreenView) -> None:
        chat = view.chat
        assert chat is not None
        th, u, status = self.theme, self.u, self.regions["chat_status"]
        title_h = status.h // 2
        self.line(
            view.title, Rect(status.x, status.y, status.w, title_h), round(4.2 * u), th.accent, bold=True
        )
        self.line(
            chat.status,
            Rect(status.x, status.y + title_h, status.w, status.h - title_h),
            round(3 * u),
            th.live,
        )
        self.line(chat.privacy, self.regions["chat_privacy"], round(2.6 * u), th.muted)
        self.transcript(chat.bubbles, self.regions["chat_transcript"])
        self.draft(chat.draft, chat.placeholder, self.regions["chat_draft"])

    def line(self, text: str, box: Rect, size: int, colour: Colour, *, bold: bool = False) -> None:
        fnt, lines = fit(text, box, size, bold)
        y = box.y + max(0, (box.h - len(lines) * fnt.get_linesize()) // 2)
        for line in lines:
            self.surface.blit(fnt.render(line, True, colour), (box.x, y))
            y += fnt.get_linesize()

    def transcript(self, bubbles: tuple[ChatBubble, ...], box: Rect) -> None:
        """The newest bubbles that fit, bottom up; older ones are cut at the top."""
        previous = self.surface.get_clip()
        self.surface.set_clip(pygame.Rect(box))
        gap = max(3, round(1.4 * self.u))
        y = box.y + box.h
        for bubble in reversed(bubbles):
            if y <= box.y:
                break
            y -= self.height(bubble, box)
            self.bubble(bubble, box, y)
            y -= gap
        self.surface.set_clip(previous)

    def lines(self, bubble: ChatBubble, box: Rect) -> list[str]:
        width = box.w if bubble.who == "system" else round(box.w * BUBBLE_SHARE)
        return wrap(bubble.text, MEASURE, self.text_size, False, width - 2 * self.pad)

    def height(self, bubble: ChatBubble, box: Rect) -> int:
        label = self.label_font.get_linesize() if bubble.label else 0
        return len(self.lines(bubble, box)) * self.text_font.get_linesize() + label + 2 * self.pad

    def bubble(self, bubble: ChatBubble, box: Rect, y: int) -> None:
        th, pad, text_font = self.theme, self.pad, self.text_font
        lines = self.lines(bubble, box)
        step = text_font.get_linesize()
        if bubble.who == "system":
            for index, line in enumerate(lines):
                image = text_font.render(line, True, th.muted)
                self.surface.blit(image, (box.x + (box.w - image.get_width()) // 2, y + pad + index * step))
            return
        used = max((text_font.size(line)[0] for line in lines), default=0)
        if bubble.label:
            used = max(used, self.label_font.size(bubble.label)[0])
        w = min(round(box.w * BUBBLE_SHARE), used + 2 * pad)
        h = self.height(bubble, box)
        x = box.x + box.w - w if bubble.who == "shopper" else box.x
        fill = {"shopper": (52, 64, 96), "bot": th.panel, "operator": (24, 60, 44)}[bubble.who]
        radius = max(3, pad)
        pygame.draw.rect(self.surface, fill, (x, y, w, h), border_radius=radius)
        if bubble.who == "operator":
            pygame.draw.rect(self.surface, th.live, (x, y, w, h), 2, radius)
        ty = y + pad
        if bubble.label:
            colour = th.live if bubble.who == "operator" else th.accent
            self.surface.blit(self.label_font.render(bubble.label, True, colour), (x + pad, ty))
            ty += self.label_font.get_linesize()
        for line in lines:
            self.surface.blit(text_font.render(line, True, th.foreground), (x + pad, ty))
            ty += step

    def draft(self, draft: str, placeholder: str, box: Rect) -> None:
        """The draft in its box, its end in view (the caret after it); the placeholder while empty."""
        th, u = self.theme, self.u
        radius = max(3, round(1.4 * u))
        pygame.draw.rect(self.surface, th.panel, box, border_radius=radius)
        pygame.draw.rect(self.surface, th.foreground, box, 2, radius)
        fnt = font(max(9, round(3.4 * u)))
        inner = box.inset(round(1.5 * u))
        caret = "▏" if draft else ""
        shown, colour = (draft, th.foreground) if draft else (placeholder, th.muted)
        while shown and fnt.size(shown + caret)[0] > inner.w:
            shown = shown[1:]  # keep the end of a long draft in view
        image = fnt.render(shown + caret, True, colour)
        self.surface.blit(image, (inner.x, inner.y + (inner.h - image.get_height()) // 2))
