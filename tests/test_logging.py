"""Logging is configured in one place, as text or JSON lines, at the configured level."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk.config import LoggingConfig
from kiosk.logging_setup import configure_logging


@pytest.fixture(autouse=True)
def _restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        if handler not in handlers:
            handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_json_lines_to_file_at_level(tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "kiosk.log"
    configure_logging(LoggingConfig(level="WARNING", format="json", file=log_file))
    logging.getLogger("kiosk.test").info("not written")
    logging.getLogger("kiosk.test").warning("written: %s", "привет")
    lines = log_file.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["level"] == "WARNING" and entry["logger"] == "kiosk.test"
    assert entry["msg"] == "written: привет"


def test_reconfiguring_replaces_handlers(tmp_path: Path) -> None:
    configure_logging(LoggingConfig(file=tmp_path / "a.log"))
    configure_logging(LoggingConfig(file=tmp_path / "b.log"))
    logging.getLogger("kiosk.test").info("once")
    assert (tmp_path / "b.log").read_text().count("once") == 1
    assert "once" not in (tmp_path / "a.log").read_text()
