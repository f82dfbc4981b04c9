"""Certificate renewal over the device's own identity: the device asks, on its own topic, for a certificate
for a new key, and installs what comes back (docs/mqtt.md, "Enrolment and renewal").

The broker lets only this device publish on ``{prefix}/{store}/{device}/renew/request``, so the topic is its
proof of identity; the enrolment service (``provision serve``) answers on ``.../renew/reply`` with the new
certificate and a new signed config. The new key is made here and kept in the identity folder (0600) until
the reply is installed, so a lost reply is answered, on a retry, with the same certificate.

**Over a connection the device already has** (the kiosk: a second connection under the same certificate
would take the kiosk's session over, since the broker makes the certificate's name the client id)::

    client = RenewalClient(IdentityFolder(path), sync.topics, sync.transport.publish, clock)
    sync.listen(client.reply_topic, 1, lambda message: client.handle(message.payload))   # before start()
    ...
    if client.due(clock(), threshold_days=30) and not client.waiting:
        client.request()
    # an outcome with status "renewed": the new identity is `current`; reconnect to use it

**On its own connection** (``provision renew``, the kiosk stopped): :func:`renew_once`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import ValidationError

from cloud_sync.errors import CloudSyncError
from mqtt_bridge.contract.enrolment import RenewalReply, RenewalRequest, renew_topics
from mqtt_bridge.contract.topics import DeviceTopics
from mqtt_bridge.errors import MqttBridgeError
from mqtt_bridge.identity import (
    CA_FILE,
    CERT_FILE,
    CONFIG_FILE,
    KEY_FILE,
    IdentityError,
    IdentityFolder,
    SigningKey,
    VerifiedIdentity,
    load_private_key,
    make_csr,
    new_private_key,
    private_key_pem,
    public_key_id,
    write_file_atomically,
)
from mqtt_bridge.transport import MqttTransport, drain_queue

log = logging.getLogger(__name__)

#: The renewal's new key in the identity folder, until the reply is installed.
RENEW_KEY = ".renew-key.pem"

#: Renew when the certificate has fewer days left than this (the kiosk's default).
RENEW_WITHIN_DAYS = 30.0

#: SESSION_TAKEN_OVER: the broker closed our connection because another one came with our client id.
_SESSION_TAKEN_OVER = 0x8E


class RenewalError(CloudSyncError):
    """A renewal could not be made: no identity to renew, no reply, or a reply that does not install."""


@dataclass(frozen=True)
class RenewalOutcome:
    """What a reply did: ``renewed`` (the new identity is current), ``refused`` (with the service's code and
    reason), ``failed`` (the reply did not verify: the old identity stays) or ``ignored`` (not ours)."""

    status: Literal["renewed", "refused", "failed", "ignored"]
    reason: str = ""
    reason_code: str | None = None
    identity: VerifiedIdentity | None = None


class RenewalClient:
    """Asks for and installs a renewed certificate over an existing connection (module docstring)."""

    def __init__(
        self,
        folder: IdentityFolder,
        topics: DeviceTopics,
        publish: Callable[[str, bytes, int], object],
        clock: Callable[[], datetime],
        *,
        timeout_s: float = 60.0,
    ) -> None:
        self.folder = folder
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._answered = threading.Event()
        self._outcome: RenewalOutcome | None = None
        self.topics = topics
        self._publish = publish
        self.clock = clock
        self.request_topic, self.reply_topic = renew_topics(topics)
        self._pending: str | None = None

    @property
    def waiting(self) -> bool:
        """A request was sent and its reply has not come yet."""
        return self._pending is not None

    def renew(self, identity: VerifiedIdentity, now: datetime) -> VerifiedIdentity:
        """Ask and wait (up to ``timeout_s``) until :meth:`handle`, called from the connection's thread,
        installed the reply: the renewed identity, now current. Raises :class:`RenewalError` saying why not.

        ``identity`` is the one in use (its name is checked against the topics); the kiosk's renewal worker
        calls this from its own thread (``kiosk.app.renewal.Renew``)."""
        if identity.name != f"{self.topics.store_id}.{self.topics.device_id}":
            raise RenewalError(f"{identity.name} is not the device these topics belong to")
        self.request()
        if not self._answered.wait(self.timeout_s):
            with self._lock:
                self._pending = None
            raise RenewalError(
                f"no renewal reply within {self.timeout_s:.0f} s: is the broker reachable and "
                "`provision serve` "
                "running for the fleet?"
            )
        with self._lock:
            outcome = self._outcome
        assert outcome is not None
        if outcome.status != "renewed" or outcome.identity is None:
            code = f" ({outcome.reason_code})" if outcome.reason_code else ""
            raise RenewalError(f"renewal {outcome.status}{code}: {outcome.reason}")
        return outcome.identity

    def days_left(self, now: datetime) -> float:
        """Days the current certificate has left; :class:`RenewalError` when there is no usable identity."""
        try:
            return self.folder.load(now).days_left(now)
        except IdentityError as exc:
            raise RenewalError(f"no identity to renew: {exc}") from exc

    def due(self, now: datetime, threshold_days: float = RENEW_WITHIN_DAYS) -> bool:
        """True when the certificate has fewer than ``threshold_days`` left."""
        return self.days_left(now) < threshold_days

    def _key(self) -> SigningKey:
        path = self.folder.root / RENEW_KEY
        if path.exists():
            return load_private_key(path.read_bytes())
        key = new_private_key()
        write_file_atomically(path, private_key_pem(key), 0o600)
        return key

    def request(self) -> str:
        """Publish a renewal request for a new key (new, or the one a lost reply left); its request id."""
        key = self._key()
        name = f"{self.topics.store_id}.{self.topics.device_id}"
        request_id = public_key_id(key.public_key())[:32]
        request = RenewalRequest(request_id=request_id, csr=make_csr(key, name).decode("ascii"))
        with self._lock:
            self._pending = request_id
            self._outcome = None
            self._answered.clear()
        self._publish(self.request_topic, request.model_dump_json().encode("utf-8"), 1)
        log.info("asked for a renewed certificate (request %s)", request_id)
        return request_id

    def handle(self, payload: bytes) -> RenewalOutcome:
        """Take a reply on :attr:`reply_topic`: install an issued certificate (all or nothing), or report why
        not. Never raises."""
        try:
            reply = RenewalReply.model_validate_json(payload)
        except ValidationError:
            log.warning("ignored a renewal reply that is not one")
            return RenewalOutcome("ignored", "not a renewal reply")
        with self._lock:
            if reply.request_id != self._pending:
                return RenewalOutcome("ignored", "a reply to another request")
            self._pending = None
        outcome = self._take(reply)
        with self._lock:
            self._outcome = outcome
            self._answered.set()
        return outcome

    def _take(self, reply: RenewalReply) -> RenewalOutcome:
        if reply.status == "refused":
            log.error("renewal refused (%s): %s", reply.reason_code, reply.reason)
            return RenewalOutcome("refused", reply.reason, reply.reason_code)
        if not (reply.certificate and reply.ca and reply.config):
            return RenewalOutcome("failed", "an issued reply without its certificate, CA or config")
        key_path = self.folder.root / RENEW_KEY
        files = {
            CA_FILE: reply.ca.encode("ascii"),
            CERT_FILE: reply.certificate.encode("ascii"),
            KEY_FILE: key_path.read_bytes(),
            CONFIG_FILE: reply.config.to_toml().encode("utf-8"),
        }
        try:
            identity = self.folder.install(files, self.clock())
        except (IdentityError, OSError) as exc:
            log.error("the renewed certificate was not installed (the old one stays): %s", exc)
            return RenewalOutcome("failed", str(exc))
        key_path.unlink(missing_ok=True)
        log.info("renewed: %s until %s", identity.name, identity.expires_at.date())
        return RenewalOutcome("renewed", identity=identity)


def renew_once(
    folder: IdentityFolder, clock: Callable[[], datetime], timeout_s: float = 30.0
) -> RenewalOutcome:
    """Renew on a connection of its own (the kiosk must not be running: it would lose its session to this
    one, and take it back). Raises :class:`RenewalError` when there is no identity or no reply."""
    try:
        current = folder.load(clock())
    except IdentityError as exc:
        raise RenewalError(f"no identity to renew: {exc}") from exc
    assert current.config is not None and current.config.store_id and current.config.device_id
    topics = DeviceTopics(current.config.topic_prefix, current.config.store_id, current.config.device_id)
    _, reply_topic = renew_topics(topics)
    transport = MqttTransport(
        current.broker_settings(), client_id=current.name, subscriptions=[(reply_topic, 1)]
    )
    client = RenewalClient(folder, topics, transport.publish, clock)
    transport.start()
    try:
        deadline = time.monotonic() + timeout_s
        transport.wait_connected(timeout_s)
        client.request()
        while time.monotonic() < deadline:
            for change in drain_queue(transport.changes, 0.0):
                if change.state == "lost" and change.reason_code == _SESSION_TAKEN_OVER:
                    raise RenewalError(
                        "another connection uses this device's identity (the kiosk?): stop it, or let "
                        "the kiosk renew by itself"
                    )
            for message in drain_queue(transport.inbound, 0.1):
                if message.topic == reply_topic:
                    outcome = client.handle(message.payload)
                    if outcome.status != "ignored":
                        return outcome
        raise RenewalError(
            f"no renewal reply within {timeout_s:.0f} s: is `provision serve` running for the fleet?"
        )
    except MqttBridgeError as exc:
        raise RenewalError(f"cannot reach the broker as {current.name}: {exc}") from exc
    finally:
        transport.stop()
