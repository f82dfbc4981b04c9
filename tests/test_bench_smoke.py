"""The outbox drain benchmark runs and reports JSON; no speed is asserted here (that is the bench's job)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


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
