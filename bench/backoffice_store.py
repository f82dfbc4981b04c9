"""The back office's store at scale: fill it through the real ingest write path, time every report.

    python bench/backoffice_store.py --json                          # 1,000,000 events, SQLite and PostgreSQL
    python bench/backoffice_store.py --json --events 20000 --days 2  # a smoke run
    python bench/backoffice_store.py --json --output bench/results/backoffice_store.json

For each store (a SQLite file in a temporary folder; PostgreSQL in a schema made for the run and dropped
after it, ``--pg-url`` or ``postgresql://postgres@127.0.0.1:5432/test``, reported as skipped with the reason
where it does not answer):

1. **Fill**: ``--events`` kiosk events from ``--devices`` devices spread over ``--days`` days (visits with
   their offers shown, ended and sometimes tapped, feedback, health, staff calls, redemptions; plus a
   metrics payload per device every ``--metrics-every`` minutes), as ``EventBatch`` messages of ``--batch``
   events, in drained sets of ``--drain`` messages, each set validated by ``parse_messages`` and written
   by ``BackofficeStore.write`` (events, rollups, staff calls, latest health, in one transaction): the
   ingest's path without MQTT. A quarter of the staff calls are
   acknowledged and resolved through ``backoffice.staff_calls``.
2. **Ingest rate with rollups vs before**: ``--rate-events`` events (the first ones of the same stream)
   written into two fresh stores, one with today's write path and one with the write path of issue #14
   (events, devices and counters only: no rollups, staff calls or latest health).
3. **Reports**: every report function (the server-side work of each page), ``--repeat`` times each, over
   the whole range and every device, and for one store: median and largest milliseconds, against the
   300 ms target of a page (the HTTP side is the web application's bench).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_report import emit, machine_facts

from backoffice import reports, staff_calls
from backoffice.db import open_database
from backoffice.ingest import BackofficeStore, Parsed, open_store, parse_messages
from backoffice.reports.models import Filters
from backoffice.retention import run_retention
from backoffice.settings import AlertSettings, ReportSettings, RetentionSettings
from mqtt_bridge.contract.events import (
    Event,
    Feedback,
    Health,
    OfferEnded,
    OfferRedeemed,
    OfferShown,
    OfferTapped,
    StaffCall,
    ValenceMix,
    VisitEnded,
    VisitStarted,
)
from mqtt_bridge.contract.payloads import EventBatch, MetricsPayload

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
PREFIX = "vitrina/v1"
TARGET_MS = 300.0
OFFERS = [f"offer{i:02d}" for i in range(12)]


def _device(i: int) -> tuple[str, str]:
    return f"store{i // 5:02d}", f"kiosk{i:03d}"


def _mix(rng: random.Random) -> ValenceMix:
    return ValenceMix(
        negative_s=round(rng.uniform(0, 3), 1),
        neutral_s=round(rng.uniform(0, 8), 1),
        positive_s=round(rng.uniform(0, 4), 1),
    )


def _visit(rng: random.Random, store: str, device: str, ts: datetime, n: int) -> list[Event]:
    """One visit's events: started, one or two offers (shown, ended, sometimes tapped), sometimes
    feedback, a staff call or a redemption, then ended."""
    common: dict[str, Any] = {"store_id": store, "device_id": device, "ts": ts}
    visit = f"{device}-{n}"
    out: list[Event] = [VisitStarted(**common, visit_ref=visit, crowd_size=1)]
    last_offer = None
    for _ in range(rng.choice((1, 1, 2))):
        offer = rng.choice(OFFERS)
        arm = f"{offer}|{rng.choice(('neutral', 'positive'))}-{rng.choice(('short', 'long'))}"
        last_offer = offer
        out.append(
            OfferShown(**common, offer_id=offer, visit_ref=visit, reason="bandit", language="ru", arm=arm)
        )
        tapped = rng.random() < 0.15
        if tapped:
            out.append(OfferTapped(**common, offer_id=offer, visit_ref=visit, arm=arm))
        out.append(
            OfferEnded(
                **common,
                offer_id=offer,
                visit_ref=visit,
                arm=arm,
                shown_s=round(rng.uniform(2, 12), 1),
                attention_s=round(rng.uniform(0, 6), 1),
                attended=rng.random() < 0.5,
                tapped=tapped,
                valence_before=_mix(rng),
                valence_during=_mix(rng),
            )
        )
    roll = rng.random()
    if roll < 0.10:
        out.append(Feedback(**common, kind="csat", score=rng.randint(1, 5), visit_ref=visit))
    elif roll < 0.15:
        out.append(Feedback(**common, kind="nps", score=rng.randint(0, 10), visit_ref=visit))
    elif roll < 0.17:
        reason: Literal["negative_valence", "shopper_request"] = rng.choice(
            ("negative_valence", "shopper_request")
        )
        out.append(StaffCall(**common, reason=reason, zone="entrance", visit_ref=visit, offer_id=last_offer))
    elif roll < 0.19 and last_offer:
        out.append(OfferRedeemed(**common, offer_id=last_offer, code="ABCD-EFGH-JKLM-NPQR"))
    frustrated = rng.random() < 0.05
    dwell = round(rng.uniform(1, 60), 1)
    attention = round(rng.uniform(0, dwell), 1)
    out.append(
        VisitEnded(
            **common,
            visit_ref=visit,
            dwell_s=dwell,
            attention_s=attention,
            watcher=attention >= 2,
            glance=0 < attention < 2,
            valence=_mix(rng),
            frustrated=frustrated,
            frustrated_after=last_offer if frustrated else None,
        )
    )
    return out


def stream(
    n_events: int, devices: int, days: float, batch: int, metrics_every: timedelta, seed: int = 16
) -> Iterator[tuple[datetime, list[tuple[str, bytes]]]]:
    """``(receipt time, messages)`` of ``n_events`` events, in time order, ``batch`` events a message, with
    each device's health events and metrics payloads; deterministic for a seed."""
    rng = random.Random(seed)
    start = datetime(2026, 10, 1, tzinfo=UTC)
    span = timedelta(days=days)
    visits_needed = max(1, n_events // 7)
    step = span / visits_needed
    pending: dict[int, list[Event]] = {}
    next_metrics = [start] * devices
    produced, n = 0, 0
    while produced < n_events:
        ts = (start + step * n).replace(second=0, microsecond=0)
        d = rng.randrange(devices)
        store, device = _device(d)
        events = _visit(rng, store, device, ts, n)
        if n % 25 == 0:
            events.append(
                Health(
                    store_id=store,
                    device_id=device,
                    ts=ts,
                    fps=rng.uniform(8, 15),
                    inference_ms=rng.uniform(3, 9),
                    dropped_frames=n // 100,
                    camera_ok=rng.random() > 0.01,
                )
            )
        n += 1
        events = events[: n_events - produced]
        produced += len(events)
        pending.setdefault(d, []).extend(events)
        messages: list[tuple[str, bytes]] = []
        for i in range(devices):
            while next_metrics[i] <= ts:
                s, dev = _device(i)
                payload = MetricsPayload(
                    ts=next_metrics[i], uptime_s=1, outbox_depth=rng.randrange(5), outbox_bytes=100
                )
                messages.append((f"{PREFIX}/{s}/{dev}/metrics", payload.model_dump_json().encode()))
                next_metrics[i] += metrics_every
        if len(pending[d]) >= batch or produced >= n_events:
            for key in list(pending) if produced >= n_events else [d]:  # at the end: every device
                s, dev = _device(key)
                body = EventBatch(
                    batch_id=uuid.uuid4().hex,
                    store_id=s,
                    device_id=dev,
                    events=[e.model_dump(mode="json") for e in pending.pop(key)],
                )
                messages.append((f"{PREFIX}/{s}/{dev}/events", body.model_dump_json().encode()))
        if messages:
            yield ts + timedelta(seconds=2), messages


def drained(
    source: Iterator[tuple[datetime, list[tuple[str, bytes]]]], size: int
) -> Iterator[tuple[datetime, list[tuple[str, bytes]]]]:
    """The stream's messages in drained sets of at least ``size`` messages (one store transaction each, as
    a busy ingest drains its queue), received at the time of the set's last message."""
    pending: list[tuple[str, bytes]] = []
    for received, messages in source:
        pending += messages
        if len(pending) >= size:
            yield received, pending
            pending = []
    if pending:
        yield received, pending


class Clock:
    """The store's receipt clock, moved by the fill."""

    def __init__(self) -> None:
        self.now = datetime(2026, 10, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class Issue14Store(BackofficeStore):
    """The write path before issue #16: events, metrics, devices and counters; no rollups, staff calls or
    latest health."""

    def write(self, parsed: Parsed) -> int:
        now = self._clock()
        with self.db.transaction():
            new = self._insert_events(parsed.events, now)
            self.db.executemany(
                "INSERT INTO metrics (store_id, device_id, ts, payload) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (store_id, device_id, ts) DO NOTHING",
                [(s, d, p.ts, p.model_dump_json()) for s, d, p in parsed.metrics],
            )
            counts = {**parsed.counters, "events_new": len(new), "duplicates": len(parsed.events) - len(new)}
            self.db.executemany(
                "INSERT INTO ingest_counters (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = ingest_counters.value + excluded.value",
                [(k, v) for k, v in counts.items() if v],
            )
        return len(new)


def fill(
    store: BackofficeStore, clock: Clock, args: argparse.Namespace, limit: int | None = None
) -> dict[str, Any]:
    """Write the stream into ``store``; returns counts and rates."""
    n_events = limit or args.events
    written = metrics = 0
    parse_s = write_s = 0.0
    for received, messages in drained(
        stream(n_events, args.devices, args.days, args.batch, args.metrics_every), args.drain
    ):
        clock.now = received
        t0 = time.perf_counter()
        parsed = parse_messages(PREFIX, messages)
        t1 = time.perf_counter()
        store.write(parsed)
        t2 = time.perf_counter()
        parse_s, write_s = parse_s + t1 - t0, write_s + t2 - t1
        written += len(parsed.events)
        metrics += len(parsed.metrics)
    return {
        "events": written,
        "metrics_payloads": metrics,
        "parse_s": round(parse_s, 2),
        "write_s": round(write_s, 2),
        "events_per_s": round(written / (parse_s + write_s), 1),
        "write_events_per_s": round(written / write_s, 1),
    }


def _move_calls(store: BackofficeStore) -> int:
    db = store.db
    calls = staff_calls.list_calls(db, states=("open",), limit=10**9)
    moved = 0
    for i, call in enumerate(calls):
        if i % 4 == 0:
            staff_calls.acknowledge(
                db, call.call_id, "bench", call.raised_at + timedelta(seconds=40 + i % 90)
            )
            staff_calls.resolve(db, call.call_id, "bench", call.raised_at + timedelta(seconds=300))
            moved += 1
    return moved


def time_reports(store: BackofficeStore, args: argparse.Namespace) -> dict[str, Any]:
    """Every report, ``repeat`` times: median and largest ms."""
    db = store.db
    start = datetime(2026, 10, 1, tzinfo=UTC)
    end = start + timedelta(days=args.days + 1)
    everything = Filters(start=start, end=end, tz="Europe/Moscow")
    one_store = Filters(start=start, end=end, tz="Europe/Moscow", stores=("store00",))
    settings = ReportSettings()
    now = end
    store_id, device_id = _device(0)
    calls: dict[str, Callable[[], object]] = {
        "fleet": lambda: reports.fleet(db, now, AlertSettings()),
        "device_history": lambda: reports.device_history(db, store_id, device_id, everything, settings),
        "audience": lambda: reports.audience(db, everything, settings),
        "audience_one_store": lambda: reports.audience(db, one_store, settings),
        "offers": lambda: reports.offers(db, everything, settings),
        "mood": lambda: reports.mood(db, everything, settings),
        "frustration": lambda: reports.frustration(db, everything, settings),
        "feedback": lambda: reports.feedback(db, everything, settings),
        "staff_kpis": lambda: reports.staff_kpis(db, everything),
        "staff_calls_open": lambda: staff_calls.open_calls(db),
        "staff_calls_recent": lambda: staff_calls.list_calls(db, since=end - timedelta(days=1)),
        "staff_calls_due_escalations": lambda: staff_calls.due_escalations(db, now, 120),
        "retention_dry_run": lambda: run_retention(db, now, RetentionSettings(), dry_run=True),
    }
    out: dict[str, Any] = {}
    for name, call in calls.items():
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            call()
            times.append((time.perf_counter() - t0) * 1000)
        out[name] = {"median_ms": round(statistics.median(times), 2), "max_ms": round(max(times), 2)}
    return out


def run_store(name: str, url_for: Callable[[str], Any], args: argparse.Namespace) -> dict[str, Any]:
    """Fill, rate and reports on one kind of store."""
    result: dict[str, Any] = {}
    with url_for("main") as url:
        clock = Clock()
        store = open_store(url, clock=clock)
        try:
            result["fill"] = fill(store, clock, args)
            result["fill"]["staff_calls_moved"] = _move_calls(store)
            result["reports"] = time_reports(store, args)
            result["over_target"] = [k for k, v in result["reports"].items() if v["median_ms"] > TARGET_MS]
            if name == "sqlite":
                path = Path(url.removeprefix("sqlite:///"))
                result["db_bytes"] = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
        finally:
            store.close()
    rate: dict[str, Any] = {"events": min(args.rate_events, args.events)}
    for label, cls in (("with_rollups", BackofficeStore), ("issue_14", Issue14Store)):
        with url_for(label) as url:
            clock = Clock()
            store = cls(open_database(url), clock=clock)
            try:
                figures = fill(store, clock, args, limit=rate["events"])
                rate[f"{label}_events_per_s"] = figures["events_per_s"]
                rate[f"{label}_write_events_per_s"] = figures["write_events_per_s"]
            finally:
                store.close()
    rate["write_slowdown"] = round(
        rate["issue_14_write_events_per_s"] / rate["with_rollups_write_events_per_s"], 2
    )
    result["ingest_rate"] = rate
    return result


@contextmanager
def _sqlite(folder: Path, label: str) -> Iterator[str]:
    yield f"sqlite:///{folder / f'backoffice-{label}.sqlite'}"


@contextmanager
def _postgres(base: str, label: str) -> Iterator[str]:
    import psycopg

    schema = f"bench_store_{label}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
        try:
            yield f"{base}?options=-csearch_path%3D{schema}"
        finally:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


def _postgres_problem(url: str) -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install 'psycopg[binary,pool]')"
    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        return f"no PostgreSQL at {url}: {str(exc).strip()}"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000, help="Events to fill each store with.")
    parser.add_argument("--devices", type=int, default=50, help="Devices (5 a store).")
    parser.add_argument("--days", type=float, default=30.0, help="Days the events are spread over.")
    parser.add_argument("--batch", type=int, default=200, help="Events a message (the outbox's batch).")
    parser.add_argument(
        "--metrics-every", type=float, default=15.0, help="Minutes between a device's metrics payloads."
    )
    parser.add_argument("--drain", type=int, default=50, help="Messages a store transaction (a drained set).")
    parser.add_argument("--rate-events", type=int, default=100_000, help="Events of the ingest-rate runs.")
    parser.add_argument("--repeat", type=int, default=5, help="Times each report is timed.")
    parser.add_argument("--pg-url", default=PG_URL, help="PostgreSQL server to make a schema in.")
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
        "batch": args.batch,
        "drain": args.drain,
        "metrics_every_min": args.metrics_every.total_seconds() / 60,
        "target_ms": TARGET_MS,
    }
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        result["sqlite"] = run_store("sqlite", lambda label: _sqlite(Path(tmp), label), args)
    problem = "--no-postgres" if args.no_postgres else _postgres_problem(args.pg_url)
    if problem:
        result["postgresql"] = {"skipped": problem}
    else:
        result["postgresql"] = run_store("postgresql", lambda label: _postgres(args.pg_url, label), args)
    result["machine"] = machine_facts(load)
    emit(result, args.output, args.json)


if __name__ == "__main__":
    main()
