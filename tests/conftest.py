"""Shared test set-up: SDL's dummy drivers, hypothesis profiles, a private Mosquitto broker and a private
Xvfb display."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# UI tests render off screen; set before anything imports pygame.
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

from mosquitto_broker import BrokerStartError, MosquittoBroker
from payload_audit import PayloadAudit
from xvfb import xvfb_display

# 'ci' is derandomised (a failure reproduces on the next run) and has no deadline (CI machines are noisy).
settings.register_profile(
    "ci", derandomize=True, deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", deadline=None, max_examples=100)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

REPO_ROOT = Path(__file__).resolve().parent.parent


def _broker(folder: Path, persistence: bool) -> Iterator[MosquittoBroker]:
    try:
        broker = MosquittoBroker(folder, persistence=persistence)
        broker.start()
    except BrokerStartError as exc:
        pytest.fail(str(exc), pytrace=False)
    audit = PayloadAudit(broker)
    audit.start()
    try:
        yield broker
    finally:
        audit.stop()
        broker.stop()
    # Every payload a device published during the test: no key outside the anonymisation allowlist.
    assert audit.problems == [], f"payloads with keys outside the allowlist: {audit.problems[:20]}"


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """A private Mosquitto on free loopback ports (plain, mutual TLS, password), stopped after the test.

    Fails, never skips, when the binary is missing: these tests are about the real broker.
    """
    yield from _broker(tmp_path / "mosquitto", persistence=False)


@pytest.fixture
def persistent_mosquitto(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """Like ``mosquitto``, with persistence: sessions and queued messages survive :meth:`restart`."""
    yield from _broker(tmp_path / "mosquitto", persistence=True)


@pytest.fixture
def repo_root() -> Path:
    """The project's root folder."""
    return REPO_ROOT


@pytest.fixture
def xvfb() -> Iterator[str]:
    """A private Xvfb display (its name, ``:N``), stopped after the test; skipped without Xvfb."""
    with xvfb_display() as display:
        yield display
