"""The fault suite's runner itself (tests/faults): one cheap row through ``python -m tests.faults``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]


def test_a_row_runs_through_the_runner_and_reports_json(tmp_path: Path) -> None:
    out = tmp_path / "faults.json"
    done = subprocess.run(
        [sys.executable, "-m", "tests.faults", "--only", "config-misspelt", "--json", str(out)],
        cwd=REPO,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
    assert "config-misspelt  ok" in done.stdout.decode()
    rows = json.loads(out.read_text())["rows"]
    assert [(r["name"], r["ok"], r["counts"]) for r in rows] == [("config-misspelt", True, None)]


def test_an_unknown_row_is_refused_with_the_fix() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.faults", "--only", "no-such-row"],
        cwd=REPO,
        check=False,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 2 and b"--list shows the rows" in done.stderr
