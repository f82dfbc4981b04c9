"""What every benchmark here records with its result (the machine and its load), and writing the result."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path


def machine_facts(load_before: tuple[float, float, float], **extra: object) -> dict[str, object]:
    """Python, platform, cores, any ``extra`` facts, and the load average before and after the run."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        **extra,
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
