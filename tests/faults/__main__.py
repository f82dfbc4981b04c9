"""``python -m tests.faults [--only NAME ...] [--json FILE] [--list]``: run the rows, print the table,
exit 1 when any row is red (lost or duplicated events, or a failed check)."""

from __future__ import annotations

import argparse
import sys
import time

from .report import table, write_json
from .rows import ROWS, machine_facts, run_row


def main(argv: list[str] | None = None) -> int:
    """Run the chosen rows (all by default) and report them."""
    parser = argparse.ArgumentParser(prog="python -m tests.faults", description=__doc__)
    parser.add_argument(
        "--only", action="append", default=[], metavar="NAME", help="Run this row (repeatable)."
    )
    parser.add_argument("--json", metavar="FILE", help="Also write the rows and the machine as JSON.")
    parser.add_argument("--list", action="store_true", help="List the rows and what each does.")
    args = parser.parse_args(argv)
    if args.list:
        for row in ROWS:
            print(f"{row.name:<22} {row.fault}")
        return 0
    unknown = sorted(set(args.only) - {r.name for r in ROWS})
    if unknown:
        parser.error(f"unknown row {', '.join(unknown)}; --list shows the rows")
    chosen = [r for r in ROWS if not args.only or r.name in args.only]
    started = time.monotonic()
    results = []
    for row in chosen:
        print(f"faults: {row.name} ...", file=sys.stderr, flush=True)
        result = run_row(row)
        print(f"faults: {row.name} {'ok' if result.ok else 'RED'} in {result.seconds:.0f} s", file=sys.stderr)
        results.append(result)
    facts = machine_facts()
    print(f"Fault suite, {facts['date']}, {facts['machine']}, {time.monotonic() - started:.0f} s")
    print(table(results))
    if args.json:
        from pathlib import Path

        write_json(results, Path(args.json), facts)
    red = [r.name for r in results if not r.ok]
    if red:
        print(f"RED: {', '.join(red)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
