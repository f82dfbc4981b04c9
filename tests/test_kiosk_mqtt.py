"""The kiosk linked to the back office over a real Mosquitto: every stored event reaches the back-office
store once, a staff call is acknowledged through the broker, a broker that is down does not stop the kiosk.

The back office is the real ``backoffice ingest`` (a process, into a SQLite file) and ``backoffice
send-command``; the broker fixture's payload audit checks every payload published against the
anonymisation allowlist.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest
from mosquitto_broker import MosquittoBroker
from sync_helpers import command_bytes, write_command_key
from waiting import wait_for

from cloud_sync.settings import OutboxSettings
from edge_models.sample_media import WOLFGANG_CLIP, sample_file
from kiosk.app.root import KioskApp, NoDetector
from kiosk.config import CameraConfig, KioskConfig, PrivacyConfig, RuntimeConfig, StorageConfig
from kiosk.decisions.engagement import Touch
from kiosk.link.store import DB_NAME, open_existing, read_events
from kiosk.link.sync import birth_payload, command_handlers
from mqtt_bridge.commands import CommandProcessor
from mqtt_bridge.settings import BrokerSettings, CommandSettings
from mqtt_bridge.transport import MqttTransport, drain_queue

BIN = Path(sys.executable).parent


# ---- the back office ------------------------------------------------------------------------------


class BackOffice:
    """``backoffice ingest`` in a process, storing into ``path``; read with plain SQLite. Its commands
    are signed with ``key_path`` (the kiosk trusts ``public_key``)."""

    def __init__(self, broker: MosquittoBroker, path: Path) -> None:
        self.broker = broker
        self.path = path
        self.key_path = path.with_name("backoffice-commands.pem")
        _, self.public_key = write_command_key(self.key_path)
        self.proc = subprocess.Popen(
            [str(BIN / "backoffice"), "ingest", "--broker", f"mqtt://{broker.host}:{broker.port}",
             "--db", f"sqlite:///{path}", "--group", ""],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        wait_for(self.path.exists, "the ingest's store")
        self._wait_subscribed()

    def _wait_subscribed(self) -> None:
        """Publish a probe device's status until the ingest stores it: its subscriptions are active."""
        probe = MqttTransport(
            BrokerSettings(enabled=True, host=self.broker.host, port=self.broker.port), client_id="bo-probe"
        )
        probe.start()
        try:
            probe.wait_connected(10)
            topic = "vitrina/v1/probe/p1/status"
            payload = b'{"schema_version":1,"state":"online"}'
            deadline = time.monotonic() + 30
            while not self.rows("select 1 from devices where device_id = 'p1'"):
                assert time.monotonic() < deadline, "the ingest never stored the probe's status"
                probe.publish(topic, payload, qos=1)
                time.sleep(0.2)
        finally:
            probe.stop()

    def rows(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        try:
            with sqlite3.connect(self.path, timeout=30) as db:
                return list(db.execute(sql, params))
        except sqlite3.OperationalError:  # the ingest is still creating its tables
            return []

    def event_ids(self) -> list[str]:
        return [str(r[0]) for r in self.rows("select event_id from events")]

    def events_of(self, kind: str) -> list[dict[str, object]]:
        return [
            json.loads(str(r[0])) for r in self.rows("select payload from events where type = ?", (kind,))
        ]

    def send(self, name: str, args: dict[str, object]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "backoffice"), "send-command", "--broker", f"mqtt://{self.broker.host}:{self.broker.port}",
             "--store", "s1", "--device", "k1", "--name", name, "--args", json.dumps(args), "--wait", "20",
             "--key", str(self.key_path)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()


@pytest.fixture
def back_office(mosquitto: MosquittoBroker, tmp_path: Path) -> Iterator[BackOffice]:
    office = BackOffice(mosquitto, tmp_path / "backoffice.sqlite")
    try:
        yield office
    finally:
        office.stop()


def _config(
    tmp_path: Path, broker: MosquittoBroker, source: str, keys: tuple[str, ...] = (), **runtime: float
) -> KioskConfig:
    return KioskConfig.model_validate(
        {
            "device": {"store_id": "s1", "device_id": "k1"},
            "storage": StorageConfig(data_dir=tmp_path / "var"),
            "camera": CameraConfig(source=source, loop=True),
            "runtime": RuntimeConfig(**runtime),  # type: ignore[arg-type]
            "mqtt": BrokerSettings(
                enabled=True,
                host=broker.host,
                port=broker.port,
                reconnect_min_s=0.05,
                reconnect_max_s=0.5,
                commands=CommandSettings(public_keys=list(keys)),
            ),
            "outbox": OutboxSettings(path=tmp_path / "var" / "outbox.sqlite", synchronous="NORMAL"),
        }
    )


def _kiosk_events(tmp_path: Path) -> list[dict[str, object]]:
    db = open_existing(tmp_path / "var" / DB_NAME)
    try:
        return [row for _, row in read_events(db, limit=1_000_000)]
    finally:
        db.close()


def _clip(path: Path, frames: int = 40) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (160, 120))
    for _ in range(frames):
        writer.write(np.zeros((120, 160, 3), np.uint8))
    writer.release()
    return path


