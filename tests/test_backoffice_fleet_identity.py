"""The back office on the fleet's broker (issue #17, "the back office's fleet page lists the new device"):
every `backoffice` command that connects takes `--identity DIR`, a back-office process's own bundle
(`provision backoffice new --name N [--signing-key]`), and the fleet's Mosquitto (the config `provision
broker-config` writes: client certificates required, the per-identity ACL) lets it in.

End to end, all real: the broker on the generated config, `provision serve` as a subprocess, a device
enrolled by claim with `provision enrol --code` (a subprocess) that then stays online as itself,
`backoffice ingest --identity` (a subprocess) storing its status and birth, and `backoffice serve
--identity` (a subprocess, its staff_ack key taken from the bundle) whose /fleet.json lists the device
online; the fleet report over the ingest's store says the same."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import click
import httpx
import pytest
from mosquitto_broker import free_ports
from provision_testbed import PROVISION, FleetTestbed

from backoffice.broker_access import BrokerAccess, broker_access
from backoffice.db import open_database
from backoffice.reports.fleet import fleet
from backoffice.settings import AlertSettings
from mqtt_bridge.contract.topics import DeviceTopics
from mqtt_bridge.device import device_transport, stopped_message
from mqtt_bridge.identity import SIGNING_KEY_FILE
from provisioning.claim import birth

BACKOFFICE = Path(sys.executable).with_name("backoffice")
PREFIX = "vitrina/v1"
PASSWORD = "correct horse battery staple"


def _provision(*args: str) -> str:
    done = subprocess.run([str(PROVISION), *args], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _wait(what: str, check: object, timeout_s: float = 20.0, detail: object = lambda: "") -> None:
    assert callable(check) and callable(detail)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    pytest.fail(f"{what} within {timeout_s:g} s: {detail()}")


def _stored(db: Path, store: str, device: str) -> tuple[str | None, str | None] | None:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            row = conn.execute(
                "SELECT status, birth FROM devices WHERE store_id = ? AND device_id = ?", (store, device)
            ).fetchone()
    except sqlite3.OperationalError:
        return None
    return None if row is None else (row[0], row[1])


@pytest.fixture
def bed() -> Iterator[FleetTestbed]:
    with FleetTestbed() as testbed:
        testbed.start_broker()
        testbed.start_service()
        yield testbed


@pytest.mark.integration
@pytest.mark.slow
def test_a_device_enrolled_by_claim_is_online_on_the_fleet_page(bed: FleetTestbed) -> None:
    broker_url = bed.fleet.settings.broker_url
    # Each back-office process its own certificate, made with the command an operator runs (it rewrites
    # the broker's ACL and reloads it through the pid file).
    _provision("backoffice", "new", "--fleet", str(bed.fleet_dir), "--name", "ingest-1")
    said = _provision("backoffice", "new", "--fleet", str(bed.fleet_dir), "--name", "web", "--signing-key")
    ingest_bundle, web_bundle = bed.fleet.process_dir("ingest-1"), bed.fleet.process_dir("web")
    assert "command-signing key" in said
    assert (web_bundle / SIGNING_KEY_FILE).read_bytes() == bed.fleet.signing_key_path.read_bytes()
    assert (web_bundle / SIGNING_KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert not (ingest_bundle / SIGNING_KEY_FILE).exists()

    db = bed.root / "backoffice.sqlite"
    bed.spawn(
        "ingest",
        [str(BACKOFFICE), "ingest", "--broker", broker_url, "--identity", str(ingest_bundle),
         "--db", f"sqlite:///{db}", "--client-id", "backoffice-ingest-1"],
    )  # fmt: skip
    _wait(
        "the ingest connected as backoffice-ingest-1",
        lambda: "connected with a new session" in bed.process_text("ingest"),
        detail=lambda: bed.process_text("ingest"),
    )

    folder = bed.enrol("k1", "s1", "k1")
    identity = folder.load(datetime.now(UTC))
    topics = DeviceTopics(PREFIX, "s1", "k1")
    # The device stays connected as itself (as the kiosk would): status online, then its birth.
    device = device_transport(identity.broker_settings(), topics, birth(identity, datetime.now(UTC)))
    device.start()
    try:
        device.wait_connected(10)
        _wait(
            "the ingest stored the device online with its birth",
            lambda: (
                (row := _stored(db, "s1", "k1")) is not None and row[0] == "online" and row[1] is not None
            ),
            detail=lambda: f"{_stored(db, 's1', 'k1')}; ingest: {bed.process_text('ingest')[-1500:]}",
        )

        # The fleet report over the ingest's store (what the pages read when the web app has no live state).
        store = open_database(f"sqlite:///{db}")
        try:
            report = fleet(store, datetime.now(UTC), AlertSettings())
        finally:
            store.close()
        (row,) = report.devices
        assert (row.store_id, row.device_id, row.status, row.online) == ("s1", "k1", "online", True)
        assert row.software_version is not None and row.software_version.startswith("provision ")
        assert report.alerts == ()

        # The web app on its own identity: /fleet.json lists the device online.
        port = free_ports(1)[0]
        env = {**os.environ, "VITRINA_TEST_PASSWORD": PASSWORD}
        subprocess.run(
            [str(BACKOFFICE), "user", "add", "admin", "--role", "admin", "--db", f"sqlite:///{db}",
             "--password-env", "VITRINA_TEST_PASSWORD"],
            env=env, check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        bed.spawn(
            "web",
            [str(BACKOFFICE), "serve", "--db", f"sqlite:///{db}", "--broker", broker_url,
             "--identity", str(web_bundle), "--port", str(port)],
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"

        def answers() -> bool:
            try:
                return httpx.get(f"{base}/healthz", timeout=1).json().get("mqtt_connected") is True
            except (httpx.HTTPError, ValueError):
                return False

        _wait("the web app answered, connected to the broker", answers, 30, lambda: bed.process_text("web"))
        assert "no --key" not in bed.process_text("web"), "the bundle's commands.pem signs staff_ack"
        with httpx.Client(base_url=base, timeout=10) as client:
            client.get("/login")
            signed_in = client.post(
                "/login",
                data={"username": "admin", "password": PASSWORD, "csrftoken": client.cookies.get("csrftoken"),
                      "next": "/fleet"},
            )  # fmt: skip
            assert signed_in.status_code in (200, 303), signed_in.text[:300]
            devices = client.get("/fleet.json").json()["tables"]["devices"]["rows"]
        listed = [(d["store_id"], d["device_id"], d["status"], d["online"]) for d in devices]
        assert listed == [("s1", "k1", "online", True)]
        # The web app keeps one connection on its certificate (its live link and the campaigns' link share
        # it): two would take the client id from each other, over and over.
        time.sleep(2.0)
        assert bed.broker_log().count("as backoffice-web ") == 1, bed.broker_log()[-3000:]
    finally:
        device.stop(final=stopped_message(topics))


@pytest.mark.integration
@pytest.mark.slow
def test_without_its_client_certificate_the_ingest_is_refused(bed: FleetTestbed) -> None:
    """The gap this closes: --ca-file alone (no client certificate) does not get past the fleet's broker."""
    db = bed.root / "refused.sqlite"
    bed.spawn(
        "ingest",
        [str(BACKOFFICE), "ingest", "--broker", bed.fleet.settings.broker_url,
         "--ca-file", str(bed.fleet.ca_cert_path), "--db", f"sqlite:///{db}"],
    )  # fmt: skip
    _wait(
        "the ingest said why it cannot connect",
        lambda: "cannot connect to the broker" in bed.process_text("ingest"),
        detail=lambda: bed.process_text("ingest"),
    )
    text = bed.process_text("ingest")
    assert "requires a client certificate" in text and "--identity DIR" in text
    assert "connected with a new session" not in text
    assert "peer did not return a certificate" in bed.broker_log()


