"""The self-test's adapters: each probe touches one real part (the camera, the model files, the disk, the
outbox, the certificate files, the system clock) and returns facts for :mod:`provisioning.device.judges`.

A probe never raises for the problem it looks for: what went wrong is part of its facts. Nothing here logs
or keeps a frame.
"""

from __future__ import annotations

import secrets
import shutil
import sqlite3
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from pydantic import ValidationError

from cloud_sync.outbox import Outbox
from cloud_sync.settings import OutboxSettings
from edge_models.benchmark import bench_model
from edge_models.errors import EdgeModelsError
from edge_models.manifest import MODELS_DIR, ModelTask, check_file, load_manifest
from kiosk.config import CameraConfig, KioskConfig
from kiosk.perception.camera import CameraError, CameraSourceMissingError, FrameSource, make_source
from mqtt_bridge.contract.enrolment import TimeReply, TimeRequest
from mqtt_bridge.contract.topics import DeviceTopics
from mqtt_bridge.errors import ConnectionRefusedByBrokerError, MqttBridgeError, NotConnectedError
from mqtt_bridge.identity import (
    CONFIG_FILE,
    IdentityError,
    IdentityFolder,
    common_name,
    read_config,
    serial_hex,
)
from mqtt_bridge.settings import BrokerSettings
from mqtt_bridge.transport import MqttTransport, drain_queue
from provisioning.device.judges import (
    BrokerFacts,
    CameraFacts,
    CertificateFacts,
    ClockFacts,
    CrlFacts,
    DiskFacts,
    ModelFacts,
    OutboxFacts,
    VariantFacts,
)
from provisioning.device.settings import SelfTestSettings

# -- camera -------------------------------------------------------------------------------------------------


@dataclass
class _CameraRun:
    """What the reader thread saw (written by it alone, read after it ends or times out)."""

    frames: int = 0
    size: tuple[int, int] | None = None
    error: str = ""
    missing: bool = False


def probe_camera(
    camera: CameraConfig, settings: SelfTestSettings, source: FrameSource | None = None
) -> CameraFacts:
    """Open the configured source through the kiosk's own camera adapters and read ``camera_frames``
    frames within ``camera_timeout_s``. The reads run in a thread of their own, so a driver that hangs
    costs the timeout, not the whole self-test. A video file or folder loops (only frames count here)."""
    chosen = source or make_source(camera.model_copy(update={"loop": True}))
    wanted, limit = settings.camera_frames, settings.camera_timeout_s
    run = _CameraRun()
    started = time.monotonic()

    def read() -> None:
        try:
            chosen.open()
        except CameraSourceMissingError as exc:
            run.error, run.missing = str(exc), True
            return
        except CameraError as exc:
            run.error = str(exc)
            return
        try:
            while run.frames < wanted and time.monotonic() - started < limit:
                frame = chosen.read()
                if frame is None:
                    run.error = f"{chosen.name} returned no frame"
                    return
                run.frames += 1
                run.size = (int(frame.shape[1]), int(frame.shape[0]))
        except CameraError as exc:
            run.error = str(exc)
        finally:
            chosen.close()

    reader = threading.Thread(target=read, name="selftest-camera", daemon=True)
    reader.start()
    reader.join(limit + 1.0)
    error = run.error
    if reader.is_alive():
        error = f"no frame for {limit:g} s: the camera hangs"
    return CameraFacts(
        source=camera.source,
        frames=run.frames,
        seconds=time.monotonic() - started,
        size=run.size,
        error=error,
        missing=run.missing,
    )


# -- models -------------------------------------------------------------------------------------------------


def models_in_use(
    config: KioskConfig, resolved: Mapping[str, str] | None = None
) -> dict[str, tuple[ModelTask, int]]:
    """The models this configuration runs: name -> (task, interpreter threads). ``resolved`` maps a
    configured name to the variant that runs (:func:`probe_variants`); the region model counts when region
    detection is on."""
    run = resolved or {}
    used: dict[str, tuple[ModelTask, int]] = {
        run.get(config.presence.model, config.presence.model): ("presence", config.presence.threads)
    }
    if config.perception.regions:
        region = config.perception.region_model
        used[run.get(region, region)] = ("presence", config.presence.threads)
    if config.emotion.enabled and config.privacy.mode != "presence_only":
        used[run.get(config.emotion.model, config.emotion.model)] = ("emotion", config.emotion.threads)
    return used


