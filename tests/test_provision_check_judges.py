"""The self-test's pure judges at their edges: each threshold, each kind of failure with its fix in both
languages, and "skipped" never counted as a pass."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kiosk.i18n import load_messages
from kiosk.ui.display_probe import DisplayProbe
from provisioning.device.judges import (
    MESSAGES_FILE,
    BrokerFacts,
    CameraFacts,
    CertificateFacts,
    ClockFacts,
    CrlFacts,
    DiskFacts,
    ModelFacts,
    OutboxFacts,
    judge_broker,
    judge_camera,
    judge_certificate,
    judge_clock,
    judge_crl,
    judge_disk,
    judge_display,
    judge_model,
    judge_outbox,
)
from provisioning.device.render import render_json, render_table
from provisioning.device.results import make_report
from provisioning.device.settings import SelfTestSettings

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
S = SelfTestSettings()
MB = 1024 * 1024


def test_every_message_exists_in_both_languages() -> None:
    messages = load_messages(MESSAGES_FILE)  # raises when a key lacks a language
    assert {"fix_camera", "fix_clock", "title_broker"} <= messages.keys


def _cert(days_left: float, not_before_h: float = -24) -> CertificateFacts:
    return CertificateFacts(
        "cert.pem",
        subject="s1.k1",
        serial="ab",
        not_before=NOW + timedelta(hours=not_before_h),
        not_after=NOW + timedelta(days=days_left),
    )


@pytest.mark.parametrize(
    ("days", "status"), [(90, "pass"), (30.5, "pass"), (29.5, "warn"), (0.5, "warn"), (-0.1, "fail")]
)
def test_certificate_warns_under_thirty_days_and_fails_expired(days: float, status: str) -> None:
    result = judge_certificate(_cert(days), NOW, S)
    assert result.status == status
    if status == "warn":  # still valid: it renews over its own identity
        assert result.fix is not None and "renew" in result.fix.en and "обновить" in result.fix.ru
    if status == "fail":  # run out: the broker refuses it, so only a new enrolment helps
        assert result.fix is not None and "enrol the device again" in result.fix.en


def test_certificate_not_yet_valid_blames_the_clock() -> None:
    result = judge_certificate(_cert(90, not_before_h=2), NOW, S)
    assert result.status == "fail" and "clock is behind" in result.detail
    assert result.fix is not None and "timedatectl" in result.fix.en


def test_certificate_from_another_ca_or_key_fails() -> None:
    other = CertificateFacts(
        "c", "s1.k1", "ab", NOW - timedelta(days=1), NOW + timedelta(days=90), "not issued"
    )
    assert judge_certificate(other, NOW, S).status == "fail"
    assert judge_certificate(CertificateFacts(None), NOW, S).status == "skipped"


@pytest.mark.parametrize(
    ("offset", "uncertainty", "ntp", "status"),
    [
        (0.2, 0.01, True, "pass"),
        (4.9, 0.01, True, "pass"),  # the default tolerance is 5 s
        (-5.2, 0.01, True, "fail"),
        (6.0, 2.0, True, "pass"),  # within tolerance once the round trip's uncertainty is allowed for
        (-600.0, 0.05, None, "fail"),
        (2 * 86400.0, 0.05, True, "fail"),  # two days ahead: NTP's own word does not save it
        (1.0, 0.05, False, "warn"),  # close now, but the system says it does not keep time
    ],
)
def test_clock_against_the_back_office(
    offset: float, uncertainty: float, ntp: bool | None, status: str
) -> None:
    facts = ClockFacts(ntp, "timedatectl", offset, uncertainty, "the back office")
    result = judge_clock(facts, S)
    assert result.status == status, result.detail


def test_the_fleets_time_asked_and_not_answered_warns_with_the_fix() -> None:
    facts = ClockFacts(True, "timedatectl", reference="no answer within 5 s", unanswered=True)
    result = judge_clock(facts, S)
    assert result.status == "warn" and "no answer within 5 s" in result.detail
    assert result.fix is not None
    assert "provision serve" in result.fix.en and "provision serve" in result.fix.ru


def test_clock_without_reference_rests_on_ntp() -> None:
    assert judge_clock(ClockFacts(True, "timedatectl", reference="none"), S).status == "pass"
    unknown = judge_clock(ClockFacts(None, "systemd is not running here", reference="none"), S)
    assert unknown.status == "warn" and "NTP state unknown" in unknown.detail
    assert unknown.fix is not None and "could not be checked" in unknown.fix.en


def test_camera_needs_every_frame() -> None:
    ok = judge_camera(CameraFacts("clip.avi", 10, 0.5, (640, 480)), S)
    assert ok.status == "pass" and "640x480" in ok.detail
    few = judge_camera(CameraFacts("/dev/video0", 3, 10.0, (640, 480), "no frame"), S)
    assert few.status == "fail" and few.fix is not None and "video" in few.fix.en
    missing = judge_camera(CameraFacts("gone.avi", 0, 0.0, None, "does not exist", missing=True), S)
    assert missing.fix is not None and "gone.avi" in missing.fix.en and "gone.avi" in missing.fix.ru


def test_model_budget_and_unused_damage() -> None:
    fast = ModelFacts("face_full_range_int8", "presence", True, p50_ms=3.0, p95_ms=4.0)
    assert judge_model(fast, S).status == "pass"
    slow = ModelFacts("face_full_range_int8", "presence", True, p50_ms=60.0, p95_ms=70.0)
    assert judge_model(slow, S).status == "fail" and "too slow" in judge_model(slow, S).detail
    emotion_slow = ModelFacts("emotion_vitrina_int8", "emotion", True, p50_ms=15.0, p95_ms=22.0)
    slow_line = judge_model(emotion_slow, S)
    assert slow_line.status == "fail"
    assert slow_line.fix is not None and "[emotion] enabled = false" in slow_line.fix.en
    unused_bad = ModelFacts("face_short_range_float", "presence", False, "sha256 differs")
    assert judge_model(unused_bad, S).status == "warn"
    used_bad = ModelFacts("face_full_range_int8", "presence", True, "sha256 differs")
    assert judge_model(used_bad, S).status == "fail"


def test_display_skipped_is_never_a_pass() -> None:
    skipped = judge_display(DisplayProbe("skipped", "no display: SDL_VIDEODRIVER=dummy"))
    assert skipped.status == "skipped"
    report = make_report([skipped], NOW, "s1", "k1")
    assert report.ok  # a skip does not fail the device ...
    assert "SKIP" in render_table(report) and "PASS" not in render_table(report)  # ... nor passes


def test_broker_lines() -> None:
    passed = BrokerFacts("b:8883", True, True, True, connected=True, round_trip_ms=12.0, topic="t")
    assert judge_broker(passed).status == "pass"
    plain = BrokerFacts("b:1883", True, False, False, connected=True, round_trip_ms=3.0, topic="t")
    assert judge_broker(plain).status == "fail" and "without TLS" in judge_broker(plain).detail
    refused = judge_broker(BrokerFacts("b:8883", True, True, True, refused="Not authorized"))
    assert refused.status == "fail" and refused.fix is not None and "enrol" in refused.fix.en
    acl = judge_broker(BrokerFacts("b:8883", True, True, True, connected=True))
    assert acl.fix is not None and "ACL" in acl.fix.en
    assert judge_broker(BrokerFacts("b:1883", configured=False)).status == "skipped"


def test_crl_lines() -> None:
    assert judge_crl(CrlFacts(None, accepted=True), NOW, S).status == "pass"
    assert judge_crl(CrlFacts(None), NOW, S).status == "skipped"
    assert judge_crl(CrlFacts("crl.pem", NOW + timedelta(hours=3)), NOW, S).status == "warn"
    assert judge_crl(CrlFacts("crl.pem", NOW - timedelta(hours=1)), NOW, S).status == "fail"
    assert judge_crl(CrlFacts("crl.pem", NOW + timedelta(days=7), revoked=True), NOW, S).status == "fail"


@pytest.mark.parametrize(("free_mb", "status"), [(5000, "pass"), (1023, "warn"), (199, "fail")])
def test_disk_thresholds(free_mb: float, status: str) -> None:
    assert judge_disk(DiskFacts("/var/lib/vitrina", int(free_mb * MB), 32_000 * MB), S).status == status


@pytest.mark.parametrize(
    ("depth", "age_s", "status"),
    [
        (0, 0, "pass"),
        (50, 60, "pass"),
        (50, 2 * 3600, "warn"),
        (50, 2 * 86400, "fail"),
        (460_000, 60, "fail"),
    ],
)
def test_outbox_backlog(depth: int, age_s: float, status: str) -> None:
    facts = OutboxFacts("outbox.sqlite", True, depth, NOW - timedelta(seconds=age_s), 500_000)
    assert judge_outbox(facts, NOW, S).status == status


def test_report_renders_fixes_in_russian_and_json() -> None:
    failed = judge_camera(CameraFacts("/dev/video0", 0, 10.0, None, "no frame"), S)
    report = make_report([failed], NOW, "s1", "k1")
    assert not report.ok
    table = render_table(report, "ru")
    assert "ОШИБ" in table and "что делать: Камера не даёт изображения" in table
    assert '"ok": false' in render_json(report)


def test_the_outbox_probe_reads_a_real_outbox_file(tmp_path: Path) -> None:
    """The probe on the kiosk's own outbox file (through `Outbox.read_backlog`), a missing one, and a file
    that is no outbox; the file is never created or changed by it."""
    import random

    from outbox_doubles import make_event

    from cloud_sync.anonymise import Anonymiser
    from cloud_sync.outbox import Outbox
    from cloud_sync.settings import AnonymisationSettings, OutboxSettings
    from provisioning.device.probes import probe_outbox

    settings = OutboxSettings(path=tmp_path / "outbox.sqlite")
    missing = probe_outbox(settings)
    assert (missing.exists, missing.error) == (False, "") and not settings.path.exists()
    anonymiser = Anonymiser(AnonymisationSettings(), lambda: NOW, random.Random(0))
    outbox = Outbox(settings, anonymiser)
    outbox.add(make_event(i) for i in range(3))
    with_writer = probe_outbox(settings)  # the kiosk still running
    outbox.close()
    facts = probe_outbox(settings)
    assert facts == with_writer
    assert (facts.exists, facts.depth, facts.max_rows, facts.error) == (True, 3, settings.max_rows, "")
    assert facts.oldest is not None and abs((datetime.now(UTC) - facts.oldest).total_seconds()) < 60
    assert judge_outbox(facts, facts.oldest + timedelta(days=2), S).status == "fail"
    settings.path.write_bytes(b"no database" * 200)
    broken = probe_outbox(settings)
    assert broken.exists and broken.error and judge_outbox(broken, NOW, S).status == "fail"


@pytest.mark.parametrize(
    ("seconds", "reads"),
    [(119.6, "2 min"), (119.4, "119 s"), (7_199.0, "2 h"), (172_799.96, "2 days"), (170_000.0, "47 h")],
)
def test_an_age_reads_in_the_unit_of_its_rounded_figure(seconds: float, reads: str) -> None:
    """A measured two days (172,799.96 s: faketime's +2d less the round trip) reads "2 days", not "48 h"
    (a full-suite run failed so); each unit stops where its rounded figure would reach the next."""
    from provisioning.device import judges

    assert judges._age(seconds) == reads
