"""The back office's pages at scale, and a staff-call acknowledgement's way to the kiosk.

    python bench/backoffice_pages.py --json          # 1,000,000 events, SQLite and PostgreSQL, 50 acks
    python bench/backoffice_pages.py --json --events 20000 --days 2 --acks 10   # a smoke run
    python bench/backoffice_pages.py --json --output bench/results/backoffice_pages.json

1. **Pages**: each store (a SQLite file; PostgreSQL in a schema made for the run and dropped after it,
   ``--pg-url``, skipped with the reason where it does not answer) is filled by bench/backoffice_store.py's
   ``fill`` (the ingest's write path: events, rollups, staff calls, latest health). The web application
   (``create_app``, in this process) serves every page, its JSON and one CSV to a signed-in admin
   ``--repeat`` times, over the whole range: the server time of each (the request in process: routing,
   session, reports, rendering; no network), median and largest milliseconds, against the 300 ms target.
2. **Acknowledgement to the kiosk**: a private Mosquitto; the web application with its real MQTT link
   (``MqttKioskLink``, signing with a fresh Ed25519 key); a kiosk's command side (``CommandBridge`` and
   ``CommandProcessor``, what a kiosk runs, verifying the signature). ``--acks`` staff calls are raised in
   the store and acknowledged through ``POST /staff/calls/<id>/ack`` as the browser's button does; the
   time from the request's start to the moment the kiosk has verified and applied the ``staff_ack`` is
   measured: p50, p95 and largest, against the 1 s target (p95).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import backoffice_store as store_bench
from bench_report import emit, machine_facts
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from mosquitto_broker import MosquittoBroker

from backoffice import staff_calls
from backoffice.db import Database, open_database
from backoffice.ingest import open_store
from backoffice.reports.models import LiveDevice
from backoffice.settings import AlertSettings, ReportSettings, RetentionSettings
from backoffice.web.app import create_app, migrate_store, settle_heap
from backoffice.web.link import MqttKioskLink, SentCommand, SentOperatorMessage
from backoffice.web.reports import Reports
from backoffice.web.settings import WebSettings
from backoffice.web.users import Users
from mqtt_bridge.commands import CommandBridge, CommandProcessor
from mqtt_bridge.contract.chat import OperatorChatMessage
from mqtt_bridge.contract.events import StaffCall
from mqtt_bridge.contract.payloads import CommandEnvelope, CommandResult
from mqtt_bridge.contract.topics import DeviceTopics
from mqtt_bridge.settings import BrokerSettings, CommandSettings
from mqtt_bridge.signing import public_key_text
from mqtt_bridge.transport import MqttTransport

PAGE_TARGET_MS = 300.0
ACK_TARGET_MS = 1000.0
PASSWORD = "bench password 2026"
FIRST_DAY = datetime(2026, 10, 1, tzinfo=UTC)


class NoLink:
    """The pages' bench needs no broker: a link that is never connected and holds no live state."""

    connected = False

    def live_devices(self) -> Mapping[tuple[str, str], LiveDevice]:
        return {}

    def send_staff_ack(self, store_id: str, device_id: str, call_id: str) -> SentCommand:
        raise NotImplementedError("the pages' bench acknowledges nothing")

    def command_result(self, command_id: str) -> CommandResult | None:
        return None

    def send_operator_message(
        self, store_id: str, device_id: str, message: OperatorChatMessage
    ) -> SentOperatorMessage:
        raise NotImplementedError("the pages' bench sends no chat message")

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


def signed_in(app: Any) -> TestClient:
    client = TestClient(app)
    client.get("/login")
    response = client.post(
        "/login",
        data={"username": "bench", "password": PASSWORD, "csrftoken": client.cookies.get("csrftoken") or ""},
        follow_redirects=False,
    )
    if response.status_code != 303:
        raise RuntimeError(f"cannot sign in: {response.status_code} {response.text[:200]}")
    return client


