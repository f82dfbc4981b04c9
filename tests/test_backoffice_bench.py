"""The back-office store benchmark runs end to end and reports JSON; no speed is asserted here (that is
the bench's job, on a quiet machine)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.integration
def test_backoffice_store_bench_reports_every_report(repo_root: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(repo_root / "bench" / "backoffice_store.py"),
            *("--json", "--events", "1500", "--days", "1", "--rate-events", "500", "--repeat", "1"),
        ],
        capture_output=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    report = json.loads(result.stdout)
    sqlite = report["sqlite"]
    assert sqlite["fill"]["events"] == 1500 and sqlite["fill"]["metrics_payloads"] > 0
    assert {"fleet", "audience", "offers", "mood", "frustration", "feedback", "staff_kpis"} <= set(
        sqlite["reports"]
    )
    assert all(v["median_ms"] > 0 for v in sqlite["reports"].values())
    assert (
        sqlite["ingest_rate"]["with_rollups_events_per_s"] > 0
        and sqlite["ingest_rate"]["issue_14_events_per_s"] > 0
    )
    assert "skipped" in report["postgresql"] or report["postgresql"]["fill"]["events"] == 1500
