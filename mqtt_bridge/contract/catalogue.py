"""The offer catalogue's schema: what the back office publishes and every kiosk installs.

Dayparts, offers with their texts in Russian and English, validity dates and targeting. Targeting uses only
where and when (the screen's zone, the time of day) and momentary signals of this visit that the shopper
consented to (valence now, attention and dwell so far, crowd size); none of them says who the shopper is.

**No demographic or appearance targeting.** The schema has no field for a demographic or appearance
attribute (age, gender, ethnicity, looks, or any trait inferred about a person), and it names and refuses
them: a key in an offer's targeting (at any depth), or an unknown key of an offer, that names such an
attribute (:data:`FORBIDDEN_ATTRIBUTES`, matched word by word, synonyms included) is refused with
:data:`FORBIDDEN_RULE`, not with a bare "extra field". So such a catalogue can be neither saved nor
published by the back office nor installed by a kiosk: all three validate it with :class:`Catalogue`.

Valence is not an appearance trait: it is the smoothed expression read during this visit, only where the
shopper consented (or was notified, per the deployment's privacy mode), kept in memory for the visit and
forgotten with it. Validation never reads a file (:meth:`Catalogue.missing_images` checks pictures apart
from it).
"""

from __future__ import annotations

import json
import re
import tomllib
from datetime import date, time
from pathlib import Path
from typing import Annotated, Any, Final, Literal

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

#: The rule a catalogue that targets people by who they are breaks, as every refusal states it.
FORBIDDEN_RULE: Final = (
    "offers may not be targeted by demographic or appearance attributes (age, gender, ethnicity, looks or "
    "any trait inferred about a person); target by store, zone, daypart, dates and the momentary signals "
    "of this visit the shopper consented to (attention, dwell, valence) instead"
)

#: Demographic and appearance attributes, and their synonyms, that no key of an offer's targeting may
#: name: a key is refused when one of its words (split at '_', '-', '.', spaces and camelCase) is here.
# fmt: off
FORBIDDEN_ATTRIBUTES: Final = frozenset(
    {
        # age
        "age", "ages", "aged", "agegroup", "agerange", "ageband", "birth", "birthday", "birthdate",
        "birthyear", "born", "elderly", "senior", "seniors", "youth", "young", "old", "older", "teen",
        "teens", "teenager", "child", "children", "kid", "kids", "adult", "adults", "minor", "minors",
        "generation", "boomer", "millennial",
        # gender and sex
        "gender", "genders", "sex", "sexes", "male", "female", "man", "men", "woman", "women", "boy",
        "girl", "masculine", "feminine",
        # ethnicity, race, origin, religion
        "ethnicity", "ethnic", "ethnicities", "race", "racial", "origin", "ancestry", "nationality",
        "national", "religion", "religious", "caste", "tribe",
        # looks and the body
        "appearance", "looks", "look", "lookalike", "attractive", "attractiveness", "beauty", "beautiful",
        "face", "facial", "faces", "skin", "complexion", "tone", "hair", "haircolor", "haircolour",
        "hairstyle", "bald", "beard", "moustache", "mustache", "eye", "eyes", "eyecolor", "eyecolour",
        "glasses", "spectacles", "makeup", "tattoo", "tattoos", "piercing", "height", "tall", "short",
        "weight", "bmi", "body", "build", "figure", "obese", "slim", "fat", "thin", "clothes",
        "clothing", "outfit", "dress", "style",
        # health, disability, pregnancy
        "disability", "disabled", "health", "pregnant", "pregnancy", "wheelchair",
        # anything inferred about who the person is
        "demographic", "demographics", "trait", "traits", "inferred", "persona", "profile", "identity",
        "person", "personality", "biometric", "biometrics", "income", "wealth", "class", "orientation",
        # the same in Russian (age, sex, ethnicity, race, nationality, appearance)
        "возраст", "пол", "этнос", "раса", "национальность", "внешность",  # noqa: RUF001
    }
)
# fmt: on

