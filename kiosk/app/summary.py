"""The run summary: what a run of the kiosk did, as one frozen, schema-versioned model.

``kiosk run --summary FILE`` and ``kiosk demo`` (``summary.json``) both write a :class:`RunSummary`; its
JSON Schema is committed at ``docs/schemas/kiosk/run_summary.schema.json`` (regenerate it with
:func:`write_schema`, ``python -m kiosk.app.summary docs/schemas/kiosk``). A figure a run cannot have is
None: the scripted demo has no camera, event store or broker; a kiosk without ``[mqtt]`` has no link; a
headless run has no screen. Counts and figures only: nothing here says anything about a person.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypedDict

from pydantic import BaseModel, ConfigDict, Field

from kiosk.decisions.audience import OfferExposure

if TYPE_CHECKING:
    from kiosk.decisions.brain import KioskBrain
    from kiosk.ui.screen_app import ScreenStats

SCHEMA_VERSION: Literal[1] = 1
SCHEMA_FILE = "run_summary.schema.json"

Perception = Literal["camera", "clip", "scripted"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeedbackAnswer(_Frozen):
    """One answer a shopper gave."""

    kind: Literal["csat", "nps"] = Field(description="'csat': the 1-5 faces; 'nps': the 0-10 question.")
    score: int = Field(ge=0, le=10, description="The score given.")


class ExposureSummary(_Frozen):
    """One offer's time on screen and the valence mix of the faces in view meanwhile."""

    offer_id: str = Field(description="The offer shown.")
    seconds: float = Field(ge=0, description="How long it was on screen.")
    peak_crowd: int = Field(ge=0, description="The most faces in view at once while it showed.")
    negative_s: float = Field(ge=0, description="Seconds of faces read as negative.")
    neutral_s: float = Field(ge=0, description="Seconds of faces read as neutral.")
    positive_s: float = Field(ge=0, description="Seconds of faces read as positive.")


class ScreenSummary(_Frozen):
    """What the shopper's screen did (absent from a headless ``kiosk run``)."""

    frames: int = Field(ge=0, description="Frames the render loop ran.")
    draws: int = Field(ge=0, description="Frames actually drawn (only a changed view is redrawn).")
    fps: float = Field(ge=0, description="Frames the render loop ran a second.")
    frame_ms_p50: float = Field(ge=0, description="Median frame time (events, update, draw, flip), in ms.")
    frame_ms_p99: float = Field(ge=0, description="99th percentile of the frame time, in ms (within 1%).")
    taps: int = Field(ge=0, description="Taps the screen read, answered or not.")
    tap_frames_max: int = Field(
        ge=0, description="The most frames a tap waited for its answer (0: shown on the very next flip)."
    )
    tap_ms_p99: float = Field(ge=0, description="99th percentile of a tap's time to its answer, in ms.")
    taps_unanswered: int = Field(
        ge=0, description="Taps whose answer had not shown after a second (the screen had nothing to show)."
    )
    screens: list[str] = Field(description="Every screen the shopper saw, in the order first seen.")
    screenshots: list[str] = Field(description="The screenshot files written, by name (demo only).")
    headless: bool = Field(description="Rendered off screen (SDL's dummy driver).")
    video_driver: str = Field(description="SDL's video driver (x11, wayland, kmsdrm, dummy, ...).")


