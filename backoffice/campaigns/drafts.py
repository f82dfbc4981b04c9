"""The draft: the offers and dayparts a marketer edits before publishing.

Every edit is checked by the wire contract's catalogue schema (:mod:`mqtt_bridge.contract.catalogue`) when
it is saved, so a draft never holds an offer a kiosk would refuse: an offer whose targeting names a
demographic or appearance attribute is refused with the contract's rule, as is one that names an unknown
daypart or has a broken date range. Offers carry the stores they run in (a back-office field: each store's
release holds only its offers); the rest of an offer is exactly the contract's :class:`Offer`, its
``image`` the content-addressed name its picture gets in a release.

A :class:`Snapshot` is the draft frozen: what a publication request carries and a version keeps.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from backoffice.campaigns.errors import CampaignError, InvalidOfferError
from backoffice.campaigns.images import ImageStore
from backoffice.db import Database
from mqtt_bridge.contract.catalogue import SLUG, Catalogue, Offer, TimeRange

_SLUG = re.compile(SLUG)


class SnapshotOffer(BaseModel):
    """One offer of a snapshot: the contract's offer (as JSON), the stores it runs in, its picture."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    offer: dict[str, Any] = Field(description="The offer as the catalogue carries it (contract Offer, JSON).")
    stores: tuple[str, ...] = Field(default=(), description="Stores it runs in; empty: every store.")
    image_sha256: str = Field(description="sha256 of its picture in campaign_images.")

    @property
    def offer_id(self) -> str:
        """The offer's id."""
        return str(self.offer["id"])

    def runs_in(self, store_id: str) -> bool:
        """Whether the offer is for ``store_id``."""
        return not self.stores or store_id in self.stores


