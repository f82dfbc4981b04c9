"""Where everything goes on a screen of a given size, as plain rectangles: the renderer draws into them
and the input mapping hit-tests them, so a touch always means what is drawn under it.

The geometry is :mod:`offer_layout.geometry`'s, shared with the back office's campaign preview (which draws
an offer with Pillow where this kiosk draws it with pygame): :func:`compute_layout` describes a view's parts
as a :class:`~offer_layout.geometry.ScreenShape` and maps the regions and button rectangles it gets back
onto the view's buttons. Landscape puts the picture left of the text; portrait puts it above. Sizes follow
the short side, so 1920x1080, 1280x720 and their portrait turns all look alike; touch targets are at least
9 % of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kiosk.views.screen import Button, ScreenView, UiAction
from offer_layout.geometry import MainKind, Rect, ScreenShape, screen_regions

__all__ = ["Layout", "Rect", "compute_layout", "shape_of"]


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


def shape_of(view: ScreenView) -> ScreenShape:
    """Which parts ``view`` has, as the shared layout needs them."""
    main_kind: MainKind = (
        "csat" if view.screen == "feedback_csat" else "nps" if view.screen == "feedback_nps" else "row"
    )
    return ScreenShape(
        camera=view.camera is not None,
        toggle=view.toggle is not None,
        footer=tuple(b.action.name == "call_staff" for b in view.footer),
        notice=view.notice is not None,
        image=view.image is not None,
        code=view.code is not None,
        qr=view.qr is not None,
        main=len(view.main),
        main_kind=main_kind,
    )


def compute_layout(view: ScreenView, width: int, height: int, font_scale: float = 1.0) -> Layout:
    """Lay ``view`` out on a ``width`` x ``height`` screen (:func:`offer_layout.geometry.screen_regions`,
    the geometry the back office's preview shares)."""
    placed = screen_regions(shape_of(view), width, height, font_scale)
    buttons: list[tuple[Button, Rect]] = []
    if view.notice is not None and placed.close is not None:
        buttons.append((view.notice.close, placed.close))
    if view.camera is not None and placed.camera is not None:
        buttons.append((view.camera, placed.camera))
    if view.toggle is not None and placed.toggle is not None:
        buttons.append((view.toggle, placed.toggle))
    footer = list(zip(view.footer, placed.footer, strict=True))
    # Hit-testing order as before: the consultant's button first, then the consent controls.
    buttons.extend(pair for pair in footer if pair[0].action.name == "call_staff")
    buttons.extend(pair for pair in footer if pair[0].action.name != "call_staff")
    buttons.extend(zip(view.main, placed.main, strict=True))
    return Layout(width, height, placed.unit, dict(placed.regions), tuple(buttons))
