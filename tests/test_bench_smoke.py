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
