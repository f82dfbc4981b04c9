"""What the self-test reports: one frozen :class:`CheckResult` a line, and the :class:`SelfTestReport`.

``status``: ``pass``, ``warn`` (works, but act soon: a certificate under 30 days), ``fail`` (the kiosk
cannot do its job until fixed) or ``skipped`` (could not be tested here, e.g. no display: never a pass).
Every result that is not a pass says what to do, in English and Russian, in words a shop employee can act
on.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

CheckStatus = Literal["pass", "warn", "fail", "skipped"]


class Words(BaseModel):
    """A sentence in both of the kiosk's languages."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    en: str = Field(description="English.")
    ru: str = Field(description="Russian.")


class CheckResult(BaseModel):
    """One line of the self-test."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    check: str = Field(description="Stable id of the check, e.g. 'camera', 'model:face_full_range_int8'.")
    title: Words = Field(description="What was checked, for the table.")
    status: CheckStatus = Field(description="pass, warn, fail or skipped.")
    detail: str = Field(description="What was found (figures, the error), in English.")
    fix: Words | None = Field(default=None, description="What to do; absent on a pass.")


class SelfTestReport(BaseModel):
    """Every result of one ``provision check`` run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = Field(default=1, description="Schema of this report.")
    ts: AwareDatetime = Field(description="When the check ran (UTC).")
    store_id: str | None = Field(default=None, description="The device's store, when its config loaded.")
    device_id: str | None = Field(default=None, description="The device's id, when its config loaded.")
    results: tuple[CheckResult, ...] = Field(description="One result per check, in the order run.")

    @property
    def failed(self) -> tuple[CheckResult, ...]:
        """The results that failed."""
        return tuple(r for r in self.results if r.status == "fail")

    @property
    def ok(self) -> bool:
        """No check failed (warnings and skips do not fail the device)."""
        return not self.failed

    def get(self, check: str) -> CheckResult:
        """The result of ``check``; KeyError when it did not run."""
        for result in self.results:
            if result.check == check:
                return result
        raise KeyError(check)


def make_report(
    results: list[CheckResult], now: datetime, store_id: str | None, device_id: str | None
) -> SelfTestReport:
    """Bundle results into a report."""
    return SelfTestReport(ts=now, store_id=store_id, device_id=device_id, results=tuple(results))
