"""Offers: a validated catalogue, rules that filter it, and a contextual Thompson-sampling bandit.

Rules first: validity dates, dayparts and each offer's targeting (the screen's zone, the time of day, and
the momentary signals of this visit: valence, attention and dwell so far, crowd size) decide what is
*eligible*. Nothing here knows who the shopper is: the catalogue's schema refuses demographic and appearance
attributes (``mqtt_bridge.contract.catalogue.FORBIDDEN_RULE``), and valence is the expression read during
this visit where the shopper consented, forgotten when the visit ends. The bandit then chooses among the
eligible ones with a Beta posterior per
(offer, context bucket), learning from taps and redemptions. Exploration is bounded: a floor
(``explore_floor``) keeps trying every eligible offer now and then, and a cap on each posterior's evidence
(``max_evidence``) keeps it from freezing. The bandit's state is a small JSON file, written atomically.
A tap issues a redemption code (:class:`~kiosk.decisions.redemption.CodeIssuer`, remembered with the arm);
a till redeeming it rewards that arm once more (``redemption_weight``).

Policies that are not the bandit's to learn:

* A shopper read as frustrated (negative valence) is never upsold: only ``kind = "help"`` entries (help and
  the offer of a person) are shown.
* An ``age_restricted`` offer (alcohol, tobacco: a legal flag on the offer, never a guess about the
  shopper) is never targeted by the shopper's mood: it may not have valence targeting, and its context
  bucket leaves valence out, so the bandit cannot learn to push it at a shopper by how they feel.
"""

from __future__ import annotations

import json
import logging
import random
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal

from kiosk.config import OffersConfig
from kiosk.decisions.redemption import CodeIssuer, MemoryCodeStore, OpenCode
from kiosk.errors import ConfigError, ConfigIssue, KioskError
from kiosk.perception.types import Valence
from mqtt_bridge.contract.catalogue import Catalogue, Offer
from mqtt_bridge.contract.catalogue import load_catalogue as read_catalogue
from mqtt_bridge.contract.errors import CatalogueFileError

log = logging.getLogger(__name__)


def load_catalogue(path: Path) -> Catalogue:
    """Load a TOML or JSON catalogue; :class:`ConfigError` lists every problem with its key path."""
    try:
        return read_catalogue(path)
    except CatalogueFileError as exc:
        raise ConfigError(exc.path, [ConfigIssue(where, what) for where, what in exc.issues]) from exc


@dataclass(frozen=True)
class OfferContext:
    """What the rules and the bandit may know about the moment: never who, only where, when and how (the
    momentary signals of this visit)."""

    now_local: datetime
    valence: Valence | None
    dwell_s: float
    crowd_size: int
    #: Seconds the visit has faced the screen so far.
    attention_s: float = 0.0
    #: The screen's zone in the store (``[device] zone``); None: unknown, so zone-targeted offers are out.
    zone: str | None = None


def eligible(
    catalogue: Catalogue, ctx: OfferContext, kind: Literal["offer", "help"] = "offer"
) -> list[Offer]:
    """The offers of ``kind`` the rules allow now, in catalogue order."""
    today, moment = ctx.now_local.date(), ctx.now_local.time()
    out = []
    for offer in catalogue.offers:
        tg = offer.targeting
        if offer.kind != kind or not offer.valid_from <= today <= offer.valid_to:
            continue
        if offer.dayparts and not any(catalogue.dayparts[d].contains(moment) for d in offer.dayparts):
            continue
        if tg.hours and not any(r.contains(moment) for r in tg.hours):
            continue
        if tg.zones and ctx.zone not in tg.zones:
            continue
        if ctx.attention_s < tg.min_attention_s:
            continue
        if tg.valence is not None and ctx.valence not in tg.valence:
            continue
        if ctx.dwell_s < tg.min_dwell_s or (tg.max_dwell_s is not None and ctx.dwell_s > tg.max_dwell_s):
            continue
        if ctx.crowd_size < tg.min_crowd or (tg.max_crowd is not None and ctx.crowd_size > tg.max_crowd):
            continue
        out.append(offer)
    return out