class RunSummary(_Frozen):
    """What a run of the kiosk did: the figures ``kiosk run --summary`` and ``kiosk demo`` write."""

    schema_version: Literal[1] = Field(default=SCHEMA_VERSION, description="Version of this layout.")
    perception: Perception = Field(
        description="What the kiosk watched: a camera, a video clip, or the scripted perception feed."
    )
    source: str | None = Field(default=None, description="The camera source or clip (None: scripted).")
    seconds: float = Field(ge=0, description="How long the run lasted.")
    frames: int = Field(ge=0, description="Camera frames read (scripted: snapshots fed to the brain).")
    frames_processed: int = Field(ge=0, description="Frames the perception worker ran the models on.")
    fps: float = Field(ge=0, description="Frames processed a second.")
    inference_ms: float | None = Field(description="Mean detection time in ms (None: scripted).")
    dropped_frames: int = Field(ge=0, description="Frames dropped between camera and perception.")
    dropped_snapshots: int = Field(ge=0, description="Snapshots dropped between perception and brain.")
    visits: int = Field(ge=0, description="Visits started (anonymous, ephemeral).")
    watchers: int = Field(ge=0, description="Visits that watched the screen long enough to count.")
    glances: int = Field(ge=0, description="Visits that only glanced.")
    peak_crowd: int = Field(ge=0, description="The most faces in view at once.")
    offers_shown: int = Field(ge=0, description="Offers put on screen.")
    taps: int = Field(ge=0, description="Offers tapped.")
    feedback: list[FeedbackAnswer] = Field(description="The latest feedback answers (up to 1,000).")
    consent_changes: int = Field(ge=0, description="ConsentChanged events recorded.")
    staff_calls: int = Field(ge=0, description="Staff calls raised.")
    staff_acks: int = Field(ge=0, description="Staff calls the back office acknowledged.")
    staff_response_ms_p50: float | None = Field(description="Median staff response time in ms (None: none).")
    staff_response_ms_max: float | None = Field(description="Slowest staff response in ms (None: none).")
    decision_latency_ms_p50: float | None = Field(
        description="Median time from a frame's capture to the decision it caused, in ms (None: none)."
    )
    decision_latency_ms_p95: float | None = Field(description="95th percentile of that latency, in ms.")
    events_recorded: int | None = Field(description="Events committed to the event store (None: no store).")
    events_dropped: dict[str, int] = Field(description="Events the store's queue dropped, by priority.")
    alerts_spilled: int = Field(ge=0, description="Alerts that waited and were spilled to a file.")
    events_handed_to_outbox: int | None = Field(
        description="Committed events handed to the outbox: queued for the broker, not yet delivered "
        "(None: no broker link)."
    )
    events_delivered: int | None = Field(
        description="Events the broker acknowledged (PUBACK) this run (None: no broker link)."
    )
    outbox_depth: int | None = Field(description="Events still waiting in the outbox at the end.")
    mqtt_connected: bool | None = Field(
        description="The broker connection was up when the stop began (None: no broker link)."
    )
    mqtt_connects: int | None = Field(description="Successful broker connections this run.")
    mqtt_disconnects: int | None = Field(description="Broker connections lost this run.")
    mqtt_last_error: str | None = Field(description="The latest refusal or loss reason, if any.")
    camera_failures: int = Field(ge=0, description="Camera opens or reads that failed.")
    camera_reconnects: int = Field(ge=0, description="Times the camera was opened again after a failure.")
    worker_restarts: dict[str, int] = Field(description="Workers the supervisor restarted, and how often.")
    fatal: str | None = Field(description="Why the kiosk gave up, if it did.")
    screen_counts: dict[str, int] = Field(description="How often the brain put each screen up.")
    offer_exposures: list[ExposureSummary] = Field(description="The latest offer exposures (up to 1,000).")
    headless: bool = Field(
        description="No display: the run had no screen (``kiosk run --headless``) or drew it off screen."
    )
    screen: ScreenSummary | None = Field(description="The shopper's screen (None: headless kiosk run).")

    def write(self, path: Path) -> None:
        """Write as indented JSON (the folder is made)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")


def percentile_ms(seconds: Iterable[float], pct: float) -> float | None:
    """The ``pct`` percentile of durations given in seconds, in milliseconds (None when there are none)."""
    ordered = sorted(seconds)
    if not ordered:
        return None
    return round(1000 * ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))], 3)


def exposure_summary(exposure: OfferExposure) -> ExposureSummary:
    """One exposure, rounded to milliseconds."""
    return ExposureSummary(
        offer_id=exposure.offer_id,
        seconds=round(exposure.seconds, 3),
        peak_crowd=exposure.peak_crowd,
        **exposure.valence.as_dict(),
    )


class DecisionFigures(TypedDict):
    """The :class:`RunSummary` fields that come from the brain, the same for every kind of run."""

    visits: int
    watchers: int
    glances: int
    peak_crowd: int
    offers_shown: int
    taps: int
    feedback: list[FeedbackAnswer]
    consent_changes: int
    staff_calls: int
    staff_acks: int
    staff_response_ms_p50: float | None
    staff_response_ms_max: float | None
    screen_counts: dict[str, int]
    offer_exposures: list[ExposureSummary]


def decision_figures(brain: KioskBrain) -> DecisionFigures:
    """What the brain decided during a run: visits, offers, feedback, consent, staff calls, screens."""
    stats, totals, calls = brain.stats, brain.meter.totals, brain.calls
    responses = list(calls.response_times)
    return DecisionFigures(
        visits=stats.visits,
        watchers=totals.watchers,
        glances=totals.glances,
        peak_crowd=totals.peak_crowd,
        offers_shown=stats.offers_shown,
        taps=stats.taps,
        feedback=[FeedbackAnswer(kind=kind, score=score) for kind, score in stats.feedback],
        consent_changes=stats.consent_changes,
        staff_calls=stats.staff_calls,
        staff_acks=calls.acknowledged,
        staff_response_ms_p50=percentile_ms(responses, 50),
        staff_response_ms_max=percentile_ms(responses, 100),
        screen_counts=dict(stats.screens),
        offer_exposures=[exposure_summary(e) for e in stats.exposures],
    )


def screen_summary(stats: ScreenStats) -> ScreenSummary:
    """The screen's part of a summary, from the render loop's statistics."""
    return ScreenSummary(
        frames=stats.frames,
        draws=stats.draws,
        fps=round(stats.frames / stats.seconds, 1) if stats.seconds > 0 else 0.0,
        frame_ms_p50=round(stats.frame_ms_p50, 3),
        frame_ms_p99=round(stats.percentile(99), 3),
        taps=stats.taps_answered + stats.taps_unanswered,
        tap_frames_max=stats.tap_frames_max,
        tap_ms_p99=round(stats.tap_ms.percentile(99), 3),
        taps_unanswered=stats.taps_unanswered,
        screens=list(stats.screens),
        screenshots=sorted(p.name for p in stats.screenshots.values()),
        headless=stats.headless,
        video_driver=stats.video_driver,
    )


def schema_text() -> str:
    """The JSON Schema of :class:`RunSummary`, as committed."""
    return json.dumps(RunSummary.model_json_schema(), indent=2, sort_keys=True) + "\n"


def write_schema(folder: Path) -> Path:
    """Write the schema into ``folder``; returns the file."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / SCHEMA_FILE
    path.write_text(schema_text(), encoding="utf-8")
    return path


if __name__ == "__main__":  # pragma: no cover - a maintainer's command
    print(write_schema(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/schemas/kiosk")))
