"""Offers: the funnel per offer and per arm, mood uplift, and frustration and the offers it follows."""

from __future__ import annotations

from backoffice.db import Database
from backoffice.reports.models import Filters, FrustrationReport, MoodReport, OffersReport
from backoffice.settings import ReportSettings


def offers(db: Database, filters: Filters, settings: ReportSettings) -> OffersReport:
    """Funnel shown -> attended -> tapped -> redeemed from ``offer_hourly``, per offer and per arm."""
    raise NotImplementedError("written in the next commit")


def mood(db: Database, filters: Filters, settings: ReportSettings) -> MoodReport:
    """Mood uplift per offer from ``offer_hourly``'s paired valence seconds."""
    raise NotImplementedError("written in the next commit")


def frustration(db: Database, filters: Filters, settings: ReportSettings) -> FrustrationReport:
    """Frustration per 100 visits (``audience_hourly``) and the offers it follows (``offer_hourly``)."""
    raise NotImplementedError("written in the next commit")
