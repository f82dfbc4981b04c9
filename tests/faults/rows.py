"""The table of rows: a name, the fault in words, the function that makes it and checks the outcome."""

from __future__ import annotations

import os
import platform
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from . import check_rows, event_rows
from .event_rows import Outcome
from .report import RowResult, event_verdict


@dataclass(frozen=True)
class Row:
    """One row of the suite."""

    name: str
    fault: str
    run: Callable[[Path], Outcome]


ROWS: tuple[Row, ...] = (
    Row("kiosk-sigkill-x20", "device process SIGKILLed 20 times mid-stream", event_rows.kiosk_sigkill),
    Row("broker-stop-60s", "broker stopped 60 s while the device commits", event_rows.broker_stop),
    Row(
        "ingest-restart", "ingest SIGKILLed, restarted; stopped cleanly, restarted", event_rows.ingest_restart
    ),
    Row(
        "shared-group-restart",
        "both consumers of a shared group killed and restarted, then stopped and restarted",
        event_rows.shared_group_restart,
    ),
    Row(
        "disk-full", "outbox on a 16 MiB tmpfs filled while offline, then space returns", event_rows.disk_full
    ),
    Row(
        "clock-jumps",
        "wall clock jumps +1 d, -2 d, +45 d, -45 d, +13 h under the writer",
        event_rows.clock_jumps,
    ),
    Row("camera-vanishes", "camera file, folder and device (OpenCV seam) vanish", check_rows.camera_vanishes),
    Row("models-corrupt", "model files truncated and corrupted", check_rows.models_corrupt),
    Row("config-misspelt", "misspelt keys and sections in kiosk.toml", check_rows.config_misspelt),
    Row(
        "commands-unsigned",
        "unsigned and replayed staff_ack/maintenance over the broker, also after a restart",
        check_rows.commands_unsigned,
    ),
    Row("fuzz-1000", "1,000 fuzzed commands and 1,000 fuzzed payloads (hypothesis)", check_rows.fuzz),
)


def run_row(row: Row) -> RowResult:
    """Run one row in its own temporary folder; an exception makes the row red, with its message."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"vitrina-fault-{row.name}-") as tmp:
        try:
            outcome = row.run(Path(tmp))
        except Exception as exc:
            where = traceback.extract_tb(exc.__traceback__)[-1]
            message = " ".join(str(exc).split())
            note = f"{type(exc).__name__}: {message} ({Path(where.filename).name}:{where.lineno})"
            return RowResult(row.name, row.fault, False, None, None, note[:300], time.monotonic() - started)
    problems = list(outcome.problems)
    if outcome.counts is not None:
        problems = event_verdict(outcome.counts) + problems
    note = "; ".join(problems) if problems else outcome.note
    return RowResult(
        row.name,
        row.fault,
        not problems,
        outcome.counts,
        outcome.recovery_s,
        note,
        time.monotonic() - started,
    )


def machine_facts() -> dict[str, str]:
    """Date and machine, for the table's heading and docs/reliability.md."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}",
    }