def probe_variants(
    config: KioskConfig, models_dir: Path | None = None
) -> tuple[VariantFacts, dict[str, str]]:
    """Measure which variant of each configured model runs fastest here and save the choice where the kiosk
    reads it (``[perception] variant = "auto"``; a forced variant is only reported). Returns the facts and
    configured name -> the model that runs."""
    from edge_models import calibration

    p = config.perception
    path = p.calibration_file or config.storage.data_dir / calibration.CALIBRATION_FILE
    folder = models_dir or MODELS_DIR
    configured = list(models_in_use(config))
    try:
        manifest = load_manifest(folder / "manifest.json")
        if p.variant != "auto":
            run = {name: calibration.resolve(name, p.variant, None, manifest) for name in configured}
            chosen = tuple((calibration.family_of(n), run[n], None) for n in configured)
            return VariantFacts(str(path), chosen, forced=p.variant), run
        measured = calibration.measure(
            configured,
            threads=config.presence.threads,
            rounds=3,
            calls=10,
            manifest=manifest,
            models_dir=folder,
        )
        calibration.save(measured, path)
    except (EdgeModelsError, OSError) as exc:
        return VariantFacts(str(path), error=f"not measured: {exc}"), {}
    run = {name: calibration.resolve(name, "auto", measured, manifest) for name in configured}
    chosen_facts = []
    others = []
    for choice in measured.choices:
        for figure in choice.figures:
            if figure.model == choice.chosen:
                chosen_facts.append((choice.family, figure.model, figure.median_ms))
            else:
                others.append((figure.model, figure.median_ms))
    return VariantFacts(str(path), tuple(chosen_facts), tuple(others)), run


def probe_models(
    config: KioskConfig,
    settings: SelfTestSettings,
    models_dir: Path | None = None,
    resolved: Mapping[str, str] | None = None,
) -> list[ModelFacts]:
    """Every model of the manifest in ``models_dir`` (default: the installed one): each file's size and
    sha256 against the manifest; the models the configuration runs (after the variant choice, ``resolved``)
    are also loaded (the runtime checks their tensors) and timed, ``latency_runs`` calls after ten untimed
    ones."""
    folder = models_dir or MODELS_DIR
    manifest = load_manifest(folder / "manifest.json")
    used = models_in_use(config, resolved)
    facts = []
    for entry in manifest.models:
        task_threads = used.get(entry.name)
        checked = check_file(entry, folder)
        if not checked.ok or task_threads is None:
            facts.append(ModelFacts(entry.name, entry.task, task_threads is not None, checked.problem))
            continue
        try:
            timed = bench_model(
                entry.name, task_threads[1], settings.latency_runs, manifest=manifest, models_dir=folder
            )
        except EdgeModelsError as exc:
            facts.append(ModelFacts(entry.name, entry.task, True, load_error=str(exc)))
            continue
        facts.append(
            ModelFacts(entry.name, entry.task, True, p50_ms=timed.latency.p50_ms, p95_ms=timed.latency.p95_ms)
        )
    missing = sorted(set(used) - {entry.name for entry in manifest.models})
    for name in missing:
        task = used[name][0]
        facts.append(
            ModelFacts(
                name, task, True, f"no model {name!r} in {folder / 'manifest.json'} (`edge-models list`)"
            )
        )
    return facts


# -- disk and outbox ----------------------------------------------------------------------------------------


def _existing(path: Path) -> Path:
    """``path`` or its nearest existing parent (the data folder may not exist before the first run)."""
    for candidate in (path, *path.absolute().parents):
        if candidate.exists():
            return candidate
    return Path("/")


def probe_disk(data_dir: Path) -> DiskFacts:
    """Free and total bytes of the file system that holds ``data_dir``."""
    usage = shutil.disk_usage(_existing(data_dir))
    return DiskFacts(str(data_dir), usage.free, usage.total)


def probe_outbox(settings: OutboxSettings) -> OutboxFacts:
    """How many events wait in the outbox and when the oldest was stored: read-only, beside a running
    kiosk too (:meth:`Outbox.read_backlog`), and without creating the file."""
    path = settings.path
    if not path.is_file():
        return OutboxFacts(str(path), exists=False, max_rows=settings.max_rows)
    try:
        backlog = Outbox.read_backlog(path)
    except sqlite3.Error as exc:
        return OutboxFacts(str(path), exists=True, max_rows=settings.max_rows, error=str(exc))
    return OutboxFacts(str(path), True, backlog.depth, backlog.oldest_at, settings.max_rows)


# -- certificate and CRL ------------------------------------------------------------------------------------


