"""The self-test's pure core: facts in (gathered by :mod:`provisioning.device.probes`), a
:class:`~provisioning.device.results.CheckResult` out. No I/O, no clock: ``now`` is passed in.

The words (titles and fixes, English and Russian) are in ``provisioning/device/messages.toml``; each fix
is written for a shop employee first (what to plug in, whom to call), then for whoever maintains the fleet
(the command to run).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from kiosk.i18n import Messages, load_messages
from provisioning.device.results import CheckResult, CheckStatus, Words
from provisioning.device.settings import SelfTestSettings

if TYPE_CHECKING:
    from kiosk.ui.display_probe import DisplayProbe

MB = 1024 * 1024
MESSAGES_FILE = Path(__file__).resolve().parent / "messages.toml"


def _messages() -> Messages:
    return load_messages(MESSAGES_FILE)


def words(key: str, **values: str) -> Words:
    """Message ``key`` of messages.toml in both languages, its ``{placeholders}`` filled."""
    table = _messages()
    return Words(en=table.get(key, "en", **values), ru=table.get(key, "ru", **values))


def _result(
    check: str, status: CheckStatus, detail: str, fix: str | None = None, **values: str
) -> CheckResult:
    """A result whose title is ``title_{check}`` (up to a ':') and whose fix is the message ``fix``."""
    title = words(f"title_{check.partition(':')[0]}", **values)
    return CheckResult(
        check=check, title=title, status=status, detail=detail, fix=words(fix, **values) if fix else None
    )


# -- configuration and identity -----------------------------------------------------------------------------


def judge_config(source: str, problems: str | None) -> CheckResult:
    """``problems``: the loader's error text (every key path and hint), None when the file is valid."""
    if problems is None:
        return _result("config", "pass", f"{source}: valid")
    return _result("config", "fail", problems, "fix_config", source=source)


@dataclass(frozen=True)
class IdentityFacts:
    """The identity folder the configuration names, and whether it could be used."""

    folder: str | None  # None: the configuration names no identity folder
    name: str = ""  # store.device, when it loaded
    days_left: float | None = None
    error: str = ""  # why it cannot be used (missing, expired, bad signature), from the loader


def judge_identity(facts: IdentityFacts) -> CheckResult:
    """An identity folder that verified passes; none configured is skipped; one that fails to verify fails."""
    if facts.folder is None:
        return _result(
            "identity",
            "skipped",
            "no [identity] dir in the configuration: [device] and [mqtt] are used as they are",
        )
    if facts.error:
        return _result("identity", "fail", facts.error, "fix_identity")
    return _result("identity", "pass", f"{facts.name}, from {facts.folder}, signature verified")


# -- camera -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CameraFacts:
    """What the camera did when opened and read for a while."""

    source: str
    frames: int
    seconds: float
    size: tuple[int, int] | None = None  # width, height of the last frame
    error: str = ""
    missing: bool = False  # the configured file or folder does not exist


def judge_camera(facts: CameraFacts, settings: SelfTestSettings) -> CheckResult:
    """Pass when the camera delivered ``camera_frames`` frames within its time."""
    if facts.frames >= settings.camera_frames and facts.size is not None:
        fps = facts.frames / facts.seconds if facts.seconds > 0 else 0.0
        return _result(
            "camera",
            "pass",
            f"{facts.source}: {facts.frames} frames of {facts.size[0]}x{facts.size[1]} in "
            f"{facts.seconds:.1f} s ({fps:.0f} frames/s)",
        )
    got = f"{facts.source}: {facts.frames} of {settings.camera_frames} frames in {facts.seconds:.1f} s"
    detail = f"{got}; {facts.error}" if facts.error else got
    fix = "fix_camera_missing" if facts.missing else "fix_camera"
    return _result("camera", "fail", detail, fix, source=facts.source)


