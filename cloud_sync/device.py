"""The device side of cloud sync, composed: transport (status, birth, last will), outbox, publisher thread.

The kiosk's composition root builds one :class:`DeviceSync`, calls :meth:`DeviceSync.start`, hands committed
events to :meth:`DeviceSync.add` and calls :meth:`DeviceSync.stop` on the way out (status ``stopped``).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime

from cloud_sync.anonymise import Anonymiser
from cloud_sync.outbox import Outbox, OutboxPublisher
from cloud_sync.settings import AnonymisationSettings, OutboxSettings
from kiosk.events import Event
from mqtt_bridge.device import device_transport, stopped_message
from mqtt_bridge.payloads import BirthPayload
from mqtt_bridge.settings import BrokerSettings
from mqtt_bridge.topics import DeviceTopics

logger = logging.getLogger(__name__)


class DeviceSync:
    """Outbox + publisher + transport for one device. Thread-safe :meth:`add`."""

    def __init__(
        self,
        broker: BrokerSettings,
        topics: DeviceTopics,
        birth: BirthPayload,
        outbox: OutboxSettings,
        anonymisation: AnonymisationSettings,
        *,
        rng: random.Random | None = None,
        max_inflight: int = 100,
    ) -> None:
        rng = rng or random.SystemRandom()
        self.topics = topics
        self.transport = device_transport(broker, topics, birth, rng=rng, max_inflight=max_inflight)
        self.outbox = Outbox(outbox, Anonymiser(anonymisation, lambda: datetime.now(UTC), rng))
        self.publisher = OutboxPublisher(self.outbox, self.transport, topics)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.started_at = time.monotonic()

    def start(self) -> None:
        """Connect and start publishing the outbox in a thread."""
        self.transport.start()
        self._thread = threading.Thread(
            target=self.publisher.run, args=(self._stop,), name="outbox", daemon=True
        )
        self._thread.start()

    def add(self, events: Iterable[Event]) -> int:
        """Commit events to the outbox (anonymised); they are published from there."""
        return self.outbox.add(events)

    def drained(self) -> bool:
        """Nothing waits in the outbox and nothing is in flight."""
        return self.outbox.stats().depth == 0 and self.publisher.inflight == 0

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop publishing, publish the retained ``stopped`` status, disconnect, close the outbox."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self.transport.stop(final=stopped_message(self.topics), timeout_s=timeout_s)
        self.outbox.close()
