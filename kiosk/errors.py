"""Exceptions of :mod:`kiosk`. Every message says what was wrong and what to do about it."""

from __future__ import annotations

from dataclasses import dataclass


class KioskError(Exception):
    """Base class of every error raised by :mod:`kiosk`."""


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a configuration file: where (a dotted key path), what, and how to fix it."""

    path: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        text = f"{self.path}: {self.message}"
        return f"{text}\n    hint: {self.hint}" if self.hint else text


class ConfigError(KioskError):
    """A configuration file cannot be used; :attr:`issues` lists every problem found."""

    def __init__(self, source: str, issues: list[ConfigIssue]) -> None:
        self.source = source
        self.issues = issues
        count = f"{len(issues)} problem" + ("s" if len(issues) != 1 else "")
        super().__init__(f"{source}: {count}\n" + "\n".join(f"  {issue}" for issue in issues))