# -- models -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelFacts:
    """One model file: its checksum, whether it loaded, how fast it ran."""

    name: str
    task: Literal["presence", "emotion"]
    used: bool  # the configuration runs it (else only its file is checked)
    checksum_problem: str = ""  # empty: size and sha256 match the manifest
    load_error: str = ""
    p50_ms: float | None = None
    p95_ms: float | None = None


@dataclass(frozen=True)
class VariantFacts:
    """Which variant of each model the kiosk runs, and the measurement that chose it."""

    path: str  # the calibration file
    chosen: tuple[tuple[str, str, float | None], ...] = ()  # (family, model run, its ms a call)
    others: tuple[tuple[str, float], ...] = ()  # (model not chosen, its ms a call)
    forced: str | None = None  # "int8" / "float" when [perception] variant forces one
    error: str = ""


def judge_variants(facts: VariantFacts) -> CheckResult:
    """The variant choice as a line: measured and saved, forced by the configuration, or not measured (a
    warning: the kiosk then runs the configured variants, which work but may be slower)."""
    if facts.error:
        return _result("variants", "warn", facts.error, "fix_variants", path=facts.path)
    runs = ", ".join(name if ms is None else f"{name} {ms:.2f} ms" for _family, name, ms in facts.chosen)
    if facts.forced is not None:
        return _result("variants", "pass", f"runs {runs} ([perception] variant = {facts.forced})")
    beaten = ", ".join(f"{name} {ms:.2f} ms" for name, ms in facts.others)
    detail = f"runs {runs}" + (f" (not: {beaten})" if beaten else "") + f"; saved in {facts.path}"
    return _result("variants", "pass", detail)


def judge_model(facts: ModelFacts, settings: SelfTestSettings) -> CheckResult:
    """Checksum, then loading, then the latency budget (models in use only). An unused model's damaged
    file is a warning: the kiosk does not need it, but the install is damaged."""
    check, name = f"model:{facts.name}", facts.name
    if facts.checksum_problem:
        status: CheckStatus = "fail" if facts.used else "warn"
        return _result(check, status, facts.checksum_problem, "fix_model_damaged", name=name)
    if not facts.used:
        return _result(
            check, "pass", "checksum matches the manifest (not used by this configuration)", name=name
        )
    if facts.load_error:
        return _result(check, "fail", facts.load_error, "fix_model_damaged", name=name)
    if facts.p50_ms is None or facts.p95_ms is None:
        return _result(
            check, "fail", "loaded, but its speed was not measured", "fix_model_damaged", name=name
        )
    budget = settings.presence_budget_ms if facts.task == "presence" else settings.emotion_budget_ms
    timing = f"p50 {facts.p50_ms:.2f} ms, p95 {facts.p95_ms:.2f} ms (budget {budget:g} ms)"
    if facts.p95_ms <= budget:
        return _result(check, "pass", f"checksum ok, loads, {timing}", name=name)
    fix = "fix_model_slow" if facts.task == "presence" else "fix_model_slow_emotion"
    return _result(check, "fail", f"checksum ok, loads, too slow: {timing}", fix, name=name)


# -- display ------------------------------------------------------------------------------------------------


def judge_display(probe: DisplayProbe) -> CheckResult:
    """The display probe's answer as a line: skipped stays skipped, never a pass."""
    if probe.status == "pass":
        return _result("display", "pass", probe.detail)
    if probe.status == "skipped":
        return _result("display", "skipped", probe.detail, "fix_display_skipped")
    return _result("display", "fail", probe.detail, "fix_display")


# -- broker -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BrokerFacts:
    """The device's connection to its broker, and one message there and back on its own topic."""

    where: str  # host:port
    configured: bool  # [mqtt] enabled (or an identity names the broker)
    tls: bool = False
    client_certificate: bool = False
    connected: bool = False
    refused: str = ""  # the broker answered no (CONNACK reason)
    error: str = ""  # no answer at all (DNS, TCP, TLS), or the echo missing
    round_trip_ms: float | None = None
    topic: str = ""


