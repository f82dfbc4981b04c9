"""The device side of cloud sync, composed: transport (status, birth, last will), outbox, publisher thread,
and, given a :class:`~mqtt_bridge.commands.CommandProcessor`, the commands on ``cmd/+``.

The publisher thread also reads the transport's connection changes (a
:class:`~mqtt_bridge.transport.ConnectionMonitor`): each is logged, and :attr:`DeviceSync.monitor` keeps the
latest error for the kiosk's run summary and health.

The kiosk's composition root builds one :class:`DeviceSync`, calls :meth:`DeviceSync.start`, hands committed
events to :meth:`DeviceSync.add` and calls :meth:`DeviceSync.stop` on the way out (status ``stopped``).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from cloud_sync.anonymise import Anonymiser
from cloud_sync.outbox import Outbox, OutboxPublisher
from cloud_sync.settings import AnonymisationSettings, OutboxSettings
from mqtt_bridge.commands import CommandBridge, CommandProcessor
from mqtt_bridge.contract.chat import ChatMessageBase
from mqtt_bridge.contract.events import Event
from mqtt_bridge.contract.payloads import BirthPayload
from mqtt_bridge.contract.topics import QOS, DeviceTopics
from mqtt_bridge.device import device_transport, stopped_message
from mqtt_bridge.errors import MqttBridgeError
from mqtt_bridge.settings import BrokerSettings
from mqtt_bridge.transport import ConnectionMonitor, InboundMessage, drain_queue

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
        metrics_interval_s: float = 60.0,
        gauges: Callable[[], dict[str, float]] | None = None,
        commands: CommandProcessor | None = None,
    ) -> None:
        rng = rng or random.SystemRandom()
        self.topics = topics
        self.transport = device_transport(broker, topics, birth, rng=rng, max_inflight=max_inflight)
        self.outbox = Outbox(outbox, Anonymiser(anonymisation, lambda: datetime.now(UTC), rng))
        self.publisher = OutboxPublisher(self.outbox, self.transport, topics)
        self.monitor = ConnectionMonitor(self.transport, logger)
        self._sent_before = self.outbox.stats().counters.get("sent", 0)
        self._delivered_at_stop: int | None = None
        self._depth_at_stop: int | None = None
        self._listeners: dict[str, Callable[[InboundMessage], object]] = {}
        self.commands = (
            CommandBridge(self.transport, topics, commands, other=self._dispatch)
            if commands is not None
            else None
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.started_at = time.monotonic()
        self.metrics_interval_s = metrics_interval_s
        self._gauges = gauges or dict

    def listen(self, topic: str, qos: int, handler: Callable[[InboundMessage], object]) -> None:
        """Subscribe to ``topic`` (exact, no wildcards) and hand each message on it to ``handler``, in the
        publisher's thread (the store's retained catalogue, say). Call before :meth:`start`."""
        self._listeners[topic] = handler
        self.transport.subscribe(topic, qos)

    def _dispatch(self, message: InboundMessage) -> None:
        handler = self._listeners.get(message.topic)
        if handler is None:
            self.transport.counters["ignored_inbound"] += 1
            return
        try:
            handler(message)
        except Exception:  # a listener's bug must not stop the publisher
            logger.exception("the listener for %s failed", message.topic)

    def _inbound(self) -> int:
        """Commands (and, through them, every other message), or the listeners alone."""
        if self.commands is not None:
            return self.commands.step(wait_s=0.0)
        taken = 0
        for message in drain_queue(self.transport.inbound, 0.0, limit=100):
            self._dispatch(message)
            taken += 1
        return taken

    def start(self) -> None:
        """Connect and start publishing the outbox in a thread."""
        self.transport.start()
        self.resume()

    @property
    def publishing(self) -> bool:
        """The publisher thread is running."""
        return self._thread is not None and self._thread.is_alive()

    def resume(self) -> None:
        """Start the publisher thread again after it crashed (the transport keeps its connection)."""
        if self.publishing:
            return
        self._thread = threading.Thread(target=self._run, name="outbox", daemon=True)
        self._thread.start()

    def _run(self, idle_s: float = 0.02) -> None:
        next_metrics = time.monotonic()
        try:
            while not self._stop.is_set():
                busy = self.publisher.step(wait_s=idle_s)
                busy += self._inbound()
                busy += self.monitor.step()
                if not busy and not self.publisher.inflight:
                    self._stop.wait(idle_s)
                if time.monotonic() >= next_metrics and self.transport.connected:
                    next_metrics = time.monotonic() + self.metrics_interval_s
                    self.publish_metrics()
        except Exception:
            logger.exception("the outbox publisher crashed")
            raise

    def publish_metrics(self) -> None:
        """Publish the ``metrics`` payload now (QoS 0: a lost sample is replaced by the next one)."""
        payload = self.publisher.metrics(self.started_at, self._gauges())
        try:
            self.transport.publish(self.topics.metrics, payload.model_dump_json().encode(), QOS["metrics"])
        except MqttBridgeError:
            logger.info("metrics not published: not connected")

    def delivered(self) -> int:
        """Events the broker acknowledged (PUBACK) since this sync was made (also after :meth:`stop`)."""
        if self._delivered_at_stop is not None:
            return self._delivered_at_stop
        return self.outbox.stats().counters.get("sent", 0) - self._sent_before

    def depth(self) -> int:
        """Events waiting in the outbox now (at the stop, after :meth:`stop`)."""
        if self._depth_at_stop is not None:
            return self._depth_at_stop
        return self.outbox.stats().depth

    def add(self, events: Iterable[Event]) -> int:
        """Commit events to the outbox (anonymised); they are published from there."""
        return self.outbox.add(events)

    def add_chat(self, messages: Iterable[ChatMessageBase]) -> int:
        """Commit chat messages to the outbox's ``chat`` stream (thread-safe); published from there."""
        return self.outbox.add_chat(messages)

    def drained(self) -> bool:
        """Nothing waits in the outbox and nothing is in flight."""
        return self.outbox.stats().depth == 0 and self.publisher.inflight == 0

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop publishing, publish the retained ``stopped`` status, disconnect, close the outbox."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self.transport.stop(final=stopped_message(self.topics), timeout_s=timeout_s)
        self.monitor.step()  # the last changes, logged
        self._delivered_at_stop = self.delivered()
        self._depth_at_stop = self.depth()
        self.outbox.close()
