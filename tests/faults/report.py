"""A row's result, the plain-text table and its JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from .harness import Counts

MIN_EVENTS = 1000


@dataclass(frozen=True)
class RowResult:
    """What one row did and found. ``counts`` is None for a row that is not about events."""

    name: str
    fault: str
    ok: bool
    counts: Counts | None
    recovery_s: float | None
    note: str
    seconds: float


def event_verdict(counts: Counts) -> list[str]:
    """Why an event row is red (empty: green): loss, duplicates, phantoms, too few events, undelivered."""
    problems = []
    if counts.lost:
        problems.append(f"{counts.lost} committed events lost")
    if counts.duplicated:
        problems.append(f"{counts.duplicated} events stored twice")
    if counts.phantom:
        problems.append(f"{counts.phantom} stored events never produced")
    if counts.committed < MIN_EVENTS:
        problems.append(f"only {counts.committed} events committed (a row needs {MIN_EVENTS})")
    if counts.delivered != counts.committed:
        problems.append(f"{counts.committed - counts.delivered} events still in the outbox")
    return problems


COLUMNS = ("row", "result", "committed", "delivered", "stored", "lost", "dup", "recovery s", "note")


def _cells(row: RowResult) -> list[str]:
    c = row.counts
    numbers = (
        [str(c.committed), str(c.delivered), str(c.stored), str(c.lost), str(c.duplicated)]
        if c is not None
        else ["n/a"] * 5
    )
    recovery = f"{row.recovery_s:.1f}" if row.recovery_s is not None else "n/a"
    return [row.name, "ok" if row.ok else "RED", *numbers, recovery, row.note]


def table(rows: list[RowResult]) -> str:
    """The rows as an aligned plain-text table (the note column last, unpadded)."""
    cells = [list(COLUMNS), *(_cells(r) for r in rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS) - 1)]
    lines = []
    for n, line in enumerate(cells):
        lines.append("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=False)) + "  " + line[-1])
        if n == 0:
            lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 4)
    return "\n".join(line.rstrip() for line in lines)


def write_json(rows: list[RowResult], path: Path, facts: dict[str, str]) -> None:
    """The rows and the machine facts as one JSON document."""
    path.write_text(
        json.dumps({"machine": facts, "rows": [asdict(r) for r in rows]}, indent=2) + "\n", encoding="utf-8"
    )