def judge_broker(facts: BrokerFacts) -> CheckResult:
    """Pass on a TLS connection with a client certificate and a message echoed on the device's topic."""
    if not facts.configured:
        return _result(
            "broker",
            "skipped",
            "[mqtt] is not enabled and no identity names a broker: this kiosk keeps its events locally",
            "fix_broker_none",
        )
    if facts.connected and facts.round_trip_ms is not None:
        echoed = f"{facts.topic} published and received in {facts.round_trip_ms:.0f} ms"
        if not (facts.tls and facts.client_certificate):
            missing = "TLS" if not facts.tls else "a client certificate"
            return _result(
                "broker", "fail", f"{facts.where}: {echoed}, but without {missing}", "fix_broker_insecure"
            )
        return _result("broker", "pass", f"{facts.where}: TLS with the device's certificate; {echoed}")
    if facts.refused:
        return _result(
            "broker",
            "fail",
            f"{facts.where}: the broker refused the device: {facts.refused}",
            "fix_broker_refused",
        )
    if facts.connected:
        lost = facts.error or "the test message did not come back"
        return _result("broker", "fail", f"{facts.where}: connected, but {lost}", "fix_broker_acl")
    return _result(
        "broker",
        "fail",
        f"{facts.where}: cannot connect: {facts.error or 'no answer'}",
        "fix_broker_unreachable",
    )


# -- certificate and CRL -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CertificateFacts:
    """The device's client certificate, read from its file."""

    path: str | None  # None: no client certificate configured
    subject: str = ""
    serial: str = ""
    not_before: datetime | None = None
    not_after: datetime | None = None
    issuer_problem: str = ""  # empty: signed by the configured CA
    key_problem: str = ""  # empty: the private key matches
    error: str = ""  # the file cannot be read or parsed


def _certificate_problem(facts: CertificateFacts) -> str:
    if facts.error:
        return facts.error
    if facts.not_before is None or facts.not_after is None:
        return "no validity dates"
    return facts.issuer_problem or facts.key_problem


def judge_certificate(facts: CertificateFacts, now: datetime, settings: SelfTestSettings) -> CheckResult:
    """Valid now, issued by the fleet's CA, its key matching; a warning under ``certificate_warn_days``."""
    if facts.path is None:
        return _result(
            "certificate",
            "skipped",
            "no client certificate configured ([mqtt.tls] cert_file, or an identity folder)",
            "fix_certificate_none",
        )
    problem = _certificate_problem(facts)
    if problem or facts.not_before is None or facts.not_after is None:
        return _result("certificate", "fail", f"{facts.path}: {problem}", "fix_certificate_unusable")
    who = f"{facts.subject} (serial {facts.serial})"
    if now < facts.not_before:
        before = facts.not_before.isoformat(timespec="seconds")
        return _result(
            "certificate",
            "fail",
            f"{who} is valid only from {before}: this device's clock is behind",
            "fix_clock",
        )
    days = (facts.not_after - now).total_seconds() / 86_400
    until = f"valid until {facts.not_after.isoformat(timespec='seconds')}"
    if days <= 0:
        return _result("certificate", "fail", f"{who} expired {-days:.1f} days ago ({until})", "fix_expired")
    if days < settings.certificate_warn_days:
        return _result("certificate", "warn", f"{who}: {days:.1f} days left ({until})", "fix_renew")
    return _result("certificate", "pass", f"{who}: {days:.0f} days left ({until})")


@dataclass(frozen=True)
class CrlFacts:
    """The fleet's certificate revocation list as the device has it."""

    path: str | None  # None: the device holds no CRL
    next_update: datetime | None = None
    signature_problem: str = ""  # empty: signed by the fleet's CA
    revoked: bool = False  # this device's certificate is on it
    error: str = ""
    accepted: bool = False  # without a copy: the broker, which checks the CRL, accepted this device