# ---- end to end -----------------------------------------------------------------------------------


@pytest.mark.integration
def test_kiosk_with_the_real_models_reaches_the_back_office_and_answers_a_staff_ack(
    mosquitto: MosquittoBroker, back_office: BackOffice, tmp_path: Path
) -> None:
    from kiosk.perception.detector import open_model_detector

    config = _config(
        tmp_path, mosquitto, str(sample_file(WOLFGANG_CLIP)), (back_office.public_key,), health_interval_s=1.0
    )
    detector = open_model_detector(
        config.presence, config.emotion, perception=config.perception, data_dir=config.storage.data_dir
    )
    app = KioskApp(config, detector)
    assert app.sync is not None
    stop = threading.Event()
    result: dict[str, object] = {}
    runner = threading.Thread(target=lambda: result.update(app.run(None, stop)))
    runner.start()
    try:
        wait_for(lambda: app.brain.stats.visits >= 1, "a visit seen by the real models", 120)
        app.send(Touch(app.clock.monotonic(), "call_staff"))  # the shopper asks, as the screen would
        wait_for(lambda: back_office.events_of("staff_call"), "the staff call in the back office", 60)
        call = back_office.events_of("staff_call")[0]
        done = back_office.send("staff_ack", {"call_id": call["call_id"]})
        assert done.returncode == 0, done.stderr
        answer = json.loads(done.stdout)
        assert answer["status"] == "applied" and str(call["call_id"]) in answer["reason"]
        wait_for(lambda: back_office.events_of("staff_call_acknowledged"), "the acknowledgement", 60)
        again = back_office.send("staff_ack", {"call_id": call["call_id"]})
        assert again.returncode == 1 and '"refused"' in again.stdout and "no open staff call" in again.stdout
        wait_for(lambda: len(back_office.rows("select 1 from metrics")) >= 2, "metrics", 60)
    finally:
        stop.set()
        runner.join(120)
        detector.close()
    assert not runner.is_alive()
    assert result["fatal"] is None and result["mqtt_connected"] is True and result["outbox_depth"] == 0
    # The real models may raise more calls (a frustrated face); the one acknowledged is the shopper's.
    assert result["staff_calls"] >= 1 and result["staff_acks"] == 1  # type: ignore[operator]
    assert isinstance(result["staff_response_ms_p50"], float) and result["staff_response_ms_p50"] > 0
    stored = _kiosk_events(tmp_path)
    (ack,) = [json.loads(str(r["json"])) for r in stored if r["type"] == "staff_call_acknowledged"]
    assert ack["call_id"] == call["call_id"] and ack["response_s"] > 0
    assert {"visit_started", "staff_call", "staff_call_acknowledged", "health"} <= {r["type"] for r in stored}
    assert result["events_recorded"] == result["events_handed_to_outbox"] == len(stored)
    assert result["events_delivered"] == len(stored)
    kiosk_ids = sorted(str(r["event_id"]) for r in stored)
    wait_for(lambda: len(back_office.event_ids()) >= len(kiosk_ids), "every event in the back office", 60)
    assert sorted(back_office.event_ids()) == kiosk_ids, "every stored event in the back office, once"
    (status, birth) = back_office.rows("select status, birth from devices where device_id = 'k1'")[0]
    assert status == "stopped"
    born = json.loads(str(birth))
    # The birth names the models that run: the variants the kiosk's first-start calibration chose here (the
    # whole-frame detector, the region detector, the emotion model).
    assert detector.variants is not None
    ran = {detector.variants.presence, detector.variants.region, detector.variants.emotion}
    assert set(born["models"]) == ran
    assert (config.storage.data_dir / "calibration.json").is_file()
    assert {"expression", "cmd:staff_ack", "cmd:maintenance"} <= set(born["capabilities"])
    assert born["config_hash"] == config.config_hash()
    (metrics,) = back_office.rows("select payload from metrics order by id desc limit 1")
    values = json.loads(str(metrics[0]))["values"]
    assert {"fps", "inference_ms", "dropped_frames", "events_queued"} <= set(values)


