"""The campaigns' MQTT link: signed catalogue releases out (retained, per store), signed ``redeem`` commands
out (a till redeemed a code: the kiosk that issued it rewards its bandit arm), and their results in.

:class:`CampaignLink` is the seam (tests of the pages pass a double; the browser test and ``backoffice
serve`` run :class:`MqttCampaignLink`). The MQTT link has its own stable client id
(``[campaigns] client_id``), a plain subscription to every device's ``cmd/redeem/result``, and one thread
(``web-campaigns``) that drains the transport's bounded inbound queue into a bounded map of results by
command id (the oldest forgotten first past :data:`RESULTS_KEPT`; a result that is lost is asked for again:
the reward courier resends the command and the kiosk answers ``duplicate``).
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from backoffice.campaigns.errors import CampaignError
from mqtt_bridge.commands import sign
from mqtt_bridge.contract.errors import TopicError
from mqtt_bridge.contract.payloads import CommandEnvelope, CommandResult
from mqtt_bridge.contract.redemption import REDEEM_COMMAND
from mqtt_bridge.contract.topics import (
    CATALOGUE_QOS,
    CATALOGUE_RETAIN,
    DeviceTopics,
    StoreTopics,
    parse_topic,
)
from mqtt_bridge.errors import MqttBridgeError
from mqtt_bridge.settings import BrokerSettings
from mqtt_bridge.transport import MqttTransport, drain_queue

logger = logging.getLogger(__name__)

#: Command results remembered, by command id.
RESULTS_KEPT: Final = 10_000
#: Seconds a release's publication waits for the broker's acknowledgement.
PUBLISH_WAIT_S: Final = 10.0


class LinkDownError(CampaignError):
    """The broker cannot be used now: what was asked is kept and sent again later."""


class CampaignLink(Protocol):
    """What campaigns and the till need of MQTT."""

    @property
    def connected(self) -> bool:
        """Whether the link is connected to the broker now."""
        ...

    def publish_release(self, store_id: str, payload: bytes) -> None:
        """Publish a signed release retained on the store's catalogue topic and wait for the broker to take
        it; :class:`LinkDownError` when it cannot."""
        ...

    def send_redeem(self, store_id: str, device_id: str, command_id: str, code: str) -> None:
        """Send a freshly signed ``redeem`` command (the same ``command_id`` every time for one redemption);
        :class:`LinkDownError` when the broker cannot be reached."""
        ...

    def redeem_result(self, command_id: str) -> CommandResult | None:
        """The kiosk's answer to a ``redeem`` command, once it arrived."""
        ...

    def start(self) -> None:
        """Connect and start receiving."""
        ...

    def stop(self) -> None:
        """Disconnect."""
        ...


def redeem_envelope(
    command_id: str, code: str, now: datetime, ttl_s: int, key: Ed25519PrivateKey | None
) -> CommandEnvelope:
    """A ``redeem`` command for ``code``, valid ``ttl_s`` from ``now``, with a fresh nonce, signed with
    ``key`` when given."""
    envelope = CommandEnvelope(
        command_id=command_id,
        name=REDEEM_COMMAND,
        issued_at=now,
        expires_at=now + timedelta(seconds=ttl_s),
        nonce=secrets.token_urlsafe(24),
        args={"code": code},
    )
    return sign(envelope, key) if key is not None else envelope


