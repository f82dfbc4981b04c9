"""``provision check``: run every probe, judge every fact, return one :class:`SelfTestReport`.

The order is the order a person fixes things in: the configuration and the identity first (nothing else
means much without them), then the camera, the models and the screen, the link to the back office, the
certificate, the CRL and the clock (against the fleet's time, asked of the enrolment service over the
device's own link), and last the disk and the outbox. A check that cannot run because an
earlier one failed is ``skipped`` and says why.

The seams (:class:`Probes`) are the adapters of :mod:`provisioning.device.probes`; a test replaces one to
break exactly one thing (a real broker that is down, a corrupted copy of the models, a clock that is off).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from kiosk.app.identity import IdentityUnusableError, apply_identity
from kiosk.config import KioskConfig, load_config
from kiosk.errors import ConfigError
from kiosk.ui.display_probe import DisplayProbe, probe_display
from mqtt_bridge.contract.topics import DeviceTopics
from mqtt_bridge.identity import CA_FILE, CERT_FILE, KEY_FILE, IdentityFolder, VerifiedIdentity
from mqtt_bridge.settings import BrokerSettings
from provisioning.device import probes
from provisioning.device.judges import (
    BrokerFacts,
    CertificateFacts,
    CrlFacts,
    IdentityFacts,
    judge_broker,
    judge_camera,
    judge_certificate,
    judge_clock,
    judge_config,
    judge_crl,
    judge_disk,
    judge_display,
    judge_identity,
    judge_model,
    judge_outbox,
    judge_variants,
    words,
)
from provisioning.device.probes import TimeReading
from provisioning.device.results import CheckResult, SelfTestReport, make_report
from provisioning.device.settings import SelfTestSettings

#: Asks a reference clock over the device's link: ``(sent, their_time, received)`` in this device's clock
#: (:data:`provisioning.device.probes.TimeReading`), or None with the reason when none answered.
TimeReference = Callable[[BrokerSettings, DeviceTopics], tuple[TimeReading | None, str]]


def selftest_topic(topics: DeviceTopics) -> str:
    """The topic of the broker round trip: the only kind of topic of its own the fleet's ACL lets a device
    both write and read (``cmd/+/result`` out, ``cmd/#`` in; provisioning/fleet/broker_config.py), under a
    command name no back office sends, so a running kiosk (which reads ``cmd/+``) never sees it."""
    return topics.command_result("selftest")


@dataclass(frozen=True)
class Probes:
    """The self-test's adapters; the defaults touch the real parts."""

    now: Callable[[], datetime] = probes.utc_now
    display: Callable[[tuple[int, int], bool], DisplayProbe] = lambda size, full: probe_display(
        size, fullscreen=full
    )
    ntp: Callable[[], tuple[bool | None, str]] = probes.probe_ntp
    #: The fleet's time: the enrolment service's reply to the device's ``time/request``.
    time_reference: TimeReference = probes.probe_fleet_time
    models_dir: Path | None = None
    camera_source: str | None = None  # overrides [camera] source (a video file as the camera)


def _skipped(check: str, title_key: str, why: str, **values: str) -> CheckResult:
    return CheckResult(check=check, title=words(title_key, **values), status="skipped", detail=why)


def run_selftest(
    config_path: Path, settings: SelfTestSettings | None = None, seams: Probes | None = None
) -> SelfTestReport:
    """Every check, in order (module docstring)."""
    settings = settings or SelfTestSettings()
    seams = seams or Probes()
    results: list[CheckResult] = []
    try:
        written = load_config(config_path)
    except ConfigError as exc:
        results.append(judge_config(str(config_path), str(exc)))
        why = "the configuration did not load"
        for check, key in (("camera", "title_camera"), ("display", "title_display")):
            results.append(_skipped(check, key, why))
        results.append(_skipped("broker", "title_broker", why))
        return make_report(results, seams.now(), None, None)
    results.append(judge_config(str(config_path), None))
    if seams.camera_source is not None:
        camera = written.camera.model_copy(update={"source": seams.camera_source})
        written = written.model_copy(update={"camera": camera})

    config, identity, identity_result = _identity(written, seams.now())
    results.append(identity_result)
    results.append(judge_camera(probes.probe_camera(config.camera, settings), settings))
    variants, resolved = probes.probe_variants(config, seams.models_dir)
    results.append(judge_variants(variants))
    results.extend(
        judge_model(f, settings) for f in probes.probe_models(config, settings, seams.models_dir, resolved)
    )
    results.append(judge_display(seams.display((config.ui.width, config.ui.height), config.ui.fullscreen)))

    usable = identity_result.status != "fail"
    topics = DeviceTopics(config.mqtt.topic_prefix, config.device.store_id, config.device.device_id)
    broker = _broker(config, topics, settings, usable)
    results.append(judge_broker(broker))
    results.append(judge_certificate(_certificate(written, config, identity), seams.now(), settings))
    results.append(judge_crl(_crl(broker), seams.now(), settings))
    asked = broker.round_trip_ms is not None
    if asked:
        reading, why = seams.time_reference(config.mqtt, topics)
    elif broker.configured:
        reading, why = None, "the back office could not be asked (see the link's line)"
    else:
        reading, why = None, "no back office is configured"
    clock = probes.clock_facts(
        seams.ntp(),
        reading,
        why,
        fleet_time=probes.fleet_signing_time(written.identity.dir),
        device_now=seams.now(),
        asked=asked,
    )
    results.append(judge_clock(clock, settings))
    results.append(judge_disk(probes.probe_disk(config.storage.data_dir), settings))
    results.append(judge_outbox(probes.probe_outbox(config.outbox), seams.now(), settings))
    return make_report(results, seams.now(), config.device.store_id, config.device.device_id)


def _identity(config: KioskConfig, now: datetime) -> tuple[KioskConfig, VerifiedIdentity | None, CheckResult]:
    folder = config.identity.dir
    try:
        applied, identity = apply_identity(config, now)
    except IdentityUnusableError as exc:
        return config, None, judge_identity(IdentityFacts(str(folder), error=str(exc)))
    if identity is None:
        return applied, None, judge_identity(IdentityFacts(None))
    facts = IdentityFacts(str(folder), name=identity.name, days_left=identity.days_left(now))
    return applied, identity, judge_identity(facts)


def _broker(
    config: KioskConfig, topics: DeviceTopics, settings: SelfTestSettings, identity_usable: bool
) -> BrokerFacts:
    mqtt = config.mqtt
    if not identity_usable:
        return BrokerFacts(
            f"{mqtt.host}:{mqtt.port}",
            configured=True,
            error="not tried: the device's identity cannot be used (see its line)",
        )
    client_id = f"{topics.store_id}.{topics.device_id}.selftest"
    return probes.probe_broker(mqtt, client_id, selftest_topic(topics), settings.broker_timeout_s)


def _certificate(
    written: KioskConfig, config: KioskConfig, identity: VerifiedIdentity | None
) -> CertificateFacts:
    """The certificate the device connects with: the identity's (also one that failed to verify: its
    dates are what a person needs), else ``[mqtt.tls]``'s."""
    folder = identity.folder if identity is not None else None
    if folder is None and written.identity.dir is not None:
        folder = IdentityFolder(written.identity.dir).current_dir()
    if folder is not None:
        return probes.probe_certificate(folder / CERT_FILE, folder / KEY_FILE, folder / CA_FILE)
    tls = config.mqtt.tls
    if tls is None:
        return CertificateFacts(None)
    return probes.probe_certificate(tls.cert_file, tls.key_file, tls.ca_file)


def _crl(broker: BrokerFacts) -> CrlFacts:
    """The device holds no copy of the CRL; what it can know is whether the broker, which checks every
    device against it, accepted this one."""
    if broker.connected:
        return CrlFacts(None, accepted=True)
    return CrlFacts(None)
