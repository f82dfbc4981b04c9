"""Exceptions of the wire contract. Every message says what was wrong and what to do about it."""

from __future__ import annotations


class ContractError(ValueError):
    """Base class of every error raised by :mod:`mqtt_bridge.contract`."""


class TopicError(ContractError):
    """A store id, device id, command name or topic is not valid in Vitrina's topic tree."""


class CatalogueFileError(ContractError):
    """A catalogue file cannot be read or is not a valid catalogue; ``issues`` are (key path, problem)."""

    def __init__(self, path: str, issues: list[tuple[str, str]]) -> None:
        lines = "; ".join(f"{where}: {what}" for where, what in issues)
        super().__init__(f"{path}: {lines}")
        self.path = path
        self.issues = issues