class Snapshot(BaseModel):
    """The draft frozen: dayparts ('HH:MM-HH:MM' by name) and offers in catalogue order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dayparts: dict[str, str] = Field(default_factory=dict, description="Daypart name -> 'HH:MM-HH:MM'.")
    offers: tuple[SnapshotOffer, ...] = Field(default=(), description="The offers, in catalogue order.")

    def stores(self) -> list[str]:
        """The stores some offer names (offers for every store name none)."""
        return sorted({s for o in self.offers for s in o.stores})

    def whole_document(self) -> dict[str, Any]:
        """Every daypart and every offer, whatever its stores (the draft checked as one catalogue)."""
        return {"dayparts": dict(self.dayparts), "offers": [o.offer for o in self.offers]}

    def catalogue_document(self, store_id: str) -> dict[str, Any]:
        """The catalogue document ``store_id`` gets: every daypart, the offers that run there."""
        return {
            "dayparts": dict(self.dayparts),
            "offers": [o.offer for o in self.offers if o.runs_in(store_id)],
        }


def _issues(exc: ValidationError, prefix: str = "") -> list[tuple[str, str]]:
    out = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        where = ".".join(str(p) for p in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        out.append((f"{prefix}{where}".strip("."), message))
    return out


def validate_offer(document: Mapping[str, Any]) -> Offer:
    """The offer ``document`` as the contract's :class:`Offer`; :class:`InvalidOfferError` with every
    problem (a demographic or appearance attribute among them, named with the rule) otherwise."""
    try:
        return Offer.model_validate(dict(document))
    except ValidationError as exc:
        raise InvalidOfferError(_issues(exc)) from exc


def validate_catalogue(document: Mapping[str, Any], where: str = "") -> Catalogue:
    """A catalogue document as the contract's :class:`Catalogue` (what a kiosk validates on install);
    :class:`InvalidOfferError` otherwise, each problem prefixed with ``where`` (a store)."""
    try:
        return Catalogue.model_validate(dict(document))
    except ValidationError as exc:
        raise InvalidOfferError(_issues(exc, f"{where}: " if where else "")) from exc


def check_stores(stores: Sequence[str]) -> tuple[str, ...]:
    """Store ids, each a slug (as in topics), once each, sorted."""
    cleaned = sorted({s.strip() for s in stores if s.strip()})
    bad = [s for s in cleaned if not _SLUG.fullmatch(s)]
    if bad:
        raise InvalidOfferError(
            [("stores", f"{', '.join(bad)}: a store id is 1-64 of a-z, 0-9, '_', '-' (e.g. store-12)")]
        )
    return tuple(cleaned)


class Drafts:
    """The draft's offers and dayparts in ``campaign_offers`` and ``campaign_dayparts``."""

    def __init__(self, db: Database, images: ImageStore, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.images = images
        self._now = clock

    # --- offers ---------------------------------------------------------------------------------------

    def save_offer(
        self, document: Mapping[str, Any], *, stores: Sequence[str], image_sha256: str, by: str
    ) -> SnapshotOffer:
        """Add or replace an offer (by its ``id``): ``document`` is the contract's offer without ``image``
        (its picture is ``image_sha256``, uploaded before). Checked by the contract, alone and in the draft
        (its dayparts must exist); :class:`InvalidOfferError` says what is wrong."""
        image = self.images.get(image_sha256)
        if image is None:
            raise InvalidOfferError([("image", "no picture uploaded with that sha256: upload the picture")])
        offer = validate_offer({**document, "image": image.asset_name})
        kept_stores = check_stores(stores)
        snapshot = self.snapshot()
        others = [o for o in snapshot.offers if o.offer_id != offer.id]
        item = SnapshotOffer(
            offer=offer.model_dump(mode="json", exclude_defaults=True) | {"id": offer.id},
            stores=kept_stores,
            image_sha256=image.sha256,
        )
        validate_catalogue(Snapshot(dayparts=snapshot.dayparts, offers=(*others, item)).whole_document())
        now = self._now().timestamp()
        with self.db.transaction():
            position = self.db.scalar(
                "SELECT position FROM campaign_offers WHERE offer_id = ?", [offer.id]
            ) or (int(self.db.scalar("SELECT coalesce(max(position), 0) FROM campaign_offers")) + 1)
            self.db.execute(
                "INSERT INTO campaign_offers (offer_id, position, document, stores, image_sha256, "
                "updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (offer_id) DO UPDATE SET "
                "document = excluded.document, stores = excluded.stores, "
                "image_sha256 = excluded.image_sha256, updated_at = excluded.updated_at, "
                "updated_by = excluded.updated_by",
                [
                    offer.id,
                    position,
                    json.dumps(item.offer),
                    json.dumps(list(kept_stores)),
                    image.sha256,
                    now,
                    by,
                ],
            )
        return item

    def delete_offer(self, offer_id: str) -> bool:
        """Remove an offer from the draft; False when there was none."""
        return self.db.execute("DELETE FROM campaign_offers WHERE offer_id = ?", [offer_id]).rowcount == 1

    def offer(self, offer_id: str) -> SnapshotOffer | None:
        """One offer of the draft."""
        return next((o for o in self.snapshot().offers if o.offer_id == offer_id), None)

    def edited(self) -> dict[str, tuple[datetime, str]]:
        """When and by whom each offer was last changed."""
        return {
            str(r[0]): (datetime.fromtimestamp(float(r[1]), UTC), str(r[2]))
            for r in self.db.query("SELECT offer_id, updated_at, updated_by FROM campaign_offers")
        }

    # --- dayparts -------------------------------------------------------------------------------------

    def set_daypart(self, name: str, time_range: str, by: str) -> None:
        """Add or change a daypart: ``name`` (1 to 40 characters) and 'HH:MM-HH:MM' (an end before the start
        wraps past midnight)."""
        name = name.strip()
        try:
            parsed = TimeRange.model_validate(time_range)
            validate_catalogue({"dayparts": {name: time_range}, "offers": []})
        except ValidationError as exc:
            raise InvalidOfferError(_issues(exc, f"dayparts.{name}.")) from exc
        self.db.execute(
            "INSERT INTO campaign_dayparts (name, start_time, end_time, updated_at, updated_by) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET start_time = excluded.start_time, "
            "end_time = excluded.end_time, updated_at = excluded.updated_at, "
            "updated_by = excluded.updated_by",
            [
                name,
                parsed.start.strftime("%H:%M"),
                parsed.end.strftime("%H:%M"),
                self._now().timestamp(),
                by,
            ],
        )

    def delete_daypart(self, name: str) -> None:
        """Remove a daypart no offer uses; :class:`CampaignError` naming the offers that still do."""
        users = [o.offer_id for o in self.snapshot().offers if name in o.offer.get("dayparts", [])]
        if users:
            raise CampaignError(
                f"daypart {name!r} is used by {', '.join(users)}: take it off those offers first"
            )
        self.db.execute("DELETE FROM campaign_dayparts WHERE name = ?", [name])

    # --- the whole draft ------------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """The draft now, frozen."""
        dayparts = {
            str(r[0]): f"{r[1]}-{r[2]}"
            for r in self.db.query("SELECT name, start_time, end_time FROM campaign_dayparts ORDER BY name")
        }
        offers = tuple(
            SnapshotOffer(offer=json.loads(r[0]), stores=tuple(json.loads(r[1])), image_sha256=str(r[2]))
            for r in self.db.query(
                "SELECT document, stores, image_sha256 FROM campaign_offers ORDER BY position, offer_id"
            )
        )
        return Snapshot(dayparts=dayparts, offers=offers)

    def replace(self, snapshot: Snapshot, by: str) -> None:
        """Make the draft ``snapshot`` (a rollback's version): every offer and daypart replaced."""
        now = self._now().timestamp()
        with self.db.transaction():
            self.db.execute("DELETE FROM campaign_offers")
            self.db.execute("DELETE FROM campaign_dayparts")
            for name, text in snapshot.dayparts.items():
                start, _, end = text.partition("-")
                self.db.execute(
                    "INSERT INTO campaign_dayparts (name, start_time, end_time, updated_at, updated_by) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [name, start, end, now, by],
                )
            for position, item in enumerate(snapshot.offers, start=1):
                self.db.execute(
                    "INSERT INTO campaign_offers (offer_id, position, document, stores, image_sha256, "
                    "updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        item.offer_id,
                        position,
                        json.dumps(item.offer),
                        json.dumps(list(item.stores)),
                        item.image_sha256,
                        now,
                        by,
                    ],
                )
