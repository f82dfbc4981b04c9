"""Offers: the funnel per offer and per arm, mood uplift, and frustration and the offers it follows.

Populations (a cell is suppressed when 0 < population < k):

- funnel and arm rows: the offer's showings to a visit (``offer_shown`` with a ``visit_ref``; attract-mode
  showings, to nobody in particular, do not count). A visit shown the same offer twice counts twice.
- mood rows: paired showings, ``offer_ended`` events whose shopper's valence was read both before and
  while the offer showed.
- frustration by time: visits whose expression was read (``visit_ended`` of schema 2 with a valence mix
  that is not empty; docs/backoffice-data.md, Frustration); per offer: the offer's showings to a visit;
  the share of all frustrations: the frustrated visits of the range (every ``frustrated_after`` counts).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from backoffice.db import Database
from backoffice.reports.models import (
    ArmRow,
    Filters,
    FrustrationOfferRow,
    FrustrationReport,
    FrustrationRow,
    FunnelRow,
    MoodReport,
    MoodRow,
    OffersReport,
    Suppressed,
    Value,
    cell,
    ratio,
)
from backoffice.reports.query import Sums, add_up, by_day, by_hour, per_hour, sums
from backoffice.rollups import AUDIENCE, OFFERS
from backoffice.settings import ReportSettings


def funnel_row(offer_id: str | None, v: Sums, k: int) -> FunnelRow:
    """One offer's (or the total's) :class:`FunnelRow` from ``offer_hourly`` sums."""
    population = int(v.get("shown_to_visits", 0))
    shown, ended, tapped = v.get("shown", 0.0), v.get("ended", 0.0), v.get("tapped", 0.0)

    def c(value: float | None) -> Value | Suppressed:
        return cell(value, population, k)

    return FunnelRow(
        offer_id=offer_id,
        shown=c(shown),
        shown_to_visits=c(population),
        ended=c(ended),
        attended=c(v.get("attended", 0)),
        tapped=c(tapped),
        redeemed=c(v.get("redeemed", 0)),
        attended_rate=c(ratio(v.get("attended", 0), ended)),
        tap_rate=c(ratio(tapped, shown)),
        redemption_rate=c(ratio(v.get("redeemed", 0), shown)),
        shown_s_mean=c(ratio(v.get("shown_s", 0), ended)),
    )


def arm_row(offer_id: str, arm: str, v: Sums, k: int) -> ArmRow:
    """One arm's :class:`ArmRow` (``arm`` '' is 'rules alone chose')."""
    population = int(v.get("shown_to_visits", 0))
    shown, ended, tapped = v.get("shown", 0.0), v.get("ended", 0.0), v.get("tapped", 0.0)

    def c(value: float | None) -> Value | Suppressed:
        return cell(value, population, k)

    return ArmRow(
        offer_id=offer_id,
        arm=arm or None,
        shown=c(shown),
        shown_to_visits=c(population),
        ended=c(ended),
        attended=c(v.get("attended", 0)),
        tapped=c(tapped),
        redeemed=c(v.get("redeemed", 0)),
        attended_rate=c(ratio(v.get("attended", 0), ended)),
        tap_rate=c(ratio(tapped, shown)),
        redemption_rate=c(ratio(v.get("redeemed", 0), shown)),
    )


def _per_offer(grouped: dict[tuple[Any, ...], Sums]) -> dict[str, Sums]:
    offers: dict[str, list[Sums]] = defaultdict(list)
    for (offer_id, _arm), values in grouped.items():
        offers[str(offer_id)].append(values)
    return {offer_id: add_up(groups) for offer_id, groups in offers.items()}


Grouped = dict[tuple[Any, ...], Sums]


def offer_sums(db: Database, filters: Filters) -> Grouped:
    """``offer_hourly``'s every column summed per (offer, arm) over ``filters``: what :func:`offers`,
    :func:`mood` and :func:`frustration` read, fetched once for a page that shows all three."""
    return sums(db, OFFERS, filters, ("offer_id", "arm"))


def offers(
    db: Database, filters: Filters, settings: ReportSettings, *, grouped: Grouped | None = None
) -> OffersReport:
    """Funnel shown -> attended -> tapped -> redeemed from ``offer_hourly``, per offer and per arm
    (``grouped``: :func:`offer_sums` already fetched)."""
    k = settings.k_anonymity
    grouped = offer_sums(db, filters) if grouped is None else grouped
    per_offer = _per_offer(grouped)
    arms = [
        arm_row(str(offer_id), str(arm), v, k)
        for (offer_id, arm), v in sorted(grouped.items())
        if v.get("shown", 0) or v.get("ended", 0) or v.get("tapped", 0) or v.get("redeemed", 0)
    ]
    return OffersReport(
        filters=filters,
        k=k,
        total=funnel_row(None, add_up(per_offer.values()), k),
        per_offer=tuple(funnel_row(offer_id, v, k) for offer_id, v in sorted(per_offer.items())),
        per_arm=tuple(arms),
    )


