"""The attract loop's view model: a rotation of slides, advanced by elapsed time."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Slide:
    """One attract slide: a headline and a line under it, in one language."""

    title: str
    subtitle: str


DEFAULT_SLIDES: tuple[Slide, ...] = (
    Slide("Vitrina", "Step closer: offers for you, right here"),
    Slide("Витрина", "Подойдите ближе: предложения для вас"),
    Slide("Need help?", "Tap the screen to call a consultant"),
    Slide("Нужна помощь?", "Коснитесь экрана, чтобы позвать консультанта"),
)


@dataclass
class AttractView:
    """Which slide shows, and how far it has faded in. :meth:`update` says whether a redraw is due."""

    slides: tuple[Slide, ...] = DEFAULT_SLIDES
    seconds_per_slide: float = 4.0
    fade_seconds: float = 0.6
    elapsed: float = 0.0

    def __post_init__(self) -> None:
        if not self.slides:
            raise ValueError("the attract loop needs at least one slide")

    @property
    def index(self) -> int:
        """Index of the slide on screen."""
        return int(self.elapsed // self.seconds_per_slide) % len(self.slides)

    @property
    def slide(self) -> Slide:
        """The slide on screen."""
        return self.slides[self.index]

    @property
    def fade(self) -> float:
        """Fade-in progress of the current slide, 0.0 (just appeared) to 1.0 (fully shown)."""
        into_slide = self.elapsed % self.seconds_per_slide
        return min(1.0, into_slide / self.fade_seconds) if self.fade_seconds > 0 else 1.0

    def update(self, dt: float) -> bool:
        """Advance by ``dt`` seconds. True when what is on screen changed and must be drawn again."""
        before = (self.index, self.fade)
        self.elapsed += max(0.0, dt)
        return (self.index, self.fade) != before
