"""A deterministic brain to script: a ManualClock at 09:00 Moscow (morning), the example catalogue, 10 frames
a second of scripted faces, touches; every event it emits in ``events``."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

from kiosk.clock import ManualClock
from kiosk.config import KioskConfig
from kiosk.decisions.brain import KioskBrain
from kiosk.decisions.engagement import Touch
from kiosk.decisions.offers import OfferEngine, load_catalogue
from kiosk.perception.types import Box, Detection, Snapshot, Valence, ValenceReading
from mqtt_bridge.contract.events import Event

DT = 0.1


class Rig:
    """A brain with its clock and the events it emitted."""

    def __init__(self, repo_root: Path, config: KioskConfig | None = None) -> None:
        self.config = config or KioskConfig()
        self.clock = ManualClock(datetime(2026, 1, 1, 6, 0, tzinfo=UTC))  # 09:00 in Moscow: morning
        self.events: list[Event] = []
        self.visit_ids: set[str] = set()
        rng = random.Random(11)
        engine = OfferEngine(
            load_catalogue(repo_root / "examples" / "catalogue.toml"), self.config.offers, rng
        )
        self.brain = KioskBrain(self.config, self.clock, rng, self.events.append, engine)
        self.brain.on_camera(True, self.clock.monotonic())

    def frames(self, seconds: float, faces: list[Detection]) -> None:
        for _ in range(round(seconds / DT)):
            t = self.clock.monotonic()
            self.brain.on_snapshot(Snapshot(t, tuple(faces)))
            self.visit_ids |= {tr.visit_id for tr in self.brain.tracker.tracks}
            self.brain.on_tick(t)
            self.clock.advance(DT)

    def ticks(self, seconds: float) -> None:
        """Time passes with no frames (the camera is down)."""
        for _ in range(round(seconds / DT)):
            self.brain.on_tick(self.clock.monotonic())
            self.clock.advance(DT)

    def touch(self, action: str, score: int | None = None) -> None:
        self.brain.on_external(Touch(self.clock.monotonic(), action, score))  # type: ignore[arg-type]

    def of(self, kind: type) -> list:  # type: ignore[type-arg]
        return [e for e in self.events if isinstance(e, kind)]


def face(valence: Valence | None = "positive", distance: float = 1.2, yaw: float = 3.0) -> Detection:
    reading = ValenceReading(valence, 0.9) if valence else None
    return Detection(Box(200, 100, 300, 200), distance_m=distance, yaw_deg=yaw, reading=reading)
