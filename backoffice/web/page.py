"""What a page shows, in one frozen shape rendered three ways: HTML, JSON and CSV (Datasette's habit: every
page's data at a sibling URL, ``/fleet`` -> ``/fleet.json`` and ``/fleet/devices.csv``).

A cell of a table is a plain value or a report :data:`~backoffice.reports.models.Cell`; a
:class:`~backoffice.reports.models.Suppressed` cell is written ``< k`` in all three, never as a number.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape
from pydantic import JsonValue

from backoffice.reports.models import Suppressed, Value

#: How a column's values are written. ``share``: a fraction, shown as a percentage in the page and as the
#: fraction in CSV and JSON; ``seconds``, ``number1``, ``number2``: digits after the point in the page.
ColumnKind = Literal["text", "int", "number1", "number2", "share", "seconds", "time", "hour", "day", "bool"]

#: A plain value of a cell.
Plain = str | int | float | bool | datetime | None

#: What a table cell may hold.
CellValue = Plain | Value | Suppressed

ChartKind = Literal["bar", "stacked", "line", "hbar"]


@dataclass(frozen=True)
class Column:
    """A column of a table: its key (JSON, CSV header), its label (the page), how values are written."""

    key: str
    label: str
    kind: ColumnKind = "text"


@dataclass(frozen=True)
class Link:
    """A cell that links somewhere in the page (its text in CSV and JSON)."""

    text: str
    href: str


@dataclass(frozen=True)
class Table:
    """One table of a page; ``name`` makes its CSV URL (``/<page>/<name>.csv``)."""

    name: str
    title: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[CellValue | Link, ...], ...]
    #: Anchor of its definitions (docs/backoffice-data.md), '' for none.
    definition: str = ""
    #: Rows left out of the page for its size (CSV and JSON have them all).
    truncated: int = 0
    #: Rows one page of the HTML shows at most, a pager leading to the others (``?<name>_from=N``);
    #: 0: the page's ``[web] page_rows``, the rest only in CSV and JSON.
    page_size: int = 0
    #: Index of the first row shown (a paged table's later pages), of :attr:`total` rows.
    first: int = 0

    @property
    def total(self) -> int:
        """Rows of the whole table: those shown and those left out."""
        return len(self.rows) + self.truncated


@dataclass(frozen=True)
class Series:
    """One data series of a chart; None is a gap (a suppressed or undefined figure)."""

    label: str
    values: tuple[float | None, ...]


@dataclass(frozen=True)
class Chart:
    """A chart drawn in the browser by Chart.js from this data."""

    name: str
    title: str
    kind: ChartKind
    labels: tuple[str, ...]
    series: tuple[Series, ...]
    #: Unit of the values, for the axis ('%' draws shares as percentages).
    unit: str = ""

    @property
    def points(self) -> int:
        """How many values are drawn (not None)."""
        return sum(v is not None for s in self.series for v in s.values)


@dataclass(frozen=True)
class Page:
    """Everything one page shows."""

    name: str
    title: str
    definition: str
    tables: tuple[Table, ...] = ()
    charts: tuple[Chart, ...] = ()
    notes: tuple[str, ...] = ()
    #: The filters it was built with, as the JSON and the page's form show them.
    filters: dict[str, str] = field(default_factory=dict)

    def table(self, name: str) -> Table | None:
        """The table called ``name``."""
        return next((t for t in self.tables if t.name == name), None)


# --- values --------------------------------------------------------------------------------------------


def unwrap(value: CellValue | Link) -> Plain | Suppressed:
    """A link's text, a :class:`Value`'s number; everything else as it is."""
    if isinstance(value, Link):
        return value.text
    if isinstance(value, Value):
        return value.value
    return value


def chart_value(value: CellValue) -> float | None:
    """A cell as a chart point: a number, or None (a gap) for a suppressed, undefined or non-numeric one."""
    raw = unwrap(value)
    if isinstance(raw, bool):
        return float(raw)
    if isinstance(raw, int | float) and math.isfinite(raw):
        return float(raw)
    return None


#: How a number is written in the page, by column kind (a share is multiplied by 100 first).
_NUMBER_FORMATS: dict[str, str] = {
    "share": "{:.1f} %",
    "number1": "{:.1f}",
    "seconds": "{:.1f}",
    "number2": "{:.2f}",
    "int": "{:.0f}",
}


def page_text(value: CellValue | Link, kind: ColumnKind, zone: ZoneInfo) -> str:
    """A cell as the page writes it."""
    if isinstance(value, Suppressed):
        return value.text()
    raw = unwrap(value)
    if raw is None:
        return "—"
    if isinstance(raw, bool):
        return "✓" if raw else "✗"
    if isinstance(raw, datetime):
        local = raw.astimezone(zone)
        return {"day": local.strftime("%Y-%m-%d"), "hour": local.strftime("%Y-%m-%d %H:00")}.get(
            kind, local.strftime("%Y-%m-%d %H:%M:%S")
        )
    if isinstance(raw, int | float):
        return _NUMBER_FORMATS.get(kind, "{:}").format(raw * 100 if kind == "share" else raw)
    return str(raw)


def data_value(value: CellValue | Link) -> JsonValue:
    """A cell as JSON carries it: numbers as numbers, times as ISO 8601, a suppressed cell as '< k'."""
    raw = unwrap(value)
    if isinstance(raw, Suppressed):
        return raw.text()
    if isinstance(raw, datetime):
        return raw.isoformat()
    if isinstance(raw, float):
        return round(raw, 6) if math.isfinite(raw) else None
    return raw


def csv_text(value: CellValue | Link) -> str:
    """A cell as CSV writes it: like JSON, '' for nothing, true/false for flags."""
    data = data_value(value)
    if data is None:
        return ""
    if isinstance(data, bool):
        return "true" if data else "false"
    return str(data)


# --- renderers -----------------------------------------------------------------------------------------


def table_rows_html(table: Table, zone: ZoneInfo) -> Markup:
    """The table's ``<tr>`` rows as the page shows them (each cell written by :func:`page_text`, a
    :class:`Link` as a link), built in one pass: a template loop over thousands of cells costs far more."""
    opens = [f'<td data-key="{escape(c.key)}" class="{escape(c.kind)}">' for c in table.columns]
    kinds = [c.kind for c in table.columns]
    lines = []
    for row in table.rows:
        cells = []
        for open_, kind, value in zip(opens, kinds, row, strict=False):
            if isinstance(value, Link):
                text = f'<a href="{escape(value.href)}">{escape(value.text)}</a>'
            else:
                text = str(escape(page_text(value, kind, zone)))
            cells.append(f"{open_}{text}</td>")
        lines.append(f"<tr>{''.join(cells)}</tr>")
    # Every key, kind, link and text above went through escape(): the joined rows are safe HTML.
    return Markup("\n      ".join(lines) + ("\n      " if lines else ""))  # noqa: S704


def table_csv(table: Table) -> str:
    """The table as CSV (a header of column keys, then every row)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([c.key for c in table.columns])
    for row in table.rows:
        writer.writerow([csv_text(v) for v in row])
    return out.getvalue()


def table_json(table: Table) -> dict[str, JsonValue]:
    """The table as JSON: its title, columns and rows (objects keyed by column)."""
    return {
        "title": table.title,
        "definition": table.definition,
        "columns": [{"key": c.key, "label": c.label, "kind": c.kind} for c in table.columns],
        "rows": [
            {c.key: data_value(v) for c, v in zip(table.columns, row, strict=True)} for row in table.rows
        ],
    }


def chart_json(chart: Chart) -> dict[str, JsonValue]:
    """A chart as the page's script and the JSON API read it."""
    return {
        "title": chart.title,
        "kind": chart.kind,
        "unit": chart.unit,
        "labels": list(chart.labels),
        "series": [{"label": s.label, "values": list(s.values)} for s in chart.series],
    }


def page_json(page: Page) -> dict[str, JsonValue]:
    """The whole page as JSON."""
    return {
        "page": page.name,
        "title": page.title,
        "filters": dict(page.filters),
        "notes": list(page.notes),
        "tables": {t.name: table_json(t) for t in page.tables},
        "charts": {c.name: chart_json(c) for c in page.charts},
    }


def shown_rows(table: Table, limit: int, first: int = 0) -> Table:
    """The table with at most ``limit`` rows from row ``first`` (the page's share), counting what it left
    out; a ``first`` past the end shows the last page."""
    total = len(table.rows)
    if total <= limit and first == 0:
        return table
    first = max(0, min(first, (total - 1) // limit * limit if total else 0))
    rows = table.rows[first : first + limit]
    return Table(
        table.name,
        table.title,
        table.columns,
        rows,
        table.definition,
        truncated=total - len(rows),
        page_size=min(table.page_size, limit) if table.page_size else 0,
        first=first,
    )


def series_of(rows: Sequence[CellValue], label: str) -> Series:
    """A chart series from a column of cells."""
    return Series(label, tuple(chart_value(v) for v in rows))
