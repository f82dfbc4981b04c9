"""Redemption at the till (operator, admin): a cashier's page (type the code or scan its QR code) and a JSON
endpoint for a till system. A code is checked with the contract's scheme and redeemed exactly once
(:mod:`backoffice.redemption`); a refused code is told in words a cashier understands, in Russian or
English (already used at 14:02, expired, from another store, mistyped)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, Response

from backoffice.redemption import Redemption, TillVerdict
from backoffice.web.access import allow
from backoffice.web.campaign_context import cwords, desk_of
from backoffice.web.campaign_i18n import CampaignWords, campaign_words_for
from backoffice.web.context import services_of
from backoffice.web.i18n import Language
from backoffice.web.page import Chart, Column, Page, Series, Table
from backoffice.web.render import language_of, template
from backoffice.web.routes.common import register_page
from backoffice.web.routes.session import client_address
from backoffice.web.users import Role, User

router = APIRouter()

#: Who redeems codes.
CASHIERS: tuple[Role, ...] = ("operator", "admin")

#: The session key of the store the till was last used for.
TILL_STORE = "till_store"


def _local(moment: datetime, request: Request) -> datetime:
    return moment.astimezone(services_of(request).settings.zone)


def _day(day: date | None, language: Language) -> str:
    if day is None:
        return ""
    return day.strftime("%d.%m.%Y") if language == "ru" else day.isoformat()


def verdict_text(request: Request, verdict: TillVerdict, language: Language | None = None) -> str:
    """What the cashier is told about ``verdict``, in ``language`` (else the page's)."""
    chosen = language or language_of(request)
    c = campaign_words_for(chosen)
    title = ""
    if verdict.offer_id is not None:
        title = desk_of(request).publisher.offer_title(verdict.offer_id, chosen) or verdict.offer_id
    used = verdict.redemption
    if verdict.status == "already_used" and used is not None:
        when = _local(used.redeemed_at, request)
        return c.till_already_used.format(
            time=when.strftime("%H:%M"),
            date=_day(when.date(), chosen),
            store=used.store_id,
            till=used.till or "—",
            by=used.redeemed_by,
        )
    texts: dict[str, str] = {
        "ok": c.till_ok.format(offer=title, expires=_day(verdict.expires, chosen)),
        "expired": c.till_expired.format(date=_day(verdict.expires, chosen)),
        "other_store": c.till_other_store.format(store=verdict.issued_in or "?"),
        "unknown_device": c.till_unknown_device,
        "unknown_offer": c.till_unknown_offer,
        "mistyped": c.till_mistyped,
        "malformed": c.till_malformed,
        "not_set_up": c.till_not_set_up,
    }
    return texts.get(verdict.status, c.till_mistyped)


def reward_text(c: CampaignWords, redemption: Redemption) -> str:
    """How the reward to the kiosk went, in words."""
    return {
        "pending": c.reward_pending,
        "rewarded": c.reward_rewarded,
        "refused": c.reward_refused,
        "gave_up": c.reward_gave_up,
    }[redemption.reward_status]


def build_till(request: Request) -> Page:
    """The till page's data: the latest redemptions (of the till's store, when one is chosen)."""
    c = cwords(request)
    store = (
        str(request.session.get(TILL_STORE, ""))
        if request.query_params.get("store") is None
        else (request.query_params.get("store", ""))
    )
    recent = desk_of(request).till.recent(store_id=store)
    rewards = {
        key: sum(1 for r in recent if r.reward_status == key)
        for key in ("pending", "rewarded", "refused", "gave_up")
    }
    return Page(
        "till",
        c.till_title,
        "redemption-at-the-till",
        tables=(
            Table(
                "redemptions",
                c.till_recent,
                (
                    Column("redeemed_at", c.col_redeemed_at, "time"),
                    Column("code", c.col_code),
                    Column("offer_id", c.col_offer),
                    Column("store_id", c.col_store),
                    Column("device_id", c.col_device),
                    Column("till", c.col_till),
                    Column("redeemed_by", c.col_redeemed_by),
                    Column("expires", c.col_expires),
                    Column("reward", c.col_reward),
                    Column("reward_detail", c.col_reward_detail),
                ),
                tuple(
                    (
                        r.redeemed_at,
                        r.code,
                        r.offer_id,
                        r.store_id,
                        r.device_id,
                        r.till,
                        r.redeemed_by,
                        r.expires.isoformat(),
                        reward_text(c, r),
                        r.reward_detail,
                    )
                    for r in recent
                ),
                "redemption-at-the-till",
            ),
        ),
        charts=(
            Chart(
                "rewards",
                c.chart_rewards,
                "bar",
                (c.reward_pending, c.reward_rewarded, c.reward_refused, c.reward_gave_up),
                (Series(c.col_redemptions, tuple(float(v) for v in rewards.values())),),
            ),
        ),
        filters={"store": store},
    )


def _till_context(request: Request, verdict: TillVerdict | None = None, code: str = "") -> dict[str, Any]:
    desk = desk_of(request)
    return {
        "c": cwords(request),
        "stores": desk.publisher.known_stores(),
        "store": str(request.session.get(TILL_STORE, "")),
        "till": str(request.session.get("till_name", "")),
        "verdict": verdict,
        "verdict_text": verdict_text(request, verdict) if verdict is not None else "",
        "code": code,
    }


register_page(
    router,
    "/till",
    "till",
    allow(*CASHIERS),
    build_till,
    template_name="till.html",
    context=lambda request, _page: _till_context(request),
)


@router.post("/till", name="till_redeem")
def till_redeem(
    request: Request,
    code: Annotated[str, Form()] = "",
    store: Annotated[str, Form()] = "",
    till: Annotated[str, Form()] = "",
    user: User = allow(*CASHIERS),
) -> Response:
    """The cashier's form: redeem a code at a store; the answer on the page."""
    request.session[TILL_STORE] = store.strip()
    request.session["till_name"] = till.strip()[:64]
    verdict = desk_of(request).till.redeem(
        code, store.strip(), by=user.username, till=till.strip(), address=client_address(request)
    )
    if verdict.ok and verdict.redemption is not None:
        desk_of(request).courier.send(verdict.redemption)
    page = build_till(request)
    return template(
        request,
        "till.html",
        status_code=200 if verdict.ok else 409,
        page=page,
        **_till_context(request, verdict, "" if verdict.ok else code),
    )


@router.post("/till/redeem.json", name="till_redeem_json")
async def till_redeem_json(request: Request, user: User = allow(*CASHIERS)) -> Response:
    """A till system's call: ``{"code": "...", "store_id": "...", "till": "..."}``. 200 with ``"ok": true``
    when the code is redeemed now; 409 with ``"ok": false``, ``status`` and a ``message`` (in the
    session's language, or ``?lang=ru|en``) when it is refused; 400 for a malformed request."""
    try:
        body = await request.json()
    except ValueError:
        return JSONResponse({"error": "the body is not JSON"}, status_code=400)
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("code"), str)
        or not isinstance(body.get("store_id"), str)
    ):
        return JSONResponse(
            {"error": 'send {"code": "...", "store_id": "...", "till": "..."}'}, status_code=400
        )
    till_name = str(body.get("till", ""))[:64]
    desk = desk_of(request)
    verdict = await to_thread.run_sync(
        lambda: desk.till.redeem(
            body["code"],
            body["store_id"].strip(),
            by=user.username,
            till=till_name,
            address=client_address(request),
        )
    )
    if verdict.ok and verdict.redemption is not None:
        redemption = verdict.redemption
        await to_thread.run_sync(lambda: desk.courier.send(redemption))
    used = verdict.redemption
    asked = request.query_params.get("lang")
    language: Language | None = "ru" if asked == "ru" else "en" if asked == "en" else None
    return JSONResponse(
        {
            "ok": verdict.ok,
            "status": verdict.status,
            "code": verdict.code,
            "message": verdict_text(request, verdict, language),
            "offer_id": verdict.offer_id,
            "device_id": verdict.device_id,
            "store_id": verdict.store_id,
            "issued_in": verdict.issued_in,
            "expires": verdict.expires.isoformat() if verdict.expires else None,
            "redeemed_at": used.redeemed_at.isoformat() if used is not None else None,
            "redeemed_by": used.redeemed_by if used is not None else None,
            "till": used.till if used is not None else None,
        },
        status_code=200 if verdict.ok else 409,
    )