def mood_row(offer_id: str | None, v: Sums, k: int) -> MoodRow:
    """One offer's (or the total's) :class:`MoodRow` from ``offer_hourly``'s paired valence seconds."""
    pairs = int(v.get("mood_pairs", 0))
    before = [v.get(f"before_{c}_s", 0.0) for c in ("negative", "neutral", "positive")]
    during = [v.get(f"during_{c}_s", 0.0) for c in ("negative", "neutral", "positive")]
    before_positive, during_positive = ratio(before[2], sum(before)), ratio(during[2], sum(during))
    before_negative, during_negative = ratio(before[0], sum(before)), ratio(during[0], sum(during))

    def c(value: float | None) -> Value | Suppressed:
        return cell(value, pairs, k)

    def uplift(after: float | None, prior: float | None) -> float | None:
        return None if after is None or prior is None else after - prior

    return MoodRow(
        offer_id=offer_id,
        pairs=c(pairs),
        before_positive_share=c(before_positive),
        during_positive_share=c(during_positive),
        positive_uplift=c(uplift(during_positive, before_positive)),
        before_negative_share=c(before_negative),
        during_negative_share=c(during_negative),
        negative_uplift=c(uplift(during_negative, before_negative)),
    )


def mood(
    db: Database, filters: Filters, settings: ReportSettings, *, grouped: Grouped | None = None
) -> MoodReport:
    """Mood uplift per offer from ``offer_hourly``'s paired valence seconds (``grouped``:
    :func:`offer_sums` already fetched)."""
    k = settings.k_anonymity
    per_offer = _per_offer(offer_sums(db, filters) if grouped is None else grouped)
    rows = [mood_row(o, v, k) for o, v in sorted(per_offer.items()) if v.get("mood_pairs", 0)]
    return MoodReport(
        filters=filters, k=k, total=mood_row(None, add_up(per_offer.values()), k), per_offer=tuple(rows)
    )


def frustration_row(start: datetime | None, v: Sums, k: int) -> FrustrationRow:
    """One bucket's :class:`FrustrationRow` from ``audience_hourly`` sums."""
    visits = int(v.get("visits_v2_read", 0))
    frustrated = v.get("frustrated_read", 0.0)
    return FrustrationRow(
        start=start,
        visits_read=cell(visits, visits, k),
        frustrated=cell(frustrated, visits, k),
        per_100_visits_read=cell(ratio(100 * frustrated, visits), visits, k),
    )


def frustration(
    db: Database,
    filters: Filters,
    settings: ReportSettings,
    *,
    hours: dict[int, Sums] | None = None,
    grouped: Grouped | None = None,
) -> FrustrationReport:
    """Frustrated visits per 100 visits whose expression was read (``audience_hourly``) and the offers
    frustration follows (``offer_hourly``). ``hours``: ``audience_hourly`` by hour already fetched (any
    columns that include ``visits_v2_read``, ``frustrated_read``, ``frustrated``); ``grouped``:
    :func:`offer_sums` already fetched."""
    k = settings.k_anonymity
    if hours is None:
        columns = ("visits_v2_read", "frustrated_read", "frustrated")
        hours = per_hour(sums(db, AUDIENCE, filters, ("hour",), columns=columns))
    total = add_up(hours.values())
    all_frustrated = int(total.get("frustrated", 0))
    if grouped is None:
        grouped = sums(
            db, OFFERS, filters, ("offer_id", "arm"), columns=("shown_to_visits", "frustrated_after")
        )
    per_offer = _per_offer(grouped)
    offer_rows = []
    for offer_id, v in sorted(per_offer.items(), key=lambda kv: (-kv[1].get("frustrated_after", 0), kv[0])):
        showings, after = int(v.get("shown_to_visits", 0)), v.get("frustrated_after", 0.0)
        offer_rows.append(
            FrustrationOfferRow(
                offer_id=offer_id,
                shown_to_visits=cell(showings, showings, k),
                frustrated_after=cell(after, showings, k),
                per_100_showings=cell(ratio(100 * after, showings), showings, k),
                # Built from two populations: suppressed when either is under k.
                share_of_frustrated=cell(
                    ratio(after, all_frustrated), min(showings, all_frustrated) if showings else 0, k
                ),
            )
        )
    return FrustrationReport(
        filters=filters,
        k=k,
        by_hour=tuple(frustration_row(start, v, k) for start, v in by_hour(hours, filters)),
        by_day=tuple(frustration_row(start, v, k) for start, v in by_day(hours, filters)),
        total=frustration_row(None, total, k),
        per_offer=tuple(offer_rows),
    )
