"""The device's side of enrolment by claim (``provision enrol``): from the claim identity to a device that has
published its birth as itself.

1. The device makes its own key (kept in the identity folder, 0600, until enrolment ends, so a retry after
   a crash or a lost reply asks with the same key and gets the same certificate) and a CSR.
2. It connects with the claim identity (``IDENTITY/claim/``) and subscribes to its reply topic **before** it
   publishes the request: the SUBSCRIBE goes out first on the same connection, and the broker handles a
   client's packets in order, so the subscription exists before the request reaches the service.
3. It publishes the request (QoS 1; a refusal of the publish itself, PUBACK 135, means the claim identity
   was revoked) and waits for the reply, asking again with the same request every ``retry_s``. Devices
   enrolling at once share the claim identity's client id, so they take each other's connection; each
   comes back within a second, and an issued reply waits for it, retained.
4. A refusal raises :class:`~provisioning.errors.EnrolmentRefusedError` with the service's code and reason.
   An issued reply becomes a bundle with the device's key; it is staged in the identity folder and checked
   (against the claim identity's CA) and remembered as ``pending``.
5. The device connects as itself (:func:`mqtt_bridge.device.device_transport`: status ``online``, last will,
   birth) and publishes its birth, QoS 1, until the broker acknowledges it (a PUBACK 135 right after
   enrolment, before the broker applied its new ACL, is retried).
6. Only then is the new identity made ``current`` and the claim identity removed.
"""

from __future__ import annotations

import hashlib
import logging
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from mqtt_bridge.contract.enrolment import EnrolmentReply, EnrolmentRequest, EnrolmentTopics
from mqtt_bridge.contract.identity import device_identity_name
from mqtt_bridge.contract.payloads import BirthPayload
from mqtt_bridge.contract.topics import QOS, RETAIN, DeviceTopics
from mqtt_bridge.device import device_transport, stopped_message
from mqtt_bridge.errors import MqttBridgeError, NotConnectedError
from mqtt_bridge.identity import (
    CA_FILE,
    CERT_FILE,
    CONFIG_FILE,
    KEY_FILE,
    IdentityError,
    IdentityFolder,
    SigningKey,
    VerifiedIdentity,
    make_csr,
    private_key_pem,
    verify_bundle,
    write_file_atomically,
)
from mqtt_bridge.transport import MqttTransport, PublishAck, Will, drain_queue
from provisioning import __version__, pki
from provisioning.errors import EnrolmentRefusedError, ProvisioningError

log = logging.getLogger(__name__)

#: The device's enrolment key in the identity folder, until enrolment ends.
ENROL_KEY = ".enrol-key.pem"

#: Where boards keep their serial number (Raspberry Pi, Jetson), read in this order.
SERIAL_SOURCES = (
    Path("/sys/firmware/devicetree/base/serial-number"),
    Path("/proc/device-tree/serial-number"),
)


def hardware_serial() -> str | None:
    """The board's serial number (device tree, or /proc/cpuinfo's ``Serial``), None when there is none."""
    for source in SERIAL_SOURCES:
        try:
            text = source.read_bytes().rstrip(b"\x00").decode("ascii").strip()
        except (OSError, UnicodeDecodeError):
            continue
        if text:
            return text
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "Serial" and value.strip():
                return value.strip()
    except OSError:
        pass
    return None


@dataclass(frozen=True)
class Enrolled:
    """What :func:`enrol` did: the identity now current, and how long each step took (seconds)."""

    identity: VerifiedIdentity
    reply_s: float
    birth_s: float
    total_s: float


def _key(folder: IdentityFolder) -> SigningKey:
    """The enrolment key: the one kept from an earlier attempt, or a new one (written 0600 first)."""
    path = folder.root / ENROL_KEY
    if path.exists():
        return pki.load_private_key(path.read_bytes())
    key = pki.new_private_key()
    folder.root.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_file_atomically(path, private_key_pem(key), 0o600)
    return key


def _request_id(key: SigningKey, store: str | None, device: str | None, entitlement: str) -> str:
    """A request id stable for one key, name and token (or serial), so a retry after a crash or a lost
    reply reuses its reply topic (where an issued reply waits, retained)."""
    public = pki.public_key_id(key.public_key())
    digest = hashlib.sha256(f"{public}/{store}/{device}/{entitlement}".encode()).digest()
    return digest[:18].hex()


