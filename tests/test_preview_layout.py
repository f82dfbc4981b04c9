"""The back office's preview (Pillow, no pygame) draws an offer where the kiosk (pygame, SDL's dummy driver)
draws it: one offer rendered both ways, in Russian and English, landscape and portrait, and the boxes of the
title, the body and the validity line found in the pixels of each picture (by their colours) agree within a
few pixels. Also: both sides place their regions with the same shared geometry, the preview's vertical font
metrics are SDL_ttf's, and the words the preview adds are the kiosk's."""

from __future__ import annotations

import io
import random
import tomllib
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pygame
import pytest
from PIL import Image
from ui_support import state

from backoffice.campaigns.preview import KIOSK_WORDS, OFFER_SHAPE, PillowMeasure, offer_texts, render_offer
from kiosk.config import EngagementConfig, PrivacyConfig, UiConfig
from kiosk.ui.renderer import MEASURE as PYGAME_MEASURE
from kiosk.ui.renderer import Renderer, release_caches
from kiosk.views.kiosk_ui import KioskUi, format_date
from kiosk.views.layout import compute_layout, shape_of
from mqtt_bridge.contract.catalogue import Catalogue, Offer
from offer_layout import font_file
from offer_layout.geometry import screen_regions
from offer_layout.metrics import ascent, line_skip
from offer_layout.text import content_lines
from offer_layout.theme import Theme

#: How far apart (pixels) the two renderers may put a text box's edge.
TOLERANCE_PX = 4
SIZES = {"landscape": (1280, 720), "portrait": (720, 1280)}

OFFER = Offer.model_validate(
    {
        "id": "autumn-latte",
        "title": {"ru": "Тыквенный латте", "en": "Pumpkin spice latte"},
        "body": {
            "ru": "Второй стакан за полцены до конца недели, в любом кафе сети",
            "en": "Second cup half price until Sunday, in every café of the chain",
        },
        "image": "images/latte.png",
        "price": "199 ₽",
        "valid_from": "2026-06-01",
        "valid_to": "2026-12-31",
    }
)


@pytest.fixture(scope="module")
def display() -> Iterator[None]:
    pygame.display.init()
    pygame.font.init()
    pygame.display.set_mode((8, 8))
    yield
    release_caches()
    pygame.quit()


@pytest.fixture(scope="module")
def picture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("catalogue")
    (folder / "images").mkdir()
    image = Image.new("RGB", (600, 400), (90, 40, 20))
    image.paste((200, 120, 60), (100, 100, 500, 300))
    path = folder / "images" / "latte.png"
    image.save(path)
    return path


def kiosk_render(language: str, size: tuple[int, int], picture: Path) -> tuple[np.ndarray, dict[str, object]]:
    """The kiosk's offer screen: KioskUi on a one-offer catalogue, rendered by the kiosk's Renderer."""
    ui = KioskUi(
        privacy=PrivacyConfig(mode="notice"),
        engagement=EngagementConfig(),
        rng=random.Random(3),
        catalogue=Catalogue(offers=(OFFER,)),
        image_base=picture.parent.parent,
        zone="entrance",
        language=language,  # type: ignore[arg-type]
        settings=UiConfig(),
        local_time=lambda: datetime(2026, 6, 1, 12, 0),
    )
    ui.observe(state("welcome"), 99.0)
    ui.observe(state("offer", OFFER.id), 100.0)
    view = ui.view(101.0)
    assert view.screen == "offer" and view.title == OFFER.title.model_dump()[language]
    layout = compute_layout(view, *size)
    surface = pygame.Surface(size)
    Renderer().draw(surface, view, layout)
    pixels = pygame.surfarray.array3d(surface).transpose(1, 0, 2).copy()
    return pixels, {"layout": layout, "view": view}


def text_box(
    pixels: np.ndarray, region: tuple[int, int, int, int], colour: tuple[int, int, int]
) -> tuple[int, ...]:
    """The bounding box (x0, y0, x1, y1) of the pixels of ``colour`` (anti-aliasing's darker edges left out)
    inside ``region`` (x, y, w, h)."""
    x, y, w, h = region
    crop = pixels[y : y + h, x : x + w].astype(np.int16)
    near = np.abs(crop - np.array(colour, dtype=np.int16)).max(axis=2) <= 16
    ys, xs = np.nonzero(near)
    assert xs.size > 50, f"no text of colour {colour} found in {region}"
    return (x + int(xs.min()), y + int(ys.min()), x + int(xs.max()), y + int(ys.max()))


