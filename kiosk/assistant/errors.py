"""Exceptions of :mod:`kiosk.assistant`. Every message says what was wrong and what to do about it."""

from __future__ import annotations

from kiosk.errors import KioskError


class AssistantError(KioskError):
    """Base class of every error raised by the FAQ assistant."""


class FaqError(AssistantError):
    """A store's FAQ file cannot be used; :attr:`problems` lists every problem found, each with its fix."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        count = f"{len(problems)} problem" + ("s" if len(problems) != 1 else "")
        super().__init__(f"{source}: {count}\n" + "\n".join(f"  {problem}" for problem in problems))