def judge_crl(facts: CrlFacts, now: datetime, settings: SelfTestSettings) -> CheckResult:
    """The CRL verifies, does not list this device and is not about to expire."""
    if facts.path is None and facts.accepted:
        return _result(
            "crl",
            "pass",
            "the broker checked this device's certificate against the fleet's CRL and accepted it (the CRL "
            "is current and does not list this device; the device keeps no copy, so its next update is "
            "watched on the back office: `provision crl refresh` on a timer)",
        )
    if facts.path is None:
        return _result(
            "crl", "skipped", "this device keeps no copy of the fleet's CRL, and the broker was not reached"
        )
    if facts.error or facts.signature_problem:
        return _result(
            "crl", "fail", f"{facts.path}: {facts.error or facts.signature_problem}", "fix_crl_stale"
        )
    if facts.revoked:
        return _result("crl", "fail", "this device's certificate is on the fleet's CRL", "fix_crl_revoked")
    return _crl_freshness(facts.path, facts.next_update, now, settings)


def _crl_freshness(
    path: str, next_update: datetime | None, now: datetime, settings: SelfTestSettings
) -> CheckResult:
    if next_update is None:
        return _result("crl", "pass", f"{path}: valid, with no next-update date")
    hours = (next_update - now).total_seconds() / 3600
    due = f"next update due {next_update.isoformat(timespec='minutes')}"
    if hours <= 0:
        return _result("crl", "fail", f"{path}: expired {-hours:.0f} h ago ({due})", "fix_crl_stale")
    if hours < settings.crl_warn_hours:
        return _result("crl", "warn", f"{path}: {hours:.0f} h left ({due})", "fix_crl_stale")
    return _result("crl", "pass", f"{path}: device not revoked; {hours:.0f} h left ({due})")


# -- clock --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClockFacts:
    """The system's time synchronisation state and the offset from a reference clock."""

    ntp_synchronised: bool | None  # None: cannot tell (no systemd)
    ntp_how: str  # how the state was read, or why it could not be
    offset_s: float | None = None  # the reference minus this device; None: no reference answered
    uncertainty_s: float = 0.0  # half the round trip the reference's time came in
    reference: str = ""  # whose time it was, or why there is none
    #: The fleet's clock when it signed this device's identity (config.toml's issued_at, from the enrolment
    #: or renewal reply), and this device's clock now: a device clock before it is certainly behind.
    fleet_time: datetime | None = None
    device_now: datetime | None = None
    #: The reference was asked over a working link and did not answer (the enrolment service is down).
    unanswered: bool = False


def judge_clock(facts: ClockFacts, settings: SelfTestSettings) -> CheckResult:
    """Fail when this device's clock is behind the time the fleet signed its identity, or beyond
    ``clock_tolerance_s`` from the fleet's time (after the round trip's uncertainty); warn when the
    fleet's time was asked and did not come, when the system says it is not synchronised, or when it
    cannot tell and no reference answered."""
    states = {True: "NTP synchronised", False: "NTP not synchronised", None: "NTP state unknown"}
    ntp = f"{states[facts.ntp_synchronised]} ({facts.ntp_how})"
    if facts.fleet_time is not None and facts.device_now is not None:
        behind_s = (facts.fleet_time - facts.device_now).total_seconds()
        if behind_s > settings.clock_tolerance_s:
            signed = facts.fleet_time.isoformat(timespec="seconds")
            return _result(
                "clock",
                "fail",
                f"this device's clock ({facts.device_now.isoformat(timespec='seconds')}) is at least "
                f"{_age(behind_s)} behind the back office's: the fleet signed its identity at {signed}; "
                f"{ntp}",
                "fix_clock",
            )
    if facts.offset_s is not None:
        # offset = theirs - ours: positive when this clock is behind.
        side = "behind" if facts.offset_s > 0 else "ahead of"
        size = abs(facts.offset_s)
        within = f"±{facts.uncertainty_s:.2f} s"
        if size >= 120:
            how_far, within = _age(size), f"{size:.0f} s, {within}"
        else:
            how_far = f"{size:.1f} s"
        off = f"this device's clock is {how_far} {side} {facts.reference}'s ({within})"
        if abs(facts.offset_s) - facts.uncertainty_s > settings.clock_tolerance_s:
            limit = settings.clock_tolerance_s
            return _result("clock", "fail", f"{off}, beyond the {limit:g} s tolerance; {ntp}", "fix_clock")
        if facts.ntp_synchronised is False:
            return _result("clock", "warn", f"{off}; {ntp}", "fix_clock")
        return _result("clock", "pass", f"{off}; {ntp}")
    return _clock_without_reference(facts, ntp)


