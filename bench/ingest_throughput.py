"""Ingest throughput: a queued backlog through one back-office consumer into SQLite and into PostgreSQL.

    python bench/ingest_throughput.py --json                     # 10,000 events, 1 and 200 events a message
    python bench/ingest_throughput.py --events 50000 --events-per-message 200
    python bench/ingest_throughput.py --json --output bench/results/ingest_throughput.json

For each store and each message size: one :class:`backoffice.ingest.Ingest` consumer connects to a private
Mosquitto with a persistent session (plain subscription, as ``backoffice ingest --group ''``) and goes away;
a paho client publishes the backlog (real kiosk events in the outbox's wire format, ``EventBatch``, QoS 1)
and the broker queues it for the consumer. The consumer then comes back and the clock runs from its start
to the moment the store holds every event: MQTT delivery, validation, the store's transaction and the
manual PUBACK after it (``events_per_s``, target >= 5,000). Then the same backlog is published again and
drained the same way: nothing new may be stored and every event must be counted as a duplicate
(idempotent by ``event_id``; ``redelivery_events_per_s``).

PostgreSQL: ``postgresql://postgres@127.0.0.1:5432/test`` (trust auth) in a schema made for the run and
dropped after it, or ``--pg-url``; where it is not running (or psycopg is missing) the PostgreSQL phases are
reported as skipped with the reason, and the SQLite ones still run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from broker_bench import emit, machine_facts
from mosquitto_broker import MosquittoBroker

from backoffice.ingest import Ingest, Store, open_store
from backoffice.settings import IngestSettings
from mqtt_bridge.contract.events import Event, OfferShown, VisitEnded, VisitStarted
from mqtt_bridge.contract.topics import DeviceTopics
from mqtt_bridge.settings import BrokerSettings

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
PREFIX = "vitrina/v1"
DEVICES = 50


def backlog(n: int, per_message: int) -> list[tuple[str, bytes]]:
    """``n`` real kiosk events from ``DEVICES`` devices as ``(topic, EventBatch JSON)`` messages."""
    by_device: dict[int, list[Event]] = {}
    for i in range(n):
        d = i % DEVICES
        store_id, device_id, visit_ref = f"store{d // 10:02d}", f"kiosk{d:03d}", f"v{i // 3}"
        event: Event
        if i % 3 == 0:
            event = VisitStarted(store_id=store_id, device_id=device_id, visit_ref=visit_ref, distance_m=1.5)
        elif i % 3 == 1:
            event = OfferShown(
                store_id=store_id,
                device_id=device_id,
                visit_ref=visit_ref,
                offer_id="o1",
                reason="rules",
                language="ru",
            )
        else:
            event = VisitEnded(
                store_id=store_id,
                device_id=device_id,
                visit_ref=visit_ref,
                dwell_s=6.0,
                attention_s=3.0,
                watcher=False,
                glance=False,
            )
        by_device.setdefault(d, []).append(event)
    messages = []
    for events in by_device.values():
        topics = DeviceTopics(PREFIX, events[0].store_id, events[0].device_id)
        for start in range(0, len(events), per_message):
            chunk = events[start : start + per_message]
            body = ",".join(e.model_dump_json() for e in chunk)
            payload = (
                f'{{"schema_version":1,"batch_id":"{uuid.uuid4().hex}","store_id":"{topics.store_id}",'
                f'"device_id":"{topics.device_id}","events":[{body}]}}'
            )
            messages.append((topics.events, payload.encode()))
    return messages


def publish_all(broker: BrokerSettings, messages: Sequence[tuple[str, bytes]]) -> None:
    """Publish QoS 1 and wait for every PUBACK (at most 10,000 outstanding: paho's ids wrap at 65,535)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{uuid.uuid4().hex[:8]}")
    client.max_inflight_messages_set(100)
    client.max_queued_messages_set(0)
    client.connect(broker.host, broker.port)
    client.loop_start()
    window = 10_000
    infos: list[mqtt.MQTTMessageInfo] = []
    for i, (topic, payload) in enumerate(messages):
        if i >= window:
            infos[i - window].wait_for_publish(120)
        infos.append(client.publish(topic, payload, qos=1))
    for info in infos[-window:]:
        info.wait_for_publish(120)
    client.disconnect()
    client.loop_stop()


def consumer(broker: BrokerSettings, store: Store, client_id: str) -> Ingest:
    settings = IngestSettings(share_group=None, session_expiry_s=600, queue_size=10_000)
    return Ingest(broker, settings, store, client_id=client_id, kinds=("events",))


def drain(
    broker: BrokerSettings, store: Store, client_id: str, until: Callable[[], bool], timeout_s: float
) -> tuple[float, int]:
    """Run a consumer until ``until()``; returns the seconds from its start and the messages it dropped
    because its inbound queue was full (not acknowledged: the broker resends them only on a reconnect)."""
    ingest = consumer(broker, store, client_id)
    stop = threading.Event()
    thread = threading.Thread(target=ingest.run, args=(stop,), daemon=True)
    t0 = time.perf_counter()
    ingest.start()
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not until() and time.monotonic() < deadline:
        time.sleep(0.02)
    elapsed = time.perf_counter() - t0
    stop.set()
    thread.join(10)
    return elapsed, ingest.transport.counters["dropped_inbound"]


def phase(
    broker: BrokerSettings, store: Store, n: int, per_message: int, timeout_s: float
) -> dict[str, float]:
    messages = backlog(n, per_message)
    client_id = f"bench-ingest-{uuid.uuid4().hex[:8]}"
    # The session (and its subscription) exists before the backlog is published, so the broker queues it.
    ingest = consumer(broker, store, client_id)
    ingest.start()
    ingest.transport.wait_connected(10)
    time.sleep(0.5)  # the SUBACK
    ingest.transport.stop()
    before = store.counters()
    publish_all(broker, messages)
    elapsed, dropped = drain(
        broker, store, client_id, lambda: store.counters().get("events_new", 0) >= n, timeout_s
    )
    stored = store.counters().get("events_new", 0)
    publish_all(broker, messages)
    target = before.get("duplicates", 0) + n
    again, dropped_again = drain(
        broker, store, client_id, lambda: store.counters().get("duplicates", 0) >= target, timeout_s
    )
    after = store.counters()
    distinct = len(set(store.event_ids()))
    return {
        "events": n,
        "events_per_message": per_message,
        "messages": len(messages),
        "seconds": elapsed,
        "events_per_s": stored / elapsed,
        "stored": distinct,
        "lost": n - distinct,
        "dropped_inbound": dropped,
        "dropped_inbound_redelivery": dropped_again,
        "redelivery_seconds": again,
        "redelivery_events_per_s": (after.get("duplicates", 0) - before.get("duplicates", 0)) / again,
        "stored_again": after.get("events_new", 0) - stored,
        "duplicates_counted": after.get("duplicates", 0) - before.get("duplicates", 0),
    }


@contextmanager
def postgres_schema(url: str) -> Iterator[str]:
    """A schema of its own for the run, dropped afterwards; yields the URL that selects it."""
    import psycopg

    admin = psycopg.connect(url, autocommit=True, connect_timeout=3)
    schema = f"vitrina_bench_{uuid.uuid4().hex[:10]}"
    admin.execute(f"CREATE SCHEMA {schema}".encode())
    try:
        yield f"{url}?options=-csearch_path%3D{schema}"
    finally:
        admin.execute(f"DROP SCHEMA {schema} CASCADE".encode())
        admin.close()


def postgres_unavailable(url: str) -> str | None:
    """Why PostgreSQL cannot be used (None when it can)."""
    try:
        import psycopg
    except ImportError:
        return "psycopg 3 is not installed (pip install 'psycopg[binary]')"
    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        return f"no PostgreSQL at {url} (database 'test', trust auth): {str(exc).strip()}"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n")[0],
        epilog="examples:\n" + "\n".join(line.strip() for line in (__doc__ or "").splitlines()[2:5]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--events",
        type=int,
        default=10_000,
        help="Events a phase (default 10000: at one event a message, as many messages as the ingest's "
        "inbound queue holds; see dropped_inbound for what a bigger backlog does).",
    )
    parser.add_argument(
        "--events-per-message",
        type=int,
        nargs="+",
        default=[1, 200],
        help="Events in one MQTT message; one phase each (default 1 200: a kiosk publishing as it goes, "
        "and the outbox's full batch after an outage).",
    )
    parser.add_argument(
        "--stores",
        nargs="+",
        choices=["sqlite", "postgresql"],
        default=["sqlite", "postgresql"],
        help="Stores to measure (default both).",
    )
    parser.add_argument("--pg-url", default=PG_URL, help=f"PostgreSQL server (default {PG_URL}).")
    parser.add_argument("--timeout", type=float, default=300.0, help="Seconds a drain may take at most.")
    parser.add_argument("--json", action="store_true", help="Print one JSON object (default: a summary).")
    parser.add_argument("--output", type=Path, help="Also write the JSON to this file.")
    parser.add_argument("--note", default="", help="Free text recorded with the result (e.g. the load).")
    args = parser.parse_args(argv)
    results: dict[str, object] = {}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="ingest-bench-") as tmp:
        folder = Path(tmp)
        broker = MosquittoBroker(folder / "broker", quiet=True)
        broker.start()
        settings = BrokerSettings(enabled=True, host=broker.host, port=broker.port, topic_prefix=PREFIX)
        try:
            for kind in args.stores:
                skipped = postgres_unavailable(args.pg_url) if kind == "postgresql" else None
                if skipped:
                    results[kind] = {"skipped": skipped}
                    print(f"{kind}: skipped: {skipped}", file=sys.stderr)
                    continue
                runs: list[dict[str, float]] = []
                for per_message in args.events_per_message:
                    print(f"{kind}: {args.events} events, {per_message} a message ...", file=sys.stderr)
                    if kind == "sqlite":
                        store = open_store(f"sqlite:///{folder / f'backoffice-{per_message}.sqlite'}")
                        runs.append(phase(settings, store, args.events, per_message, args.timeout))
                        store.close()
                    else:
                        with postgres_schema(args.pg_url) as url:
                            store = open_store(url)
                            runs.append(phase(settings, store, args.events, per_message, args.timeout))
                            store.close()
                results[kind] = runs
        finally:
            broker.stop()
    phases = [r for v in results.values() if isinstance(v, list) for r in v]
    ok = all(
        r["lost"] == 0 and r["stored_again"] == 0 and r["duplicates_counted"] >= r["events"] for r in phases
    )
    result = {
        "benchmark": "ingest_throughput",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        **results,
        "target_events_per_s": 5000,
        "ok": ok,
        "note": args.note,
        "machine": machine_facts(load_before),
    }
    emit(result, args.output, args.json)
    if not args.json:
        for kind, done in results.items():
            if not isinstance(done, list):
                continue
            for r in done:
                print(
                    f"{kind}, {r['events_per_message']} a message: {r['events_per_s']:.0f} events/s, "
                    f"redelivered {r['redelivery_events_per_s']:.0f} events/s, lost {r['lost']}, "
                    f"stored again {r['stored_again']}"
                )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