def context_bucket(catalogue: Catalogue, offer: Offer, ctx: OfferContext, long_dwell_s: float) -> str:
    """The bandit's context: valence, dwell band, crowd band, daypart. Age-restricted: no valence (never
    pushed at a shopper by mood)."""
    valence = "any" if offer.age_restricted else (ctx.valence or "unknown")
    dwell = "long" if ctx.dwell_s >= long_dwell_s else "short"
    crowd = "solo" if ctx.crowd_size <= 1 else "group"
    return f"{valence}/{dwell}/{crowd}/{catalogue.daypart(ctx.now_local.time())}"


class BanditStateError(KioskError):
    """The bandit's state file cannot be written."""


class ThompsonBandit:
    """Beta(alpha, beta) per (offer, bucket), starting at Beta(1, 1); state in memory, saved as JSON."""

    def __init__(self, rng: random.Random, explore_floor: float = 0.05, max_evidence: float = 500.0) -> None:
        self._rng = rng
        self.explore_floor = explore_floor
        self.max_evidence = max_evidence
        self.arms: dict[str, list[float]] = {}

    @staticmethod
    def key(offer_id: str, bucket: str) -> str:
        """The arm's key in the state."""
        return f"{offer_id}|{bucket}"

    def posterior(self, offer_id: str, bucket: str) -> tuple[float, float]:
        """``(alpha, beta)`` of one arm."""
        alpha, beta = self.arms.get(self.key(offer_id, bucket), (1.0, 1.0))
        return alpha, beta

    def choose(self, candidates: Sequence[tuple[str, str]]) -> tuple[int, bool]:
        """Index of the chosen ``(offer_id, bucket)``, and whether it was a floor exploration."""
        if not candidates:
            raise ValueError("nothing to choose from")
        if len(candidates) > 1 and self._rng.random() < self.explore_floor:
            return self._rng.randrange(len(candidates)), True
        draws = [self._rng.betavariate(*self.posterior(o, b)) for o, b in candidates]
        return max(range(len(candidates)), key=draws.__getitem__), False

    def update(self, offer_id: str, bucket: str, successes: float, failures: float) -> None:
        """Add evidence to an arm, scaling old evidence down past ``max_evidence``."""
        alpha, beta = self.posterior(offer_id, bucket)
        alpha, beta = alpha + successes, beta + failures
        evidence = alpha + beta - 2.0
        if evidence > self.max_evidence:
            scale = self.max_evidence / evidence
            alpha, beta = 1.0 + (alpha - 1.0) * scale, 1.0 + (beta - 1.0) * scale
        self.arms[self.key(offer_id, bucket)] = [alpha, beta]

    def save(self, path: Path) -> None:
        """Write the state atomically (temporary file, then rename)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        try:
            tmp.write_text(json.dumps({"version": 1, "arms": self.arms}, sort_keys=True), encoding="utf-8")
            tmp.replace(path)
        except OSError as exc:
            raise BanditStateError(f"cannot write the bandit state {path}: {exc}; check the folder") from exc

    def load(self, path: Path) -> None:
        """Read the state; a missing file is a fresh start, a damaged one is logged and set aside."""
        if not path.exists():
            return
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            arms = {str(k): [float(v[0]), float(v[1])] for k, v in data["arms"].items()}
        except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
            log.warning("bandit state %s is unreadable (%s); starting afresh", path, exc)
            return
        self.arms = arms


@dataclass(frozen=True)
class Choice:
    """The engine's answer: which offer, why, and the bandit arm it will learn on."""

    offer_id: str | None
    reason: Literal["rules", "bandit", "help"]
    help: bool
    bucket: str = ""
    explored: bool = False

    @property
    def arm(self) -> str | None:
        """The bandit arm the outcome is credited to (:meth:`ThompsonBandit.key`), None when none learns
        from it: a help entry, or nothing to show. One eligible offer is chosen by rules alone, yet its arm
        still learns (reason 'rules', arm set)."""
        if self.offer_id is None or not self.bucket:
            return None
        return ThompsonBandit.key(self.offer_id, self.bucket)