def page_paths(start: date, end: date, device: tuple[str, str] = ("store00", "kiosk000")) -> dict[str, str]:
    """Every page, two of them as JSON and two tables as CSV, over ``[start, end)``, by name; ``device``:
    the (store, device) whose page is asked for."""
    span = f"start={start.isoformat()}&end={end.isoformat()}"
    return {
        "fleet": "/fleet",
        "device": f"/fleet/{device[0]}/{device[1]}?{span}",
        "audience": f"/audience?{span}",
        "offers": f"/offers?{span}",
        "feedback": f"/feedback?{span}",
        "staff": f"/staff?{span}",
        "audit": "/audit",
        "users": "/users",
        "audience.json": f"/audience.json?{span}",
        "offers.json": f"/offers.json?{span}",
        "audience/by_hour.csv": f"/audience/by_hour.csv?{span}",
        "staff/kpi_by_hour.csv": f"/staff/kpi_by_hour.csv?{span}",
    }


def admin_client(db: Database, clock: Callable[[], datetime]) -> TestClient:
    """The web application on ``db`` (migrated already), as ``backoffice serve`` makes it but without a
    broker or background tasks, and a client signed in to it as an admin."""
    Users(db, clock).add("bench", PASSWORD, "admin")
    app = create_app(
        WebSettings(time_zone="Europe/Moscow", default_language="en"),
        db,
        Reports(db, ReportSettings(), AlertSettings()),
        NoLink(),
        clock,
        retention_settings=RetentionSettings(),
        background=False,
    )
    settle_heap()  # as backoffice serve does once its application is made
    return signed_in(app)


def time_pages(db: Database, args: argparse.Namespace) -> dict[str, Any]:
    """Every page ``--repeat`` times: median and largest server milliseconds."""
    now = FIRST_DAY + timedelta(days=args.days)
    client = admin_client(db, lambda: now)
    out: dict[str, Any] = {}
    end = (FIRST_DAY + timedelta(days=args.days)).date()
    for name, path in page_paths(FIRST_DAY.date(), end).items():
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            response = client.get(path)
            times.append((time.perf_counter() - t0) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"{path}: {response.status_code} {response.text[:300]}")
        out[name] = {
            "median_ms": round(statistics.median(times), 1),
            "max_ms": round(max(times), 1),
            "bytes": len(response.content),
            "within_target": max(times) <= PAGE_TARGET_MS,
        }
    return out


def run_store(
    name: str, url_for: Callable[[str], AbstractContextManager[str]], args: argparse.Namespace
) -> Any:
    """Fill one store and time its pages."""
    with url_for("pages") as url:
        clock = store_bench.Clock()
        store = open_store(url, clock=clock)
        try:
            t0 = time.perf_counter()
            filled = store_bench.fill(store, clock, args)
            filled["fill_s"] = round(time.perf_counter() - t0, 1)
            db = store.db
            migrate_store(db)
            return {"fill": filled, "pages": time_pages(db, args)}
        finally:
            store.close()


class KioskSide:
    """What a kiosk runs for commands: its transport, ``CommandBridge`` and ``CommandProcessor`` with the
    back office's public key; records when each staff_ack was applied."""

    def __init__(self, broker: BrokerSettings, public_key: str, topics: DeviceTopics) -> None:
        self.applied: dict[str, float] = {}
        settings = CommandSettings(public_keys=[public_key])
        processor = CommandProcessor(settings, {"staff_ack": self._apply}, lambda: datetime.now(UTC))
        self.transport = MqttTransport(broker, client_id="bench-kiosk")
        self.bridge = CommandBridge(self.transport, topics, processor)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _apply(self, envelope: CommandEnvelope) -> str:
        self.applied[str(envelope.args["call_id"])] = time.perf_counter()
        return "acknowledged"

    def _run(self) -> None:
        while not self._stop.is_set():
            self.bridge.step(0.01)

    def start(self) -> None:
        self.transport.start()
        self.transport.wait_connected(10)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.transport.stop()