def test_identity_options_are_checked_before_connecting(tmp_path: Path) -> None:
    with FleetTestbed() as bed:
        bundle = bed.fleet.process_dir("ops")
        bed.fleet.new_backoffice_bundle("ops", "backoffice", datetime.now(UTC), bundle)
        url = bed.fleet.settings.broker_url

        def access(
            broker: str = url, identity_dir: Path = bundle, ca_file: Path | None = None
        ) -> BrokerAccess:
            return broker_access(
                broker, identity_dir=identity_dir, ca_file=ca_file, password_env=None, prefix="p/v1"
            )

        def refused(broker: str = url, identity_dir: Path = bundle, ca_file: Path | None = None) -> str:
            with pytest.raises(click.BadParameter) as caught:
                access(broker, identity_dir, ca_file)
            return f"{caught.value.param_hint}: {caught.value.message}"

        settings = access().settings
        assert settings.tls is not None
        assert (settings.tls.cert_file, settings.tls.key_file) == (bundle / "cert.pem", bundle / "key.pem")
        assert (settings.host, settings.port) == ("127.0.0.1", bed.port)
        assert settings.topic_prefix == "p/v1" and settings.username is None
        identity = access().identity
        assert identity is not None and identity.name == "backoffice-ops"
        assert access().signing_key(None) is None  # no --signing-key: the commands that sign need --key
        bed.fleet.add_signing_key(bundle)
        assert access().signing_key(None) == bundle / SIGNING_KEY_FILE
        assert access().signing_key(tmp_path / "other.pem") == tmp_path / "other.pem"

        assert refused(ca_file=tmp_path / "ca.pem").startswith("--ca-file: --ca-file and --identity")
        assert refused(broker="mqtt://127.0.0.1:1883").startswith("--broker: ")
        assert "use mqtts://" in refused(broker="mqtt://127.0.0.1:1883")
        assert refused(identity_dir=tmp_path / "none").startswith("--identity: ")
        (bundle / "key.pem").chmod(0o644)
        assert "chmod 600" in refused()


def test_the_campaigns_link_can_ride_on_the_live_links_connection() -> None:
    """`backoffice serve --identity`: one connection for the live link and the campaigns' link; the live
    link takes its own messages and hands the rest (the kiosks' redeem results) to the campaigns' link."""
    from backoffice.campaigns.link import MqttCampaignLink
    from backoffice.web.link import MqttKioskLink
    from mqtt_bridge.contract.payloads import CommandResult
    from mqtt_bridge.settings import BrokerSettings

    settings = BrokerSettings(topic_prefix=PREFIX)
    now = datetime.now(UTC)
    live = MqttKioskLink(settings, client_id="web", clock=lambda: now, key=None)
    campaigns = MqttCampaignLink(
        settings, client_id="unused", clock=lambda: now, key=None, transport=live.transport
    )
    assert campaigns.transport is live.transport
    live.share(campaigns.subscriptions, campaigns.handle)
    campaigns.start()  # the owner starts the connection: nothing here
    assert not live.transport.connected

    def result(name: str, command_id: str) -> tuple[str, bytes]:
        body = CommandResult(command=name, command_id=command_id, status="applied", ts=now)
        return f"{PREFIX}/s1/k1/cmd/{name}/result", body.model_dump_json().encode()

    assert live.handle(*result("redeem", "r1")) is False  # not the live link's: forwarded
    campaigns.handle(*result("redeem", "r1"))
    assert live.handle(*result("staff_ack", "a1")) is True
    assert campaigns.redeem_result("r1") is not None and live.command_result("r1") is None
    assert live.command_result("a1") is not None and campaigns.redeem_result("a1") is None
