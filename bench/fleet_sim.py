"""Fleet simulation: N kiosks, each with its own durable outbox, through one broker into two consumers.

    python bench/fleet_sim.py --json                                   # 500 kiosks x 1 event/s x 300 s
    python bench/fleet_sim.py --kiosks 50 --seconds 30                 # a quick look
    python bench/fleet_sim.py --json --output bench/results/fleet_sim.json
    python bench/fleet_sim.py --json --db postgresql://postgres@127.0.0.1:5432/test   # into PostgreSQL

A private Mosquitto is started for the run (never 127.0.0.1:1883). Two ingest consumers
(:class:`backoffice.ingest.Ingest`, as ``backoffice ingest`` runs it) are started as child processes in the
same MQTT 5 shared-subscription group, both writing into one back-office store: a SQLite file (WAL) in the
run's temporary folder, or with ``--db postgresql://...`` a schema made on that server for the run and
dropped after it. The kiosks
are spread over ``--workers`` child processes; each kiosk is a real :class:`cloud_sync.device.DeviceSync`
with its own MQTT client id and connection, its own SQLite outbox file (``synchronous=FULL``, the kiosk
default), its retained status, birth certificate and metrics, and it commits ``--rate`` real kiosk events a
second (visits, offers shown and tapped, feedback, health, now and then a staff call), staggered over the
second. One thread a worker steps the kiosks' outbox publishers (:class:`Pump`) instead of one thread a
kiosk, which is what makes 500 kiosks fit on a small machine.

At the end every worker waits until its outboxes are drained (every batch acknowledged by the broker), the
back office is waited on until it holds every committed event (or ``--drain-timeout`` passes), and then:

- ``sent``: events committed to the kiosks' outboxes; ``stored``: distinct events in the back office;
- ``lost``: committed but not stored; ``unexpected``: stored but never committed (both must be 0);
- ``duplicates``: rows stored more than once (``count(*) - count(distinct event_id)``; the primary key
  makes it 0 unless the store is broken) and ``redeliveries_absorbed``: events the ingest received again
  and ignored (its ``duplicates`` counter);
- ``consumers``: each consumer's share of messages and events (both must have taken a share);
- ``latency_s``: from the kiosk handing an event to its outbox to the back office committing it
  (``received_at``), p50 / p95 / max, on one machine's clock;
- ``latency_by_third_s`` and ``kept_up``: the same latency for the events handed over in each third of
  the production window; the ingest kept up when the last third's median is not above the first third's
  by more than ``--lag-tolerance`` (a fraction) plus 50 ms (the outbox publisher's and the ingest's own
  polling). A backlog that grows makes every later event wait longer, so the last third's lag climbs;
- ``store_drain_s``: from the end of the production window until the last committed event was stored;
- ``cpu_cores``: CPU seconds over the run's wall time for the broker, each consumer and the kiosk workers.

Exit status 0 when nothing was lost, nothing doubled, everything drained and every consumer took a share.

bench/fleet_load.py runs this fleet with the web application serving its pages beside it
(:class:`Alongside`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import backoffice_store as store_bench
from broker_bench import emit, machine_facts
from mosquitto_broker import MosquittoBroker

from backoffice.db import Database, as_datetime, open_database
from backoffice.ingest import Ingest, Parsed, Store, open_store
from backoffice.settings import IngestSettings
from cloud_sync.device import DeviceSync
from cloud_sync.settings import AnonymisationSettings, OutboxSettings
from mqtt_bridge.contract.events import (
    Event,
    Feedback,
    Health,
    OfferShown,
    OfferTapped,
    StaffCall,
    VisitEnded,
    VisitStarted,
)
from mqtt_bridge.contract.payloads import BirthPayload
from mqtt_bridge.contract.topics import DeviceTopics
from mqtt_bridge.settings import BrokerSettings

PREFIX = "vitrina/v1"
SHARE_GROUP = "fleet-sim"
KIOSKS_PER_STORE = 10
#: Lag below this is noise (the outbox publisher's 5 ms steps, the ingest's drain wait), not a backlog.
LAG_SLACK_S = 0.05


def kiosk_ids(k: int) -> tuple[str, str]:
    """The store and device id of kiosk ``k``."""
    return f"store{k // KIOSKS_PER_STORE:03d}", f"kiosk{k:04d}"


class Alongside(Protocol):
    """Work run beside the fleet (bench/fleet_load.py: the web application serving its pages)."""

    def prepare(self, db_url: str) -> None:
        """The store exists (every table made); no consumer has started yet."""

    def start(self, t0: float) -> None:
        """The kiosks start producing at ``t0`` (epoch seconds)."""

    def stop(self) -> None:
        """Every kiosk worker has finished (produced and drained its outboxes)."""


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a running process, from /proc (Linux); 0.0 where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    """User + system CPU seconds of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def broker_settings(port: int) -> BrokerSettings:
    return BrokerSettings(enabled=True, host="127.0.0.1", port=port, topic_prefix=PREFIX)


