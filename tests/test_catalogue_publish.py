"""`backoffice publish-catalogue` on the real broker: retained, installed late, tampering refused."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from mosquitto_broker import MosquittoBroker
from sync_helpers import broker_settings, wait_for

from backoffice.cli import main, read_catalogue_files
from kiosk.decisions.offers import load_catalogue
from kiosk.link.catalogue_sync import CatalogueInstaller, CatalogueListener, InstallResult, load_installed
from mqtt_bridge.catalogue import build_release, sign_release
from mqtt_bridge.commands import CommandBridge, CommandProcessor
from mqtt_bridge.contract.payloads import CatalogueRelease, CatalogueResult
from mqtt_bridge.contract.topics import DeviceTopics
from mqtt_bridge.settings import CommandSettings
from mqtt_bridge.signing import public_key_text
from mqtt_bridge.transport import MqttTransport, drain_queue

DEMO = Path(__file__).resolve().parent.parent / "kiosk" / "demo_assets" / "catalogue.toml"
TOPICS = DeviceTopics("vitrina/v1", "s1", "d1")


class _Device:
    """A device's transport subscribed (late) to its store's catalogue, with an installer and a listener."""

    def __init__(self, broker: MosquittoBroker, folder: Path, public: str, device_id: str = "d1") -> None:
        self.topics = DeviceTopics("vitrina/v1", "s1", device_id)
        self.transport = MqttTransport(broker_settings(broker), client_id=f"s1.{device_id}")
        installer = CatalogueInstaller(folder, [public], store_id="s1")
        self.listener = CatalogueListener(installer, self.topics, self.transport, lambda: datetime.now(UTC))
        self.results: list[InstallResult] = []
        self.transport.start()
        self.transport.wait_connected(10)
        self.transport.subscribe(*self.listener.subscription)

    def step(self, wait_s: float = 0.1) -> None:
        for message in drain_queue(self.transport.inbound, wait_s):
            result = self.listener.handle(message)
            if result is not None:
                self.results.append(result)

    def wait_result(self, count: int) -> InstallResult:
        def arrived() -> bool:
            self.step(0.05)
            return len(self.results) >= count

        wait_for(arrived, 10, f"catalogue result {count}")
        return self.results[count - 1]


@pytest.mark.integration
def test_publish_retained_install_late_refuse_tampered_keep_good(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    runner = CliRunner()
    key_path = tmp_path / "bo.pem"
    made = runner.invoke(main, ["keygen", "--out", str(key_path)])
    assert made.exit_code == 0, made.output
    public = made.output.strip()
    broker = f"mqtt://{mosquitto.host}:{mosquitto.port}"
    publish = ["publish-catalogue", "--broker", broker, "--key", str(key_path), "--store", "s1"]
    publish += ["--catalogue", str(DEMO)]

    first = runner.invoke(main, [*publish, "--version", "1"])
    assert first.exit_code == 0, first.output
    assert "published catalogue version 1 for store s1 (4 images" in first.output

    # A device that subscribes after the publish gets the retained release and installs it.
    device = _Device(mosquitto, tmp_path / "d1", public)
    results_seen = MqttTransport(
        broker_settings(mosquitto), client_id="bo-results", subscriptions=[(TOPICS.catalogue_result, 1)]
    )
    results_seen.start()
    try:
        results_seen.wait_connected(10)
        installed = device.wait_result(1)
        assert (installed.status, installed.version) == ("installed", 1), installed.reason
        loaded = load_installed(tmp_path / "d1")
        assert loaded is not None
        assert loaded[0] == load_catalogue(DEMO)
        assert loaded[0].missing_images(loaded[1]) == []

        # A tampered re-publish (a price changed after signing) is refused; the good one is kept.
        retained = CatalogueRelease.model_validate_json(_retained_payload(mosquitto))
        signed_v2 = sign_release(retained.model_copy(update={"version": 2}), Ed25519PrivateKey.generate())
        good_v2 = sign_release(retained.model_copy(update={"version": 2}), _key(key_path))
        tampered = good_v2.model_copy(update={"catalogue": good_v2.catalogue.replace("149 ₽", "1 ₽")})
        assert tampered.catalogue != good_v2.catalogue
        for evil in (tampered, signed_v2):
            device.transport.publish(
                TOPICS.store.catalogue, evil.model_dump_json().encode(), qos=1, retain=True
            ).wait(5)
        refused = [device.wait_result(2), device.wait_result(3)]
        assert [(r.status, r.installed_version) for r in refused] == [("refused", 1), ("refused", 1)]
        assert [r.reason for r in refused] == ["bad_signature: bad signature"] * 2
        kept = load_installed(tmp_path / "d1")
        assert kept is not None
        assert kept[0].offers[0].price == "149 ₽"

        # The device's results reached the back office, as CatalogueResult payloads.
        def three_results() -> list[CatalogueResult]:
            return [
                CatalogueResult.model_validate_json(m.payload) for m in drain_queue(results_seen.inbound, 0.2)
            ]

        got: list[CatalogueResult] = []
        wait_for(lambda: bool(got.extend(three_results())) or len(got) >= 3, 10, "three results")
        assert [r.status for r in got] == ["installed", "refused", "refused"]
        assert {(r.store_id, r.device_id) for r in got} == {("s1", "d1")}

        # The CLI publishes version 2 and, with --wait, prints the device's result.
        stop = threading.Event()

        def serve() -> None:
            while not stop.is_set():
                device.step(0.05)

        server = threading.Thread(target=serve, daemon=True)
        server.start()
        try:
            second = runner.invoke(main, [*publish, "--version", "2", "--wait", "3"])
        finally:
            stop.set()
            server.join(5)
        assert second.exit_code == 0, second.output
        printed = [json.loads(line) for line in second.stdout.splitlines() if line.startswith("{")]
        assert [(p["device_id"], p["status"], p["version"]) for p in printed] == [("d1", "installed", 2)]
        assert device.listener.installer.installed_version == 2

        # Re-published as retained, it is what a device joining now installs; the first one keeps it.
        late = _Device(mosquitto, tmp_path / "d2", public, device_id="d2")
        try:
            assert (late.wait_result(1).status, late.results[0].version) == ("installed", 2)
        finally:
            late.transport.stop()
    finally:
        results_seen.stop()
        device.transport.stop()


def _key(path: Path) -> Ed25519PrivateKey:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return key


def _retained_payload(broker: MosquittoBroker) -> bytes:
    reader = MqttTransport(
        broker_settings(broker), client_id="bo-reader", subscriptions=[(TOPICS.store.catalogue, 1)]
    )
    reader.start()
    try:
        reader.wait_connected(10)
        found: list[bytes] = []
        wait_for(
            lambda: (
                bool(found.extend(m.payload for m in drain_queue(reader.inbound, 0.1) if m.retain))
                or bool(found)
            ),
            10,
            "the retained release",
        )
        return found[0]
    finally:
        reader.stop()


@pytest.mark.integration
def test_a_command_bridge_passes_the_catalogue_to_the_listener(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    """One transport, one drain: the CommandBridge hands the store's catalogue to the CatalogueListener."""
    key = Ed25519PrivateKey.generate()
    transport = MqttTransport(broker_settings(mosquitto), client_id="s1.d1")
    installer = CatalogueInstaller(tmp_path / "d1", [public_key_text(key)], store_id="s1")
    listener = CatalogueListener(installer, TOPICS, transport, lambda: datetime.now(UTC))
    processor = CommandProcessor(CommandSettings(), {}, lambda: datetime.now(UTC))
    bridge = CommandBridge(transport, TOPICS, processor, other=listener.handle)
    transport.subscribe(*listener.subscription)
    transport.start()
    try:
        transport.wait_connected(10)
        text, files = read_catalogue_files(DEMO)
        release = sign_release(build_release("s1", 7, datetime.now(UTC), text, files), key)
        transport.publish(
            TOPICS.store.catalogue, release.model_dump_json().encode(), qos=1, retain=True
        ).wait(5)

        def installed() -> bool:
            bridge.step(0.05)
            return installer.installed_version == 7

        wait_for(installed, 10, "the catalogue installed through the command bridge")
    finally:
        transport.stop()
