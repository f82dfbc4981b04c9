"""``/metrics`` (Prometheus text format, prometheus_client): page times as a histogram, and at each scrape
the ingest's figures from the store (``backoffice.rollups.ingest_figures``) and the open staff calls. A
registry of its own per application, so two applications in one process (tests) never share a series.

- ``vitrina_web_page_seconds{page}`` (histogram): server time of each page, its JSON and CSV, by route name.
- ``vitrina_web_requests_total{page,status}``: requests answered, by route name and status.
- ``vitrina_ingest_events_total``: events the ingest stored; ``rate()`` of it is the ingest rate.
- ``vitrina_ingest_messages_total``: MQTT messages the ingest handled.
- ``vitrina_ingest_refused_total``: messages and events the ingest refused.
- ``vitrina_ingest_last_received_age_seconds`` (gauge): seconds since the ingest last stored anything.
- ``vitrina_ingest_lag_seconds`` (gauge): the largest delay, over devices heard from in the last 10 minutes,
  between a device's newest event time and its storage (event times are floored to the minute on the
  device, so up to 60 s of it is that).
- ``vitrina_staff_calls_open`` and ``vitrina_staff_calls_unresolved`` (gauges): calls not acknowledged, not
  resolved.
- ``vitrina_web_live_connected`` (gauge): 1 while the web application's own MQTT link is connected.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from backoffice.db import Database
from backoffice.rollups import ingest_figures

#: Page-time buckets (seconds): the target is 0.3 s a page.
PAGE_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0)

#: Devices heard from within this many seconds count in the ingest lag.
LAG_WINDOW_S: Final = 600.0


class StoreCollector(Collector):
    """Reads the ingest's counters and lag from the store at each scrape."""

    def __init__(
        self,
        db: Database,
        clock: Callable[[], datetime],
        open_calls: Callable[[], tuple[int, int]],
        connected: Callable[[], bool],
    ) -> None:
        self.db = db
        self.clock = clock
        self.open_calls = open_calls
        self.connected = connected

    def collect(self) -> Iterator[Metric]:
        figures = ingest_figures(self.db, self.clock(), recent_s=LAG_WINDOW_S)
        yield CounterMetricFamily(
            "vitrina_ingest_events", "Events the ingest stored.", value=figures.events_stored
        )
        yield CounterMetricFamily(
            "vitrina_ingest_messages", "MQTT messages the ingest handled.", value=figures.messages
        )
        yield CounterMetricFamily(
            "vitrina_ingest_refused", "Messages and events the ingest refused.", value=figures.refused
        )
        age = GaugeMetricFamily(
            "vitrina_ingest_last_received_age_seconds", "Seconds since the ingest last stored anything."
        )
        if figures.last_received_at is not None:
            age.add_metric([], max(0.0, (self.clock() - figures.last_received_at).total_seconds()))
        yield age
        lag = GaugeMetricFamily(
            "vitrina_ingest_lag_seconds",
            "Largest delay between a recent device's newest event time and its storage.",
        )
        if figures.lag_s is not None:
            lag.add_metric([], max(0.0, figures.lag_s))
        yield lag
        open_now, unresolved = self.open_calls()
        yield GaugeMetricFamily("vitrina_staff_calls_open", "Staff calls not acknowledged.", value=open_now)
        yield GaugeMetricFamily(
            "vitrina_staff_calls_unresolved", "Staff calls not resolved.", value=unresolved
        )
        yield GaugeMetricFamily(
            "vitrina_web_live_connected",
            "1 while the web app's MQTT link is connected.",
            value=int(self.connected()),
        )


class WebMetrics:
    """The application's metrics registry and its page-time histogram."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.page_seconds = Histogram(
            "vitrina_web_page_seconds",
            "Server time of each page, JSON and CSV, by route name.",
            ["page"],
            buckets=PAGE_BUCKETS,
            registry=self.registry,
        )
        self.requests = Counter(
            "vitrina_web_requests",
            "Requests answered, by route name and status.",
            ["page", "status"],
            registry=self.registry,
        )

    def watch_store(self, collector: StoreCollector) -> None:
        """Add the store's figures to every scrape."""
        self.registry.register(collector)

    def text(self) -> bytes:
        """The exposition: what ``/metrics`` answers."""
        return generate_latest(self.registry)
