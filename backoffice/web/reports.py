"""The reports the pages show: :mod:`backoffice.reports` (pure queries over the hourly rollups, never raw
events) bound to the store and the report and alert settings, and the filters a page passes them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from backoffice import reports
from backoffice.db import Database
from backoffice.reports.audience import audience_hours
from backoffice.reports.models import (
    AudienceReport,
    DeviceHistory,
    FeedbackReport,
    Filters,
    FleetReport,
    FrustrationReport,
    LiveDevice,
    MoodReport,
    OffersReport,
    StaffKpiReport,
)
from backoffice.reports.offers import offer_sums
from backoffice.settings import AlertSettings, ReportSettings

#: Days a page covers when no range is asked for (today and the days before it).
DEFAULT_DAYS = 7


@dataclass(frozen=True)
class PageFilters:
    """The filters of a page's form: a store, a device, a range of whole days (both ends included) in the
    display time zone."""

    store: str
    device: str
    start: date
    end: date
    zone: ZoneInfo

    @classmethod
    def parse(
        cls,
        *,
        store: str | None,
        device: str | None,
        start: date | None,
        end: date | None,
        now: datetime,
        zone: ZoneInfo,
    ) -> PageFilters:
        """The filters asked for, with defaults: every store and device, the last :data:`DEFAULT_DAYS` days.
        A range given backwards is turned round."""
        today = now.astimezone(zone).date()
        last = end or today
        first = start or (last - timedelta(days=DEFAULT_DAYS - 1))
        if first > last:
            first, last = last, first
        return cls((store or "").strip(), (device or "").strip(), first, last, zone)

    def report_filters(self) -> Filters:
        """As :class:`~backoffice.reports.models.Filters`: [first day's midnight, the day after the last)."""
        return Filters(
            start=datetime.combine(self.start, time(), self.zone),
            end=datetime.combine(self.end + timedelta(days=1), time(), self.zone),
            stores=(self.store,) if self.store else (),
            devices=(self.device,) if self.device else (),
            tz=self.zone.key,
        )

    def as_query(self) -> dict[str, str]:
        """The filters as the query string carries them (for links, the form, the JSON)."""
        return {
            "store": self.store,
            "device": self.device,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
        }


class Reports:
    """:mod:`backoffice.reports` bound to one store and its settings."""

    def __init__(self, db: Database, report: ReportSettings, alerts: AlertSettings) -> None:
        self.db = db
        self.report_settings = report
        self.alert_settings = alerts

    @property
    def k(self) -> int:
        """The k of k-suppression."""
        return self.report_settings.k_anonymity

    def fleet(
        self,
        now: datetime,
        stores: Sequence[str] = (),
        devices: Sequence[str] = (),
        live: Mapping[tuple[str, str], LiveDevice] | None = None,
    ) -> FleetReport:
        """Every device and the alerts raised now; ``live`` overrides the stored status and birth."""
        return reports.fleet(self.db, now, self.alert_settings, stores=stores, devices=devices, live=live)

    def device_history(self, store_id: str, device_id: str, filters: Filters) -> DeviceHistory:
        """One device's hours."""
        return reports.device_history(self.db, store_id, device_id, filters, self.report_settings)

    def audience(self, filters: Filters) -> AudienceReport:
        """OTS, watchers, dwell, attention, valence mix."""
        return reports.audience(self.db, filters, self.report_settings)

    def offers(self, filters: Filters) -> OffersReport:
        """The funnel per offer and per arm."""
        return reports.offers(self.db, filters, self.report_settings)

    def mood(self, filters: Filters) -> MoodReport:
        """Mood uplift per offer."""
        return reports.mood(self.db, filters, self.report_settings)

    def frustration(self, filters: Filters) -> FrustrationReport:
        """Frustration per 100 visits whose expression was read, and the offers it follows."""
        return reports.frustration(self.db, filters, self.report_settings)

    def audience_page(self, filters: Filters) -> tuple[AudienceReport, FrustrationReport]:
        """The audience page's reports: the audience and frustration, ``audience_hourly`` read once."""
        hours = audience_hours(self.db, filters)
        settings = self.report_settings
        return (
            reports.audience(self.db, filters, settings, hours=hours),
            reports.frustration(self.db, filters, settings, hours=hours),
        )

    def offers_page(self, filters: Filters) -> tuple[OffersReport, MoodReport, FrustrationReport]:
        """The offers page's reports: the funnel, mood and frustration, ``offer_hourly`` read once."""
        grouped = offer_sums(self.db, filters)
        settings = self.report_settings
        return (
            reports.offers(self.db, filters, settings, grouped=grouped),
            reports.mood(self.db, filters, settings, grouped=grouped),
            reports.frustration(self.db, filters, settings, grouped=grouped),
        )

    def feedback(self, filters: Filters) -> FeedbackReport:
        """CSAT and NPS over time."""
        return reports.feedback(self.db, filters, self.report_settings)

    def staff_kpis(self, filters: Filters) -> StaffKpiReport:
        """Time to acknowledge and resolve staff calls."""
        return reports.staff_kpis(self.db, filters)
