"""The campaign pages (marketer, admin): the draft's offers and dayparts, the offer editor with its picture
upload and its preview as the kiosk draws it, publishing to a store or the fleet (with a second admin's
approval when required), and the version history with diffs, rollback, each store's releases and each
device's reported version. Every change is in the audit log; every table is also JSON and CSV."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from anyio import to_thread
from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, RedirectResponse, Response

from backoffice.campaigns.device_versions import Presence, StoreRelease, device_versions
from backoffice.campaigns.drafts import Snapshot, SnapshotOffer
from backoffice.campaigns.errors import CampaignError, ImageRejectedError, InvalidOfferError
from backoffice.campaigns.preview import render_offer
from backoffice.campaigns.publishing import FLEET, Outcome, diff, scope_label
from backoffice.web.access import allow
from backoffice.web.campaign_context import cwords, desk_of
from backoffice.web.campaign_i18n import CampaignWords
from backoffice.web.context import services_of
from backoffice.web.page import Chart, Column, Link, Page, Series, Table
from backoffice.web.render import BadRequestError, language_of, respond, template
from backoffice.web.routes.common import register_page
from backoffice.web.routes.session import client_address
from backoffice.web.users import Role, User
from mqtt_bridge.contract.catalogue import Offer

router = APIRouter()

#: Who runs campaigns.
CAMPAIGNERS: tuple[Role, ...] = ("marketer", "admin")
#: Who approves a publication (another account than the one that asked).
APPROVERS: tuple[Role, ...] = ("admin",)

_LIST = re.compile(r"[\s,;]+")


def _split(text: str) -> list[str]:
    return [part for part in _LIST.split(text.strip()) if part]


def _offer_of(item: SnapshotOffer) -> Offer:
    return Offer.model_validate(item.offer)


def targeting_text(offer: Offer, c: CampaignWords) -> str:
    """An offer's targeting in a few words (the draft's table)."""
    tg = offer.targeting
    parts = []
    if tg.zones:
        parts.append(f"{c.f_zones}: {', '.join(tg.zones)}")
    if tg.valence is not None:
        parts.append(f"{c.f_valence}: {', '.join(tg.valence)}")
    if tg.min_attention_s:
        parts.append(f"{c.f_min_attention_s} ≥ {tg.min_attention_s:g}")
    if tg.min_dwell_s:
        parts.append(f"{c.f_min_dwell_s} ≥ {tg.min_dwell_s:g}")
    if tg.max_dwell_s is not None:
        parts.append(f"{c.f_max_dwell_s} ≤ {tg.max_dwell_s:g}")
    if tg.min_crowd > 1 or tg.max_crowd is not None:
        parts.append(f"{c.f_crowd} {tg.min_crowd}-{tg.max_crowd or '∞'}")
    if tg.hours:
        parts.append(", ".join(f"{r.start:%H:%M}-{r.end:%H:%M}" for r in tg.hours))
    return "; ".join(parts) or c.everyone


def _changes_table(name: str, title: str, old: Snapshot | None, new: Snapshot, c: CampaignWords) -> Table:
    return Table(
        name,
        title,
        (
            Column("change", c.col_change),
            Column("item", c.col_item),
            Column("field", c.col_field),
            Column("before", c.col_before),
            Column("after", c.col_after),
        ),
        tuple((ch.change, ch.item, ch.field, ch.before, ch.after) for ch in diff(old, new)),
        "version-history",
    )


def _requests_table(request: Request, c: CampaignWords, *, pending_only: bool) -> Table:
    publisher = desk_of(request).publisher
    rows = publisher.requests("pending" if pending_only else None)
    return Table(
        "requests",
        c.requests_pending if pending_only else c.requests_all,
        (
            Column("id", c.col_request, "int"),
            Column("kind", c.col_kind),
            Column("scope", c.col_scope),
            Column("requested_by", c.col_requested_by),
            Column("requested_at", c.col_requested_at, "time"),
            Column("state", c.col_state),
            Column("decided_by", c.col_decided_by),
            Column("decided_at", c.col_decided_at, "time"),
            Column("version", c.col_version, "int"),
            Column("offers", c.col_offers, "int"),
            Column("note", c.col_note),
        ),
        tuple(
            (
                r.id,
                r.kind,
                scope_label(r.scope),
                r.requested_by,
                r.requested_at,
                r.state,
                r.decided_by,
                r.decided_at,
                r.version,
                len(r.snapshot.offers),
                r.note,
            )
            for r in rows
        ),
        "approval",
    )


def build_campaigns(request: Request) -> Page:
    """The campaign editor: the draft's offers and dayparts, what changed since the last version, and the
    requests waiting for approval."""
    c = cwords(request)
    desk = desk_of(request)
    snapshot = desk.drafts.snapshot()
    edited = desk.drafts.edited()
    latest = desk.publisher.latest()
    language = language_of(request)
    offers = []
    for item in snapshot.offers:
        offer = _offer_of(item)
        when, who = edited.get(item.offer_id, (None, ""))
        offers.append(
            (
                Link(item.offer_id, f"/campaigns/offers/{item.offer_id}"),
                offer.kind,
                getattr(offer.title, language),
                ", ".join(item.stores) or c.every_store,
                ", ".join(offer.dayparts) or c.all_day,
                f"{offer.valid_from} .. {offer.valid_to}",
                targeting_text(offer, c),
                offer.age_restricted,
                Link(c.preview, f"/campaigns/offers/{item.offer_id}/preview"),
                when,
                who,
            )
        )
    return Page(
        "campaigns",
        c.campaigns_title,
        "campaigns",
        tables=(
            Table(
                "offers",
                c.draft_offers,
                (
                    Column("offer_id", c.col_offer),
                    Column("kind", c.col_kind),
                    Column("title", c.col_title),
                    Column("stores", c.col_stores),
                    Column("dayparts", c.col_dayparts),
                    Column("valid", c.col_valid),
                    Column("targeting", c.col_targeting),
                    Column("age_restricted", c.col_age_restricted, "bool"),
                    Column("preview", c.preview),
                    Column("updated_at", c.col_updated_at, "time"),
                    Column("updated_by", c.col_updated_by),
                ),
                tuple(offers),
                "campaigns",
            ),
            Table(
                "dayparts",
                c.dayparts,
                (Column("name", c.col_name), Column("hours", c.col_hours)),
                tuple((name, hours) for name, hours in snapshot.dayparts.items()),
                "dayparts",
            ),
            _changes_table(
                "changes",
                c.changes_since.format(version=latest.version) if latest else c.changes_first,
                latest.snapshot if latest else None,
                snapshot,
                c,
            ),
            _requests_table(request, c, pending_only=True),
        ),
        notes=(
            c.note_no_demographics,
            c.note_approval_on if desk.settings.require_approval else c.note_approval_off,
        ),
    )


def _context(request: Request, _page: Page, problem: str = "", message: str = "") -> dict[str, Any]:
    desk = desk_of(request)
    user: User | None = getattr(request.state, "user", None)
    latest = desk.publisher.latest()
    return {
        "c": cwords(request),
        "stores": desk.publisher.known_stores(desk.drafts.snapshot()),
        "pending": desk.publisher.requests("pending"),
        "require_approval": desk.settings.require_approval,
        "can_approve": user is not None and user.role in APPROVERS,
        "latest": latest,
        "link_connected": desk.link.connected,
        "problem": problem,
        "message": message,
    }


register_page(
    router,
    "/campaigns",
    "campaigns",
    allow(*CAMPAIGNERS),
    build_campaigns,
    template_name="campaigns.html",
    context=_context,
)


def _campaigns_again(
    request: Request, *, problem: str = "", message: str = "", status: int = 200
) -> Response:
    page = build_campaigns(request)
    return template(
        request, "campaigns.html", status_code=status, page=page, **_context(request, page, problem, message)
    )


# --- the offer editor ----------------------------------------------------------------------------------


Mode = Literal["new", "edit"]


def _offer_form(
    request: Request,
    item: SnapshotOffer | None,
    *,
    values: dict[str, Any] | None = None,
    problems: Sequence[tuple[str, str]] = (),
    status: int = 200,
) -> Response:
    if request.headers.get("hx-request") and status == 400:
        status = 200  # HTMX swaps only a 2xx answer in: the form comes back with its problems
    desk = desk_of(request)
    snapshot = desk.drafts.snapshot()
    form = values if values is not None else _values_of(item)
    return template(
        request,
        "campaign_offer.html",
        status_code=status,
        c=cwords(request),
        item=item,
        form=form,
        dayparts=snapshot.dayparts,
        problems=problems,
        image=desk.images.get(item.image_sha256) if item is not None else None,
        page_title=item.offer_id if item is not None else cwords(request).new_offer,
    )


def _values_of(item: SnapshotOffer | None) -> dict[str, Any]:
    if item is None:
        return {"kind": "offer", "dayparts": [], "valence": [], "min_crowd": "1"}
    offer = _offer_of(item)
    tg = offer.targeting
    return {
        "offer_id": offer.id,
        "kind": offer.kind,
        "title_ru": offer.title.ru,
        "title_en": offer.title.en,
        "body_ru": offer.body.ru,
        "body_en": offer.body.en,
        "price": offer.price or "",
        "valid_from": offer.valid_from.isoformat(),
        "valid_to": offer.valid_to.isoformat(),
        "dayparts": list(offer.dayparts),
        "stores": ", ".join(item.stores),
        "zones": ", ".join(tg.zones),
        "valence": list(tg.valence or ()),
        "min_attention_s": f"{tg.min_attention_s:g}" if tg.min_attention_s else "",
        "min_dwell_s": f"{tg.min_dwell_s:g}" if tg.min_dwell_s else "",
        "max_dwell_s": f"{tg.max_dwell_s:g}" if tg.max_dwell_s is not None else "",
        "min_crowd": str(tg.min_crowd),
        "max_crowd": str(tg.max_crowd) if tg.max_crowd is not None else "",
        "hours": ", ".join(f"{r.start:%H:%M}-{r.end:%H:%M}" for r in tg.hours),
        "age_restricted": offer.age_restricted,
        "image_sha256": item.image_sha256,
    }


@router.get("/campaigns/offers/new", name="campaign_offer_new")
def offer_new(request: Request, _user: User = allow(*CAMPAIGNERS)) -> Response:
    """The form for a new offer."""
    return _offer_form(request, None)


@router.get("/campaigns/offers/{offer_id}", name="campaign_offer")
def offer_edit(request: Request, offer_id: str, _user: User = allow(*CAMPAIGNERS)) -> Response:
    """The form of an offer of the draft, with its preview."""
    item = desk_of(request).drafts.offer(offer_id)
    if item is None:
        raise BadRequestError(f"the draft has no offer {offer_id!r}; see /campaigns")
    return _offer_form(request, item)


def offer_document(values: dict[str, Any]) -> dict[str, Any]:
    """The contract's offer (without its picture) from the form's values: only what was filled in."""
    targeting: dict[str, Any] = {}
    if _split(values.get("zones", "")):
        targeting["zones"] = _split(values["zones"])
    if values.get("valence"):
        targeting["valence"] = list(values["valence"])
    for key in ("min_attention_s", "min_dwell_s", "max_dwell_s", "min_crowd", "max_crowd"):
        text = str(values.get(key, "")).strip()
        if text:
            targeting[key] = text
    if _split(values.get("hours", "")):
        targeting["hours"] = _split(values["hours"])
    document: dict[str, Any] = {
        "id": str(values.get("offer_id", "")).strip(),
        "kind": values.get("kind") or "offer",
        "title": {"ru": values.get("title_ru", "").strip(), "en": values.get("title_en", "").strip()},
        "body": {"ru": values.get("body_ru", "").strip(), "en": values.get("body_en", "").strip()},
        "valid_from": values.get("valid_from", ""),
        "valid_to": values.get("valid_to", ""),
        "dayparts": list(values.get("dayparts", [])),
        "age_restricted": bool(values.get("age_restricted")),
    }
    if str(values.get("price", "")).strip():
        document["price"] = values["price"].strip()
    if targeting:
        document["targeting"] = targeting
    return document


@router.post("/campaigns/offers", name="campaign_offer_save")
def offer_save(
    request: Request,
    *,
    offer_id: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = "offer",
    title_ru: Annotated[str, Form()] = "",
    title_en: Annotated[str, Form()] = "",
    body_ru: Annotated[str, Form()] = "",
    body_en: Annotated[str, Form()] = "",
    price: Annotated[str, Form()] = "",
    valid_from: Annotated[str, Form()] = "",
    valid_to: Annotated[str, Form()] = "",
    dayparts: Annotated[list[str] | None, Form()] = None,
    stores: Annotated[str, Form()] = "",
    zones: Annotated[str, Form()] = "",
    valence: Annotated[list[str] | None, Form()] = None,
    min_attention_s: Annotated[str, Form()] = "",
    min_dwell_s: Annotated[str, Form()] = "",
    max_dwell_s: Annotated[str, Form()] = "",
    min_crowd: Annotated[str, Form()] = "",
    max_crowd: Annotated[str, Form()] = "",
    hours: Annotated[str, Form()] = "",
    age_restricted: Annotated[str, Form()] = "",
    image_sha256: Annotated[str, Form()] = "",
    picture: Annotated[UploadFile | None, File()] = None,
    user: User = allow(*CAMPAIGNERS),
) -> Response:
    """Save an offer of the form (a new picture, if one is uploaded, is checked and resized first). Every
    problem, a demographic or appearance attribute among them, comes back on the form."""
    desk = desk_of(request)
    values: dict[str, Any] = {
        "offer_id": offer_id,
        "kind": kind,
        "title_ru": title_ru,
        "title_en": title_en,
        "body_ru": body_ru,
        "body_en": body_en,
        "price": price,
        "valid_from": valid_from,
        "valid_to": valid_to,
        "dayparts": dayparts or [],
        "stores": stores,
        "zones": zones,
        "valence": valence or [],
        "min_attention_s": min_attention_s,
        "min_dwell_s": min_dwell_s,
        "max_dwell_s": max_dwell_s,
        "min_crowd": min_crowd,
        "max_crowd": max_crowd,
        "hours": hours,
        "age_restricted": bool(age_restricted),
        "image_sha256": image_sha256,
    }
    existing = desk.drafts.offer(offer_id.strip()) if offer_id.strip() else None
    try:
        if picture is not None and picture.filename:
            stored = desk.images.add(picture.file.read(), picture.filename, user.username)
            values["image_sha256"] = stored.sha256
            services_of(request).audit.record(
                user.username,
                "campaign_edit",
                target=f"picture {stored.sha256[:12]}",
                address=client_address(request),
                detail=f"uploaded {picture.filename[:80]} as {stored.width}x{stored.height} {stored.format}",
            )
        if not values["image_sha256"]:
            raise InvalidOfferError([("image", cwords(request).picture_needed)])
        item = desk.drafts.save_offer(
            offer_document(values),
            stores=_split(stores),
            image_sha256=values["image_sha256"],
            by=user.username,
        )
    except InvalidOfferError as exc:
        return _offer_form(request, existing, values=values, problems=exc.issues, status=400)
    except ImageRejectedError as exc:
        return _offer_form(request, existing, values=values, problems=[("picture", str(exc))], status=400)
    services_of(request).audit.record(
        user.username,
        "campaign_edit",
        target=f"offer {item.offer_id}",
        address=client_address(request),
        detail=("changed" if existing is not None else "added")
        + f"; stores: {', '.join(item.stores) or 'all'}",
    )
    target = f"/campaigns/offers/{item.offer_id}"
    if request.headers.get("hx-request"):
        return Response(status_code=200, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


@router.post("/campaigns/offers.json", name="campaign_offer_save_json")
async def offer_save_json(request: Request, user: User = allow(*CAMPAIGNERS)) -> Response:
    """Save an offer from JSON: ``{"offer": {the contract's offer without "image"}, "stores": [...],
    "image_sha256": "<a picture uploaded with POST /campaigns/images>"}``. 400 with every problem."""
    try:
        body = await request.json()
    except ValueError:
        return JSONResponse({"error": "the body is not JSON"}, status_code=400)
    if not isinstance(body, dict) or not isinstance(body.get("offer"), dict):
        return JSONResponse(
            {"error": 'send {"offer": {...}, "stores": [...], "image_sha256": "..."}'}, status_code=400
        )
    stores = body.get("stores") or []
    if not isinstance(stores, list):
        return JSONResponse({"error": "stores is a list of store ids"}, status_code=400)
    desk = desk_of(request)
    offer, image_sha256 = body["offer"], str(body.get("image_sha256", ""))
    try:
        item = await to_thread.run_sync(
            lambda: desk.drafts.save_offer(
                offer, stores=[str(s) for s in stores], image_sha256=image_sha256, by=user.username
            )
        )
    except InvalidOfferError as exc:
        return JSONResponse(
            {"error": str(exc), "issues": [{"where": w, "what": m} for w, m in exc.issues]}, status_code=400
        )
    services_of(request).audit.record(
        user.username,
        "campaign_edit",
        target=f"offer {item.offer_id}",
        address=client_address(request),
        detail="saved (JSON)",
    )
    return JSONResponse({"offer": item.offer, "stores": list(item.stores), "image_sha256": item.image_sha256})


@router.post("/campaigns/images", name="campaign_image_upload")
def image_upload(
    request: Request, picture: Annotated[UploadFile, File()], user: User = allow(*CAMPAIGNERS)
) -> Response:
    """Upload a picture (checked and resized); its sha256 for an offer."""
    try:
        stored = desk_of(request).images.add(picture.file.read(), picture.filename or "", user.username)
    except ImageRejectedError as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    services_of(request).audit.record(
        user.username,
        "campaign_edit",
        target=f"picture {stored.sha256[:12]}",
        address=client_address(request),
    )
    return JSONResponse(
        {
            "sha256": stored.sha256,
            "format": stored.format,
            "width": stored.width,
            "height": stored.height,
            "size_bytes": stored.size_bytes,
            "asset": stored.asset_name,
        }
    )


@router.get("/campaigns/images/{sha256}", name="campaign_image")
def image(request: Request, sha256: str, _user: User = allow(*CAMPAIGNERS)) -> Response:
    """A picture as stored."""
    desk = desk_of(request)
    found = desk.images.get(sha256)
    data = desk.images.data(sha256) if found is not None else None
    if found is None or data is None:
        raise BadRequestError(f"no picture {sha256[:16]!r}")
    return Response(data, media_type="image/png" if found.format == "PNG" else "image/jpeg")


@router.post("/campaigns/offers/{offer_id}/delete", name="campaign_offer_delete")
def offer_delete(request: Request, offer_id: str, user: User = allow(*CAMPAIGNERS)) -> Response:
    """Take an offer out of the draft (published versions keep it)."""
    if desk_of(request).drafts.delete_offer(offer_id):
        services_of(request).audit.record(
            user.username,
            "campaign_edit",
            target=f"offer {offer_id}",
            address=client_address(request),
            detail="removed",
        )
    return RedirectResponse("/campaigns", status_code=303)


# --- previews ------------------------------------------------------------------------------------------


def _preview_offer(request: Request, offer_id: str, version: int | None) -> tuple[Offer, bytes | None]:
    desk = desk_of(request)
    if version is not None:
        published = desk.publisher.version(version)
        item = (
            next((o for o in published.snapshot.offers if o.offer_id == offer_id), None)
            if published
            else None
        )
    else:
        item = desk.drafts.offer(offer_id)
    if item is None:
        raise BadRequestError(
            f"no offer {offer_id!r}" + (f" in version {version}" if version else " in the draft")
        )
    return _offer_of(item), desk.images.data(item.image_sha256)


@router.get("/campaigns/offers/{offer_id}/preview.png", name="campaign_preview_png")
def preview_png(
    request: Request,
    offer_id: str,
    lang: str = "ru",
    orientation: str = "landscape",
    version: int | None = None,
    _user: User = allow(*CAMPAIGNERS),
) -> Response:
    """The offer drawn as the kiosk draws it (Pillow, offer_layout), 1280x720 or 720x1280."""
    language: Literal["ru", "en"] = "en" if lang == "en" else "ru"
    offer, data = _preview_offer(request, offer_id, version)
    width, height = (720, 1280) if orientation == "portrait" else (1280, 720)
    drawn = render_offer(offer, data, language, width=width, height=height)
    return Response(drawn.png, media_type="image/png", headers={"cache-control": "no-store"})


@router.get("/campaigns/offers/{offer_id}/preview", name="campaign_preview")
def preview_page(
    request: Request, offer_id: str, version: int | None = None, _user: User = allow(*CAMPAIGNERS)
) -> Response:
    """The offer's preview in both languages, landscape and portrait."""
    offer, _ = _preview_offer(request, offer_id, version)
    return template(
        request, "campaign_preview.html", c=cwords(request), offer=offer, version=version, page_title=offer.id
    )


# --- dayparts ------------------------------------------------------------------------------------------


@router.post("/campaigns/dayparts", name="campaign_daypart_save")
def daypart_save(
    request: Request,
    name: Annotated[str, Form()] = "",
    hours: Annotated[str, Form()] = "",
    user: User = allow(*CAMPAIGNERS),
) -> Response:
    """Add or change a daypart ('HH:MM-HH:MM')."""
    try:
        desk_of(request).drafts.set_daypart(name, hours, user.username)
    except InvalidOfferError as exc:
        return _campaigns_again(request, problem=str(exc), status=400)
    services_of(request).audit.record(
        user.username,
        "campaign_edit",
        target=f"daypart {name}",
        address=client_address(request),
        detail=hours,
    )
    return RedirectResponse("/campaigns", status_code=303)


@router.post("/campaigns/dayparts/{name}/delete", name="campaign_daypart_delete")
def daypart_delete(request: Request, name: str, user: User = allow(*CAMPAIGNERS)) -> Response:
    """Remove a daypart no offer uses."""
    try:
        desk_of(request).drafts.delete_daypart(name)
    except CampaignError as exc:
        return _campaigns_again(request, problem=str(exc), status=400)
    services_of(request).audit.record(
        user.username,
        "campaign_edit",
        target=f"daypart {name}",
        address=client_address(request),
        detail="removed",
    )
    return RedirectResponse("/campaigns", status_code=303)


# --- publishing and approval ---------------------------------------------------------------------------


def _outcome_message(c: CampaignWords, outcome: Outcome) -> str:
    if outcome.version is None:
        return c.requested.format(request=outcome.request.id)
    text = c.published.format(version=outcome.version.version, scope=scope_label(outcome.version.scope))
    if outcome.unsent:
        text += " " + c.unsent.format(stores=", ".join(outcome.unsent))
    return text


@router.post("/campaigns/publish", name="campaign_publish")
def publish(
    request: Request,
    scope: Annotated[str, Form()] = FLEET,
    note: Annotated[str, Form()] = "",
    user: User = allow(*CAMPAIGNERS),
) -> Response:
    """Publish the draft to a store or the fleet (or ask for approval, when required)."""
    c = cwords(request)
    try:
        outcome = desk_of(request).publisher.request(
            scope.strip(), user.username, note=note, address=client_address(request)
        )
    except CampaignError as exc:
        return _campaigns_again(request, problem=str(exc), status=400)
    return _campaigns_again(request, message=_outcome_message(c, outcome))


@router.post("/campaigns/requests/{request_id}/approve", name="campaign_approve")
def approve(request: Request, request_id: int, user: User = allow(*APPROVERS)) -> Response:
    """A second admin approves: the request is published, by them."""
    c = cwords(request)
    try:
        outcome = desk_of(request).publisher.approve(
            request_id, user.username, user.role, address=client_address(request)
        )
    except CampaignError as exc:
        return _campaigns_again(request, problem=str(exc), status=400)
    return _campaigns_again(request, message=_outcome_message(c, outcome))


@router.post("/campaigns/requests/{request_id}/reject", name="campaign_reject")
def reject(
    request: Request, request_id: int, reason: Annotated[str, Form()] = "", user: User = allow(*APPROVERS)
) -> Response:
    """An admin rejects a request waiting for approval."""
    try:
        desk_of(request).publisher.reject(
            request_id, user.username, address=client_address(request), reason=reason
        )
    except CampaignError as exc:
        return _campaigns_again(request, problem=str(exc), status=400)
    return RedirectResponse("/campaigns", status_code=303)


# --- history -------------------------------------------------------------------------------------------


def build_history(request: Request) -> Page:
    """Versions, each store's releases, each device's reported version (who is behind, why), requests."""
    c = cwords(request)
    desk = desk_of(request)
    services = services_of(request)
    versions = desk.publisher.versions()
    latest = desk.publisher.latest_releases()
    fleet = services.reports.fleet(services.clock(), live=services.link.live_devices())
    presence = {(d.store_id, d.device_id): Presence(d.online, d.last_seen) for d in fleet.devices}
    devices = device_versions(
        desk.db, {s: StoreRelease(r.version, r.issued_at) for s, r in latest.items()}, presence
    )
    states = {
        "current": c.state_current,
        "refused": c.state_refused,
        "offline": c.state_offline,
        "waiting": c.state_waiting,
        "no_release": c.state_no_release,
        "ahead": c.state_ahead,
    }
    counts = {label: sum(1 for d in devices if d.state == key) for key, label in states.items()}
    return Page(
        "campaign_history",
        c.history_title,
        "version-history",
        tables=(
            Table(
                "versions",
                c.versions,
                (
                    Column("version", c.col_version),
                    Column("kind", c.col_kind),
                    Column("scope", c.col_scope),
                    Column("published_at", c.col_published_at, "time"),
                    Column("published_by", c.col_published_by),
                    Column("requested_by", c.col_requested_by),
                    Column("approved_by", c.col_approved_by),
                    Column("offers", c.col_offers, "int"),
                    Column("rollback_of", c.col_rollback_of, "int"),
                    Column("note", c.col_note),
                ),
                tuple(
                    (
                        Link(str(v.version), f"/campaigns/history/{v.version}"),
                        v.kind,
                        scope_label(v.scope),
                        v.published_at,
                        v.published_by,
                        v.requested_by,
                        v.approved_by,
                        len(v.snapshot.offers),
                        v.rollback_of,
                        v.note,
                    )
                    for v in versions
                ),
                "version-history",
            ),
            Table(
                "devices",
                c.devices_versions,
                (
                    Column("store_id", c.col_store),
                    Column("device_id", c.col_device),
                    Column("expected", c.col_expected, "int"),
                    Column("installed", c.col_installed, "int"),
                    Column("state", c.col_state),
                    Column("why", c.col_why),
                    Column("online", c.col_online, "bool"),
                    Column("last_seen", c.col_last_seen, "time"),
                    Column("reported_at", c.col_reported_at, "time"),
                ),
                tuple(
                    (
                        d.store_id,
                        d.device_id,
                        d.expected,
                        d.installed,
                        states[d.state],
                        d.why,
                        d.online,
                        d.last_seen,
                        d.reported_at,
                    )
                    for d in devices
                ),
                "who-is-behind",
            ),
            Table(
                "releases",
                c.releases,
                (
                    Column("store_id", c.col_store),
                    Column("version", c.col_version, "int"),
                    Column("offers", c.col_offers, "int"),
                    Column("size_bytes", c.col_size_bytes, "int"),
                    Column("issued_at", c.col_issued_at, "time"),
                    Column("sent", c.col_sent, "bool"),
                    Column("sent_at", c.col_sent_at, "time"),
                    Column("problem", c.col_problem),
                ),
                tuple(
                    (r.store_id, r.version, r.offers, r.size_bytes, r.issued_at, r.sent, r.sent_at, r.problem)
                    for r in desk.publisher.releases()
                ),
                "version-history",
            ),
            _requests_table(request, c, pending_only=False),
        ),
        charts=(
            Chart(
                "devices_by_state",
                c.chart_devices_by_state,
                "bar",
                tuple(counts),
                (Series(c.col_devices, tuple(float(v) for v in counts.values())),),
            ),
        ),
    )


register_page(
    router,
    "/campaigns/history",
    "campaign_history",
    allow(*CAMPAIGNERS),
    build_history,
    template_name="campaign_history.html",
    context=lambda request, _page: {"c": cwords(request), "problem": "", "message": ""},
)


def build_version(request: Request, number: int, against: int | None) -> tuple[Page, int | None]:
    """One version's changes against another (the one before it by default)."""
    c = cwords(request)
    publisher = desk_of(request).publisher
    version = publisher.version(number)
    if version is None:
        raise BadRequestError(f"there is no version {number}; see /campaigns/history")
    base_number = (
        against
        if against is not None
        else max((v.version for v in publisher.versions() if v.version < number), default=None)
    )
    base = publisher.version(base_number) if base_number is not None else None
    title = c.version_title.format(version=number)
    page = Page(
        "campaign_version",
        title,
        "version-history",
        tables=(
            _changes_table(
                "changes",
                c.changes_against.format(version=base_number) if base_number else c.changes_first,
                base.snapshot if base else None,
                version.snapshot,
                c,
            ),
            Table(
                "offers",
                c.version_offers,
                (
                    Column("offer_id", c.col_offer),
                    Column("title", c.col_title),
                    Column("stores", c.col_stores),
                    Column("preview", c.preview),
                ),
                tuple(
                    (
                        item.offer_id,
                        str(item.offer.get("title", {}).get(language_of(request), "")),
                        ", ".join(item.stores) or c.every_store,
                        Link(c.preview, f"/campaigns/offers/{item.offer_id}/preview?version={number}"),
                    )
                    for item in version.snapshot.offers
                ),
                "version-history",
            ),
        ),
        notes=(
            c.version_note.format(
                kind=version.kind,
                scope=scope_label(version.scope),
                by=version.published_by,
                requested=version.requested_by,
                approved=version.approved_by or "—",
            ),
        ),
    )
    return page, base_number


@router.get("/campaigns/history/{number}", name="campaign_version")
def version_page(
    request: Request, number: int, against: int | None = None, _user: User = allow(*CAMPAIGNERS)
) -> Response:
    """A version: what changed against the one before it (or ``?against=N``), its offers, rollback."""
    page, base_number = build_version(request, number, against)
    versions = [v.version for v in desk_of(request).publisher.versions()]
    return template(
        request,
        "campaign_version.html",
        page=page,
        c=cwords(request),
        number=number,
        against=base_number,
        versions=versions,
    )


@router.get("/campaigns/history/{number}/changes.csv", name="campaign_version_csv")
def version_csv(
    request: Request, number: int, against: int | None = None, _user: User = allow(*CAMPAIGNERS)
) -> Response:
    """A version's changes as CSV."""
    page, _ = build_version(request, number, against)
    return respond(request, page, "csv", "changes")


@router.post("/campaigns/history/{number}/rollback", name="campaign_rollback")
def rollback(request: Request, number: int, user: User = allow(*CAMPAIGNERS)) -> Response:
    """Publish version ``number`` again as a new, signed version (approval as for any publication)."""
    c = cwords(request)
    try:
        outcome = desk_of(request).publisher.rollback(number, user.username, address=client_address(request))
    except CampaignError as exc:
        return _campaigns_again(request, problem=str(exc), status=400)
    return _campaigns_again(request, message=_outcome_message(c, outcome))