def _load_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def probe_certificate(
    cert_file: Path | None, key_file: Path | None, ca_file: Path | None
) -> CertificateFacts:
    """The client certificate's subject, serial, validity; whether ``ca_file`` issued it and ``key_file``
    is its key. Read from the files the broker connection uses."""
    if cert_file is None:
        return CertificateFacts(None)
    where = str(cert_file)
    try:
        cert = _load_cert(cert_file)
    except (OSError, ValueError) as exc:
        return CertificateFacts(where, error=f"cannot read the certificate: {exc}")
    facts = CertificateFacts(
        where,
        subject=common_name(cert),
        serial=serial_hex(cert),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
    )
    issuer_problem = key_problem = ""
    if ca_file is not None:
        try:
            cert.verify_directly_issued_by(_load_cert(ca_file))
        except (OSError, ValueError, TypeError, InvalidSignature) as exc:
            issuer_problem = f"not issued by the CA in {ca_file}: {exc or 'bad signature'}"
    if key_file is not None:
        try:
            key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
            public = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            if key.public_key().public_bytes(*public) != cert.public_key().public_bytes(*public):
                key_problem = f"{key_file} is not this certificate's key"
        except (OSError, ValueError, TypeError) as exc:
            key_problem = f"cannot read the private key {key_file}: {exc}"
    return CertificateFacts(
        facts.path,
        facts.subject,
        facts.serial,
        facts.not_before,
        facts.not_after,
        issuer_problem=issuer_problem,
        key_problem=key_problem,
    )


def probe_crl(crl_file: Path | None, ca_file: Path | None, cert_file: Path | None) -> CrlFacts:
    """The fleet's CRL as this device holds it: signed by the CA, its next update, this device on it."""
    if crl_file is None or not crl_file.is_file():
        return CrlFacts(None)
    where = str(crl_file)
    try:
        crl = x509.load_pem_x509_crl(crl_file.read_bytes())
    except (OSError, ValueError) as exc:
        return CrlFacts(where, error=f"cannot read the CRL: {exc}")
    problem = ""
    if ca_file is not None:
        try:
            key = _load_cert(ca_file).public_key()
            if not isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey):
                problem = f"the CA in {ca_file} has a {type(key).__name__}, which cannot sign a CRL"
            elif not crl.is_signature_valid(key):
                problem = f"not signed by the CA in {ca_file}"
        except (OSError, ValueError, TypeError) as exc:
            problem = f"cannot check its signature: {exc}"
    revoked = False
    if cert_file is not None:
        try:
            revoked = (
                crl.get_revoked_certificate_by_serial_number(_load_cert(cert_file).serial_number) is not None
            )
        except (OSError, ValueError):
            revoked = False
    return CrlFacts(where, crl.next_update_utc, problem, revoked)


# -- clock --------------------------------------------------------------------------------------------------


