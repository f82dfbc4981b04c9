"""The offer catalogue's schema: what the back office publishes and every kiosk installs.

Dayparts, offers with their texts in Russian and English, validity dates and targeting. Targeting uses only
momentary signals a shopper consented to (valence in this visit, dwell, crowd size) and the time of day;
the schema has no field for a demographic or appearance attribute. Validation never reads a file
(:meth:`Catalogue.missing_images` checks pictures apart from it).
"""

from __future__ import annotations

import json
import tomllib
from datetime import date, time
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from mqtt_bridge.contract.errors import CatalogueFileError
from mqtt_bridge.contract.events import Valence

SLUG = r"^[a-z0-9][a-z0-9_-]{0,63}$"

#: A daypart's name is part of a bandit arm ('<offer_id>|<valence>/<dwell>/<crowd>/<daypart>'), which events
#: carry in at most 128 characters: a 64-character offer id, 22 for the rest, and a name of up to 40 fit.
DaypartName = Annotated[str, StringConstraints(min_length=1, max_length=40)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TimeRange(_Model):
    """A local time-of-day range; ``end`` before ``start`` wraps past midnight."""

    start: time = Field(description="First minute of the range (local time).")
    end: time = Field(description="End of the range, exclusive (local time).")

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: object) -> object:
        if isinstance(value, str):
            start, sep, end = value.partition("-")
            if not sep:
                raise ValueError("write a time range as 'HH:MM-HH:MM'")
            return {"start": start.strip(), "end": end.strip()}
        return value

    def contains(self, moment: time) -> bool:
        """Whether ``moment`` falls in the range."""
        if self.start <= self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end


class Texts(_Model):
    """One text in both languages the kiosk speaks."""

    ru: str = Field(min_length=1, description="Russian text.")
    en: str = Field(min_length=1, description="English text.")


class Targeting(_Model):
    """Who an offer is for. Every criterion left out matches everyone."""

    valence: tuple[Valence, ...] | None = Field(
        default=None, description="Smoothed valences it may be shown to; absent: any (including unknown)."
    )
    min_dwell_s: float = Field(default=0.0, ge=0, description="Least dwell so far, in seconds.")
    max_dwell_s: float | None = Field(default=None, ge=0, description="Most dwell so far, in seconds.")
    min_crowd: int = Field(default=1, ge=1, description="Least faces in view.")
    max_crowd: int | None = Field(default=None, ge=1, description="Most faces in view.")
    hours: tuple[TimeRange, ...] = Field(default=(), description="Times of day it may run; empty: any.")


class Offer(_Model):
    """One catalogue entry."""

    id: str = Field(pattern=SLUG, description="Stable id, sent in events.")
    kind: Literal["offer", "help"] = Field(
        default="offer", description="'help': shown to a frustrated shopper instead of any upsell."
    )
    title: Texts = Field(description="Headline.")
    body: Texts = Field(description="Text under the headline.")
    image: Path = Field(description="Picture, relative to the catalogue file.")
    price: str | None = Field(
        default=None,
        max_length=40,
        description="Price as shown on the card, e.g. '149 ₽'; absent: none shown.",
    )
    valid_from: date = Field(description="First day it may be shown.")
    valid_to: date = Field(description="Last day it may be shown.")
    dayparts: tuple[str, ...] = Field(default=(), description="Daypart names it runs in; empty: all day.")
    targeting: Targeting = Field(default_factory=Targeting, description="Who it is for.")
    age_restricted: bool = Field(
        default=False, description="Alcohol, tobacco and the like: never targeted by appearance."
    )

    @model_validator(mode="after")
    def _checks(self) -> Offer:
        if self.valid_to < self.valid_from:
            raise ValueError("valid_to is before valid_from")
        if self.age_restricted and self.targeting.valence is not None:
            raise ValueError("an age-restricted offer may not be targeted by appearance (valence)")
        return self


class Catalogue(_Model):
    """The offer catalogue: dayparts and offers."""

    schema_version: Literal[1] = Field(default=1, description="Version of the catalogue format.")
    dayparts: dict[DaypartName, TimeRange] = Field(
        default_factory=dict,
        description="Named local time ranges offers refer to (names of 1 to 40 characters: they are part of "
        "the bandit arms that events carry).",
    )
    offers: tuple[Offer, ...] = Field(description="The offers, ids unique.")

    @field_validator("offers")
    @classmethod
    def _unique(cls, offers: tuple[Offer, ...]) -> tuple[Offer, ...]:
        seen: set[str] = set()
        for offer in offers:
            if offer.id in seen:
                raise ValueError(f"offer id {offer.id!r} appears twice")
            seen.add(offer.id)
        return offers

    @model_validator(mode="after")
    def _dayparts_known(self) -> Catalogue:
        for offer in self.offers:
            unknown = set(offer.dayparts) - set(self.dayparts)
            if unknown:
                raise ValueError(f"offer {offer.id!r} names unknown dayparts {sorted(unknown)}")
        return self

    def daypart(self, moment: time) -> str:
        """The first daypart containing ``moment``, or 'other'."""
        return next((name for name, rng in self.dayparts.items() if rng.contains(moment)), "other")

    def missing_images(self, base: Path) -> list[Path]:
        """Images missing under ``base``; checked apart from validation, which never reads a file."""
        return [base / o.image for o in self.offers if not (base / o.image).is_file()]


def load_catalogue(path: Path) -> Catalogue:
    """Load a TOML or JSON catalogue; :class:`CatalogueFileError` lists every problem with its key path."""
    try:
        raw = path.read_bytes()
        data = json.loads(raw) if path.suffix == ".json" else tomllib.loads(raw.decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise CatalogueFileError(str(path), [("(file)", f"{exc}: check the path and syntax")]) from exc
    try:
        return Catalogue.model_validate(data)
    except ValidationError as exc:
        issues = [(".".join(str(p) for p in e["loc"]) or "(root)", e["msg"]) for e in exc.errors()]
        raise CatalogueFileError(str(path), issues) from exc
