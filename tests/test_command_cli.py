"""`backoffice keygen` and `backoffice send-command` against a device's CommandBridge on the real broker."""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from mosquitto_broker import MosquittoBroker
from sync_helpers import broker_settings

from backoffice.cli import main
from mqtt_bridge.commands import CommandBridge, CommandProcessor
from mqtt_bridge.contract.payloads import CommandEnvelope
from mqtt_bridge.contract.topics import DeviceTopics
from mqtt_bridge.settings import CommandSettings
from mqtt_bridge.transport import MqttTransport


@pytest.mark.integration
def test_keygen_then_signed_purge_is_applied_and_unsigned_refused(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    runner = CliRunner()
    key = tmp_path / "bo.pem"
    made = runner.invoke(main, ["keygen", "--out", str(key)])
    assert made.exit_code == 0, made.output
    public = made.output.strip()
    assert runner.invoke(main, ["keygen", "--out", str(key)]).exit_code != 0, "never overwrites a key"

    purged: list[CommandEnvelope] = []

    def purge(envelope: CommandEnvelope) -> str:
        purged.append(envelope)
        return "purged"

    topics = DeviceTopics("vitrina/v1", "s1", "d1")
    device = MqttTransport(broker_settings(mosquitto), client_id="s1.d1")
    processor = CommandProcessor(
        CommandSettings(public_keys=[public]), {"purge": purge}, lambda: datetime.now(UTC)
    )
    bridge = CommandBridge(device, topics, processor)
    device.start()
    device.wait_connected(10)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            bridge.step(0.05)

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    common = ["send-command", "--broker", f"mqtt://{mosquitto.host}:{mosquitto.port}", "--store", "s1"]
    common += ["--device", "d1", "--name", "purge", "--args", '{"scope": "today"}', "--wait", "10"]
    try:
        signed = runner.invoke(main, [*common, "--key", str(key)])
        assert signed.exit_code == 0, signed.output
        assert json.loads(signed.output)["status"] == "applied"
        unsigned = runner.invoke(main, common)
        assert unsigned.exit_code == 1
        assert "must be signed" in json.loads(unsigned.output)["reason"]
        assert [e.args for e in purged] == [{"scope": "today"}]
    finally:
        stop.set()
        server.join(5)
        device.stop()


@pytest.mark.integration
def test_device_sync_answers_commands(mosquitto: MosquittoBroker, tmp_path: Path) -> None:
    from sync_helpers import make_device

    runner = CliRunner()
    key = tmp_path / "bo.pem"
    public = runner.invoke(main, ["keygen", "--out", str(key)]).output.strip()
    applied: list[str] = []

    def configure(envelope: CommandEnvelope) -> str:
        applied.append(envelope.command_id)
        return "configured"

    processor = CommandProcessor(
        CommandSettings(public_keys=[public]), {"configure": configure}, lambda: datetime.now(UTC)
    )
    device = make_device(mosquitto, tmp_path, commands=processor)
    device.start()
    try:
        device.transport.wait_connected(10)
        result = runner.invoke(
            main,
            [
                "send-command",
                "--broker",
                f"mqtt://{mosquitto.host}:{mosquitto.port}",
                "--key",
                str(key),
                "--store",
                "s1",
                "--device",
                "d1",
                "--name",
                "configure",
                "--wait",
                "10",
            ],
        )
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["status"] == "applied" and len(applied) == 1
    finally:
        device.stop()


def test_send_command_help_shows_a_command_the_kiosk_answers() -> None:
    from kiosk.link.sync import command_handlers

    class Control:
        def acknowledge_staff(self, call_id: str) -> bool:
            return False

        def set_maintenance(self, on: bool) -> None:
            pass

        def install_catalogue(self, catalogue: object, image_base: Path) -> None:
            pass

    shown = CliRunner().invoke(main, ["send-command", "--help"]).output
    names = re.findall(r"--name ([a-z_]+)", shown)  # the example's (the option's own line says TEXT)
    assert names and set(names) <= set(command_handlers(Control())), shown  # type: ignore[arg-type]
