"""The 500-kiosk target: the fleet publishing at its normal rate while the web application serves its pages.

    python bench/fleet_load.py --json                                  # 500 kiosks x 1 event/s x 300 s
    python bench/fleet_load.py --kiosks 50 --seconds 60 --page-every 2 # a quick look
    python bench/fleet_load.py --json --output bench/results/fleet_load.json
    python bench/fleet_load.py --json --db postgresql://postgres@127.0.0.1:5432/test   # into PostgreSQL

Issue #16: "500 simulated kiosks publishing at their normal rate: ingest keeps up, pages stay under target
(300 ms server time)". The fleet is bench/fleet_sim.py's, unchanged (real ``DeviceSync`` outboxes, a private
Mosquitto, two ingest consumers as child processes into one store: a SQLite file, or a schema made for the
run on the PostgreSQL server ``--db`` names); its options are the same. Beside it, in this process, the web
application (``create_app``, as bench/backoffice_pages.py makes it: no broker, no background tasks, signed
in as an admin) reads the same store while the consumers write it: every ``--page-every`` seconds, from the
moment the kiosks start producing until every kiosk has drained its outbox, it requests every page, two
pages' JSON and two tables' CSV (bench/backoffice_pages.py's list) over today's range, one after the other.

Reported, besides everything fleet_sim reports:

- ``pages``: per page, the requests made, the median, p95 and largest server time (the request in this
  process: routing, session, reports, rendering; no network) in milliseconds, ``p95_within_target`` and
  ``max_within_target`` against 300 ms, its size and any response that was not a 200 (``errors``);
  ``audience_visits_by_round``: the visits /audience.json's total showed in each round (a number, or
  ``"< 5"`` under k), which shows the pages reading the store while it fills;
- the ingest: ``latency_s`` (the kiosk's hand-off to ``received_at``, p50 / p95 / max), ``latency_by_third_s``
  and ``kept_up`` (the last third's median lag not above the first third's by more than
  ``--lag-tolerance`` + 50 ms: no growing backlog), ``store_drain_s``.

Exit status 0 when fleet_sim's checks pass (nothing lost or doubled, everything drained, every consumer
took a share) and every page answered 200; the targets are figures to read, not checks.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fleet_sim
from backoffice_pages import PAGE_TARGET_MS, admin_client, page_paths
from bench_report import emit
from fastapi.testclient import TestClient

from backoffice.db import Database, open_database
from backoffice.web.app import migrate_store


@dataclass
class PageTimes:
    """What one page's requests took, in milliseconds, and what came back."""

    ms: list[float] = field(default_factory=list)
    bytes: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.ms)
        p95 = fleet_sim.percentile(ordered, 0.95) if ordered else float("nan")
        largest = ordered[-1] if ordered else float("nan")
        return {
            "requests": len(ordered),
            "median_ms": round(statistics.median(ordered), 1) if ordered else None,
            "p95_ms": round(p95, 1) if ordered else None,
            "max_ms": round(largest, 1) if ordered else None,
            "p95_within_target": bool(ordered) and p95 <= PAGE_TARGET_MS,
            "max_within_target": bool(ordered) and largest <= PAGE_TARGET_MS,
            "bytes": self.bytes,
            "errors": self.errors[:5],
            "error_count": len(self.errors),
        }


class PageLoad:
    """The web application beside the fleet (a :class:`fleet_sim.Alongside`): from ``start`` to ``stop``, a
    round of every page every ``every_s`` seconds, timed, on the store the consumers write."""

    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        self.times: dict[str, PageTimes] = {}
        self.rounds = 0
        self.round_s: list[float] = []
        #: What /audience.json's total showed for visits in each round (a number, or "< k"): the pages
        #: read the store the consumers are writing.
        self.visits_by_round: list[Any] = []
        self._t0 = 0.0
        self._db: Database | None = None
        self._client: TestClient | None = None
        self._paths: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pages", daemon=True)

    def prepare(self, db_url: str) -> None:
        """The web application's own tables and an admin, before the consumers start writing."""
        self._db = open_database(db_url)
        migrate_store(self._db)
        self._client = admin_client(self._db, lambda: datetime.now(UTC))
        today = datetime.now(UTC).date()
        # Today's events in any display time zone: a day either side. The device page: the first kiosk.
        self._paths = page_paths(today - timedelta(days=1), today + timedelta(days=2), fleet_sim.kiosk_ids(0))
        self.times = {name: PageTimes() for name in self._paths}

    def start(self, t0: float) -> None:
        self._t0 = t0
        self._thread.start()

    def _run(self) -> None:
        assert self._client is not None
        self._stop.wait(max(0.0, self._t0 - time.time()))  # the kiosks' start
        next_round = time.monotonic()
        while not self._stop.is_set():
            began = time.monotonic()
            for name, path in self._paths.items():
                t0 = time.perf_counter()
                response = self._client.get(path)
                ms = (time.perf_counter() - t0) * 1000
                times = self.times[name]
                times.ms.append(ms)
                if response.status_code == 200:
                    times.bytes = len(response.content)
                    if name == "audience.json":
                        rows = response.json()["tables"]["total"]["rows"]
                        self.visits_by_round.append(rows[0]["visits"] if rows else None)
                else:
                    times.errors.append(f"{response.status_code} {response.text[:200]}")
            self.rounds += 1
            self.round_s.append(time.monotonic() - began)
            next_round += self.every_s
            self._stop.wait(max(0.0, next_round - time.monotonic()))

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(60)
        if self._db is not None:
            self._db.close()

    def report(self) -> dict[str, Any]:
        return {
            "page_every_s": self.every_s,
            "rounds": self.rounds,
            "round_s_max": round(max(self.round_s), 2) if self.round_s else None,
            "audience_visits_by_round": self.visits_by_round,
            "pages": {name: times.summary() for name, times in self.times.items()},
        }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = fleet_sim.build_parser(__doc__)
    parser.add_argument(
        "--page-every",
        type=float,
        default=5.0,
        help="Seconds between two rounds of every page (default 5; a round that takes longer is followed "
        "at once by the next).",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    load = PageLoad(args.page_every)
    fleet = fleet_sim.measure(args, load)
    pages = load.report()
    answered = all(p["error_count"] == 0 and p["requests"] > 0 for p in pages["pages"].values())
    result: dict[str, Any] = {
        **fleet,
        "benchmark": "fleet_load",
        "page_target_ms": PAGE_TARGET_MS,
        **pages,
        "fleet_ok": fleet["ok"],
        "pages_answered": answered,
        "ok": bool(fleet["ok"]) and answered,
    }
    emit(result, args.output, args.json)
    if not args.json:
        latency = result["latency_s"]
        print(
            f"{args.kiosks} kiosks x {args.seconds:g} s: sent {result['sent']}, stored {result['stored']}, "
            f"lost {result['lost']}; ingest lag p50 {latency['p50']:.3f} s p95 {latency['p95']:.3f} s "
            f"max {latency['max']:.3f} s, kept up: {result['kept_up']}; {pages['rounds']} rounds of pages"
        )
        for name, page in pages["pages"].items():
            times = f"median {page['median_ms']} ms  p95 {page['p95_ms']} ms  max {page['max_ms']} ms"
            missed = "" if page["max_within_target"] else ", missed"
            print(f"  {name:<22} {times}  (target {PAGE_TARGET_MS:g} ms{missed})")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
