"""The back office knows which devices the fleet took back (issue #17, "back office told"): the ingest stores
the fleet's retained notices (enrolled, renewed, revoked) and a device's cleared retained status and birth
(`provision decommission`: counted as ``cleared``, not as invalid JSON) in ``device_lifecycle`` (migration
``0006_device_lifecycle``, SQLite and PostgreSQL); the fleet report and page say revoked / decommissioned,
such a device is never online and raises no alert.

Pure parsing, the store on both dialects, and end to end on the fleet's generated broker config with
`provision serve`, `backoffice ingest --identity`, `provision decommission` and `provision revoke` as
subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import pytest
from backoffice_fixture import store_url
from provision_testbed import PROVISION, FleetTestbed
from test_provision_check_fleet import write_config
from web_helpers import MovableClock, make_app, page_tables, sign_in

from backoffice.db import Database, open_database
from backoffice.ingest import BackofficeStore, parse_messages
from backoffice.reports.fleet import fleet
from backoffice.settings import AlertSettings
from mqtt_bridge.contract.enrolment import FleetDeviceNotice
from mqtt_bridge.contract.payloads import BirthPayload, StatusPayload

PREFIX = "vitrina/v1"
T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
BACKOFFICE = Path(sys.executable).with_name("backoffice")


def _notice(
    device: str, event: Literal["enrolled", "renewed", "revoked"], at: datetime, reason: str = ""
) -> tuple[str, bytes]:
    notice = FleetDeviceNotice(
        store_id="s1",
        device_id=device,
        state="revoked" if event == "revoked" else "active",
        event=event,
        certificate_serial="ab12",
        expires_at=at + timedelta(days=365),
        reason=reason,
        ts=at,
    )
    return f"{PREFIX}/_fleet/devices/s1/{device}", notice.model_dump_json(exclude_none=True).encode()


def _status(device: str, state: Literal["online", "stopped"], at: datetime) -> tuple[str, bytes]:
    payload = StatusPayload(state=state, ts=at)
    return f"{PREFIX}/s1/{device}/status", payload.model_dump_json(exclude_none=True).encode()


def _birth(device: str, at: datetime) -> tuple[str, bytes]:
    birth = BirthPayload(software_version="0.3.0", capabilities=["camera"], config_hash="c" * 64, ts=at)
    return f"{PREFIX}/s1/{device}/birth", birth.model_dump_json().encode()


def test_a_cleared_status_or_birth_is_counted_as_cleared_and_notices_are_parsed() -> None:
    parsed = parse_messages(
        PREFIX,
        [
            _status("k1", "stopped", T0),
            (f"{PREFIX}/s1/k1/status", b""),
            (f"{PREFIX}/s1/k1/birth", b""),
            (f"{PREFIX}/s1/k1/events", b""),  # events are never retained: an empty batch is not JSON
            _notice("k2", "revoked", T0, "stolen"),
            (f"{PREFIX}/_fleet/devices/s1/k3", b""),
            (f"{PREFIX}/_fleet/devices/s1/k4", _notice("k2", "enrolled", T0)[1]),  # names another device
            (f"{PREFIX}/_fleet/devices/s1/k5", b'{"schema_version": 1}'),
            (f"{PREFIX}/_fleet/devices/S1/k5", b"{}"),  # not a device's notice topic
        ],
    )
    assert parsed.counters == {
        "messages": 9,
        "cleared": 3,
        "invalid_json": 1,
        "notices": 1,
        "invalid_notice": 2,
        "invalid_topic": 1,
    }
    assert parsed.retained == [("s1", "k1", False), ("s1", "k1", True), ("s1", "k1", True)]
    assert [(n.device_id, n.state, n.reason) for n in parsed.notices] == [("k2", "revoked", "stolen")]


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    for url in store_url(request.param, tmp_path):
        database = open_database(url)
        try:
            yield database
        finally:
            database.close()


class _Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def _rows(db: Database, now: datetime) -> dict[str, tuple[object, ...]]:
    report = fleet(db, now, AlertSettings())
    return {
        d.device_id: (d.lifecycle, d.online, d.lifecycle_reason, tuple(a.kind for a in d.alerts))
        for d in report.devices
    }


def test_the_store_keeps_each_devices_place_in_the_fleet(db: Database) -> None:
    clock = _Clock()
    store = BackofficeStore(db, clock=clock)
    assert "0006_device_lifecycle" in db.applied_migrations("ingest")

    def write(*messages: tuple[str, bytes], at: datetime) -> None:
        clock.now = at
        store.write(parse_messages(PREFIX, messages))

    # k1 decommissions itself; k2 is revoked while its retained status still says online; k3 just stops;
    # k4 is enrolled and never seen.
    write(
        *(_notice(d, "enrolled", T0) for d in ("k1", "k2", "k3", "k4")),
        *(m for d in ("k1", "k2", "k3") for m in (_status(d, "online", T0), _birth(d, T0))),
        at=T0,
    )
    later = T0 + timedelta(minutes=5)
    write(
        _status("k1", "stopped", later),
        (f"{PREFIX}/s1/k1/status", b""),
        (f"{PREFIX}/s1/k1/birth", b""),
        _notice("k2", "revoked", later, "stolen"),
        _status("k3", "stopped", later),
        at=later,
    )
    hour = T0 + timedelta(hours=1)
    rows = _rows(db, hour)
    assert rows == {
        "k1": ("decommissioned", False, None, ()),
        "k2": ("revoked", False, "stolen", ()),  # its session may stay open: never online, no alert
        "k3": ("active", False, None, ("offline",)),  # the rule still works for a device in service
        "k4": ("active", False, None, ()),  # enrolled, never seen: nothing to measure offline from
    }
    report = fleet(db, hour, AlertSettings())
    k1 = next(d for d in report.devices if d.device_id == "k1")
    assert k1.lifecycle_at is not None and abs((k1.lifecycle_at - later).total_seconds()) < 1
    assert store.counters()["cleared"] == 2 and "invalid_json" not in store.counters()

    # Redelivered (a retained notice again on a new session), or an older notice late: nothing changes.
    write(_notice("k2", "revoked", later, "stolen"), _notice("k2", "renewed", T0), at=hour)
    assert _rows(db, hour)["k2"] == ("revoked", False, "stolen", ())
    # The retained "enrolled" notice of k1 (older than its decommissioning) comes again: still decommissioned.
    write(_notice("k1", "enrolled", T0), at=hour)
    assert _rows(db, hour)["k1"][0] == "decommissioned"
    # k1 enrolled again and back: active once its new status and birth arrive.
    again = hour + timedelta(minutes=1)
    write(_notice("k1", "enrolled", again), _status("k1", "online", again), _birth("k1", again), at=again)
    assert _rows(db, again)["k1"] == ("active", True, None, ())
    # A device without any notice (a fleet without provisioning, the demo): no lifecycle at all.
    write(_status("k9", "online", again), at=again)
    assert _rows(db, again)["k9"] == (None, True, None, ())


@pytest.mark.integration
@pytest.mark.slow
def test_decommission_and_revocation_reach_the_fleet_page(tmp_path: Path) -> None:
    clip = tmp_path / "clip.avi"
    clip.write_bytes(b"")  # decommission reads the configuration only; no camera is opened
    with FleetTestbed() as bed:
        bed.start_broker()
        bed.start_service()
        bundle = bed.backoffice_bundle("ingest-1")
        db_path = bed.root / "backoffice.sqlite"
        bed.spawn(
            "ingest",
            [str(BACKOFFICE), "ingest", "--broker", bed.fleet.settings.broker_url, "--identity", str(bundle),
             "--db", f"sqlite:///{db_path}", "--client-id", "backoffice-ingest-1"],
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while "connected with a new session" not in bed.process_text("ingest"):
            assert time.monotonic() < deadline, bed.process_text("ingest")
            time.sleep(0.1)
        # Each enrolment publishes the device's birth, then its retained status 'stopped'.
        k1 = bed.enrol("k1", "s1", "k1")
        bed.enrol("k2", "s1", "k2")
        bed.enrol("k3", "s1", "k3")
        config = write_config(tmp_path / "kiosk.toml", k1.root, tmp_path / "data", clip)
        done = subprocess.run(
            [str(PROVISION), "decommission", "--config", str(config), "--yes", "--json"],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert json.loads(done.stdout)["farewell"].startswith("told the back office")
        revoked = subprocess.run(
            [str(PROVISION), "revoke", "--fleet", str(bed.fleet_dir), "--device", "s1.k2",
             "--reason", "stolen"],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert revoked.returncode == 0 and "back office told" in revoked.stdout, (
            revoked.stdout + revoked.stderr
        )

        db = open_database(f"sqlite:///{db_path}")
        try:
            deadline = time.monotonic() + 20
            while True:
                stages = {
                    d.device_id: d.lifecycle for d in fleet(db, datetime.now(UTC), AlertSettings()).devices
                }
                if stages == {"k1": "decommissioned", "k2": "revoked", "k3": "active"}:
                    break
                assert time.monotonic() < deadline, f"{stages}; ingest: {bed.process_text('ingest')[-2000:]}"
                time.sleep(0.2)
            counters = {str(n): int(v) for n, v in db.query("SELECT name, value FROM ingest_counters")}
            assert counters.get("cleared") == 2 and "invalid_json" not in counters, counters
            assert counters.get("notices", 0) >= 4  # three enrolled, one revoked

            # The fleet page an hour later: k3 (stopped, in service) is offline; k1 and k2 raise nothing.
            clock = MovableClock(datetime.now(UTC) + timedelta(hours=1))
            app, _link = make_app(db, clock)
            client = sign_in(app, "viewer-user")
            page = client.get("/fleet")
            assert page.status_code == 200
            table = {r["device_id"]: r for r in page_tables(page.text)["devices"]}
            assert (table["k1"]["lifecycle"], table["k2"]["lifecycle"]) == ("decommissioned", "revoked")
            assert table["k2"]["lifecycle_reason"] == "stolen"
            data = client.get("/fleet.json").json()
            alerts = [(a["device_id"], a["kind"]) for a in data["tables"]["alerts"]["rows"]]
            assert alerts == [("k3", "offline")]
            csv = client.get("/fleet/devices.csv").text
            assert "decommissioned" in csv and "revoked" in csv
        finally:
            db.close()


def test_the_web_apps_live_link_forgets_a_cleared_status_and_birth() -> None:
    """The live subscription's zero-length status and birth (a device decommissioned) are cleared state,
    not refusals, and no longer override what the store says."""
    from backoffice.web.link import MqttKioskLink
    from mqtt_bridge.settings import BrokerSettings

    link = MqttKioskLink(BrokerSettings(), client_id="web-test", clock=lambda: T0, key=None)
    for topic, payload in (_status("k1", "stopped", T0), _birth("k1", T0)):
        link.handle(topic, payload)
    live = link.live_devices()[("s1", "k1")]
    assert live.status is not None and live.birth is not None
    link.handle(f"{PREFIX}/s1/k1/status", b"")
    link.handle(f"{PREFIX}/s1/k1/birth", b"")
    live = link.live_devices()[("s1", "k1")]
    assert (live.status, live.birth, link.cleared, link.refused) == (None, None, 2, 0)
