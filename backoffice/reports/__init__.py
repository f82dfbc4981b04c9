"""The back office's reports: pure queries over the hourly rollups (never raw events) returning the frozen
models of :mod:`backoffice.reports.models`. Pages, CSV and the API render these models and nothing else.

Every function takes the store (:class:`backoffice.db.Database`) first; audience reports take
:class:`~backoffice.reports.models.Filters` (stores, devices, [start, end) UTC, display time zone) and
:class:`backoffice.settings.ReportSettings` (``k_anonymity``): a cell built from fewer than k visits comes
back as :class:`~backoffice.reports.models.Suppressed`, which holds no number.

- :func:`fleet` (``backoffice.reports.fleet``): every device from the ``devices`` table with its latest
  health and metrics, and the alerts the rules of :mod:`backoffice.alerts` raise now -> ``FleetReport``.
- :func:`device_history`: one device's health and audience by hour -> ``DeviceHistory``.
- :func:`audience` (``backoffice.reports.audience``): OTS, watchers, dwell, attention, valence mix, by hour,
  by day and in total -> ``AudienceReport``.
- :func:`offers` (``backoffice.reports.offers``): the funnel shown -> attended -> tapped -> redeemed, per
  offer and per bandit arm -> ``OffersReport``.
- :func:`mood`: mood uplift per offer (valence while shown vs before) -> ``MoodReport``.
- :func:`frustration`: frustrated visits per 100 visits whose expression was read, by hour and day, and
  the offers frustration follows -> ``FrustrationReport``.
- :func:`feedback` (``backoffice.reports.feedback``): CSAT and NPS by day -> ``FeedbackReport``.
- :func:`staff_kpis` (``backoffice.reports.staff``): time to acknowledge and to resolve staff calls, per
  store and per hour -> ``StaffKpiReport``.

Definitions of every figure: docs/backoffice-data.md.
"""

from backoffice.reports.audience import audience
from backoffice.reports.feedback import feedback
from backoffice.reports.fleet import device_history, fleet
from backoffice.reports.models import Filters
from backoffice.reports.offers import frustration, mood, offers
from backoffice.reports.staff import staff_kpis

__all__ = [
    "Filters",
    "audience",
    "device_history",
    "feedback",
    "fleet",
    "frustration",
    "mood",
    "offers",
    "staff_kpis",
]
