"""bench/backoffice_pages.py runs end to end at a tiny size (the figures are the lead's, on a quiet one)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.integration
@pytest.mark.slow
def test_the_pages_bench_runs_at_a_tiny_size(tmp_path: Path) -> None:
    out = tmp_path / "pages.json"
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "backoffice_pages.py"), "--events", "2000", "--days", "1",
         "--repeat", "1", "--acks", "3", "--no-postgres", "--output", str(out)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    pages = result["sqlite"]["pages"]
    assert {"fleet", "device", "audience", "offers", "feedback", "staff", "audit", "users"} <= set(pages)
    assert all(p["median_ms"] > 0 and p["bytes"] > 0 for p in pages.values())
    assert result["ack_to_kiosk"]["acks"] == 3 and result["ack_to_kiosk"]["p95_ms"] > 0
    assert result["postgresql"] == {"skipped": "--no-postgres"}