class MqttCampaignLink:
    """:class:`CampaignLink` on :class:`~mqtt_bridge.transport.MqttTransport`."""

    def __init__(
        self,
        broker: BrokerSettings,
        *,
        client_id: str,
        clock: Callable[[], datetime],
        key: Ed25519PrivateKey | None,
        command_ttl_s: int = 600,
        transport: MqttTransport | None = None,
    ) -> None:
        """``transport``: another link's connection to share (``backoffice serve --identity``: the fleet's
        broker keeps one connection per certificate). Its owner subscribes to :attr:`subscriptions`, starts
        and stops it and hands this link the messages it does not take (:meth:`handle`); this link then
        runs no thread of its own."""
        self.prefix = broker.topic_prefix
        self._clock = clock
        self._key = key
        self._ttl_s = command_ttl_s
        self._lock = threading.Lock()
        self._results: OrderedDict[str, CommandResult] = OrderedDict()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._owns_transport = transport is None
        if transport is None:
            transport = MqttTransport(
                broker, client_id=client_id, subscriptions=self.subscriptions, inbound_queue_size=10_000
            )
        self.transport = transport
        #: Messages that were not a valid command result (logged, skipped).
        self.refused = 0

    @property
    def subscriptions(self) -> list[tuple[str, int]]:
        """What this link reads: every device's ``cmd/redeem/result``."""
        return [(f"{self.prefix}/+/+/cmd/{REDEEM_COMMAND}/result", 1)]

    @property
    def connected(self) -> bool:
        return self.transport.connected

    def start(self) -> None:
        if not self._owns_transport:
            return
        self.transport.start()
        self._thread = threading.Thread(target=self._run, name="web-campaigns", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if not self._owns_transport:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.transport.stop()

    def wait_connected(self, timeout_s: float) -> None:
        """Wait for the first connection (raises the transport's errors)."""
        self.transport.wait_connected(timeout_s)

    def publish_release(self, store_id: str, payload: bytes) -> None:
        if not self.transport.connected:
            raise LinkDownError("the back office is not connected to the broker; the release is sent later")
        topic = StoreTopics(self.prefix, store_id).catalogue
        try:
            handle = self.transport.publish(topic, payload, qos=CATALOGUE_QOS, retain=CATALOGUE_RETAIN)
        except MqttBridgeError as exc:
            raise LinkDownError(f"the broker refused the release: {exc}") from exc
        if not handle.wait(PUBLISH_WAIT_S):
            raise LinkDownError(f"the broker did not acknowledge the release within {PUBLISH_WAIT_S:g} s")

    def send_redeem(self, store_id: str, device_id: str, command_id: str, code: str) -> None:
        if not self.transport.connected:
            raise LinkDownError("the back office is not connected to the broker; the reward is sent later")
        envelope = redeem_envelope(command_id, code, self._clock(), self._ttl_s, self._key)
        topic = DeviceTopics(self.prefix, store_id, device_id).command(REDEEM_COMMAND)
        try:
            self.transport.publish(topic, envelope.model_dump_json().encode("utf-8"), qos=1)
        except MqttBridgeError as exc:
            raise LinkDownError(f"the broker refused the command: {exc}") from exc

    def redeem_result(self, command_id: str) -> CommandResult | None:
        with self._lock:
            return self._results.get(command_id)

    def _run(self) -> None:
        while not self._stop.is_set():
            for message in drain_queue(self.transport.inbound, 0.2, limit=1000):
                self.handle(message.topic, message.payload)

    def handle(self, topic: str, payload: bytes) -> None:
        """Take in one message (the link's thread; tests call it directly)."""
        try:
            where = parse_topic(self.prefix, topic)
            if where.kind != "cmd_result" or where.command != REDEEM_COMMAND:
                return
            result = CommandResult.model_validate_json(payload)
        except (TopicError, ValidationError) as exc:
            self.refused += 1
            logger.warning("campaign link: skipped a message on %s: %s", topic, str(exc).splitlines()[0])
            return
        if result.command_id is None:
            return
        with self._lock:
            self._results[result.command_id] = result
            while len(self._results) > RESULTS_KEPT:
                self._results.popitem(last=False)


class OfflineCampaignLink:
    """A :class:`CampaignLink` with no broker: publications and rewards wait (the pages still work)."""

    connected = False

    def publish_release(self, store_id: str, payload: bytes) -> None:
        raise LinkDownError("no broker is configured: the release is kept and sent once one is")

    def send_redeem(self, store_id: str, device_id: str, command_id: str, code: str) -> None:
        raise LinkDownError("no broker is configured: the reward is kept and sent once one is")

    def redeem_result(self, command_id: str) -> CommandResult | None:
        return None

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass
