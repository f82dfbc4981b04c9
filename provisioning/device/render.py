"""The self-test's two renderings: a table a shop employee reads (English or Russian), and JSON for
scripts and the fleet."""

from __future__ import annotations

import json
import textwrap
from typing import Literal

from provisioning.device.judges import words
from provisioning.device.results import CheckStatus, SelfTestReport

Language = Literal["en", "ru"]
STATUSES: tuple[CheckStatus, ...] = ("pass", "warn", "fail", "skipped")


def _say(key: str, language: Language, **values: str) -> str:
    return str(getattr(words(key, **values), language))


def render_table(report: SelfTestReport, language: Language = "en", width: int = 110) -> str:
    """One line a check (status, what, what was found), and under each one that is not a pass, what to do."""
    who = f"{report.store_id}/{report.device_id}" if report.store_id else "?"
    lines = [f"{_say('report_heading', language)}: {who}, {report.ts:%Y-%m-%d %H:%M:%S} UTC", ""]
    title_width = max((len(getattr(r.title, language)) for r in report.results), default=10)
    status_width = max(len(_say(f"status_{s}", language)) for s in STATUSES)
    indent = " " * (status_width + 2 + title_width + 2)
    wrap = max(40, width - len(indent))
    todo = _say("report_todo", language)
    for r in report.results:
        status = _say(f"status_{r.status}", language).ljust(status_width)
        title = str(getattr(r.title, language)).ljust(title_width)
        detail = textwrap.wrap(r.detail, wrap) or [""]
        lines.append(f"{status}  {title}  {detail[0]}")
        lines.extend(indent + more for more in detail[1:])
        if r.fix is not None and r.status != "pass":
            lines.extend(indent + part for part in textwrap.wrap(f"{todo}: {getattr(r.fix, language)}", wrap))
    counts = {status: str(sum(r.status == status for r in report.results)) for status in STATUSES}
    summary = _say(
        "report_summary",
        language,
        fail=counts["fail"],
        warn=counts["warn"],
        skipped=counts["skipped"],
        passed=counts["pass"],
    )
    lines += ["", f"{_say('report_result', language)}: {summary}"]
    return "\n".join(lines)


def render_json(report: SelfTestReport) -> str:
    """The report as JSON, with ``ok`` (no check failed) first."""
    data = {"ok": report.ok, **report.model_dump(mode="json")}
    return json.dumps(data, indent=2, ensure_ascii=False)
