"""The MQTT transport: one broker connection on paho-mqtt 2.x (callback API version 2 only).

- MQTT 5 by default, falling back to 3.1.1 when the broker refuses the protocol version.
- TLS with a CA and optionally a client certificate (mutual TLS), or a user name and a password read
  through :meth:`SecretRef.resolve` when the connection is made.
- One network thread of our own connects, runs paho's loop and, when the connection fails or is lost,
  waits a jittered exponential delay (:func:`backoff_delay`, a pure function of a ``random.Random``) and
  tries again, until :meth:`MqttTransport.stop`.
- A CONNACK with a failure reason code (bad credentials, not authorised, ...) is reported as a
  ``refused`` :class:`ConnectionChange` and :meth:`MqttTransport.wait_connected` raises
  :class:`ConnectionRefusedByBrokerError`; the transport is never considered connected after it.
- paho's callbacks only translate and enqueue, into bounded queues:

  ============ ====================== ====================================================================
  queue        holds                  when full
  ============ ====================== ====================================================================
  ``inbound``  received messages      the arriving message is dropped and counted (``dropped_inbound``).
                                      With ``manual_ack`` (a consumer that acknowledges what it stored)
                                      paho's thread first waits up to ``inbound_block_s`` for room: it
                                      stops reading the socket, so the broker holds the rest (back
                                      pressure); a message dropped after that is not acknowledged, and the
                                      broker delivers it again after the next reconnect
  ``acks``     PUBACKs (mid, reason)  the oldest ack is dropped and counted (``dropped_acks``); the
                                      outbox then resends that batch later (duplicates, never a loss)
  ``changes``  connection changes     the oldest change is dropped and counted (``dropped_changes``); its
                                      reader is a :class:`ConnectionMonitor` (the device's publisher loop)
  ============ ====================== ====================================================================

- :class:`ConnectionMonitor` drains ``changes``: it logs each change for a person (connected; lost, with
  the reason; refused, with the reason and what to check; a warning naming ``host:port`` and the fix when
  connecting fails) and keeps the latest error. ``counters`` counts ``connects`` and ``disconnects``.
- The reconnect delay is capped by ``reconnect_max_s`` (4 s by default): a transport is back within about
  that long of its broker's return.

- :meth:`MqttTransport.publish` returns a :class:`PublishHandle` carrying the message id (``mid``); the
  PUBACK for it arrives on :attr:`MqttTransport.acks` as a :class:`PublishAck` with the same ``mid``.
"""

from __future__ import annotations

import logging
import queue
import random
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from mqtt_bridge.errors import ConnectionRefusedByBrokerError, NotConnectedError, PublishError
from mqtt_bridge.settings import BrokerSettings

logger = logging.getLogger(__name__)

#: CONNACK reason codes meaning "I do not speak this protocol version" (MQTT 5: 0x84; 3.1.1: 1).
_UNSUPPORTED_PROTOCOL = frozenset({0x84, 1})

_T = TypeVar("_T")

#: paho's Properties constructor is untyped; this is its signature.
_new_properties: Callable[[int], Properties] = Properties


def backoff_delay(attempt: int, min_s: float, max_s: float, rng: random.Random) -> float:
    """Seconds to wait before reconnect attempt ``attempt`` (0 for the first retry).

    Exponential with full jitter: uniform between ``min_s`` and ``min(max_s, min_s * 2**attempt)``, so a
    fleet that lost its broker at the same instant does not come back at the same instant.
    """
    upper = max(min_s, min(max_s, min_s * 2.0 ** min(attempt, 32)))
    return rng.uniform(min_s, upper)