def time_acks(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """``--acks`` acknowledgements, click to kiosk."""
    broker_process = MosquittoBroker(folder / "mosquitto", quiet=True)
    broker_process.start()
    db = open_database(f"sqlite:///{folder / 'acks.sqlite'}")
    try:
        migrate_store(db)
        Users(db, lambda: datetime.now(UTC)).add("bench", PASSWORD, "admin")
        broker = BrokerSettings(enabled=True, host=broker_process.host, port=broker_process.port)
        key = Ed25519PrivateKey.generate()
        topics = DeviceTopics(broker.topic_prefix, "s1", "k1")
        kiosk = KioskSide(broker, public_key_text(key), topics)
        kiosk.start()
        link = MqttKioskLink(broker, client_id="bench-web", clock=lambda: datetime.now(UTC), key=key)
        link.start()
        link.wait_connected(10)
        app = create_app(
            WebSettings(default_language="en"),
            db,
            Reports(db, ReportSettings(), AlertSettings()),
            link,
            lambda: datetime.now(UTC),
            background=False,
        )
        client = signed_in(app)
        headers = {"x-csrftoken": client.cookies.get("csrftoken") or "", "hx-request": "true"}
        time.sleep(0.5)  # the kiosk's SUBACK
        latencies = []
        for i in range(args.acks):
            call_id = f"bench{i:04d}"
            staff_calls.record_events(
                db,
                [
                    StaffCall(
                        store_id="s1", device_id="k1", call_id=call_id, reason="shopper_request", zone="z"
                    )
                ],
                datetime.now(UTC),
            )
            t0 = time.perf_counter()
            response = client.post(f"/staff/calls/{call_id}/ack", headers=headers)
            if response.status_code != 200:
                raise RuntimeError(f"ack {call_id}: {response.status_code} {response.text[:200]}")
            deadline = time.monotonic() + 10
            while call_id not in kiosk.applied:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the kiosk never applied the staff_ack of {call_id}")
                time.sleep(0.001)
            latencies.append((kiosk.applied[call_id] - t0) * 1000)
        link.stop()
        kiosk.stop()
    finally:
        db.close()
        broker_process.stop()
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "acks": len(latencies),
        "p50_ms": round(statistics.median(ordered), 1),
        "p95_ms": round(p95, 1),
        "max_ms": round(ordered[-1], 1),
        "within_target": p95 <= ACK_TARGET_MS,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000, help="Events to fill each store with.")
    parser.add_argument("--devices", type=int, default=50, help="Devices (5 a store).")
    parser.add_argument("--days", type=float, default=30.0, help="Days the events are spread over.")
    parser.add_argument("--batch", type=int, default=200, help="Events a message (the outbox's batch).")
    parser.add_argument("--metrics-every", type=float, default=15.0, help="Minutes between metrics payloads.")
    parser.add_argument("--drain", type=int, default=50, help="Messages a store transaction.")
    parser.add_argument("--repeat", type=int, default=5, help="Times each page is timed.")
    parser.add_argument(
        "--acks", type=int, default=50, help="Staff-call acknowledgements timed to the kiosk."
    )
    parser.add_argument("--pg-url", default=store_bench.PG_URL, help="PostgreSQL server to make a schema in.")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only.")
    parser.add_argument("--json", action="store_true", help="Print the result as JSON.")
    parser.add_argument("--output", type=Path, help="Also write the JSON here.")
    args = parser.parse_args()
    args.metrics_every = timedelta(minutes=args.metrics_every)
    load = os.getloadavg()
    result: dict[str, Any] = {
        "events": args.events,
        "devices": args.devices,
        "days": args.days,
        "repeat": args.repeat,
        "page_target_ms": PAGE_TARGET_MS,
        "ack_target_ms": ACK_TARGET_MS,
    }
    with tempfile.TemporaryDirectory(prefix="bench-pages-") as tmp:
        result["sqlite"] = run_store("sqlite", lambda label: _sqlite(Path(tmp), label), args)
        problem = "--no-postgres" if args.no_postgres else store_bench._postgres_problem(args.pg_url)
        if problem:
            result["postgresql"] = {"skipped": problem}
        else:
            result["postgresql"] = run_store(
                "postgresql", lambda label: store_bench._postgres(args.pg_url, label), args
            )
        result["ack_to_kiosk"] = time_acks(args, Path(tmp))
    result["machine"] = machine_facts(load)
    emit(result, args.output, args.json)


def _sqlite(folder: Path, label: str) -> AbstractContextManager[str]:
    return store_bench._sqlite(folder, label)


if __name__ == "__main__":
    main()