#: A daypart's name is part of a bandit arm ('<offer_id>|<valence>/<dwell>/<crowd>/<daypart>'), which events
#: carry in at most 128 characters: a 64-character offer id, 22 for the rest, and a name of up to 40 fit.
DaypartName = Annotated[str, StringConstraints(min_length=1, max_length=40)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Latin and Cyrillic letters (U+0410 to U+044F, U+0401 and U+0451), split at camelCase too.
_WORDS = re.compile(
    r"[A-Z\u0410-\u042f\u0401]?[a-z\u0430-\u044f\u04510-9]+|[A-Z\u0410-\u042f\u0401]+(?![a-z\u0430-\u044f\u0451])"
)


def attribute_words(name: str) -> list[str]:
    """The words of a key or a text, lower-cased: split at anything not a letter or digit and at camelCase
    (``ageGroup`` -> ``age``, ``group``; ``hair-colour`` -> ``hair``, ``colour``)."""
    return [w.lower() for w in _WORDS.findall(name)]


def names_forbidden_attribute(name: str) -> bool:
    """Whether ``name`` (a key, or a text under an unknown key) names a demographic or appearance attribute:
    one of its words, or the whole name without separators, is in :data:`FORBIDDEN_ATTRIBUTES`."""
    words = attribute_words(name)
    return any(w in FORBIDDEN_ATTRIBUTES for w in words) or "".join(words) in FORBIDDEN_ATTRIBUTES


def forbidden_attributes(value: object, where: str = "", *, known: frozenset[str] = frozenset()) -> list[str]:
    """Key paths under ``value`` that name a demographic or appearance attribute, at any depth. Keys in
    ``known`` (the model's own fields, at the top level: none of them names one) are skipped with their
    values (a zone called 'kids-corner' is a place); under any other key, texts are searched too
    (``{"filter": "gender"}``)."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{where}.{key}" if where else str(key)
            if str(key) in known:
                continue
            if names_forbidden_attribute(str(key)):
                found.append(path)
            else:
                found.extend(forbidden_attributes(item, path))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found.extend(forbidden_attributes(item, f"{where}[{index}]"))
    elif isinstance(value, str) and where and names_forbidden_attribute(value):
        found.append(f"{where}={value!r}")
    return found


def _refuse_attributes(data: Any, scope: str, known: frozenset[str]) -> None:
    found = forbidden_attributes(data, known=known)
    if found:
        shown = ", ".join(f"{scope}.{f}" if scope else f for f in found[:5])
        raise ValueError(f"{shown}: {FORBIDDEN_RULE}")


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
    """Where, when and in which moment of a visit an offer runs. Every criterion left out matches everyone.

    Never who: a key naming a demographic or appearance attribute is refused (:data:`FORBIDDEN_RULE`)."""

    zones: tuple[str, ...] = Field(
        default=(),
        description="Zones of the store (the screen's [device] zone) it runs in; empty: every zone.",
    )
    valence: tuple[Valence, ...] | None = Field(
        default=None,
        description="Smoothed valences of this visit it may be shown to (a momentary signal read only with "
        "the shopper's consent, never an appearance trait); absent: any (including unknown).",
    )
    min_attention_s: float = Field(
        default=0.0, ge=0, description="Least attention (seconds facing the screen) in this visit so far."
    )
    min_dwell_s: float = Field(default=0.0, ge=0, description="Least dwell so far, in seconds.")
    max_dwell_s: float | None = Field(default=None, ge=0, description="Most dwell so far, in seconds.")
    min_crowd: int = Field(default=1, ge=1, description="Least faces in view.")
    max_crowd: int | None = Field(default=None, ge=1, description="Most faces in view.")
    hours: tuple[TimeRange, ...] = Field(default=(), description="Times of day it may run; empty: any.")

    @model_validator(mode="before")
    @classmethod
    def _never_who(cls, data: Any) -> Any:
        _refuse_attributes(data, "targeting", frozenset(cls.model_fields))
        return data


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
        default=False,
        description="Alcohol, tobacco and the like (a legal flag, never a guess about the shopper): never "
        "targeted by the shopper's mood (valence) and never on the attract loop.",
    )

    @model_validator(mode="before")
    @classmethod
    def _never_who(cls, data: Any) -> Any:
        _refuse_attributes(data, "", frozenset(cls.model_fields))
        return data

    @model_validator(mode="after")
    def _checks(self) -> Offer:
        if self.valid_to < self.valid_from:
            raise ValueError("valid_to is before valid_from")
        if self.age_restricted and self.targeting.valence is not None:
            raise ValueError(
                "an age-restricted offer may not be targeted by the shopper's mood (valence): alcohol, "
                "tobacco and the like are not pushed at a shopper by how they feel; remove its valence"
            )
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
