"""What the broker benchmarks (fleet_sim.py, ingest_throughput.py) share: the machine facts with the broker's
version, and writing the result out (:mod:`bench_report`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from bench_report import emit
from bench_report import machine_facts as _machine_facts
from mosquitto_broker import find_mosquitto

__all__ = ["emit", "machine_facts", "mosquitto_version"]


def mosquitto_version() -> str:
    """The first line of ``mosquitto -h`` (its version), or ``?``."""
    done = subprocess.run([find_mosquitto(), "-h"], capture_output=True, text=True, check=False)
    out = done.stdout or done.stderr
    return out.splitlines()[0] if out else "?"


def machine_facts(load_before: tuple[float, float, float]) -> dict[str, object]:
    """Python, platform, cores, the broker's version and the load average before and after the run."""
    return _machine_facts(load_before, mosquitto=mosquitto_version())
