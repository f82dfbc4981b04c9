"""The kiosk on its enrolled identity ([identity] dir): the verified identity names the device, its broker,
TLS files and the back office's keys; a missing, expired or edited identity stops the kiosk with what to do.

The bundles here are made with ``cryptography`` and mqtt_bridge.identity's own signing (a fleet CA of the
test's); tests/test_provision_check.py runs the same against a bundle the fleet's `provision` made.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from mosquitto_broker import MosquittoBroker

from kiosk.app.identity import IdentityUnusableError, apply_identity
from kiosk.config import IdentityFolderConfig, KioskConfig, parse_config
from mqtt_bridge.contract.identity import IdentityConfig
from mqtt_bridge.identity import (
    CONFIG_FILE,
    IdentityFolder,
    new_private_key,
    private_key_pem,
    serial_hex,
    sign_config,
)
from mqtt_bridge.settings import BrokerSettings
from mqtt_bridge.signing import public_key_text
from mqtt_bridge.transport import MqttTransport, drain_queue

KIOSK = Path(sys.executable).with_name("kiosk")
BARE_RUN = ("--detector", "none", "--summary")
NOW = datetime.now(UTC)


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


@dataclass(frozen=True)
class OwnFleet:
    """A fleet CA of the test's own: it signs the broker's certificate, devices' certificates and configs."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @classmethod
    def make(cls, issued: datetime = NOW) -> OwnFleet:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name("test fleet"))
            .issuer_name(_name("test fleet"))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(issued - timedelta(days=400))
            .not_valid_after(issued + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert)

    def _leaf(
        self,
        common: str,
        key: ec.EllipticCurvePrivateKey,
        issued: datetime,
        days: float,
        server: bool = False,
    ) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(issued - timedelta(minutes=5))
            .not_valid_after(issued + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        )
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        if server:
            san = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return builder.sign(self.key, hashes.SHA256())

    def serve(self, broker: MosquittoBroker) -> None:
        """Make ``broker`` (not started yet) present a certificate of this fleet and trust only this CA."""
        key = new_private_key()
        broker.tls.ca.write_bytes(_pem(self.cert))
        broker.tls.server_cert.write_bytes(_pem(self._leaf("test broker", key, NOW, 30, server=True)))
        broker.tls.server_key.write_bytes(private_key_pem(key))

    def device_bundle(
        self,
        store: str = "s1",
        device: str = "k1",
        *,
        broker_url: str = "mqtts://broker.example:8883",
        issued: datetime = NOW,
        days: float = 90.0,
        public_key: str = "",
    ) -> dict[str, bytes]:
        """A device bundle: ca.pem, cert.pem, key.pem and a config.toml signed by this fleet."""
        key = new_private_key()
        cert = self._leaf(f"{store}.{device}", key, issued, days)
        config = IdentityConfig(
            fleet="test",
            store_id=store,
            device_id=device,
            broker_url=broker_url,
            backoffice_public_keys=[public_key] if public_key else [],
            certificate_serial=serial_hex(cert),
            issued_at=issued - timedelta(minutes=5),
            expires_at=cert.not_valid_after_utc,
        )
        return {
            "ca.pem": _pem(self.cert),
            "cert.pem": _pem(cert),
            "key.pem": private_key_pem(key),
            CONFIG_FILE: sign_config(config, self.key).to_toml().encode(),
        }


def make_bundle(
    store: str = "s1", device: str = "k1", *, issued: datetime = NOW, days: float = 90.0, public_key: str = ""
) -> dict[str, bytes]:
    """A device bundle from a fresh test fleet."""
    return OwnFleet.make(issued).device_bundle(store, device, issued=issued, days=days, public_key=public_key)


def _config(folder: Path) -> KioskConfig:
    return KioskConfig(identity=IdentityFolderConfig(dir=folder))


def test_identity_names_the_device_its_broker_tls_and_keys(tmp_path: Path) -> None:
    public = public_key_text(ed25519.Ed25519PrivateKey.generate())
    installed = IdentityFolder(tmp_path / "identity").install(make_bundle(public_key=public), NOW)
    config, identity = apply_identity(_config(tmp_path / "identity"), NOW)
    assert identity is not None and identity.name == "s1.k1"
    assert (config.device.store_id, config.device.device_id) == ("s1", "k1")
    assert config.mqtt.enabled and (config.mqtt.host, config.mqtt.port) == ("broker.example", 8883)
    assert config.mqtt.tls is not None
    assert config.mqtt.tls.cert_file == installed.folder / "cert.pem"
    assert config.mqtt.tls.key_file == installed.folder / "key.pem"
    assert config.mqtt.tls.ca_file == installed.folder / "ca.pem"
    assert config.mqtt.commands.public_keys == [public]


def test_no_identity_folder_configured_changes_nothing() -> None:
    config = KioskConfig()
    assert apply_identity(config, NOW) == (config, None)


