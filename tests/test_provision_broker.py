"""The broker `provision broker-config` writes, run as is by the installed Mosquitto (2.0.11 here): bundles
work with `mosquitto_pub`, revocation takes effect on SIGHUP, a bad CRL never replaces the good one, and
which changes a SIGHUP applies and which need a restart (the figures docs/provisioning.md states)."""

from __future__ import annotations

import shutil
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from provision_testbed import PROVISION, FleetTestbed, now

from provisioning import pki
from provisioning.errors import CrlError
from provisioning.fleet.broker_config import CRL_FILE, BrokerOptions, install_crl, write_broker_config
from provisioning.fleet.commands import broker_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PREFIX = "vitrina/v1"
MISSING_CLIENTS = (
    "mosquitto_pub was not found: install the Debian package 'mosquitto-clients' (sudo apt-get install "
    "mosquitto-clients), or run `make test`, which installs it when run as root"
)


def _mosquitto_pub(bed: FleetTestbed, bundle: Path, topic: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("mosquitto_pub")
    if tool is None:
        pytest.fail(MISSING_CLIENTS, pytrace=False)
    return subprocess.run(
        [
            tool,
            "-h",
            "127.0.0.1",
            "-p",
            str(bed.port),
            "-V",
            "mqttv5",
            "-q",
            "1",
            "-t",
            topic,
            "-m",
            "{}",
            "--cafile",
            str(bundle / "ca.pem"),
            "--cert",
            str(bundle / "cert.pem"),
            "--key",
            str(bundle / "key.pem"),
        ],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )


def _device_new(bed: FleetTestbed, store: str, device: str) -> Path:
    out = bed.root / f"bundle-{store}-{device}"
    result = subprocess.run(
        [
            str(PROVISION),
            "device",
            "new",
            "--fleet",
            str(bed.fleet_dir),
            "--store",
            store,
            "--device",
            device,
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def test_mosquitto_pub_with_a_bundle_for_its_own_topics_not_anothers_and_not_after_revoke() -> None:
    with FleetTestbed() as bed:
        bed.start_broker()
        a = _device_new(bed, "s1", "k1")
        b = _device_new(bed, "s1", "k2")
        assert (a / "key.pem").stat().st_mode & 0o777 == 0o600
        own = _mosquitto_pub(bed, a, f"{PREFIX}/s1/k1/events")
        assert own.returncode == 0 and "failed" not in own.stderr, own.stderr
        other = _mosquitto_pub(bed, a, f"{PREFIX}/s1/k2/events")
        assert "Not authorized" in other.stderr, other.stderr  # PUBACK 135
        result = subprocess.run(
            [
                str(PROVISION),
                "revoke",
                "--fleet",
                str(bed.fleet_dir),
                "--store",
                "s1",
                "--device",
                "k1",
                "--no-notify",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.returncode == 0 and "sent SIGHUP" in result.stdout, result.stdout + result.stderr
        bed.sighup()  # as the acceptance says: revoke, plus a SIGHUP
        revoked = _mosquitto_pub(bed, a, f"{PREFIX}/s1/k1/events")
        assert revoked.returncode != 0, revoked.stderr
        still = _mosquitto_pub(bed, b, f"{PREFIX}/s1/k2/events")
        assert still.returncode == 0 and "failed" not in still.stderr, still.stderr


def test_a_bad_crl_never_replaces_the_good_one_and_why_it_must_not() -> None:
    with FleetTestbed() as bed:
        bed.start_broker()
        a = _device_new(bed, "s1", "k1")
        result = subprocess.run(
            [str(PROVISION), "revoke", "--fleet", str(bed.fleet_dir), "--device", "s1.k1", "--no-notify"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        crl = bed.broker_dir / CRL_FILE
        good = crl.read_bytes()
        _, ca = bed.fleet.ca()
        revoked = [int(c.serial, 16) for c in bed.fleet.registry.revoked_certificates()]
        other_key, other_ca = pki.make_ca("intruder", now(), 10)
        bad_crls = {
            "not a CRL": b"-----BEGIN X509 CRL-----\ngarbage\n-----END X509 CRL-----\n",
            "truncated": good[: len(good) // 2],
            "another CA's": pki.build_crl(other_key, other_ca, [], now=now(), valid_days=7, number=1),
            "leaves the revoked device out": pki.build_crl(
                bed.fleet.ca()[0], ca, [], now=now(), valid_days=7, number=99
            ),
            "past its nextUpdate": pki.build_crl(
                bed.fleet.ca()[0],
                ca,
                [pki.CrlEntry(s, now()) for s in revoked],
                now=now() - timedelta(days=9),
                valid_days=7,
                number=100,
            ),
        }
        for label, data in bad_crls.items():
            with pytest.raises(CrlError):
                install_crl(bed.broker_dir, data, ca, now(), must_revoke=revoked)
            assert crl.read_bytes() == good, label
            assert not list(bed.broker_dir.glob(".crl.pem*")), label
        bed.sighup()
        assert _mosquitto_pub(bed, a, f"{PREFIX}/s1/k1/events").returncode != 0
        # Why: a CRL Mosquitto cannot load on SIGHUP is logged and ignored, and the revoked device gets in
        # (measured on 2.0.11). This is what install_crl's check keeps from happening.
        crl.write_bytes(bad_crls["not a CRL"])
        bed.sighup()
        assert "Unable to load certificate revocation file" in bed.broker_log()
        assert _mosquitto_pub(bed, a, f"{PREFIX}/s1/k1/events").returncode == 0


def test_what_a_sighup_applies_and_what_needs_a_restart() -> None:
    with FleetTestbed() as bed:
        bed.start_broker()
        first = _device_new(bed, "s1", "k1")
        with bed.connected(first) as connected:
            connected.subscribe(f"{PREFIX}/s1/k1/cmd/#")
            # A device added (ACL rewritten, SIGHUP by `device new`): it may publish at once, and the device
            # already connected was not dropped.
            added = _device_new(bed, "s1", "k2")
            with bed.connected(added) as new:
                assert new.publish(f"{PREFIX}/s1/k2/events") in (0, 16)
            assert connected.disconnects == []
            # Re-running broker-config with nothing changed: a SIGHUP, nobody dropped.
            runner = CliRunner()
            rerun = runner.invoke(
                broker_config,
                [
                    "--fleet",
                    str(bed.fleet_dir),
                    "--out",
                    str(bed.broker_dir),
                    "--port",
                    str(bed.port),
                    "--bind",
                    "127.0.0.1",
                    "--user",
                    bed.user,
                ],
            )
            assert rerun.exit_code == 0, rerun.output
            assert "sent SIGHUP" in rerun.output and "nobody dropped" in rerun.output
            time.sleep(0.3)
            assert connected.disconnects == []
            assert connected.publish(f"{PREFIX}/s1/k1/events") in (0, 16)
        # A new listener port: a SIGHUP does not apply it (Mosquitto says so in its log); a restart does.
        new_port = bed.port + 1 if bed.port < 65000 else bed.port - 1
        moved = runner.invoke(
            broker_config,
            [
                "--fleet",
                str(bed.fleet_dir),
                "--out",
                str(bed.broker_dir),
                "--port",
                str(new_port),
                "--bind",
                "127.0.0.1",
                "--user",
                bed.user,
            ],
        )
        assert moved.exit_code == 0 and "RESTART" in moved.output, moved.output
        bed.sighup()
        assert "not currently possible to add/remove listeners" in bed.broker_log()
        old_port = bed.port
        with bed.connected(first):
            pass  # still on the old port
        bed.stop_broker()
        bed.port = new_port
        bed.start_broker()
        with bed.connected(first):
            pass
        bed.port = old_port


def _queued_for_away_client(bed: FleetTestbed, away: Path, sender: Path, count: int) -> int:
    """Messages a persistent session gets after it was away while ``count`` were published to it."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    def session() -> tuple[mqtt.Client, list[bytes]]:
        got: list[bytes] = []
        client = bed.client(away).client
        client.on_message = lambda _c, _u, m: got.append(bytes(m.payload))
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 600
        client.connect("127.0.0.1", bed.port, clean_start=False, properties=props)
        client.loop_start()
        time.sleep(0.3)
        return client, got

    client, _ = session()
    client.subscribe(f"{PREFIX}/+/+/events", 1)
    time.sleep(0.3)
    client.disconnect()
    client.loop_stop()
    with bed.connected(sender) as device:
        for i in range(count):
            device.publish(f"{PREFIX}/s1/k1/events", str(i).encode())
    client, got = session()
    time.sleep(1.0)
    client.disconnect()
    client.loop_stop()
    return len(got)


def test_max_queued_messages_needs_a_restart_not_a_sighup() -> None:
    with FleetTestbed() as bed:
        write_broker_config(
            bed.fleet, bed.broker_dir, BrokerOptions(bed.port, "127.0.0.1", bed.user, 5), now()
        )
        bed.start_broker()
        device = _device_new(bed, "s1", "k1")
        first = bed.backoffice_bundle("away-1")
        assert _queued_for_away_client(bed, first, device, 30) == 5
        write_broker_config(
            bed.fleet, bed.broker_dir, BrokerOptions(bed.port, "127.0.0.1", bed.user, 20), now()
        )
        bed.sighup()
        second = bed.backoffice_bundle("away-2")  # a session made after the SIGHUP
        assert _queued_for_away_client(bed, second, device, 30) == 5
        bed.stop_broker()
        bed.start_broker()
        third = bed.backoffice_bundle("away-3")
        assert _queued_for_away_client(bed, third, device, 30) == 20


def test_the_claim_identity_can_be_revoked_like_a_device() -> None:
    with FleetTestbed() as bed:
        bed.start_broker()
        with bed.connected(bed.fleet.claim_dir):
            pass
        result = subprocess.run(
            [
                str(PROVISION),
                "revoke",
                "--fleet",
                str(bed.fleet_dir),
                "--device",
                "vitrina-claim",
                "--reason",
                "image leaked",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.returncode == 0 and "revoked vitrina-claim" in result.stdout, (
            result.stdout + result.stderr
        )
        assert "back office told" not in result.stdout  # notices are per device
        # `revoke` returns once it has sent the SIGHUP; Mosquitto reloads on its next loop, so a connection
        # in the moment after may still be let in (seen on a loaded CI machine). It must be refused soon.
        refused = False
        for _ in range(10):
            claim = bed.client(bed.fleet.claim_dir)
            refused = not claim.connect(timeout_s=5)
            claim.close()
            if refused:
                break
            time.sleep(0.5)
        assert refused, "the revoked claim identity could still connect 5 s after `provision revoke`"
        assert "user vitrina-claim\ntopic deny #" in (bed.broker_dir / "acl").read_text()
