"""``provision decommission``: a kiosk that ran on its identity (events, codes, command ledger, outbox, log,
a catalogue, a secret) is taken back to blank. The folders are walked afterwards: nothing is left. It says
goodbye on its own link first (retained ``stopped``, then its retained status and birth cleared), asks
unless --yes, refuses a source or system folder, and a second run finds nothing to do."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from mosquitto_broker import BrokerStartError, MosquittoBroker
from sync_helpers import broker_settings
from test_kiosk_identity import OwnFleet

from kiosk.config import KioskConfig, parse_config
from kiosk.perception.demo_media import write_walk_in_clip
from mqtt_bridge.contract.topics import DeviceTopics
from mqtt_bridge.identity import IdentityFolder
from mqtt_bridge.transport import InboundMessage, MqttTransport, drain_queue
from provisioning.device.decommission import (
    DecommissionRefusedError,
    check_plan,
    files_left,
    purge_plan,
)

PROVISION = Path(sys.executable).with_name("provision")
KIOSK = Path(sys.executable).with_name("kiosk")
TOPICS = DeviceTopics("vitrina/v1", "s1", "k1")


@dataclass(frozen=True)
class UsedKiosk:
    config: Path
    identity: Path
    folders: tuple[Path, ...]  # every folder the kiosk's files live in (the catalogue: the folder itself)
    broker: MosquittoBroker


def _walk(folder: Path) -> list[Path]:
    return [Path(root) / name for root, dirs, files in os.walk(folder) for name in (*dirs, *files)]


def _retained(broker: MosquittoBroker, topics: list[str]) -> dict[str, bytes]:
    """The retained messages on ``topics`` now, as a new subscriber sees them."""
    reader = MqttTransport(
        broker_settings(broker),
        client_id=f"reader-{time.monotonic_ns()}",
        subscriptions=[(t, 1) for t in topics],
    )
    reader.start()
    try:
        reader.wait_connected(10)
        time.sleep(0.5)
        return {m.topic: m.payload for m in drain_queue(reader.inbound, 0.1) if m.retain}
    finally:
        reader.stop()


@pytest.fixture
def used_kiosk(tmp_path: Path) -> Iterator[UsedKiosk]:
    """A kiosk enrolled on a private TLS broker that has run for a few seconds, its files spread over five
    folders as a configuration may put them."""
    fleet = OwnFleet.make()
    try:
        broker = MosquittoBroker(tmp_path / "mosquitto")
        fleet.serve(broker)
        broker.start()
    except BrokerStartError as exc:
        pytest.fail(str(exc), pytrace=False)
    identity = tmp_path / "identity"
    url = f"mqtts://127.0.0.1:{broker.tls_port}"
    IdentityFolder(identity).install(fleet.device_bundle("s1", "k1", broker_url=url), datetime.now(UTC))
    data, spool, shop, logs, secrets = (
        tmp_path / name for name in ("data", "spool", "shop", "logs", "secrets")
    )
    for folder in (data, spool, shop, logs, secrets):
        folder.mkdir()
    (secrets / "redemption.key").write_text("a-redemption-secret-of-32-bytes!!")
    (shop / "catalogue" / "current").mkdir(parents=True)
    (shop / "catalogue" / "current" / "offer.png").write_bytes(b"\x89PNG picture")
    clip = write_walk_in_clip(tmp_path / "clip" / "walk-in.avi")
    config = tmp_path / "kiosk.toml"
    config.write_text(
        f'[identity]\ndir = "{identity}"\n'
        f'[logging]\nfile = "{logs / "kiosk.log"}"\n'
        f'[storage]\ndata_dir = "{data}"\n'
        f'[outbox]\npath = "{spool / "outbox.sqlite"}"\n'
        f'[offers]\ninstalled_dir = "{shop / "catalogue"}"\n'
        f'[mqtt.commands]\nledger_path = "{spool / "ledger.sqlite"}"\n'
        f'[redemption]\nsecret = {{ file = "{secrets / "redemption.key"}" }}\n',
        encoding="utf-8",
    )
    ran = subprocess.run(
        [str(KIOSK), "run", "--config", str(config), "--headless", "--seconds", "4", "--source", str(clip)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "SDL_VIDEODRIVER": "dummy"},
    )
    assert ran.returncode == 0, ran.stderr
    try:
        folders = (data, spool, shop / "catalogue", logs, secrets, identity)
        yield UsedKiosk(config, identity, folders, broker)
    finally:
        broker.stop()


def decommission(config: Path, *args: str, answer: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PROVISION), "decommission", "--config", str(config), *args],
        input=answer,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.integration
def test_decommission_leaves_nothing_and_says_goodbye(used_kiosk: UsedKiosk) -> None:
    before = {folder: _walk(folder) for folder in used_kiosk.folders}
    names = {path.name for paths in before.values() for path in paths}
    for expected in ("events.sqlite", "redemption.sqlite", "outbox.sqlite", "ledger.sqlite", "kiosk.log"):
        assert expected in names, f"the kiosk did not write {expected}: {sorted(names)}"
    assert _retained(used_kiosk.broker, [TOPICS.birth, TOPICS.status]).keys() == {TOPICS.birth, TOPICS.status}
    watcher = MqttTransport(
        broker_settings(used_kiosk.broker),
        client_id="watcher",
        subscriptions=[(TOPICS.status, 1), (TOPICS.birth, 1)],
    )
    watcher.start()
    watcher.wait_connected(10)
    time.sleep(0.3)
    drain_queue(watcher.inbound, 0.1)  # the retained ones, from before
    try:
        done = decommission(used_kiosk.config, "--yes")
        time.sleep(0.5)
        seen: list[InboundMessage] = drain_queue(watcher.inbound, 0.5)
    finally:
        watcher.stop()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "told the back office" in done.stdout and "as s1.k1" in done.stdout
    assert "The device is blank" in done.stdout
    for folder in used_kiosk.folders:
        assert folder.is_dir(), f"{folder} should be kept, empty"
        assert _walk(folder) == [], f"left in {folder}: {_walk(folder)}"
    said = [(m.topic, m.payload) for m in seen]
    assert said[0][0] == TOPICS.status and b'"stopped"' in said[0][1]
    assert (TOPICS.status, b"") in said and (TOPICS.birth, b"") in said
    assert _retained(used_kiosk.broker, [TOPICS.birth, TOPICS.status]) == {}


@pytest.mark.integration
def test_decommission_twice_is_a_no_op(used_kiosk: UsedKiosk) -> None:
    assert decommission(used_kiosk.config, "--yes").returncode == 0
    again = decommission(used_kiosk.config, "--yes")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "no identity is installed" in again.stdout
    assert "removed" not in again.stdout
    assert "The device is blank" in again.stdout


@pytest.mark.integration
def test_decommission_asks_first(used_kiosk: UsedKiosk) -> None:
    before = {folder: sorted(_walk(folder)) for folder in used_kiosk.folders}
    refused = decommission(used_kiosk.config, answer="n\n")
    assert refused.returncode == 1
    assert "Decommission this device?" in refused.stdout
    assert "everything in" in refused.stdout
    assert {folder: sorted(_walk(folder)) for folder in used_kiosk.folders} == before


def test_plan_refuses_a_source_checkout_and_system_folders(repo_root: Path) -> None:
    for folder in (repo_root, Path("/"), Path("/var/lib")):
        config = KioskConfig.model_validate({"storage": {"data_dir": str(folder)}})
        with pytest.raises(DecommissionRefusedError, match="refusing to empty"):
            check_plan(purge_plan(config, Path("/nonexistent/identity")))


def test_plan_covers_what_the_configuration_puts_elsewhere(tmp_path: Path) -> None:
    config = parse_config(
        f'[storage]\ndata_dir = "{tmp_path / "d"}"\n[offers]\nstate_file = "{tmp_path / "b.json"}"\n'
        f'[mqtt]\npassword = {{ file = "{tmp_path / "pw"}" }}\n'
    )
    plan = {target.path: target for target in purge_plan(config, tmp_path / "id")}
    assert plan[tmp_path / "d"].folder and plan[tmp_path / "id"].folder
    assert tmp_path / "b.json" in plan and tmp_path / "pw" in plan
    assert Path("var/outbox.sqlite-wal") in plan
    (tmp_path / "b.json").write_text("{}")
    assert files_left(plan.values()) == [tmp_path / "b.json"]
