"""What the broker benchmarks (fleet_sim.py, ingest_throughput.py) share: the machine facts recorded with a
result, and writing the result out."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from mosquitto_broker import find_mosquitto


def mosquitto_version() -> str:
    """The first line of ``mosquitto -h`` (its version), or ``?``."""
    done = subprocess.run([find_mosquitto(), "-h"], capture_output=True, text=True, check=False)
    out = done.stdout or done.stderr
    return out.splitlines()[0] if out else "?"


def machine_facts(load_before: tuple[float, float, float]) -> dict[str, object]:
    """Python, platform, cores, the broker's version and the load average before and after the run."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "mosquitto": mosquitto_version(),
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
    }


def emit(result: dict[str, object], output: Path | None, as_json: bool) -> None:
    """Write ``result`` as JSON to ``output`` (when given) and print it with ``as_json``."""
    text = json.dumps(result, indent=2)
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text + "\n", encoding="utf-8")
    if as_json:
        print(text)