def request_certificate(
    claim: VerifiedIdentity,
    request: EnrolmentRequest,
    *,
    timeout_s: float,
    retry_s: float = 3.0,
    rng: random.Random | None = None,
) -> EnrolmentReply:
    """Send ``request`` with the claim identity and wait for the service's reply (module docstring, 2-4).

    Each connection subscribes to the reply topic and then publishes the request (in that order, on
    connect); when another device enrolling at the same time takes the claim identity's session over, this
    one waits a random 0.2-2 s (so that devices taken over do not all come back at once) and connects
    again, and finds its issued reply retained. Without a reply for ``retry_s`` it asks again.
    """
    rng = rng or random.SystemRandom()
    topics = EnrolmentTopics(claim.config.topic_prefix if claim.config else "vitrina/v1")
    settings = claim.broker_settings()
    payload = request.model_dump_json(exclude_none=True).encode("utf-8")
    ask = Will(topics.request(request.request_id), payload, qos=1, retain=False)
    deadline = time.monotonic() + timeout_s
    connections = 0
    while time.monotonic() < deadline:
        transport = MqttTransport(
            settings, client_id="claim", subscriptions=[(topics.reply(request.request_id), 1)], online=[ask]
        )
        transport.start()
        connections += 1
        try:
            reply = _await_reply(transport, request.request_id, min(deadline, time.monotonic() + retry_s))
        finally:
            transport.stop(timeout_s=1.0)
        if reply is not None:
            return reply
        time.sleep(rng.uniform(0.2, 2.0))
    raise ProvisioningError(
        f"no reply from the enrolment service within {timeout_s:.0f} s ({connections} connections): is "
        f"`provision serve` running for this fleet on {settings.host}:{settings.port}?"
    )


def _await_reply(transport: MqttTransport, request_id: str, until: float) -> EnrolmentReply | None:
    """The reply to ``request_id`` on this connection before ``until``; None when the connection was lost
    (taken over), failed, or nothing came. Raises when the broker refuses the claim identity or its
    request."""
    while time.monotonic() < until:
        for message in drain_queue(transport.inbound, 0.05):
            if not message.payload:
                continue  # a cleared retained reply
            reply = EnrolmentReply.model_validate_json(message.payload)
            if reply.request_id == request_id:
                return reply
        for ack in drain_queue(transport.acks, 0.0):
            if not ack.ok:
                raise ProvisioningError(
                    f"the broker refused the enrolment request ({ack.reason}): the claim identity may be "
                    "revoked, or this broker's ACL is not the fleet's (provision broker-config)"
                )
        for change in drain_queue(transport.changes, 0.0):
            if change.state == "refused":
                raise ProvisioningError(
                    f"the broker refused the claim identity ({change.reason}): is it revoked, or this "
                    "device's "
                    "clock wrong? (provision show)"
                )
            if change.state in ("lost", "failed"):
                log.debug("claim connection %s (%s); trying again", change.state, change.reason)
                return None
    return None


def _find_ack(transport: MqttTransport, mid: int) -> PublishAck | None:
    for ack in drain_queue(transport.acks, 0.0):
        if ack.mid == mid:
            return ack
    return None


def birth(identity: VerifiedIdentity, now: datetime) -> BirthPayload:
    """The birth a freshly enrolled device publishes (the kiosk replaces it with its own when it starts)."""
    config_hash = hashlib.sha256((identity.folder / CONFIG_FILE).read_bytes()).hexdigest()
    return BirthPayload(
        software_version=f"provision {__version__}",
        capabilities=["enrolled"],
        config_hash=config_hash,
        ts=now,
    )


