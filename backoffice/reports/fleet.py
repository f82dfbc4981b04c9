"""The fleet: every device with its latest state and alerts, and a device's history by hour."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from backoffice.db import Database
from backoffice.reports.models import DeviceHistory, Filters, FleetReport
from backoffice.settings import AlertSettings, ReportSettings


def fleet(
    db: Database,
    now: datetime,
    settings: AlertSettings,
    *,
    stores: Sequence[str] = (),
    devices: Sequence[str] = (),
) -> FleetReport:
    """Every device the ``devices`` table or ``device_health`` knows (of ``stores``/``devices``, empty: all),
    its state now and the alerts raised at ``now``."""
    raise NotImplementedError("written in the next commit")


def device_history(
    db: Database, store_id: str, device_id: str, filters: Filters, settings: ReportSettings
) -> DeviceHistory:
    """One device: its row of :func:`fleet` (without alerts) and its hours in ``filters``' range."""
    raise NotImplementedError("written in the next commit")