@dataclass(frozen=True)
class Will:
    """A message set as the last will, or published on connect or on a clean stop."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


@dataclass(frozen=True)
class InboundMessage:
    """A message received from the broker (translated from paho's MQTTMessage)."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    mid: int


@dataclass(frozen=True)
class PublishAck:
    """The broker's acknowledgement of one published message (PUBACK for QoS 1)."""

    mid: int
    reason_code: int
    reason: str

    @property
    def ok(self) -> bool:
        """The broker accepted the message (a reason code below 0x80)."""
        return self.reason_code < 0x80


@dataclass(frozen=True)
class ConnectionChange:
    """The connection changed: ``connected``, ``refused`` (CONNACK failure), ``lost``, or ``failed``
    (no CONNACK at all: DNS, TCP, TLS)."""

    state: Literal["connected", "refused", "lost", "failed"]
    reason_code: int
    reason: str
    session_present: bool = False


class PublishHandle:
    """What :meth:`MqttTransport.publish` returns: the message id and a way to wait for its PUBACK."""

    def __init__(self, info: mqtt.MQTTMessageInfo) -> None:
        self._info = info

    @property
    def mid(self) -> int:
        """paho's message id: the same ``mid`` arrives in the :class:`PublishAck`."""
        return int(self._info.mid)

    def is_published(self) -> bool:
        """True once the PUBACK (QoS 1) arrived, or the message was written (QoS 0)."""
        return bool(self._info.is_published())

    def wait(self, timeout_s: float, poll_s: float = 0.005) -> bool:
        """Wait up to ``timeout_s`` for the PUBACK (also across a reconnect); False on timeout."""
        deadline = time.monotonic() + timeout_s
        while not self.is_published():
            if time.monotonic() >= deadline:
                return False
            time.sleep(poll_s)
        return True


class Publisher(Protocol):
    """The seam the outbox publishes through: :class:`MqttTransport`, or a test double."""

    acks: queue.Queue[PublishAck]
    counters: Counter[str]

    @property
    def connected(self) -> bool:
        """True while a connection is up."""
        ...

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> PublishHandle:
        """Hand a message over; its PUBACK arrives on ``acks`` with the handle's ``mid``."""
        ...


def _put_dropping_oldest(q: queue.Queue[_T], item: _T) -> bool:
    """Put ``item``; when full drop the oldest first. Returns True when something was dropped."""
    dropped = False
    while True:
        try:
            q.put_nowait(item)
            return dropped
        except queue.Full:
            try:
                q.get_nowait()
                dropped = True
            except queue.Empty:
                pass


def _code(reason_code: ReasonCode | int) -> tuple[int, str]:
    if isinstance(reason_code, ReasonCode):
        return int(reason_code.value), str(reason_code.getName())
    return int(reason_code), mqtt.error_string(reason_code)


class MqttTransport:
    """One connection to the broker, kept up by its own network thread. Thread-safe.

    ``subscriptions`` are (re)made on every connect; ``online`` is published on every connect (the
    retained ``status`` ``online``, then the birth certificate): the messages themselves, or a function
    called at each connect that makes them (so they carry that connection's time); ``will`` is the last
    will.
    """

    def __init__(
        self,
        settings: BrokerSettings,
        *,
        client_id: str,
        will: Will | None = None,
        online: Iterable[Will] | Callable[[], Iterable[Will]] = (),
        subscriptions: Iterable[tuple[str, int]] = (),
        rng: random.Random | None = None,
        inbound_queue_size: int = 1000,
        ack_queue_size: int = 10_000,
        max_inflight: int = 100,
        manual_ack: bool = False,
        clean_start: bool = True,
        session_expiry_s: int = 0,
        inbound_block_s: float = 10.0,
    ) -> None:
        self.settings = settings
        self.client_id = client_id
        self.will = will
        if callable(online):
            self._online: Callable[[], Iterable[Will]] = online
        else:
            fixed = tuple(online)
            self._online = lambda: fixed
        self._subscriptions = dict(subscriptions)
        self._rng = rng or random.SystemRandom()
        self._max_inflight = max_inflight
        self._manual_ack = manual_ack
        self._inbound_block_s = inbound_block_s
        self._clean_start = clean_start
        self._session_expiry_s = session_expiry_s
        self.inbound: queue.Queue[InboundMessage] = queue.Queue(maxsize=inbound_queue_size)
        self.acks: queue.Queue[PublishAck] = queue.Queue(maxsize=ack_queue_size)
        self.changes: queue.Queue[ConnectionChange] = queue.Queue(maxsize=100)
        self.counters: Counter[str] = Counter()
        self.protocol: Literal["5", "3.1.1"] = settings.protocol
        self._state_lock = threading.Condition()
        self._connected = False
        self._refused: ConnectionChange | None = None
        #: Whether the broker answered the current connection attempt (CONNACK); set by paho's thread.
        self._connack_seen = False
        self._stop = threading.Event()
        self._ended = threading.Event()
        self._thread: threading.Thread | None = None
        self._client = self._build_client()

    # -- set-up ---------------------------------------------------------------------------------------

    def _build_client(self) -> mqtt.Client:
        protocol = mqtt.MQTTv5 if self.protocol == "5" else mqtt.MQTTv311
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=protocol,
            clean_session=None if protocol == mqtt.MQTTv5 else self._clean_start,
            reconnect_on_failure=False,
            manual_ack=self._manual_ack,
        )
        client.max_inflight_messages_set(self._max_inflight)
        client.max_queued_messages_set(0)
        s = self.settings
        if s.tls is not None:
            password = s.tls.key_password.resolve().get_secret_value() if s.tls.key_password else None
            client.tls_set(
                ca_certs=str(s.tls.ca_file),
                certfile=str(s.tls.cert_file) if s.tls.cert_file else None,
                keyfile=str(s.tls.key_file) if s.tls.key_file else None,
                keyfile_password=password,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        if s.username is not None:
            secret = s.password.resolve().get_secret_value() if s.password else None
            client.username_pw_set(s.username, secret)
        if self.will is not None:
            client.will_set(self.will.topic, self.will.payload, self.will.qos, self.will.retain)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        return client

    # -- paho callbacks: translate and enqueue, nothing else --------------------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        code, name = _code(reason_code)
        self._connack_seen = True
        if reason_code.is_failure:
            change = ConnectionChange("refused", code, name)
            with self._state_lock:
                self._connected = False
                self._refused = change
                self._state_lock.notify_all()
            self.counters["refused"] += 1
            self._emit(change)
            self._ended.set()
            return
        for topic, qos in self._subscriptions.items():
            client.subscribe(topic, qos)
        for message in self._online():
            client.publish(message.topic, message.payload, message.qos, message.retain)
        with self._state_lock:
            self._connected = True
            self._refused = None
            self._state_lock.notify_all()
        self.counters["connects"] += 1
        self._emit(ConnectionChange("connected", code, name, bool(flags.session_present)))

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        _flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        with self._state_lock:
            was_connected, self._connected = self._connected, False
            self._state_lock.notify_all()
        self._ended.set()
        if self._stop.is_set():  # our own clean DISCONNECT is no loss
            return
        code, name = _code(reason_code)
        if was_connected:
            self.counters["disconnects"] += 1
            self._emit(ConnectionChange("lost", code, name))
        elif not self._connack_seen:
            # Closed before any CONNACK: with TLS 1.3 the broker checks the client's certificate after the
            # handshake has completed on this side, so a missing or refused one ends the connection here.
            self.counters["connect_failures"] += 1
            reason = (
                f"the broker closed the connection before answering it ({name}); over TLS: it requires a "
                "client certificate, or refused this one"
            )
            self._emit(ConnectionChange("failed", code, reason))

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        inbound = InboundMessage(
            message.topic, bytes(message.payload), int(message.qos), bool(message.retain), int(message.mid)
        )
        try:
            if self._manual_ack:
                self.inbound.put(inbound, timeout=self._inbound_block_s)
            else:
                self.inbound.put_nowait(inbound)
        except queue.Full:
            self.counters["dropped_inbound"] += 1

    def _on_publish(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        mid: int,
        reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        code, name = _code(reason_code)
        if _put_dropping_oldest(self.acks, PublishAck(mid, code, name)):
            self.counters["dropped_acks"] += 1

    def _emit(self, change: ConnectionChange) -> None:
        if _put_dropping_oldest(self.changes, change):
            self.counters["dropped_changes"] += 1

    # -- the network thread -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the network thread; it connects, and reconnects until :meth:`stop`."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"mqtt-{self.client_id}", daemon=True)
        self._thread.start()

    def _connect_properties(self) -> Properties | None:
        if self.protocol != "5":
            return None
        props = _new_properties(PacketTypes.CONNECT)
        if self._session_expiry_s:
            props.SessionExpiryInterval = self._session_expiry_s
        return props

    def _run(self) -> None:
        try:
            self._supervise()
        except Exception:
            logger.exception("the MQTT connection supervisor crashed")
            raise

    def _supervise(self) -> None:
        """Supervise the connection: connect, let paho's own thread run the connection (so that a
        publish from any thread is written by that thread, which TLS needs), and when it ends wait a
        jittered delay and connect again."""
        attempt = 0
        s = self.settings
        while not self._stop.is_set():
            self._ended.clear()
            self._connack_seen = False
            try:
                if self.protocol == "5":
                    self._client.connect(
                        s.host,
                        s.port,
                        s.keepalive_s,
                        clean_start=self._clean_start,
                        properties=self._connect_properties(),
                    )
                else:  # 3.1.1 takes clean_session when the client is built
                    self._client.connect(s.host, s.port, s.keepalive_s)
            except (OSError, ssl.SSLError) as exc:
                self.counters["connect_failures"] += 1
                self._emit(ConnectionChange("failed", int(MQTTErrorCode.MQTT_ERR_NO_CONN), str(exc)))
            else:
                self._client.loop_start()
                while not self._stop.is_set() and not self._ended.wait(0.1):
                    pass
                if self._stop.is_set():
                    break
                self._client.loop_stop()
                with self._state_lock:
                    self._connected = False
                    refused = self._refused
                if (
                    refused is not None
                    and refused.reason_code in _UNSUPPORTED_PROTOCOL
                    and self.protocol == "5"
                ):
                    logger.warning("broker refused MQTT 5 (%s); falling back to MQTT 3.1.1", refused.reason)
                    self.protocol = "3.1.1"
                    self._client = self._build_client()
                    continue
                if self.counters["connects"] and refused is None:
                    attempt = 0
            if self._stop.is_set():
                break
            delay = backoff_delay(attempt, s.reconnect_min_s, s.reconnect_max_s, self._rng)
            attempt += 1
            self._stop.wait(delay)
        if self.connected:
            self._client.disconnect()  # a clean DISCONNECT: the broker drops the last will
            self._ended.wait(2.0)
        self._client.loop_stop()

    # -- the API ----------------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True between a successful CONNACK and the loss of that connection."""
        with self._state_lock:
            return self._connected

    def wait_connected(self, timeout_s: float) -> None:
        """Block until connected. Raises :class:`ConnectionRefusedByBrokerError` if the broker refused
        the connection, :class:`NotConnectedError` on timeout."""
        with self._state_lock:
            self._state_lock.wait_for(lambda: self._connected or self._refused is not None, timeout_s)
            if self._connected:
                return
            if self._refused is not None:
                raise ConnectionRefusedByBrokerError(
                    f"the broker at {self.settings.host}:{self.settings.port} refused the connection; check "
                    "the user name and password or the client certificate, and the broker's ACL",
                    self._refused.reason_code,
                    self._refused.reason,
                )
        raise NotConnectedError(
            f"no connection to the broker at {self.settings.host}:{self.settings.port} within {timeout_s} s; "
            "check that it runs and that host, port and TLS settings are right",
            int(MQTTErrorCode.MQTT_ERR_NO_CONN),
            "not connected",
        )

    def subscribe(self, topic: str, qos: int = 1) -> None:
        """Subscribe now (if connected) and on every later connect."""
        self._subscriptions[topic] = qos
        if self.connected:
            self._client.subscribe(topic, qos)

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> PublishHandle:
        """Hand a message to paho. QoS 1 messages published while disconnected are sent on reconnect
        (in memory only: durability is the outbox's job). Raises :class:`PublishError` when paho
        refuses the message, :class:`NotConnectedError` for QoS 0 while disconnected."""
        try:
            info = self._client.publish(topic, payload, qos, retain)
        except ValueError as exc:
            raise PublishError(
                f"cannot publish on {topic!r}: {exc}", int(MQTTErrorCode.MQTT_ERR_INVAL), str(exc)
            ) from exc
        if info.rc == MQTTErrorCode.MQTT_ERR_NO_CONN and qos == 0:
            raise NotConnectedError("QoS 0 message dropped: not connected", int(info.rc), "not connected")
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            raise PublishError(
                f"paho refused a message on {topic!r}", int(info.rc), mqtt.error_string(info.rc)
            )
        # paho keeps a QoS 1 message published while disconnected and sends it on reconnect; its info then
        # says NO_CONN forever and refuses to wait. Mark it queued so the handle reports the later PUBACK.
        info.rc = MQTTErrorCode.MQTT_ERR_SUCCESS
        return PublishHandle(info)

    def ack(self, message: InboundMessage) -> None:
        """Acknowledge an inbound QoS 1 message (``manual_ack`` only): call it once the message is stored."""
        if self._manual_ack and message.qos > 0:
            self._client.ack(message.mid, message.qos)

    def stop(self, final: Will | None = None, timeout_s: float = 5.0) -> None:
        """Publish ``final`` (e.g. status ``stopped``) and wait for its PUBACK, disconnect cleanly (so the
        last will is not sent) and stop the network thread."""
        if final is not None and self.connected:
            try:
                self.publish(final.topic, final.payload, final.qos, final.retain).wait(timeout_s)
            except (PublishError, NotConnectedError):
                logger.warning("could not publish the final status before stopping")
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None


class ConnectionMonitor:
    """The reader of a transport's ``changes``: logs each connection change for a person to read and
    keeps the latest error. :meth:`step` runs in one thread (the device's publisher loop); the properties
    are read from any thread.

    Logged: ``connected`` (INFO), ``lost`` with the broker's or the socket's reason (WARNING), ``refused``
    with the CONNACK's reason and what to check (ERROR), and the first ``failed`` connect of an outage
    (WARNING, naming ``host:port`` and the fix; the later attempts of the same outage at DEBUG).
    """

    def __init__(self, transport: MqttTransport, log: logging.Logger | None = None) -> None:
        self.transport = transport
        self._log = log or logger
        self._lock = threading.Lock()
        self._last_error: str | None = None
        self._failures = 0  # failed attempts in the current outage

    @property
    def last_error(self) -> str | None:
        """The latest refusal, loss or connect failure, as a sentence; None before any."""
        with self._lock:
            return self._last_error

    def step(self) -> int:
        """Read and log every change waiting now; returns how many."""
        changes = drain_queue(self.transport.changes, 0.0, limit=1000)
        for change in changes:
            self._one(change)
        return len(changes)

    def _where(self) -> str:
        s = self.transport.settings
        return f"{s.host}:{s.port}"

    def _error(self, text: str) -> None:
        with self._lock:
            self._last_error = text

    def _one(self, change: ConnectionChange) -> None:
        where = self._where()
        retry = self.transport.settings.reconnect_max_s
        if change.state == "connected":
            after = f" after {self._failures} failed attempts" if self._failures else ""
            self._failures = 0
            resumed = ", session resumed" if change.session_present else ""
            self._log.info(
                "connected to the broker at %s (MQTT %s%s)%s", where, self.transport.protocol, resumed, after
            )
        elif change.state == "lost":
            self._error(f"connection to {where} lost: {change.reason}")
            self._log.warning(
                "lost the connection to the broker at %s: %s; reconnecting (at most %.0f s between attempts)",
                where,
                change.reason,
                retry,
            )
        elif change.state == "refused":
            if change.reason_code in _UNSUPPORTED_PROTOCOL and self.transport.settings.protocol == "5":
                self._log.info("the broker at %s does not speak MQTT 5; using 3.1.1", where)
                return
            self._error(f"the broker at {where} refused the connection: {change.reason}")
            self._log.error(
                "the broker at %s refused the connection: %s; check [mqtt] username and password (or the "
                "client certificate in [mqtt.tls]) and the broker's ACL",
                where,
                change.reason,
            )
        else:
            self._failures += 1
            self._error(f"cannot connect to {where}: {change.reason}")
            level = logging.WARNING if self._failures == 1 else logging.DEBUG
            self._log.log(
                level,
                "cannot connect to the broker at %s: %s; check that the broker runs there and that [mqtt] "
                "host and port (1883 plain, 8883 TLS) and [mqtt.tls] are right; retrying (at most %.0f s "
                "between attempts)",
                where,
                change.reason,
                retry,
            )


def drain_queue(q: queue.Queue[_T], timeout_s: float = 0.0, limit: int = 10_000) -> list[_T]:
    """Everything in ``q`` now (waiting up to ``timeout_s`` for the first item), at most ``limit`` items."""
    items: list[_T] = []
    try:
        items.append(q.get(timeout=timeout_s) if timeout_s > 0 else q.get_nowait())
        while len(items) < limit:
            items.append(q.get_nowait())
    except queue.Empty:
        pass
    return items