def _utc_today() -> date:
    return datetime.now(UTC).date()


def ephemeral_codes(rng: random.Random, valid_days: int = 14) -> CodeIssuer:
    """Codes only this process can redeem: a fresh secret, held in memory, dated in UTC (tests, demos)."""
    return CodeIssuer(
        secret=secrets.token_bytes(32),
        device_id="unenrolled",
        valid_days=valid_days,
        store=MemoryCodeStore(),
        rng=rng,
        today=_utc_today,
    )


class OfferEngine:
    """Rules, then the bandit; remembers the shown offer until its outcome (tap or not) is known.

    ``codes`` issues and remembers the redemption code of each tap; without one, :func:`ephemeral_codes`.
    ``catalogue_version``: the back office's release version of ``catalogue`` (None: read from a file),
    reported with every offer shown (proof of play per offer and version)."""

    def __init__(
        self,
        catalogue: Catalogue,
        config: OffersConfig,
        rng: random.Random,
        codes: CodeIssuer | None = None,
        *,
        catalogue_version: int | None = None,
    ) -> None:
        self.catalogue = catalogue
        self.catalogue_version = catalogue_version
        self.config = config
        self._rng = rng
        self.bandit = ThompsonBandit(rng, config.explore_floor, config.max_evidence)
        self._pending: Choice | None = None
        self.codes = codes or ephemeral_codes(rng)
        self._last_code: str | None = None

    def replace_catalogue(self, catalogue: Catalogue, version: int | None = None) -> None:
        """Use ``catalogue`` (release ``version``) from the next choice on. What the bandit learnt stays
        (offers are known by id), and the offer on screen keeps its pending outcome."""
        self.catalogue = catalogue
        self.catalogue_version = version

    def choose(self, ctx: OfferContext) -> Choice:
        """Choose what to show. A frustrated shopper gets help, never an upsell."""
        self.settle(tapped=False)
        if ctx.valence == "negative":
            helps = eligible(self.catalogue, ctx, kind="help")
            return Choice(helps[0].id if helps else None, "help", help=True)
        offers = eligible(self.catalogue, ctx)
        if not offers:
            return Choice(None, "rules", help=False)
        candidates = [
            (o.id, context_bucket(self.catalogue, o, ctx, self.config.long_dwell_s)) for o in offers
        ]
        reason: Literal["rules", "bandit"] = "rules" if len(candidates) == 1 else "bandit"
        index, explored = self.bandit.choose(candidates) if reason == "bandit" else (0, False)
        offer_id, bucket = candidates[index]
        choice = Choice(offer_id, reason, help=False, bucket=bucket, explored=explored)
        self._pending = choice
        return choice

    def settle(self, tapped: bool) -> None:
        """The shown offer's outcome: a tap is a success, leaving without one a failure. Idempotent."""
        choice, self._pending = self._pending, None
        if choice is None or choice.offer_id is None:
            return
        self.bandit.update(choice.offer_id, choice.bucket, 1.0 if tapped else 0.0, 0.0 if tapped else 1.0)
        if tapped:
            self._last_code = self.codes.issue(choice.offer_id, choice.bucket)

    def last_code(self) -> str | None:
        """The redemption code issued by the latest tap (None before one, or when none could be issued)."""
        return self._last_code

    def redeemed(self, code: str) -> OpenCode | None:
        """A till redeemed ``code``: reward its arm (:meth:`ThompsonBandit.key` of the code's offer and
        bucket), once; None for a code unknown here or already used."""
        found = self.codes.redeem(code)
        if found is None:
            return None
        self.bandit.update(found.offer_id, found.bucket, self.config.redemption_weight, 0.0)
        return found