def test_missing_identity_says_to_enrol(tmp_path: Path) -> None:
    with pytest.raises(IdentityUnusableError) as caught:
        apply_identity(_config(tmp_path / "nothing-here"), NOW)
    assert caught.value.problem == "no_identity"
    assert "provision enrol" in str(caught.value)


def test_expired_identity_is_refused(tmp_path: Path) -> None:
    then = NOW - timedelta(days=100)
    IdentityFolder(tmp_path / "identity").install(make_bundle(issued=then, days=90), then + timedelta(days=1))
    with pytest.raises(IdentityUnusableError) as caught:
        apply_identity(_config(tmp_path / "identity"), NOW)
    assert caught.value.problem == "expired"
    assert "expired" in str(caught.value)


def test_edited_config_is_refused_for_its_signature(tmp_path: Path) -> None:
    installed = IdentityFolder(tmp_path / "identity").install(make_bundle(), NOW)
    toml = installed.folder / CONFIG_FILE
    toml.write_text(toml.read_text().replace('device_id = "k1"', 'device_id = "k2"'))
    with pytest.raises(IdentityUnusableError) as caught:
        apply_identity(_config(tmp_path / "identity"), NOW)
    assert caught.value.problem == "bad_signature"
    assert "signature" in str(caught.value)


def test_identity_section_is_described_and_checked() -> None:
    config = parse_config('[identity]\ndir = "/var/lib/vitrina/identity"\nrenew_before_days = 20\n')
    assert config.identity.dir == Path("/var/lib/vitrina/identity")
    with pytest.raises(Exception, match="renew_before_day"):
        parse_config("[identity]\nrenew_before_day = 20\n")


@pytest.mark.parametrize("broken", ["missing", "edited"])
def test_kiosk_run_refuses_an_unusable_identity(tmp_path: Path, broken: str) -> None:
    folder = tmp_path / "identity"
    if broken == "edited":
        installed = IdentityFolder(folder).install(make_bundle(), NOW)
        toml = installed.folder / CONFIG_FILE
        toml.write_text(toml.read_text().replace('store_id = "s1"', 'store_id = "s9"'))
    config = tmp_path / "kiosk.toml"
    config.write_text(f'[identity]\ndir = "{folder}"\n[storage]\ndata_dir = "{tmp_path / "data"}"\n')
    done = subprocess.run(
        [str(KIOSK), "run", "--config", str(config), "--headless", "--seconds", "1", "--detector", "none"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "cannot start the kiosk: the identity in" in done.stderr
    expected = "provision enrol" if broken == "missing" else "signature"
    assert expected in done.stderr


@pytest.mark.integration
def test_kiosk_run_connects_as_its_identity(tmp_path: Path) -> None:
    """kiosk run with only [identity] dir for its link: TLS with the identity's certificate to the broker
    its config.toml names, its birth and status under the identity's store and device."""
    fleet = OwnFleet.make()
    broker = MosquittoBroker(tmp_path / "mosquitto")
    fleet.serve(broker)
    broker.start()
    try:
        url = f"mqtts://127.0.0.1:{broker.tls_port}"
        IdentityFolder(tmp_path / "identity").install(fleet.device_bundle("s7", "k9", broker_url=url), NOW)
        config = tmp_path / "kiosk.toml"
        data = tmp_path / "data"
        config.write_text(
            f'[identity]\ndir = "{tmp_path / "identity"}"\n[storage]\ndata_dir = "{data}"\n'
            f'[outbox]\npath = "{data / "outbox.sqlite"}"\n'
            f'[camera]\nsource = "{tmp_path / "frames"}"\nloop = true\n'
        )
        (tmp_path / "frames").mkdir()
        cv2.imwrite(str(tmp_path / "frames" / "0.png"), np.zeros((48, 64, 3), np.uint8))
        summary = tmp_path / "summary.json"
        done = subprocess.run(
            [
                str(KIOSK),
                "run",
                "--config",
                str(config),
                "--headless",
                "--seconds",
                "3",
                *BARE_RUN,
                str(summary),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(summary.read_text())["mqtt_connects"] >= 1
        reader = MqttTransport(
            BrokerSettings(enabled=True, host="127.0.0.1", port=broker.port),
            client_id="reader",
            subscriptions=[("vitrina/v1/s7/k9/+", 1)],
        )
        reader.start()
        try:
            reader.wait_connected(10)
            time.sleep(0.5)
            retained = {m.topic: m.payload for m in drain_queue(reader.inbound, 0.2) if m.retain}
        finally:
            reader.stop()
        assert "vitrina/v1/s7/k9/birth" in retained
        assert b'"stopped"' in retained["vitrina/v1/s7/k9/status"]
        log = (tmp_path / "mosquitto" / "mosquitto.log").read_text(errors="replace")
        assert "s7.k9" in log  # the broker took the certificate's name as the user name
    finally:
        broker.stop()
