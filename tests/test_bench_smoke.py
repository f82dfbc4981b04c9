"""The outbox drain benchmark runs and reports JSON; no speed is asserted here (that is the bench's job)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from backoffice_fixture import PG_URL


@pytest.mark.integration
def test_outbox_drain_bench_reports_json(repo_root: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(repo_root / "bench" / "outbox_drain.py"), "--json", "--events", "2000"],
        capture_output=True,
        check=False,
        timeout=120,
    )
    report = json.loads(result.stdout)
    assert {"ratio", "lost", "duplicates", "outbox", "bare_paho_qos1"} <= report.keys()
    assert report["lost"] == 0 and report["bare_paho_qos1"]["lost"] == 0


@pytest.mark.integration
def test_fleet_sim_loses_and_doubles_nothing(repo_root: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(repo_root / "bench" / "fleet_sim.py"),
            *("--json", "--kiosks", "5", "--seconds", "3", "--workers", "2"),
        ],
        capture_output=True,
        check=False,
        timeout=120,
    )
    report = json.loads(result.stdout)
    assert report["sent"] == 15, result.stderr.decode()[-2000:]
    assert report["stored"] == 15
    assert report["lost"] == 0 and report["duplicates"] == 0 and report["unexpected"] == 0
    assert len(report["consumers"]) == 2 and all(c["events"] > 0 for c in report["consumers"])
    assert report["devices_with_birth"] == 5
    assert result.returncode == 0


@pytest.mark.integration
def test_ingest_throughput_bench_is_idempotent(repo_root: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(repo_root / "bench" / "ingest_throughput.py"),
            *("--json", "--events", "600", "--events-per-message", "1", "50"),
        ],
        capture_output=True,
        check=False,
        timeout=180,
    )
    report = json.loads(result.stdout)
    runs = report["sqlite"]
    if isinstance(report["postgresql"], list):
        runs = runs + report["postgresql"]
    else:
        assert "skipped" in report["postgresql"]
    assert [r["events_per_message"] for r in report["sqlite"]] == [1, 50]
    for run in runs:
        assert run["stored"] == 600 and run["lost"] == 0, run
        assert run["stored_again"] == 0 and run["duplicates_counted"] >= 600, run
        assert run["events_per_s"] > 0
    assert result.returncode == 0


def _postgres_or_skip() -> str:
    """The test server's URL (fleet_load makes its own schema there), or skip saying why."""
    psycopg = pytest.importorskip("psycopg", reason="psycopg 3 is not installed")
    try:
        psycopg.connect(PG_URL, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL on 127.0.0.1:5432 (database 'test', trust auth): {exc}")
    return PG_URL


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_fleet_load_serves_every_page_while_the_fleet_publishes(repo_root: Path, store: str) -> None:
    db = ["--db", _postgres_or_skip()] if store == "postgresql" else []
    result = subprocess.run(
        [
            sys.executable,
            str(repo_root / "bench" / "fleet_load.py"),
            *("--json", "--kiosks", "5", "--seconds", "8", "--workers", "2", "--page-every", "1", *db),
        ],
        capture_output=True,
        check=False,
        timeout=240,
    )
    report = json.loads(result.stdout)
    assert report["sent"] == 40 and report["lost"] == 0, result.stderr.decode()[-2000:]
    assert report["store"].startswith(store)
    pages = report["pages"]
    assert {"fleet", "device", "audience", "offers", "feedback", "staff", "audit", "users"} <= pages.keys()
    assert any(name.endswith(".json") for name in pages) and any(name.endswith(".csv") for name in pages)
    assert report["rounds"] >= 3  # every second while the kiosks produce and drain
    for page in pages.values():
        assert page["requests"] == report["rounds"] and page["error_count"] == 0, page
        assert 0 < page["median_ms"] <= page["p95_ms"] <= page["max_ms"] and page["bytes"] > 0
    # The pages read the store while the consumers fill it: the audience's visits appear (5: one a kiosk,
    # each kiosk's fifth event, at about 4 s).
    assert report["audience_visits_by_round"][-1] == 5
    thirds = [third["events"] for third in report["latency_by_third_s"]]
    assert sum(thirds) == 40 and min(thirds) > 0
    assert isinstance(report["kept_up"], bool) and report["latency_s"]["p50"] > 0
    assert report["ok"] and result.returncode == 0