def wait_for_file(path: Path, timeout_s: float, processes: Sequence[subprocess.Popen[bytes]] = ()) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        for process in processes:
            if process.poll() is not None:
                raise RuntimeError(f"a child process exited with {process.returncode} before {path.name}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{path} did not appear within {timeout_s} s")
        time.sleep(0.05)


def write_json(path: Path, data: object) -> None:
    """Write ``data`` as JSON atomically (the reader polls for the file)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    tmp.replace(path)


# -- consumer processes ---------------------------------------------------------------------------------


class CountingStore:
    """A store that counts what this consumer wrote (the store's own counters are shared by all)."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.events = 0
        self.events_new = 0
        self.transactions = 0

    def write(self, parsed: Parsed) -> int:
        new = self.inner.write(parsed)
        self.events += len(parsed.events)
        self.events_new += new
        self.transactions += 1
        return new

    def event_ids(self) -> list[str]:
        return self.inner.event_ids()

    def counters(self) -> dict[str, int]:
        return self.inner.counters()

    def close(self) -> None:
        self.inner.close()


def run_consumer(args: argparse.Namespace) -> int:
    """One ingest consumer in the shared group; writes its report to ``--report`` on SIGTERM."""
    store = CountingStore(open_store(args.db))
    settings = IngestSettings(share_group=SHARE_GROUP, db_url=args.db)
    consumer = Ingest(broker_settings(args.port), settings, store, client_id=f"fleet-ingest-{args.index}")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    started = time.monotonic()
    consumer.start()
    consumer.transport.wait_connected(30)
    time.sleep(0.5)  # the SUBACKs
    write_json(Path(args.ready), {"pid": os.getpid()})
    consumer.run(stop)
    report = {
        "index": args.index,
        "messages": consumer.handled,
        "events": store.events,
        "events_new": store.events_new,
        "transactions": store.transactions,
        "dropped_inbound": consumer.transport.counters["dropped_inbound"],
        "cpu_s": own_cpu_s(),
        "wall_s": time.monotonic() - started,
    }
    store.close()
    write_json(Path(args.report), report)
    return 0


# -- kiosk worker processes -----------------------------------------------------------------------------


def kiosk_event(kiosk: int, n: int, store_id: str, device_id: str, rng: random.Random) -> Event:
    """The ``n``-th event of a kiosk: a plausible cycle of real kiosk events."""
    visit = f"{kiosk:04d}-{n // 6:06d}"
    step = n % 6
    if n % 97 == 96:
        return StaffCall(store_id=store_id, device_id=device_id, reason="shopper_request", zone="entrance")
    if step == 0:
        return VisitStarted(
            store_id=store_id, device_id=device_id, visit_ref=visit, distance_m=rng.uniform(0.5, 3.0)
        )
    if step == 1:
        return OfferShown(
            store_id=store_id,
            device_id=device_id,
            offer_id=f"o{rng.randrange(40)}",
            visit_ref=visit,
            reason="rules",
            language="ru",
        )
    if step == 2:
        return OfferTapped(
            store_id=store_id, device_id=device_id, offer_id=f"o{rng.randrange(40)}", visit_ref=visit
        )
    if step == 3:
        return Feedback(
            store_id=store_id, device_id=device_id, kind="csat", score=rng.randint(1, 5), visit_ref=visit
        )
    if step == 4:
        dwell = rng.uniform(2.0, 30.0)
        return VisitEnded(
            store_id=store_id,
            device_id=device_id,
            visit_ref=visit,
            dwell_s=dwell,
            attention_s=dwell / 2,
            watcher=dwell > 8,
            glance=dwell < 4,
        )
    return Health(
        store_id=store_id,
        device_id=device_id,
        fps=30.0,
        inference_ms=3.0,
        dropped_frames=0,
        camera_ok=True,
        queue_depths={"frames": 0},
    )


class Pump:
    """Runs the outbox publishers of a worker's kiosks in one thread.

    :meth:`DeviceSync.start` gives every kiosk its own publisher thread, which polls its outbox 50 times
    a second; 500 of those (1,500 threads with the transports') saturate a 2-core machine by themselves.
    Here each kiosk keeps its own outbox, publisher, transport and connection; one thread steps the
    publishers that have work (an event just committed, a batch in flight) and sweeps all of them once a
    second (resends, a publish that found the transport down). Metrics go out every ``metrics_s`` as
    DeviceSync sends them.
    """

    def __init__(self, devices: Sequence[DeviceSync], metrics_s: float = 60.0) -> None:
        self.devices = list(devices)
        self.dirty = [False] * len(self.devices)
        self.metrics_s = metrics_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pump", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def mark(self, index: int) -> None:
        """Kiosk ``index`` committed an event: step its publisher soon."""
        self.dirty[index] = True

    def _run(self) -> None:
        n = len(self.devices)
        next_metrics = [time.monotonic() + self.metrics_s * i / n for i in range(n)]
        next_sweep = time.monotonic() + 1.0
        while not self._stop.is_set():
            now = time.monotonic()
            sweep = now >= next_sweep
            if sweep:
                next_sweep = now + 1.0
            busy = 0
            for i, device in enumerate(self.devices):
                if sweep or self.dirty[i] or device.publisher.inflight:
                    self.dirty[i] = False  # cleared before the step: a commit during it marks it again
                    busy += device.publisher.step(0.0)
                if now >= next_metrics[i] and device.transport.connected:
                    next_metrics[i] = now + self.metrics_s
                    device.publish_metrics()
            if not busy:
                self._stop.wait(0.005)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


def run_worker(args: argparse.Namespace) -> int:
    """Kiosks ``--first`` .. ``--last - 1``: connect, wait for the go file, produce, drain, report."""
    folder = Path(args.folder)
    settings = broker_settings(args.port)
    birth = BirthPayload(software_version="fleet-sim", config_hash="0" * 64, ts=datetime.now(UTC))
    kiosks: list[tuple[int, DeviceTopics, DeviceSync]] = []
    for k in range(args.first, args.last):
        topics = DeviceTopics(PREFIX, *kiosk_ids(k))
        outbox = OutboxSettings(path=folder / f"outbox-{k:04d}.sqlite")
        kiosks.append((k, topics, DeviceSync(settings, topics, birth, outbox, AnonymisationSettings())))
    started = time.monotonic()
    for _, _, device in kiosks:
        device.transport.start()  # not device.start(): the Pump runs the publishers
    for _, _, device in kiosks:
        device.transport.wait_connected(120)
    pump = Pump([device for _, _, device in kiosks])
    pump.start()
    write_json(Path(args.ready), {"pid": os.getpid()})
    wait_for_file(Path(args.go), 600)
    t0 = json.loads(Path(args.go).read_text())["t0"]
    rng = random.Random(args.first)
    # Every kiosk commits at t0 + its offset + i / rate; the offsets spread the fleet over one period.
    period = 1.0 / args.rate
    per_kiosk = int(args.seconds * args.rate)
    schedule = sorted(
        (t0 + (k / args.kiosks) * period + i * period, k, i) for k, _, _ in kiosks for i in range(per_kiosk)
    )
    by_id = {k: (index, topics, device) for index, (k, topics, device) in enumerate(kiosks)}
    committed: list[tuple[str, float]] = []
    max_lag = 0.0
    for due, k, i in schedule:
        delay = due - time.time()
        if delay > 0:
            time.sleep(delay)
        else:
            max_lag = max(max_lag, -delay)
        index, topics, device = by_id[k]
        event = kiosk_event(k, i, topics.store_id, topics.device_id, rng)
        handed = time.time()
        if device.add([event]) == 1:
            committed.append((event.event_id, handed))
        pump.mark(index)
    produced_at = time.monotonic()
    deadline = produced_at + args.drain_timeout
    while not all(device.drained() for _, _, device in kiosks) and time.monotonic() < deadline:
        time.sleep(0.05)
    drain_s = time.monotonic() - produced_at
    undrained = sum(1 for _, _, device in kiosks if not device.drained())
    counters: dict[str, int] = {}
    for _, _, device in kiosks:
        for name, value in device.outbox.stats().counters.items():
            counters[name] = counters.get(name, 0) + value
    cpu_s = own_cpu_s()
    wall_s = time.monotonic() - started
    pump.stop()
    for _, _, device in kiosks:
        device.stop()
    write_json(
        Path(args.report),
        {
            "first": args.first,
            "last": args.last,
            "committed": committed,
            "max_producer_lag_s": max_lag,
            "drain_s": drain_s,
            "undrained_kiosks": undrained,
            "outbox_counters": counters,
            "cpu_s": cpu_s,
            "wall_s": wall_s,
        },
    )
    return 0


# -- the coordinator --------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of sorted ``values``, nearest rank."""
    if not values:
        return float("nan")
    return values[min(len(values) - 1, max(0, round(q * len(values)) - 1))]


def child(role: str, *extra: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--role", role, *extra]


def stop_process(process: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def store_count(db: Database) -> int:
    return int(db.scalar("SELECT count(*) FROM events"))


@contextlib.contextmanager
def store_url(args: argparse.Namespace, folder: Path) -> Iterator[str]:
    """The run's store: a SQLite file in ``folder``, or with ``--db postgresql://...`` a schema of its own
    on that server, dropped afterwards."""
    if args.db and args.db.startswith(("postgresql://", "postgres://")):
        problem = store_bench._postgres_problem(args.db)
        if problem:
            raise SystemExit(problem)
        with store_bench._postgres(args.db, "fleet") as url:
            yield url
    elif args.db:
        raise SystemExit(f"--db {args.db!r}: leave it out (a SQLite file in a temporary folder) or give a "
                         "postgresql://user@host/db URL")  # fmt: skip
    else:
        yield f"sqlite:///{folder / 'backoffice.sqlite'}"


def lag_by_third(
    committed: Sequence[tuple[str, float]], stored_at: dict[str, float], t0: float, seconds: float
) -> list[dict[str, float]]:
    """Hand-off-to-store latency of the events handed over in each third of ``[t0, t0 + seconds)``."""
    thirds: list[list[float]] = [[], [], []]
    for event_id, handed in committed:
        if event_id in stored_at:
            third = min(2, max(0, int(3 * (handed - t0) / seconds)))
            thirds[third].append(stored_at[event_id] - handed)
    out = []
    for lags in thirds:
        lags.sort()
        out.append(
            {
                "events": len(lags),
                "p50": percentile(lags, 0.50),
                "p95": percentile(lags, 0.95),
                "max": lags[-1] if lags else float("nan"),
            }
        )
    return out


def kept_up(thirds: Sequence[dict[str, float]], tolerance: float) -> bool:
    """No growing backlog: the last third's median lag within ``tolerance`` (+ :data:`LAG_SLACK_S`) of the
    first third's."""
    first, last = thirds[0]["p50"], thirds[-1]["p50"]
    return bool(last <= first * (1 + tolerance) + LAG_SLACK_S)


def run_fleet(
    args: argparse.Namespace,
    folder: Path,
    progress: Callable[[str], None],
    db_url: str,
    alongside: Alongside | None = None,
) -> dict[str, object]:
    """Run the fleet into the store at ``db_url`` (made here), with ``alongside`` run beside it."""
    broker = MosquittoBroker(folder / "broker", quiet=True)
    broker.start()
    open_store(db_url).close()  # the schema, made once before two processes race to it
    db = open_database(db_url)
    consumers: list[subprocess.Popen[bytes]] = []
    workers: list[subprocess.Popen[bytes]] = []
    started_alongside = False
    try:
        port = str(broker.port)
        broker_cpu0 = proc_cpu_s(broker.pid)
        if alongside is not None:
            alongside.prepare(db_url)
        for c in range(args.consumers):
            consumers.append(
                subprocess.Popen(
                    child(
                        "consumer",
                        *("--port", port, "--db", db_url, "--index", str(c)),
                        *("--ready", str(folder / f"consumer-{c}.ready")),
                        *("--report", str(folder / f"consumer-{c}.json")),
                    )
                )
            )
        for c in range(args.consumers):
            wait_for_file(folder / f"consumer-{c}.ready", 60, consumers)
        bounds = [round(w * args.kiosks / args.workers) for w in range(args.workers + 1)]
        kiosk_folder = folder / "kiosks"
        kiosk_folder.mkdir()
        go = folder / "go.json"
        for w in range(args.workers):
            workers.append(
                subprocess.Popen(
                    child(
                        "worker",
                        *("--port", port, "--folder", str(kiosk_folder), "--kiosks", str(args.kiosks)),
                        *("--first", str(bounds[w]), "--last", str(bounds[w + 1])),
                        *("--rate", str(args.rate), "--seconds", str(args.seconds)),
                        *("--drain-timeout", str(args.drain_timeout), "--go", str(go)),
                        *("--ready", str(folder / f"worker-{w}.ready")),
                        *("--report", str(folder / f"worker-{w}.json")),
                    )
                )
            )
        connect_t0 = time.monotonic()
        for w in range(args.workers):
            wait_for_file(folder / f"worker-{w}.ready", 300, workers)
        connect_s = time.monotonic() - connect_t0
        progress(f"{args.kiosks} kiosks connected in {connect_s:.1f} s; producing for {args.seconds} s")
        t0 = time.time() + 1.0
        write_json(go, {"t0": t0})
        if alongside is not None:
            alongside.start(t0)
            started_alongside = True
        run_t0 = time.monotonic()
        while any(w.poll() is None for w in workers):
            time.sleep(1.0)
            elapsed = time.time() - t0
            if elapsed > 0:
                progress(
                    f"t={min(elapsed, args.seconds):5.0f}/{args.seconds:g} s  stored {store_count(db):>8}"
                    + ("  (draining)" if elapsed > args.seconds else "")
                )
        if alongside is not None:
            alongside.stop()
            started_alongside = False
        produce_s = time.monotonic() - run_t0
        reports = [json.loads((folder / f"worker-{w}.json").read_text()) for w in range(args.workers)]
        committed = [(str(e), float(t)) for r in reports for e, t in r["committed"]]
        sent = len(committed)
        deadline = time.monotonic() + args.drain_timeout
        while store_count(db) < sent and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)  # late redeliveries
        wall_s = time.monotonic() - run_t0
        broker_cpu_s = proc_cpu_s(broker.pid) - broker_cpu0
    finally:
        if started_alongside and alongside is not None:
            alongside.stop()
        for process in workers + consumers:
            stop_process(process)
        broker.stop()
    consumer_reports = [
        json.loads((folder / f"consumer-{c}.json").read_text()) for c in range(args.consumers)
    ]
    try:
        rows = db.query("SELECT event_id, received_at FROM events")
        counters = {str(n): int(v) for n, v in db.query("SELECT name, value FROM ingest_counters")}
        devices = int(db.scalar("SELECT count(*) FROM devices WHERE birth IS NOT NULL"))
    finally:
        db.close()
    stored_at: dict[str, float] = {}
    for event_id, received_at in rows:
        received = as_datetime(received_at)
        assert received is not None  # NOT NULL
        stored_at[str(event_id)] = received.timestamp()
    sent_ids = {e for e, _ in committed}
    latencies = sorted(stored_at[e] - t for e, t in committed if e in stored_at)
    thirds = lag_by_third(committed, stored_at, t0, args.seconds)
    # The newest receipt among the committed events, after the production window closed.
    last_stored = max((stored_at[e] for e in sent_ids if e in stored_at), default=t0 + args.seconds)
    store_drain_s = max(0.0, last_stored - (t0 + args.seconds))
    lost = len(sent_ids - stored_at.keys())
    total_events = sum(int(c["events"]) for c in consumer_reports)
    outbox_counters: dict[str, int] = {}
    for r in reports:
        for name, value in r["outbox_counters"].items():
            outbox_counters[name] = outbox_counters.get(name, 0) + int(value)
    worker_cpu = sum(float(r["cpu_s"]) for r in reports)
    return {
        "sent": sent,
        "stored": len(stored_at),
        "lost": lost,
        "unexpected": len(stored_at.keys() - sent_ids),
        "duplicates": len(rows) - len(stored_at),
        "redeliveries_absorbed": counters.get("duplicates", 0),
        "events_per_s": sent / args.seconds,
        "devices_with_birth": devices,
        "connect_s": connect_s,
        "produce_and_drain_s": produce_s,
        "wall_s": wall_s,
        "max_producer_lag_s": max(float(r["max_producer_lag_s"]) for r in reports),
        "device_drain_s_max": max(float(r["drain_s"]) for r in reports),
        "undrained_kiosks": sum(int(r["undrained_kiosks"]) for r in reports),
        "outbox_counters": outbox_counters,
        "ingest_counters": counters,
        "consumers": [
            {
                "index": c["index"],
                "messages": c["messages"],
                "events": c["events"],
                "share_of_events": c["events"] / total_events if total_events else 0.0,
                "transactions": c["transactions"],
                "dropped_inbound": c["dropped_inbound"],
                "cpu_cores": c["cpu_s"] / c["wall_s"],
            }
            for c in consumer_reports
        ],
        "latency_s": {
            "p50": percentile(latencies, 0.50),
            "p95": percentile(latencies, 0.95),
            "p99": percentile(latencies, 0.99),
            "max": latencies[-1] if latencies else float("nan"),
        },
        "latency_by_third_s": thirds,
        "lag_tolerance": args.lag_tolerance,
        "kept_up": kept_up(thirds, args.lag_tolerance),
        "store_drain_s": store_drain_s,
        "cpu_cores": {
            "broker": broker_cpu_s / wall_s,
            "consumers": [c["cpu_s"] / c["wall_s"] for c in consumer_reports],
            "kiosk_workers_total": worker_cpu / max(float(r["wall_s"]) for r in reports),
        },
    }


def build_parser(doc: str | None = __doc__) -> argparse.ArgumentParser:
    """The fleet's options (bench/fleet_load.py adds its own); ``doc``'s first line and examples make the
    help."""
    parser = argparse.ArgumentParser(
        description=doc.split("\n")[0] if doc else None,
        epilog="examples:\n" + "\n".join(line.strip() for line in (doc or "").splitlines()[2:6]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--kiosks", type=int, default=500, help="Simulated kiosks (default 500).")
    parser.add_argument("--seconds", type=float, default=300.0, help="Seconds of production (default 300).")
    parser.add_argument("--rate", type=float, default=1.0, help="Events a second a kiosk (default 1).")
    parser.add_argument("--consumers", type=int, default=2, help="Ingest consumers in the group (default 2).")
    parser.add_argument("--workers", type=int, default=4, help="Processes the kiosks are spread over (4).")
    parser.add_argument(
        "--drain-timeout", type=float, default=120.0, help="Seconds to wait for the drain (default 120)."
    )
    parser.add_argument(
        "--db",
        help="Store: leave out for a SQLite file in the run's temporary folder; postgresql://user@host/db "
        "makes a schema there for the run and drops it after.",
    )
    parser.add_argument(
        "--lag-tolerance",
        type=float,
        default=0.25,
        help="How much higher (a fraction) the last third's median lag may be than the first's and the "
        "ingest still counts as keeping up (default 0.25).",
    )
    parser.add_argument("--json", action="store_true", help="Print one JSON object (default: a summary).")
    parser.add_argument("--output", type=Path, help="Also write the JSON to this file.")
    parser.add_argument("--note", default="", help="Free text recorded with the result (e.g. the load).")
    parser.add_argument(
        "--role", choices=["fleet", "consumer", "worker"], default="fleet", help=argparse.SUPPRESS
    )
    for hidden in ("--ready", "--report", "--folder", "--go"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    for hidden in ("--port", "--index", "--first", "--last"):
        parser.add_argument(hidden, type=int, help=argparse.SUPPRESS)
    return parser


def progress(line: str) -> None:
    """One status line, rewritten in place on stderr."""
    print(f"\r{line:<78}", end="", file=sys.stderr, flush=True)


def measure(args: argparse.Namespace, alongside: Alongside | None = None) -> dict[str, object]:
    """Run the fleet in a temporary folder, into the store ``--db`` names, with ``alongside`` beside it;
    the result as this benchmark reports it (``ok``: nothing lost or doubled, everything drained, every
    consumer took a share)."""
    args.workers = max(1, min(args.workers, args.kiosks))
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="fleet-sim-") as tmp, store_url(args, Path(tmp)) as db_url:
        figures = run_fleet(args, Path(tmp), progress, db_url, alongside)
    print(file=sys.stderr)
    consumers = figures["consumers"]
    assert isinstance(consumers, list)
    ok = (
        figures["lost"] == 0
        and figures["duplicates"] == 0
        and figures["unexpected"] == 0
        and figures["undrained_kiosks"] == 0
        and all(c["events"] > 0 for c in consumers)
    )
    postgres = bool(args.db)
    return {
        "benchmark": "fleet_sim",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "kiosks": args.kiosks,
        "seconds": args.seconds,
        "rate_per_kiosk": args.rate,
        "consumers_configured": args.consumers,
        "workers": args.workers,
        "outbox_synchronous": OutboxSettings().synchronous,
        "store": "postgresql (one schema made for the run, shared by the consumers)"
        if postgres
        else "sqlite (one file, WAL, shared by the consumers)",
        **figures,
        "ok": ok,
        "note": args.note,
        "machine": machine_facts(load_before),
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.role == "consumer":
        return run_consumer(args)
    if args.role == "worker":
        return run_worker(args)
    result = measure(args)
    emit(result, args.output, args.json)
    if not args.json:
        latency, consumers = result["latency_s"], result["consumers"]
        assert isinstance(latency, dict) and isinstance(consumers, list)
        shares = ", ".join(f"{c['share_of_events']:.0%}" for c in consumers)
        print(
            f"{args.kiosks} kiosks x {args.seconds:g} s: sent {result['sent']}, stored {result['stored']}, "
            f"lost {result['lost']}, duplicates {result['duplicates']} "
            f"(redeliveries absorbed {result['redeliveries_absorbed']}), consumer shares {shares}, "
            f"latency p50 {latency['p50']:.3f} s p95 {latency['p95']:.3f} s, kept up: {result['kept_up']}"
        )
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