@pytest.mark.parametrize("orientation", sorted(SIZES))
@pytest.mark.parametrize("language", ["ru", "en"])
def test_preview_puts_every_text_box_where_the_kiosk_does(
    display: None, picture: Path, language: str, orientation: str, tmp_path: Path
) -> None:
    size = SIZES[orientation]
    kiosk_pixels, kiosk = kiosk_render(language, size, picture)
    preview = render_offer(OFFER, picture.read_bytes(), language, width=size[0], height=size[1])  # type: ignore[arg-type]
    server_pixels = np.asarray(Image.open(io.BytesIO(preview.png)).convert("RGB"))
    assert server_pixels.shape == kiosk_pixels.shape

    # The same regions: both place the screen with offer_layout.geometry.
    layout = kiosk["layout"]
    assert layout.regions["text"] == preview.regions.regions["text"]  # type: ignore[attr-defined]
    assert layout.regions["image"] == preview.regions.regions["image"]  # type: ignore[attr-defined]

    theme = Theme()
    text = preview.regions.regions["text"]
    boxes = {}
    # Title (accent), body (foreground), validity line (muted): each found by its colour in both pictures.
    # Each colour is searched only in its part's rows (from its first line to the next part's), so the
    # anti-aliased edges of the body's letters are not taken for the validity line's.
    tops = {
        role: min(li.y for li in preview.lines if li.role == role) for role in ("title", "subtitle", "meta")
    }
    bottom = text.y + text.h
    search = {
        "title": (text.x, text.y, text.w, tops["subtitle"] - text.y),
        "subtitle": (text.x, tops["subtitle"], text.w, tops["meta"] - tops["subtitle"]),
        "meta": (text.x, tops["meta"], text.w, bottom - tops["meta"]),
    }
    colours = {"title": theme.accent, "subtitle": theme.foreground, "meta": theme.muted}
    for role, colour in colours.items():
        kiosk_box = text_box(kiosk_pixels, search[role], colour)
        server_box = text_box(server_pixels, search[role], colour)
        boxes[role] = (kiosk_box, server_box)
        worst = max(abs(a - b) for a, b in zip(kiosk_box, server_box, strict=True))
        assert worst <= TOLERANCE_PX, f"{role}: kiosk {kiosk_box}, preview {server_box}"

    # The lines themselves: same words on the same lines, same sizes, same rows.
    texts = offer_texts(OFFER, language)  # type: ignore[arg-type]
    kiosk_lines = content_lines(texts, text, layout.unit, PYGAME_MEASURE, centred=False)
    assert [(li.role, li.text, li.size, li.y) for li in kiosk_lines] == [
        (li.role, li.text, li.size, li.y) for li in preview.lines
    ]
    Image.fromarray(kiosk_pixels).save(tmp_path / f"kiosk-{language}-{orientation}.png")
    (tmp_path / f"preview-{language}-{orientation}.png").write_bytes(preview.png)


def test_the_kiosk_offer_screen_has_the_shape_the_preview_draws(display: None, picture: Path) -> None:
    _, kiosk = kiosk_render("ru", (1280, 720), picture)
    shape = shape_of(kiosk["view"])  # type: ignore[arg-type]
    # What decides the text's place: a picture, two buttons of its own, a footer.
    assert (shape.image, shape.main, shape.main_kind, bool(shape.footer)) == (
        OFFER_SHAPE.image,
        OFFER_SHAPE.main,
        OFFER_SHAPE.main_kind,
        bool(OFFER_SHAPE.footer),
    )
    assert (
        screen_regions(shape, 1280, 720).regions["text"]
        == screen_regions(OFFER_SHAPE, 1280, 720).regions["text"]
    )


@pytest.mark.parametrize("bold", [False, True])
def test_the_preview_measures_lines_as_sdl_ttf_does(display: None, bold: bool) -> None:
    pillow = PillowMeasure()
    for size in (9, 13, 23, 32, 46, 65, 97, 140):
        font = pygame.font.Font(str(font_file(bold)), size)
        assert pillow.line_height(size, bold) == font.get_linesize() == line_skip(size, bold)
        assert ascent(size, bold) == font.get_ascent()
        for text in ("Тыквенный латте", "Pumpkin spice latte", "Действует до 31.12.2026 · 199 ₽"):
            assert abs(pillow.width(text, size, bold) - font.size(text)[0]) <= 1, (text, size, bold)


def test_the_preview_uses_the_kiosks_words(repo_root: Path) -> None:
    messages = tomllib.loads((repo_root / "kiosk" / "messages.toml").read_text(encoding="utf-8"))
    for language, words in KIOSK_WORDS.items():
        for key, text in words.items():
            assert messages[language][key] == text, (language, key)
        assert format_date(date(2027, 3, 9), language) == __import__(
            "backoffice.campaigns.preview", fromlist=["format_date"]
        ).format_date(date(2027, 3, 9), language)
