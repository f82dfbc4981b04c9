"""``provision serve``: the enrolment and renewal service on the fleet's broker.

It connects with its own back-office identity (``FLEET/enrolment/``, role ``enrolment``), subscribes to every
claim request (``{prefix}/_enrol/+/request``), every device's renewal request
(``{prefix}/+/+/renew/request``) and time request (``{prefix}/+/+/time/request``), and answers each on its
reply topic. Time requests are answered first and at once, each with the clock read just before its reply
leaves (nothing else of the batch delays them: the device's self-test measures its clock against it).
Messages are taken in batches (all that wait, up to :attr:`EnrolmentService.batch_limit`); per batch:

1. each request is decided (:mod:`provisioning.fleet.enrolment`) and, when granted, its certificate signed
   and recorded in one registry transaction (token or serial marked used in the same transaction);
2. when a batch added a device, the ACL of every broker folder the fleet wrote is rewritten and the broker
   reloaded **once** (SIGHUP, or ``--reload-command``), before any reply leaves, so a device that receives
   its certificate may already publish as itself;
3. the replies go out (QoS 1), then a retained notice per enrolled or renewed device on the fleet topic.

An issued claim reply is **retained** on its reply topic (and cleared after ``reply_retain_s``): every
device that boots with the shared claim identity has the same client id on the broker (the certificate's
name, ``use_username_as_clientid``), so when several enrol at once each new connection takes the session of
the one before; a device taken over reconnects, subscribes again and finds its reply waiting. The reply
holds nothing secret (the certificate, the CA, the signed config). Refusals are not retained (a stale one
must never answer a later, corrected request); the device asks again every few seconds until one arrives.

Every refusal is logged here with the request id, the device it named, its code and reason, and the same
code and reason go to the device. Tokens are never logged.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import ValidationError

from mqtt_bridge.contract.enrolment import (
    EnrolmentReply,
    EnrolmentRequest,
    EnrolmentTopics,
    FleetDeviceNotice,
    RefusalCode,
    RenewalReply,
    RenewalRequest,
    TimeReply,
    TimeRequest,
)
from mqtt_bridge.contract.topics import DeviceTopics
from mqtt_bridge.identity import serial_hex
from mqtt_bridge.settings import BrokerSettings
from mqtt_bridge.transport import ConnectionMonitor, InboundMessage, MqttTransport, drain_queue
from provisioning import pki
from provisioning.errors import CsrError, EnrolmentRefusedError, RegistryError
from provisioning.fleet.authority import Fleet
from provisioning.fleet.broker_config import refresh_brokers
from provisioning.fleet.enrolment import Grant, decide_claim, decide_renewal
from provisioning.fleet.notices import publish_notice
from provisioning.fleet.registry import Registry

log = logging.getLogger(__name__)

#: How long an issued claim reply stays retained on its reply topic before the service clears it.
REPLY_RETAIN_S = 600.0

#: Another key certified for the same device within this long is refused (a loop cannot mint certificates).
RENEW_MIN_INTERVAL = timedelta(hours=1)


@dataclass
class _Outcome:
    """One answered request: where the reply goes, the reply, and the notice to publish after it."""

    topic: str
    payload: bytes
    #: An issued claim reply is retained (see the module docstring), a refusal or renewal reply is not.
    retain: bool = False
    new_device: bool = False
    notice: FleetDeviceNotice | None = None


@dataclass
class ServiceCounters:
    """What the service did since it started (logged at the end)."""

    issued: int = 0
    reissued: int = 0
    renewed: int = 0
    #: Time requests answered, and those that were not valid requests (skipped).
    times: int = 0
    bad_time_requests: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    reloads: int = 0

    def refuse(self, code: str) -> None:
        """Count one refusal by its code."""
        self.refused[code] = self.refused.get(code, 0) + 1


class EnrolmentService:
    """The service: :meth:`start`, then :meth:`run` until the stop event is set (or :meth:`step` in tests)."""

    batch_limit = 500

    def __init__(
        self,
        fleet: Fleet,
        settings: BrokerSettings,
        *,
        clock: Callable[[], datetime],
        reload_command: Sequence[str] | None = None,
        renew_min_interval: timedelta = RENEW_MIN_INTERVAL,
        reply_retain_s: float = REPLY_RETAIN_S,
    ) -> None:
        self.fleet = fleet
        self.reply_retain_s = reply_retain_s
        self._retained: dict[str, float] = {}
        self.clock = clock
        self.reload_command = reload_command
        self.renew_min_interval = renew_min_interval
        self.prefix = fleet.settings.topic_prefix
        self.topics = EnrolmentTopics(self.prefix)
        self.counters = ServiceCounters()
        self.transport = MqttTransport(
            settings,
            client_id="enrolment",
            subscriptions=[
                (self.topics.request_filter, 1),
                (self.topics.renew_request_filter, 1),
                (self.topics.time_request_filter, 1),
            ],
            inbound_queue_size=10_000,
        )
        self.monitor = ConnectionMonitor(self.transport, log)

    def start(self, timeout_s: float = 10.0) -> None:
        """Connect; raises the transport's error when the broker refuses or cannot be reached in time."""
        self.transport.start()
        self.transport.wait_connected(timeout_s)
        self.monitor.step()

    def stop(self) -> None:
        """Disconnect."""
        self.transport.stop()

    def run(self, stop: threading.Event) -> None:
        """Answer requests until ``stop`` is set."""
        while not stop.is_set():
            self.step(wait_s=0.2)
            self.monitor.step()

    # -- one batch --------------------------------------------------------------------------------------

    def step(self, wait_s: float = 0.0) -> int:
        """Answer every request waiting now (waiting up to ``wait_s`` for the first); returns how many."""
        self._sweep()
        messages = drain_queue(self.transport.inbound, wait_s, limit=self.batch_limit)
        if not messages:
            return 0
        rest = [m for m in messages if not self._answer_time(m)]
        now = self.clock()
        outcomes = [o for o in (self._handle(m, now) for m in rest) if o is not None]
        if any(o.new_device for o in outcomes):
            for line in refresh_brokers(self.fleet, now, self.reload_command):
                (log.error if "NOT RELOADED" in line else log.info)("ACL: %s", line)
            self.counters.reloads += 1
        for outcome in outcomes:
            self.transport.publish(outcome.topic, outcome.payload, qos=1, retain=outcome.retain)
            if outcome.retain:
                self._retained[outcome.topic] = time.monotonic()
        for outcome in outcomes:
            if outcome.notice is not None:
                publish_notice(self.transport, self.prefix, outcome.notice, timeout_s=0)
        return len(messages)

    def _answer_time(self, message: InboundMessage) -> bool:
        """Answer a time request at once, with the clock read now; False when the message is not one."""
        asker = self.topics.time_asker_of(message.topic)
        if asker is None:
            return False
        try:
            request = TimeRequest.model_validate_json(message.payload)
        except ValidationError:
            self.counters.bad_time_requests += 1
            log.warning("ignored a time request from %s/%s: not a valid request", *asker)
            return True
        reply = TimeReply(request_id=request.request_id, ts=self.clock())
        topic = DeviceTopics(self.prefix, *asker).time_reply
        self.transport.publish(topic, reply.model_dump_json().encode(), qos=1)
        self.counters.times += 1
        log.debug("told %s/%s the time (request %s)", asker[0], asker[1], request.request_id)
        return True

    def _sweep(self) -> None:
        """Clear retained claim replies older than ``reply_retain_s`` (an empty retained message)."""
        old = time.monotonic() - self.reply_retain_s
        for topic in [t for t, at in self._retained.items() if at < old]:
            self.transport.publish(topic, b"", qos=1, retain=True)
            del self._retained[topic]

    def _handle(self, message: InboundMessage, now: datetime) -> _Outcome | None:
        request_id = self.topics.request_id_of(message.topic)
        if request_id is not None:
            return self._claim(request_id, message.payload, now)
        renewer = self.topics.renewer_of(message.topic)
        if renewer is not None:
            return self._renew(renewer[0], renewer[1], message.payload, now)
        log.warning("ignored a message on %s: not an enrolment or renewal request", message.topic)
        return None

    def _refuse_claim(
        self, request_id: str, named: str, code: RefusalCode, reason: str, now: datetime
    ) -> _Outcome:
        self.counters.refuse(code)
        log.warning("refused enrolment request %s for %s: %s: %s", request_id, named, code, reason)
        reply = EnrolmentReply(
            request_id=request_id, status="refused", reason_code=code, reason=reason[:300], ts=now
        )
        return _Outcome(self.topics.reply(request_id), reply.model_dump_json(exclude_none=True).encode())

    def _claim(self, request_id: str, payload: bytes, now: datetime) -> _Outcome:
        try:
            request = EnrolmentRequest.model_validate_json(payload)
        except ValidationError as exc:
            first = exc.errors(include_url=False, include_input=False)[0]
            where = ".".join(map(str, first["loc"])) or "payload"
            return self._refuse_claim(
                request_id, "?", "bad_request", f"not an enrolment request: {where}: {first['msg']}", now
            )
        named = (
            f"{request.store_id}/{request.device_id}"
            if request.store_id
            else f"serial {request.hardware_serial}"
        )
        if request.request_id != request_id:
            return self._refuse_claim(
                request_id, named, "bad_request", "the payload's request_id is not the topic's", now
            )
        try:
            csr = pki.load_csr(request.csr.encode("utf-8"))
        except CsrError as exc:
            return self._refuse_claim(request_id, named, "bad_csr", str(exc), now)
        public_key = pki.csr_public_key(csr)
        key_id = pki.public_key_id(public_key)
        registry = self.fleet.registry
        try:
            with registry.transaction() as conn:
                token = Registry.token(conn, request.token) if request.token else None
                serial = (
                    Registry.allowed_serial(conn, request.hardware_serial)
                    if request.hardware_serial
                    else None
                )
                store = token.store_id if token else serial.store_id if serial else None
                device = token.device_id if token else serial.device_id if serial else None
                identity = registry.identity(f"{store}.{device}") if store and device else None
                grant = decide_claim(
                    request,
                    pki.csr_common_name(csr),
                    key_id,
                    token=token,
                    serial=serial,
                    identity=identity,
                    now=now,
                )
                cert_pem, new = self._certificate(conn, grant, public_key, now, request.hardware_serial)
                if new and request.token:
                    Registry.use_token(
                        conn, request.token, now, key_id, serial_hex(pki.load_certificate(cert_pem))
                    )
                if new and request.hardware_serial:
                    Registry.use_serial(
                        conn, request.hardware_serial, now, key_id, serial_hex(pki.load_certificate(cert_pem))
                    )
        except EnrolmentRefusedError as exc:
            return self._refuse_claim(request_id, named, exc.code, str(exc), now)
        except RegistryError as exc:
            return self._refuse_claim(request_id, named, "revoked", str(exc), now)
        cert = pki.load_certificate(cert_pem)
        config = self.fleet.device_config(cert, grant.store_id, grant.device_id, now)
        reply = EnrolmentReply(
            request_id=request_id,
            status="issued",
            store_id=grant.store_id,
            device_id=grant.device_id,
            certificate=cert_pem.decode("ascii"),
            ca=self.fleet.ca_pem.decode("ascii"),
            config=config,
            ts=now,
        )
        if new:
            self.counters.issued += 1
            log.info(
                "enrolled %s by %s (request %s, certificate %s)",
                grant.name,
                grant.via,
                request_id,
                serial_hex(cert),
            )
        else:
            self.counters.reissued += 1
            log.info(
                "sent %s its certificate again (request %s: a retry with the same key)",
                grant.name,
                request_id,
            )
        notice = FleetDeviceNotice(
            store_id=grant.store_id,
            device_id=grant.device_id,
            state="active",
            event="enrolled",
            certificate_serial=serial_hex(cert),
            expires_at=cert.not_valid_after_utc,
            ts=now,
        )
        return _Outcome(
            self.topics.reply(request_id),
            reply.model_dump_json(exclude_none=True).encode(),
            retain=True,
            new_device=new,
            notice=notice if new else None,
        )

    def _certificate(
        self,
        conn: sqlite3.Connection,
        grant: Grant,
        public_key: pki.PublicKey,
        now: datetime,
        hardware_serial: str | None,
    ) -> tuple[bytes, bool]:
        """The certificate to send: the one issued before (a retry) or a new one, recorded. True when new."""
        if grant.reissue is not None:
            pem = Registry.certificate_pem(conn, grant.reissue)
            if pem is not None:
                return pem, False
        cert = self.fleet.sign_device_certificate(public_key, grant.store_id, grant.device_id, now)
        self.fleet.record(
            conn,
            cert,
            "device",
            now,
            via=grant.via,
            store_id=grant.store_id,
            device_id=grant.device_id,
            hardware_serial=hardware_serial,
        )
        return pki.cert_pem(cert), True

    def _renew(self, store_id: str, device_id: str, payload: bytes, now: datetime) -> _Outcome:
        reply_topic = DeviceTopics(self.prefix, store_id, device_id).renew_reply
        name = f"{store_id}/{device_id}"

        def refuse(request_id: str, code: RefusalCode, reason: str) -> _Outcome:
            self.counters.refuse(code)
            log.warning("refused renewal %s for %s: %s: %s", request_id, name, code, reason)
            reply = RenewalReply(
                request_id=request_id, status="refused", reason_code=code, reason=reason[:300], ts=now
            )
            return _Outcome(reply_topic, reply.model_dump_json(exclude_none=True).encode())

        try:
            request = RenewalRequest.model_validate_json(payload)
        except ValidationError:
            return refuse("0" * 16, "bad_request", "not a renewal request")
        try:
            csr = pki.load_csr(request.csr.encode("utf-8"))
        except CsrError as exc:
            return refuse(request.request_id, "bad_csr", str(exc))
        public_key = pki.csr_public_key(csr)
        key_id = pki.public_key_id(public_key)
        registry = self.fleet.registry
        try:
            with registry.transaction() as conn:
                grant = decide_renewal(
                    store_id,
                    device_id,
                    pki.csr_common_name(csr),
                    key_id,
                    identity=registry.identity(f"{store_id}.{device_id}"),
                    latest=Registry.latest_certificate(conn, f"{store_id}.{device_id}"),
                    now=now,
                    min_interval=self.renew_min_interval,
                )
                cert_pem, new = self._certificate(conn, grant, public_key, now, None)
        except EnrolmentRefusedError as exc:
            return refuse(request.request_id, exc.code, str(exc))
        cert = pki.load_certificate(cert_pem)
        config = self.fleet.device_config(cert, store_id, device_id, now)
        reply = RenewalReply(
            request_id=request.request_id,
            status="issued",
            certificate=cert_pem.decode("ascii"),
            ca=self.fleet.ca_pem.decode("ascii"),
            config=config,
            ts=now,
        )
        self.counters.renewed += int(new)
        log.info(
            "renewed %s (certificate %s, until %s)", name, serial_hex(cert), cert.not_valid_after_utc.date()
        )
        notice = FleetDeviceNotice(
            store_id=store_id,
            device_id=device_id,
            state="active",
            event="renewed",
            certificate_serial=serial_hex(cert),
            expires_at=cert.not_valid_after_utc,
            ts=now,
        )
        return _Outcome(
            reply_topic, reply.model_dump_json(exclude_none=True).encode(), notice=notice if new else None
        )