def probe_ntp(systemd_dir: Path = Path("/run/systemd/system")) -> tuple[bool | None, str]:
    """The system's own word on time synchronisation: ``timedatectl show -p NTPSynchronized`` where
    systemd runs (``/run/systemd/system`` exists); None where it cannot tell, with why."""
    tool = shutil.which("timedatectl")
    if not systemd_dir.is_dir() or tool is None:
        return None, "systemd is not running here: timedatectl cannot tell"
    try:
        done = subprocess.run(
            [tool, "show", "-p", "NTPSynchronized", "--value"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"timedatectl failed: {exc}"
    value = done.stdout.strip()
    if done.returncode != 0 or value not in ("yes", "no"):
        return None, f"timedatectl answered {value or done.stderr.strip()!r}"
    return value == "yes", "timedatectl"


def clock_facts(
    ntp: tuple[bool | None, str],
    reference: tuple[datetime, datetime, datetime] | None,
    why_none: str,
    *,
    fleet_time: datetime | None = None,
    device_now: datetime | None = None,
    asked: bool = False,
) -> ClockFacts:
    """Facts from the NTP state, the fleet's signing time of the identity (``fleet_time``) against this
    device's clock (``device_now``), and, when one answered, a reference time: ``(sent, their_time,
    received)`` in this device's clock around the reply that carried ``their_time`` (NTP's way: the offset
    is their time minus the midpoint of sent and received, uncertain by half the round trip). ``asked``:
    the reference was asked (the link worked) and did not answer."""
    if reference is None:
        return ClockFacts(
            ntp[0],
            ntp[1],
            reference=why_none,
            fleet_time=fleet_time,
            device_now=device_now,
            unanswered=asked,
        )
    sent, theirs, received = reference
    half = (received - sent).total_seconds() / 2
    midpoint = sent + (received - sent) / 2
    return ClockFacts(
        ntp[0],
        ntp[1],
        (theirs - midpoint).total_seconds(),
        abs(half),
        reference=why_none or "the back office",
        fleet_time=fleet_time,
        device_now=device_now,
    )


def fleet_signing_time(identity_dir: Path | None) -> datetime | None:
    """``issued_at`` of the current identity's config.toml: the fleet's clock when it answered this
    device's enrolment or renewal (read, not verified: a clock that is off makes the identity fail to
    verify, and this shows by how much); None without one."""
    if identity_dir is None:
        return None
    current = IdentityFolder(identity_dir).current_dir()
    if current is None:
        return None
    try:
        return read_config(current / CONFIG_FILE).issued_at
    except IdentityError:
        return None


def utc_now() -> datetime:
    """This device's wall clock (UTC)."""
    return datetime.now(UTC)


#: ``(sent, their_time, received)``: the fleet's time and when (this device's clock) it was asked and came.
TimeReading = tuple[datetime, datetime, datetime]

#: Seconds the enrolment service has to answer a time request.
TIME_TIMEOUT_S = 5.0


def probe_fleet_time(
    settings: BrokerSettings,
    topics: DeviceTopics,
    timeout_s: float = TIME_TIMEOUT_S,
    now: Callable[[], datetime] = utc_now,
) -> tuple[TimeReading | None, str]:
    """Ask the fleet's enrolment service (``provision serve``) for its time, as the device (its own
    certificate, its own ``time/request``), and note this device's clock when it asked and when the answer
    came: ``((sent, their_time, received), "")``, or ``(None, why)`` when no answer came. The round trip
    is timed with the monotonic clock (a wall-clock step during it cannot distort it); the offset is then
    their time minus the midpoint (:func:`clock_facts`)."""
    quick = settings.model_copy(update={"reconnect_min_s": 0.2, "reconnect_max_s": 0.5})
    request = TimeRequest(request_id=secrets.token_urlsafe(18))
    try:
        transport = MqttTransport(
            quick, client_id=f"{topics.store_id}.{topics.device_id}", subscriptions=[(topics.time_reply, 1)]
        )
    except (MqttBridgeError, OSError, ssl.SSLError) as exc:
        return None, f"cannot set up the connection: {exc}"
    transport.start()
    try:
        try:
            transport.wait_connected(timeout_s)
        except MqttBridgeError as exc:
            return None, f"the back office could not be asked: {exc}"
        # One connection's packets are handled in order: the subscription made on connect is in place
        # before the request reaches the service.
        sent, started = now(), time.monotonic()
        transport.publish(topics.time_request, request.model_dump_json().encode(), qos=1)
        deadline = started + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            for message in drain_queue(transport.inbound, min(left, 0.2)):
                if message.topic != topics.time_reply:
                    continue
                try:
                    reply = TimeReply.model_validate_json(message.payload)
                except ValidationError:
                    continue
                if reply.request_id == request.request_id:
                    received = sent + timedelta(seconds=time.monotonic() - started)
                    return (sent, reply.ts, received), ""
        return None, (
            f"the fleet's enrolment service (provision serve) did not answer the time request within "
            f"{timeout_s:g} s"
        )
    finally:
        transport.stop(timeout_s=2.0)


# -- broker -------------------------------------------------------------------------------------------------


def probe_broker(settings: BrokerSettings, client_id: str, topic: str, timeout_s: float) -> BrokerFacts:
    """Connect as the device (its TLS client certificate), subscribe to ``topic``, publish a fresh nonce
    there (QoS 1) and wait for it to come back: the broker accepts the device, lets it publish and delivers
    to it. A denied subscription is granted in SUBACK but delivers nothing, so delivery is what counts."""
    where = f"{settings.host}:{settings.port}"
    tls = settings.tls
    facts = BrokerFacts(
        where,
        configured=settings.enabled,
        tls=tls is not None,
        client_certificate=tls is not None and tls.cert_file is not None,
        topic=topic,
    )
    if not settings.enabled:
        return facts
    nonce = f"vitrina-selftest {uuid.uuid4().hex}".encode()
    # A short reconnect delay: a first refusal or failure must be seen within the timeout.
    quick = settings.model_copy(update={"reconnect_min_s": 0.2, "reconnect_max_s": 0.5})
    try:
        transport = MqttTransport(quick, client_id=client_id, subscriptions=[(topic, 1)])
    except (MqttBridgeError, OSError, ssl.SSLError) as exc:
        return replace(facts, error=f"cannot set up the connection: {exc}")
    transport.start()
    try:
        try:
            transport.wait_connected(timeout_s)
        except ConnectionRefusedByBrokerError as exc:
            return replace(facts, refused=exc.reason or str(exc))
        except NotConnectedError:
            changes = drain_queue(transport.changes, 0.0)
            reasons = [c.reason for c in changes if c.state in ("failed", "lost", "refused")]
            return replace(facts, error=reasons[-1] if reasons else f"no answer within {timeout_s:g} s")
        started = time.monotonic()
        transport.publish(topic, nonce, qos=1)
        deadline = started + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            for message in drain_queue(transport.inbound, min(left, 0.2)):
                if message.topic == topic and message.payload == nonce:
                    elapsed_ms = (time.monotonic() - started) * 1000
                    return replace(facts, connected=True, round_trip_ms=elapsed_ms)
        return replace(
            facts,
            connected=True,
            error=f"the message published on {topic} did not come back within {timeout_s:g} s",
        )
    finally:
        transport.stop(timeout_s=2.0)
