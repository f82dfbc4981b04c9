"""The fault suite (issue #15): real parts, real faults, one table.

Run it with ``make faults`` or ``python -m tests.faults`` from the repository root; ``--json FILE`` also
writes the rows as JSON, ``--only NAME`` runs some rows. docs/reliability.md explains every row.
"""