def publish_birth(
    identity: VerifiedIdentity, now: Callable[[], datetime], *, timeout_s: float, retry_s: float = 0.5
) -> None:
    """Connect as ``identity``, publish its birth until the broker acknowledges it (module docstring, 5)."""
    assert identity.config is not None and identity.config.store_id and identity.config.device_id
    topics = DeviceTopics(identity.config.topic_prefix, identity.config.store_id, identity.config.device_id)
    born = birth(identity, now())
    transport = device_transport(identity.broker_settings(), topics, born)
    transport.start()
    try:
        deadline = time.monotonic() + timeout_s
        transport.wait_connected(max(0.1, deadline - time.monotonic()))
        last = "no answer"
        while time.monotonic() < deadline:
            handle = transport.publish(
                topics.birth, born.model_dump_json().encode(), QOS["birth"], RETAIN["birth"]
            )
            if handle.wait(max(0.1, min(5.0, deadline - time.monotonic()))):
                ack = _find_ack(transport, handle.mid)
                if ack is None or ack.ok:
                    return
                last = f"{ack.reason} ({ack.reason_code})"
            time.sleep(retry_s)
        raise ProvisioningError(
            f"connected as {identity.name} but the broker did not accept its birth ({last}) within "
            f"{timeout_s:.0f} s: the broker's ACL does not list this device yet (ask the fleet operator to "
            "check that `provision serve` can reload the broker)"
        )
    finally:
        transport.stop(final=stopped_message(topics))


def enrol(
    folder: IdentityFolder,
    *,
    store_id: str | None,
    device_id: str | None,
    token: str | None,
    serial: str | None,
    clock: Callable[[], datetime],
    timeout_s: float = 60.0,
) -> Enrolled:
    """Enrol this device by claim (module docstring). Raises :class:`EnrolmentRefusedError` with the service's
    code and reason, :class:`ProvisioningError` or :class:`~mqtt_bridge.identity.IdentityError` otherwise."""
    started = time.monotonic()
    pending = folder.pending_dir()
    if pending is not None:
        try:
            identity = verify_bundle(pending, clock())
        except IdentityError:
            identity = None
        if identity is not None:
            log.info("an enrolment was received before; proving it by a connection as %s", identity.name)
            return _finish(folder, identity, clock, started=started, replied=started, timeout_s=timeout_s)
    try:
        claim = verify_bundle(folder.claim_dir, clock())
    except IdentityError as exc:
        raise ProvisioningError(
            f"no usable claim identity in {folder.claim_dir}: {exc}. Copy one there (provision claim bundle) "
            "or apply a bundle instead (provision apply)"
        ) from exc
    key = _key(folder)
    name = device_identity_name(store_id, device_id) if store_id and device_id else ""
    request = EnrolmentRequest(
        request_id=_request_id(
            key, store_id, device_id, hashlib.sha256(f"{token}/{serial}".encode()).hexdigest()
        ),
        store_id=store_id,
        device_id=device_id,
        csr=make_csr(key, name).decode("ascii"),
        token=token,
        hardware_serial=serial if token is None else None,
        software_version=__version__,
    )
    remaining = timeout_s - (time.monotonic() - started)
    reply = request_certificate(claim, request, timeout_s=remaining)
    if reply.status == "refused":
        assert reply.reason_code is not None
        raise EnrolmentRefusedError(
            reply.reason_code, f"enrolment refused ({reply.reason_code}): {reply.reason}"
        )
    assert reply.certificate and reply.ca and reply.config
    replied = time.monotonic()
    files = {
        CA_FILE: reply.ca.encode("ascii"),
        CERT_FILE: reply.certificate.encode("ascii"),
        KEY_FILE: private_key_pem(key),
        CONFIG_FILE: reply.config.to_toml().encode("utf-8"),
    }
    identity = folder.stage(files, clock())
    folder.set_pending(identity)
    return _finish(folder, identity, clock, started=started, replied=replied, timeout_s=timeout_s)


def _finish(
    folder: IdentityFolder,
    identity: VerifiedIdentity,
    clock: Callable[[], datetime],
    *,
    started: float,
    replied: float,
    timeout_s: float,
) -> Enrolled:
    try:
        publish_birth(identity, clock, timeout_s=max(5.0, timeout_s - (time.monotonic() - started)))
    except (MqttBridgeError, NotConnectedError) as exc:
        raise ProvisioningError(
            f"the new identity {identity.name} is kept as pending (and the claim identity too), but "
            "connecting "
            f"as it failed: {exc}; run `provision enrol` again"
        ) from exc
    done = time.monotonic()
    folder.activate(identity)
    folder.drop_claim()
    (folder.root / ENROL_KEY).unlink(missing_ok=True)
    return Enrolled(identity, reply_s=replied - started, birth_s=done - replied, total_s=done - started)


def new_request_id() -> str:
    """A random request id (for callers that do not derive one from a key)."""
    return secrets.token_urlsafe(18)
