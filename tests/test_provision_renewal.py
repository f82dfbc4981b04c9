"""Renewal over the device's own identity, against the real broker and `provision serve`: `provision renew`
on a connection of its own, and cloud_sync.renewal's client over the kiosk's own device link."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from provision_testbed import PROVISION, FleetTestbed, now

from cloud_sync.device import DeviceSync
from cloud_sync.renewal import RenewalClient, RenewalError, renew_once
from cloud_sync.settings import AnonymisationSettings, OutboxSettings
from mqtt_bridge.commands import CommandProcessor
from mqtt_bridge.contract.enrolment import EnrolmentTopics, FleetDeviceNotice
from mqtt_bridge.contract.payloads import BirthPayload
from mqtt_bridge.contract.topics import DeviceTopics
from mqtt_bridge.identity import IdentityFolder
from provisioning.claim import enrol

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PREFIX = "vitrina/v1"


@pytest.fixture
def bed() -> Iterator[FleetTestbed]:
    with FleetTestbed() as testbed:
        testbed.start_broker()
        testbed.start_service("--renew-min-interval", "0")
        yield testbed


def _enrolled(bed: FleetTestbed, device: str = "k1") -> IdentityFolder:
    folder = bed.device_folder(device)
    enrol(
        folder,
        store_id="s1",
        device_id=device,
        token=bed.token("s1", device),
        serial=None,
        clock=now,
        timeout_s=30,
    )
    return folder


def test_provision_renew_gets_a_new_key_and_certificate_over_its_own_identity(bed: FleetTestbed) -> None:
    folder = _enrolled(bed)
    before = folder.load(now())
    notices = bed.client(bed.backoffice_bundle("notices"))
    assert notices.connect()
    notices.subscribe(EnrolmentTopics(PREFIX).notice_filter)
    result = subprocess.run(
        [str(PROVISION), "renew", "--identity", str(folder.root), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["renewed"] is True
    after = folder.load(now())
    assert after.folder != before.folder
    assert after.certificate.serial_number != before.certificate.serial_number
    assert (after.folder / "key.pem").read_bytes() != (before.folder / "key.pem").read_bytes()
    assert before.folder.is_dir()  # the one before is kept, never used
    assert not (folder.root / ".renew-key.pem").exists()
    with bed.connected(after.folder) as device:
        assert device.publish(f"{PREFIX}/s1/k1/events") in (0, 16)
    time.sleep(0.3)
    told = [FleetDeviceNotice.model_validate_json(p) for _, p in notices.messages()]
    notices.close()
    assert [n.event for n in told][-1] == "renewed"
    assert "renewed s1/k1" in bed.service_text()
    # Not due: nothing done.
    quiet = subprocess.run(
        [str(PROVISION), "renew", "--identity", str(folder.root), "--if-within", "30"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert quiet.returncode == 0 and "not due" in quiet.stdout


def test_the_kiosk_renews_over_its_own_device_link(bed: FleetTestbed, tmp_path: Path) -> None:
    folder = _enrolled(bed)
    identity = folder.load(now())
    topics = DeviceTopics(PREFIX, "s1", "k1")
    birth = BirthPayload(software_version="test", config_hash="0" * 64, ts=now())
    settings = identity.broker_settings()
    # As the kiosk runs it: with its commands on, so the renewal reply passes through the command bridge.
    sync = DeviceSync(
        settings,
        topics,
        birth,
        OutboxSettings(path=tmp_path / "outbox.sqlite"),
        AnonymisationSettings(),
        commands=CommandProcessor(settings.commands, {}, now),
    )
    client = RenewalClient(folder, topics, sync.transport.publish, now, timeout_s=20)
    sync.listen(client.reply_topic, 1, lambda message: client.handle(message.payload))
    sync.start()
    try:
        sync.transport.wait_connected(10)
        assert not client.due(now())
        assert client.due(now(), threshold_days=400)
        renewed = client.renew(identity, now())
        assert renewed.certificate.serial_number != identity.certificate.serial_number
        assert folder.load(now()).folder == renewed.folder
        assert sync.transport.connected  # the link it renewed over was never dropped
        assert sync.publishing  # and its publisher (which reads the reply) is still running
    finally:
        sync.stop()
    with bed.connected(renewed.folder) as device:
        assert device.publish(f"{PREFIX}/s1/k1/events") in (0, 16)


def test_renewal_refusals_come_back_with_their_reason() -> None:
    with FleetTestbed() as bed:
        bed.start_broker()
        bed.start_service()  # the default: one certificate for another key per hour
        folder = _enrolled(bed)
        outcome = renew_once(folder, now, timeout_s=20)
        assert outcome.status == "refused" and outcome.reason_code == "too_soon", outcome
        assert folder.load(now()).certificate.serial_number  # the identity in use is unchanged
        # A revoked device cannot even reach the service.
        result = subprocess.run(
            [str(PROVISION), "revoke", "--fleet", str(bed.fleet_dir), "--device", "s1.k1", "--no-notify"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        with pytest.raises(RenewalError):
            renew_once(folder, now, timeout_s=5)