def _clock_without_reference(facts: ClockFacts, ntp: str) -> CheckResult:
    """No fleet time: a warning when it was asked and did not come (the enrolment service is down), else
    the system's NTP state alone."""
    no_reference = f"no reference time: {facts.reference}"
    if facts.unanswered:
        return _result("clock", "warn", f"{ntp}; {no_reference}", "fix_clock_no_reply")
    if facts.ntp_synchronised:
        return _result("clock", "pass", f"{ntp}; {no_reference}")
    fix = "fix_clock" if facts.ntp_synchronised is False else "fix_clock_unknown"
    return _result("clock", "warn", f"{ntp}; {no_reference}", fix)


# -- disk and outbox ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DiskFacts:
    """Free space where the kiosk keeps its data."""

    path: str
    free_bytes: int
    total_bytes: int


def judge_disk(facts: DiskFacts, settings: SelfTestSettings) -> CheckResult:
    """Fail under ``disk_fail_mb`` free, warn under ``disk_warn_mb``."""
    free_mb = facts.free_bytes / MB
    share = facts.free_bytes / facts.total_bytes if facts.total_bytes else 0.0
    detail = f"{facts.path}: {free_mb:,.0f} MB free of {facts.total_bytes / MB:,.0f} MB ({share:.0%})"
    if free_mb < settings.disk_fail_mb:
        return _result("disk", "fail", detail, "fix_disk")
    if free_mb < settings.disk_warn_mb:
        return _result("disk", "warn", detail, "fix_disk")
    return _result("disk", "pass", detail)


@dataclass(frozen=True)
class OutboxFacts:
    """The outbox file: how many events wait and since when."""

    path: str
    exists: bool
    depth: int = 0
    oldest: datetime | None = None
    max_rows: int = 0
    error: str = ""


def judge_outbox(facts: OutboxFacts, now: datetime, settings: SelfTestSettings) -> CheckResult:
    """An empty or young backlog passes; an old or nearly full one warns, then fails."""
    if facts.error:
        return _result("outbox", "fail", f"{facts.path}: {facts.error}", "fix_outbox_unreadable")
    if not facts.exists:
        return _result("outbox", "pass", f"{facts.path}: not created yet (nothing to send)")
    if facts.depth == 0:
        return _result("outbox", "pass", f"{facts.path}: empty")
    age_s = max(0.0, (now - facts.oldest).total_seconds()) if facts.oldest is not None else 0.0
    share = facts.depth / facts.max_rows if facts.max_rows else 0.0
    detail = f"{facts.path}: {facts.depth:,} events waiting, the oldest {_age(age_s)} old ({share:.0%} full)"
    if age_s > settings.outbox_fail_age_s or share > settings.outbox_fail_share:
        return _result("outbox", "fail", detail, "fix_outbox_backlog")
    if age_s > settings.outbox_warn_age_s or share > settings.outbox_warn_share:
        return _result("outbox", "warn", detail, "fix_outbox_backlog")
    return _result("outbox", "pass", detail)


def _age(seconds: float) -> str:
    # The unit is chosen on the rounded figure, so 172,799.96 s (a measured two days) reads "2 days",
    # not "48 h".
    if round(seconds) < 120:
        return f"{seconds:.0f} s"
    if round(seconds / 60) < 120:
        return f"{seconds / 60:.0f} min"
    if round(seconds / 3600) < 48:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86_400:.0f} days"
