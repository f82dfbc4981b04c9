"""bench/chat_roundtrip.py runs end to end (a real broker, the whole kiosk with its screen) and reports
JSON; no speed is asserted here (that is the bench's job, on a quiet machine)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.integration
def test_chat_roundtrip_bench_reports_json(repo_root: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(repo_root / "bench" / "chat_roundtrip.py"), "--json", "--messages", "3"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["messages_shown"] == result["messages_asked"] == 3
    assert 0 < result["latency_ms_min"] <= result["latency_ms_p50"] <= result["latency_ms_max"]
    assert {"loadavg_before", "cpus"} <= set(result["machine"])