@pytest.mark.integration
def test_kiosk_run_cli_publishes_when_mqtt_is_enabled(
    mosquitto: MosquittoBroker, back_office: BackOffice, tmp_path: Path
) -> None:
    clip = _clip(tmp_path / "clip.avi")
    config = tmp_path / "kiosk.toml"
    config.write_text(
        f'[device]\nstore_id = "s1"\ndevice_id = "k1"\n'
        f'[storage]\ndata_dir = "{tmp_path / "var"}"\n[runtime]\nhealth_interval_s = 0.2\n'
        f'[outbox]\npath = "{tmp_path / "var" / "outbox.sqlite"}"\n'
        f"[mqtt]\nenabled = true\nport = {mosquitto.port}\n"
    )
    summary = tmp_path / "summary.json"
    done = subprocess.run(
        [str(BIN / "kiosk"), "run", "--config", str(config), "--headless", "--source", str(clip), "--loop",
         "--detector", "none", "--seconds", "4", "--summary", str(summary)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    figures = json.loads(summary.read_text())
    assert figures["mqtt_connected"] is True and figures["outbox_depth"] == 0
    stored = sorted(str(r["event_id"]) for r in _kiosk_events(tmp_path))
    assert len(stored) >= 5 and figures["events_handed_to_outbox"] == len(stored)
    wait_for(lambda: len(back_office.event_ids()) >= len(stored), "the events in the back office", 60)
    assert sorted(back_office.event_ids()) == stored
    assert "stopped sync" in done.stderr
    assert done.stderr.index("stopped event-writer") < done.stderr.index("stopped sync")


@pytest.mark.integration
def test_a_broker_down_at_start_does_not_stop_the_kiosk_and_the_outbox_catches_up(
    persistent_mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    broker = persistent_mosquitto
    # The ingest's session (plain subscription, persistent) outlives the outage: what the kiosk publishes
    # when the broker is back waits there even if the kiosk reconnects before the ingest does.
    office = BackOffice(broker, tmp_path / "backoffice.sqlite")
    broker.stop()
    config = _config(tmp_path, broker, str(_clip(tmp_path / "clip.avi")), health_interval_s=0.1)
    app = KioskApp(config, NoDetector())
    assert app.sync is not None
    sync = app.sync.sync
    stop = threading.Event()
    result: dict[str, object] = {}
    runner = threading.Thread(target=lambda: result.update(app.run(None, stop)))
    runner.start()
    try:
        wait_for(lambda: sync.outbox.stats().depth >= 10, "events waiting in the outbox", 60)
        assert not app.sync.connected and app.supervisor.alive("brain") and not app.supervisor.fatal.is_set()
        waiting = [r.event_id for r in sync.outbox.pending("events", 0, 1000)]
        broker.start()
        wait_for(lambda: app.sync is not None and app.sync.connected, "the reconnection", 60)
        wait_for(lambda: set(waiting) <= set(office.event_ids()), "the backlog in the back office", 60)
    finally:
        stop.set()
        runner.join(60)
    try:
        assert result["outbox_depth"] == 0 and result["fatal"] is None
        stored = sorted(str(r["event_id"]) for r in _kiosk_events(tmp_path))
        wait_for(lambda: len(office.event_ids()) >= len(stored), "every event in the back office", 60)
        assert sorted(office.event_ids()) == stored
    finally:
        office.stop()


@pytest.mark.integration
def test_with_the_broker_unreachable_the_stop_does_not_wait_and_keeps_the_outbox(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    mosquitto.stop()
    config = _config(tmp_path, mosquitto, str(_clip(tmp_path / "clip.avi")), health_interval_s=0.1)
    app = KioskApp(config, NoDetector())
    stop = threading.Event()
    threading.Timer(1.5, stop.set).start()
    summary = app.run(None, stop)
    assert summary.mqtt_connected is False and summary.outbox_depth == summary.events_recorded > 0
    assert summary.events_delivered == 0, "nothing reached a broker that is down"
    assert summary.seconds < 1.5 + config.outbox.drain_on_stop_s, "no wait for a broker that is down"
    mosquitto.start()  # the fixture's audit checks it after the test


@pytest.mark.integration
def test_kiosk_demo_with_a_broker_publishes_every_documented_topic(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    """The acceptance check: ``mosquitto_sub -v -t 'vitrina/#'`` while ``kiosk demo --broker`` runs."""
    watcher = MqttTransport(
        BrokerSettings(enabled=True, host=mosquitto.host, port=mosquitto.port),
        client_id="watcher",
        subscriptions=[("vitrina/#", 1)],
        inbound_queue_size=100_000,
    )
    watcher.start()
    watcher.wait_connected(10)
    try:
        done = subprocess.run(
            [str(BIN / "kiosk"), "demo", "--headless", "--seconds", "25", "--out", str(tmp_path / "demo"),
             "--broker", f"mqtt://{mosquitto.host}:{mosquitto.port}"],
            capture_output=True, text=True, timeout=240, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        time.sleep(0.5)
        seen = [(m.topic, m.payload) for m in drain_queue(watcher.inbound, 0.0, limit=100_000)]
    finally:
        watcher.stop()
    base = "vitrina/v1/demo-store/demo-kiosk/"
    kinds = {topic.removeprefix(base) for topic, _ in seen}
    assert {"status", "birth", "events", "metrics", "alerts"} <= kinds
    states = [json.loads(p)["state"] for t, p in seen if t == base + "status"]
    assert states[0] == "online" and states[-1] == "stopped"
    summary = json.loads((tmp_path / "demo" / "summary.json").read_text())
    assert summary["mqtt_connected"] is True and summary["outbox_depth"] == 0
    published = {
        json.loads(p)["events"][i]["event_id"]
        for t, p in seen
        if t in (base + "events", base + "alerts")
        for i in range(len(json.loads(p)["events"]))
    }
    assert len(published) == summary["events_recorded"] == summary["events_handed_to_outbox"]


def test_kiosk_demo_scripted_with_a_broker_is_refused_with_the_fix(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(BIN / "kiosk"), "demo", "--headless", "--scripted", "--seconds", "1", "--out", str(tmp_path),
         "--broker", "mqtt://127.0.0.1:1"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1 and "drop --scripted" in done.stderr
    bad = subprocess.run(
        [str(BIN / "kiosk"), "demo", "--headless", "--broker", "http://x"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert bad.returncode == 2 and "mqtt://host:1883" in bad.stderr


def test_kiosk_run_names_a_missing_broker_secret(tmp_path: Path) -> None:
    config = tmp_path / "kiosk.toml"
    config.write_text(
        f'[storage]\ndata_dir = "{tmp_path / "var"}"\n[outbox]\npath = "{tmp_path / "outbox.sqlite"}"\n'
        '[mqtt]\nenabled = true\nusername = "k"\npassword = { env = "VITRINA_TEST_NO_SUCH_PASSWORD" }\n'
    )
    done = subprocess.run(
        [str(BIN / "kiosk"), "run", "--config", str(config), "--headless", "--detector", "none",
         "--seconds", "1"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2 and "VITRINA_TEST_NO_SUCH_PASSWORD is not set" in done.stderr


# ---- the birth certificate and the command handlers, without a broker --------------------------


class Control:
    def __init__(self) -> None:
        self.open = {"c1"}
        self.maintenance: list[bool] = []

    def acknowledge_staff(self, call_id: str) -> bool:
        if call_id not in self.open:
            return False
        self.open.discard(call_id)
        return True

    def set_maintenance(self, on: bool) -> None:
        self.maintenance.append(on)


def test_staff_ack_and_maintenance_handlers_are_idempotent(tmp_path: Path) -> None:
    control = Control()
    key, public = write_command_key(tmp_path / "bo.pem")
    processor = CommandProcessor(
        CommandSettings(public_keys=[public]), command_handlers(control), lambda: datetime.now(UTC)
    )
    ack = command_bytes("staff_ack", {"call_id": "c1"}, key, "cmd1")
    first = processor.handle("staff_ack", ack)
    assert first.status == "applied" and control.open == set()
    assert processor.handle("staff_ack", ack).status == "duplicate"
    other = processor.handle("staff_ack", command_bytes("staff_ack", {"call_id": "c1"}, key, "cmd2"))
    assert other.status == "refused" and "no open staff call" in other.reason
    bad = processor.handle("staff_ack", command_bytes("staff_ack", {}, key, "cmd3"))
    assert bad.status == "refused" and "call_id" in bad.reason
    on = processor.handle("maintenance", command_bytes("maintenance", {"on": True}, key, "cmd4"))
    off = processor.handle("maintenance", command_bytes("maintenance", {"on": "off"}, key, "cmd5"))
    assert on.status == "applied" and off.status == "refused" and control.maintenance == [True]


def test_birth_payload_capabilities_follow_the_privacy_mode() -> None:
    handlers = command_handlers(Control())
    reading = KioskConfig(privacy=PrivacyConfig(mode="notice"))
    presence = KioskConfig(privacy=PrivacyConfig(mode="presence_only"))
    loaded = {"face": "ab", reading.emotion.model: "cd"}
    birth = birth_payload(reading, models=loaded, offers=True, commands=handlers)
    assert birth.capabilities == ["expression", "offers", "cmd:maintenance", "cmd:redeem", "cmd:staff_ack"]
    assert birth.models == loaded and len(birth.config_hash) == 64
    presence_birth = birth_payload(presence, models=loaded, offers=False, commands=handlers)
    assert "expression" not in presence_birth.capabilities
    assert reading.config_hash() == KioskConfig(privacy=PrivacyConfig(mode="notice")).config_hash()
    assert reading.config_hash() != presence.config_hash()


@pytest.mark.integration
def test_a_catalogue_released_by_the_back_office_reaches_the_offer_engine_and_the_screen(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    """``backoffice publish-catalogue`` -> broker (retained) -> the running kiosk: verified, installed,
    swapped into the offer engine and the screen's port; a restarted kiosk starts with it."""
    from click.testing import CliRunner

    from backoffice.cli import main as cloud_sync
    from kiosk.app.demo import DEMO_CATALOGUE
    from kiosk.app.screen_port import AppPort
    from kiosk.cli import _start_catalogue
    from kiosk.decisions.offers import load_catalogue

    runner = CliRunner()
    key = tmp_path / "bo.pem"
    made = runner.invoke(cloud_sync, ["keygen", "--out", str(key)])
    assert made.exit_code == 0, made.output
    config = _config(tmp_path, mosquitto, str(_clip(tmp_path / "c.avi")))
    config = config.model_copy(
        update={
            "mqtt": config.mqtt.model_copy(
                update={"commands": CommandSettings(public_keys=[made.output.strip()])}
            ),
            "offers": config.offers.model_copy(update={"installed_dir": tmp_path / "var" / "catalogue"}),
        }
    )
    demo = load_catalogue(DEMO_CATALOGUE)
    app = KioskApp(config, NoDetector(), catalogue=None)  # starts with no catalogue: attract only
    port = AppPort(app)
    app.start()
    try:
        wait_for(lambda: app.sync is not None and app.sync.connected, "the kiosk's connection", 10)
        published = runner.invoke(
            cloud_sync,
            ["publish-catalogue", "--broker", f"mqtt://{mosquitto.host}:{mosquitto.port}", "--key", str(key),
             "--store", "s1", "--catalogue", str(DEMO_CATALOGUE), "--version", "7", "--wait", "5"],
        )  # fmt: skip
        assert published.exit_code == 0, published.output
        results = [json.loads(line) for line in published.stdout.splitlines() if line.startswith("{")]
        assert [(r["device_id"], r["status"], r["version"]) for r in results] == [("k1", "installed", 7)]
        wait_for(lambda: app.catalogue is not None, "the catalogue swapped in", 5)
        assert app.catalogue == demo and app.engine is not None and app.engine.catalogue == demo
        assert app.engine.catalogue_version == 7
        view = port.runtime_view()
        assert view.catalogue == demo and view.image_base is not None
        assert demo.missing_images(view.image_base) == []
    finally:
        app.stop()
    restarted, image_base, version = _start_catalogue(config)
    assert restarted == demo and image_base is not None and image_base.is_relative_to(tmp_path)
    assert version == 7  # offers shown after the restart report the release they come from
