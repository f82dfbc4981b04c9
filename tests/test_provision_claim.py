"""Issue #17's acceptance, on the real Mosquitto run on the config `provision broker-config` wrote, with
`provision serve` as a subprocess: devices enrolled by claim publish as themselves and nothing else, the
claim identity reaches no telemetry, revocation shuts the door and an open session, tokens are single use
and expire, and a spoofed client id does not disconnect its owner."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from provision_testbed import PROVISION, FleetTestbed, now

from backoffice.ingest import Ingest, open_store
from backoffice.settings import IngestSettings
from mqtt_bridge.contract.enrolment import EnrolmentTopics, FleetDeviceNotice
from mqtt_bridge.identity import IdentityFolder
from provisioning.claim import enrol
from provisioning.errors import EnrolmentRefusedError
from provisioning.fleet.notices import bundle_settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PREFIX = "vitrina/v1"


@pytest.fixture
def bed() -> Iterator[FleetTestbed]:
    with FleetTestbed() as testbed:
        testbed.start_broker()
        testbed.start_service()
        yield testbed


def _enrol_cli(bed: FleetTestbed, label: str, store: str, device: str) -> IdentityFolder:
    """`provision enrol --code` on a device (a subprocess), with the token's QR text."""
    folder = bed.device_folder(label)
    code = f"vitrina-enrol:{store}/{device}/{bed.token(store, device)}"
    result = subprocess.run(
        [str(PROVISION), "enrol", "--identity", str(folder.root), "--code", code, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["name"] == f"{store}.{device}" and outcome["ok"] is True
    return folder


def _current(folder: IdentityFolder) -> Path:
    path = folder.current_dir()
    assert path is not None
    return path


def test_two_devices_enrolled_by_claim_publish_as_themselves_and_nothing_else(bed: FleetTestbed) -> None:
    store = open_store(f"sqlite:///{bed.root / 'backoffice.sqlite'}")
    ingest = Ingest(
        bundle_settings(bed.fleet.settings.broker_url, bed.fleet.bundle_dir("backoffice"), PREFIX),
        IngestSettings(client_id="backoffice-main"),
        store,
    )
    stop = threading.Event()
    ingest.start()
    worker = threading.Thread(target=ingest.run, args=(stop,), daemon=True)
    worker.start()
    try:
        a = _enrol_cli(bed, "a", "s1", "k-a")
        b = _enrol_cli(bed, "b", "s1", "k-b")
        # The claim identity was kept until the first connection as itself, then removed.
        assert not a.claim_dir.exists() and not b.claim_dir.exists()
        # The back office's ingest lists both, from their births.
        deadline = time.monotonic() + 10
        rows: list[tuple[str, str]] = []
        while time.monotonic() < deadline:
            rows = store.db.execute(
                "SELECT store_id, device_id FROM devices WHERE birth IS NOT NULL"
            ).fetchall()  # type: ignore[attr-defined]
            if len(rows) == 2:
                break
            time.sleep(0.1)
        assert sorted(rows) == [("s1", "k-a"), ("s1", "k-b")]
    finally:
        stop.set()
        worker.join(10)
        store.close()

    with (
        bed.connected(_current(a)) as dev_a,
        bed.connected(_current(b)) as dev_b,
        bed.connected(bed.fleet.bundle_dir("backoffice")) as office,
    ):
        office.subscribe(f"{PREFIX}/+/+/events")
        # Each publishes its own telemetry, and the back office receives it.
        assert dev_a.publish(f"{PREFIX}/s1/k-a/events", b'{"a": 1}') in (0, 16)
        assert dev_b.publish(f"{PREFIX}/s1/k-b/events", b'{"b": 1}') in (0, 16)
        # A cannot publish as B: MQTT 5 PUBACK reason 135 (not authorised), and nothing is delivered.
        assert dev_a.publish(f"{PREFIX}/s1/k-b/events", b'{"forged": 1}') == 135
        time.sleep(0.5)
        topics = [t for t, _ in office.messages()]
        assert topics == [f"{PREFIX}/s1/k-a/events", f"{PREFIX}/s1/k-b/events"]
        # A cannot read B's commands: the subscription is granted (SUBACK) but nothing is delivered.
        dev_a.subscribe(f"{PREFIX}/s1/k-b/cmd/#")
        dev_b.subscribe(f"{PREFIX}/s1/k-b/cmd/#")
        assert office.publish(f"{PREFIX}/s1/k-b/cmd/maintenance", b'{"on": true}') in (0, 16)
        time.sleep(0.5)
        assert dev_b.messages(f"{PREFIX}/s1/k-b/cmd") == [
            (f"{PREFIX}/s1/k-b/cmd/maintenance", b'{"on": true}')
        ]
        assert dev_a.messages(f"{PREFIX}/s1/k-b/cmd") == []


def test_the_claim_identity_reaches_no_telemetry(bed: FleetTestbed) -> None:
    a = _enrol_cli(bed, "a", "s1", "k-a")
    with bed.connected(bed.fleet.claim_dir) as claim, bed.connected(_current(a)) as dev_a:
        claim.subscribe(f"{PREFIX}/#")
        claim.subscribe(f"{PREFIX}/s1/k-a/events")
        assert claim.publish(f"{PREFIX}/s1/k-a/events", b"{}") == 135
        assert claim.publish(f"{PREFIX}/s1/k-a/birth", b"{}") == 135
        assert claim.publish(f"{PREFIX}/s1/catalogue", b"{}") == 135
        assert claim.publish(f"{PREFIX}/s1/k-a/cmd/maintenance", b"{}") == 135
        assert dev_a.publish(f"{PREFIX}/s1/k-a/events", b"{}") in (0, 16)
        time.sleep(0.5)
        # What it may read are enrolment replies (certificates and signed configs: nothing secret).
        assert [t for t, _ in claim.messages() if not t.startswith(f"{PREFIX}/_enrol/")] == []


def test_revoked_device_cannot_connect_and_its_open_session_receives_nothing_more(bed: FleetTestbed) -> None:
    a = _enrol_cli(bed, "a", "s1", "k-a")
    b = _enrol_cli(bed, "b", "s1", "k-b")
    bundle_a = _current(a)
    notices = bed.client(bed.backoffice_bundle("notices"))
    assert notices.connect()
    notices.subscribe(EnrolmentTopics(PREFIX).notice_filter)
    with bed.connected(bundle_a) as open_a, bed.connected(bed.fleet.bundle_dir("backoffice")) as office:
        open_a.subscribe(f"{PREFIX}/s1/k-a/cmd/#")
        assert office.publish(f"{PREFIX}/s1/k-a/cmd/maintenance", b"1") in (0, 16)
        time.sleep(0.3)
        assert len(open_a.messages()) == 1
        result = subprocess.run(
            [
                str(PROVISION),
                "revoke",
                "--fleet",
                str(bed.fleet_dir),
                "--device",
                "s1.k-a",
                "--reason",
                "stolen",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "sent SIGHUP" in result.stdout and "back office told" in result.stdout
        time.sleep(0.5)
        # The session that was open stays open (Mosquitto does not close it) but receives nothing more ...
        assert office.publish(f"{PREFIX}/s1/k-a/cmd/maintenance", b"2") in (0, 16)
        time.sleep(0.5)
        assert [p for _, p in open_a.messages()] == [b"1"]
        # ... and may publish nothing more.
        assert open_a.publish(f"{PREFIX}/s1/k-a/events", b"{}") == 135
    # A new connection is refused (the CRL); the other device is untouched.
    again = bed.client(bundle_a)
    assert not again.connect(timeout_s=5)
    again.close()
    with bed.connected(_current(b)) as dev_b:
        assert dev_b.publish(f"{PREFIX}/s1/k-b/events", b"{}") in (0, 16)
    # The back office was told, retained.
    time.sleep(0.3)
    told = [FleetDeviceNotice.model_validate_json(p) for t, p in notices.messages() if t.endswith("/s1/k-a")]
    notices.close()
    assert told and told[-1].state == "revoked" and told[-1].reason == "stolen"
    # A revoked name is never issued again.
    with pytest.raises(EnrolmentRefusedError) as refused:
        enrol(
            bed.device_folder("a2"),
            store_id="s1",
            device_id="k-a",
            token=bed.token("s1", "k-a"),
            serial=None,
            clock=now,
            timeout_s=20,
        )
    assert refused.value.code == "revoked"


def test_reused_and_expired_tokens_and_wrong_names_are_refused_with_a_reason_logged(
    bed: FleetTestbed,
) -> None:
    token = bed.token("s1", "k-a")
    enrol(
        bed.device_folder("a"),
        store_id="s1",
        device_id="k-a",
        token=token,
        serial=None,
        clock=now,
        timeout_s=20,
    )
    cases = {
        "token_used": dict(store_id="s1", device_id="k-a", token=token),
        "token_expired": dict(
            store_id="s1", device_id="k-x", token=bed.token("s1", "k-x", timedelta(seconds=-1))
        ),
        "unknown_token": dict(store_id="s1", device_id="k-y", token="A" * 32),
        "name_mismatch": dict(store_id="s1", device_id="k-other", token=bed.token("s1", "k-b")),
    }
    for code, args in cases.items():
        folder = bed.device_folder(code)
        with pytest.raises(EnrolmentRefusedError) as refused:
            enrol(folder, serial=None, clock=now, timeout_s=20, **args)  # type: ignore[arg-type]
        assert refused.value.code == code, refused.value
        # Refused: the claim identity is kept, no identity installed.
        assert folder.claim_dir.is_dir() and folder.current_dir() is None
        assert f": {code}: " in bed.service_text(), bed.service_text()
    # An unknown serial, then an allow-listed one (zero-touch), then the same serial with another key.
    with pytest.raises(EnrolmentRefusedError) as refused:
        enrol(
            bed.device_folder("serial-0"),
            store_id=None,
            device_id=None,
            token=None,
            serial="0000beef",
            clock=now,
            timeout_s=20,
        )
    assert refused.value.code == "unknown_serial"
    bed.fleet.registry.allow_serial("0000cafe", "s2", "k-serial", now())
    done = enrol(
        bed.device_folder("serial-1"),
        store_id=None,
        device_id=None,
        token=None,
        serial="0000cafe",
        clock=now,
        timeout_s=20,
    )
    assert done.identity.name == "s2.k-serial"
    with pytest.raises(EnrolmentRefusedError) as refused:
        enrol(
            bed.device_folder("serial-2"),
            store_id=None,
            device_id=None,
            token=None,
            serial="0000cafe",
            clock=now,
            timeout_s=20,
        )
    assert refused.value.code == "serial_used"
    assert ": unknown_serial: " in bed.service_text() and ": serial_used: " in bed.service_text()


def test_a_lost_reply_is_answered_again_for_the_same_key(bed: FleetTestbed) -> None:
    # The device got its certificate but crashed before installing it: it asks again with the same key
    # (kept in the identity folder) and the same token, and gets the same certificate, not a refusal.
    folder = bed.device_folder("a")
    token = bed.token("s1", "k-a")
    first = enrol(folder, store_id="s1", device_id="k-a", token=token, serial=None, clock=now, timeout_s=20)
    serial = first.identity.config.certificate_serial if first.identity.config else ""
    # Simulate the crash: the claim identity and the enrolment key back, no identity installed.
    crashed = bed.device_folder("a-crashed")
    (crashed.root / ".enrol-key.pem").write_bytes((first.identity.folder / "key.pem").read_bytes())
    (crashed.root / ".enrol-key.pem").chmod(0o600)
    again = enrol(crashed, store_id="s1", device_id="k-a", token=token, serial=None, clock=now, timeout_s=20)
    assert again.identity.config is not None and again.identity.config.certificate_serial == serial
    assert "sent s1.k-a its certificate again" in bed.service_text()


def test_a_spoofed_client_id_does_not_disconnect_its_owner(bed: FleetTestbed) -> None:
    a = _enrol_cli(bed, "a", "s1", "k-a")
    b = _enrol_cli(bed, "b", "s1", "k-b")
    with bed.connected(_current(a), client_id="s1.k-a") as owner:
        owner.subscribe(f"{PREFIX}/s1/k-a/cmd/#")
        # B connects claiming A's client id: the broker makes its client id its certificate's name.
        with bed.connected(_current(b), client_id="s1.k-a") as spoofer:
            time.sleep(0.5)
            assert owner.disconnects == []
            assert spoofer.publish(f"{PREFIX}/s1/k-a/events", b"{}") == 135
        with bed.connected(bed.fleet.bundle_dir("backoffice")) as office:
            assert office.publish(f"{PREFIX}/s1/k-a/cmd/maintenance", b"x") in (0, 16)
            time.sleep(0.3)
        assert owner.messages() == [(f"{PREFIX}/s1/k-a/cmd/maintenance", b"x")]
        assert owner.disconnects == []
    assert "s1.k-b" in bed.broker_log()
