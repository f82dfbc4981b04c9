"""Latency and throughput measurement of the models and of the whole detect-crop-classify pipeline."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edge_models.emotion import EmotionClassifier
from edge_models.manifest import Manifest
from edge_models.pipeline import analyse_frame
from edge_models.presence import PresenceDetector
from edge_models.runtime import open_model


@dataclass(frozen=True, slots=True)
class Latency:
    """Latency percentiles of repeated calls, in milliseconds."""

    p50_ms: float
    p95_ms: float
    mean_ms: float
    runs: int


def summarise(seconds: Sequence[float]) -> Latency:
    """Percentiles of a list of durations in seconds."""
    ms = np.asarray(seconds, dtype=np.float64) * 1000.0
    return Latency(
        p50_ms=float(np.percentile(ms, 50)),
        p95_ms=float(np.percentile(ms, 95)),
        mean_ms=float(ms.mean()),
        runs=int(ms.size),
    )


def time_calls(fn: Callable[[], object], runs: int, warmup: int = 10) -> Latency:
    """Call ``fn`` ``warmup`` times untimed, then ``runs`` times timed."""
    for _ in range(warmup):
        fn()
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - start)
    return summarise(seconds)


@dataclass(frozen=True, slots=True)
class ModelLatency:
    """Invoke latency of one model at one thread count (inputs set once, outside the timing)."""

    model: str
    precision: str
    threads: int
    latency: Latency


def bench_model(
    name: str, threads: int, runs: int, manifest: Manifest | None = None, models_dir: Path | None = None
) -> ModelLatency:
    """Time ``invoke()`` of one model on a fixed random input."""
    rng = np.random.default_rng(0)
    with open_model(name, threads, manifest=manifest, models_dir=models_dir) as model:
        for i, spec in enumerate(model.input_specs):
            if spec.quantization is None:
                model.set_input(rng.uniform(-1, 1, spec.shape).astype(spec.dtype), i)
            else:
                info = np.iinfo(spec.dtype)
                model.set_input(rng.integers(info.min, info.max + 1, spec.shape).astype(spec.dtype), i)
        return ModelLatency(name, model.entry.precision, threads, time_calls(model.invoke, runs))


@dataclass(frozen=True, slots=True)
class PipelineThroughput:
    """Frames per second of detect + crop + classify every face, over a clip."""

    presence_model: str
    emotion_model: str
    threads: int
    frame_size: tuple[int, int]
    frames: int
    faces: int
    classified: int
    fps: float
    latency: Latency


def bench_pipeline(
    detector: PresenceDetector,
    classifier: EmotionClassifier,
    frames: Sequence[npt.NDArray[np.uint8]],
    progress: Callable[[int], None] | None = None,
) -> PipelineThroughput:
    """Run the whole pipeline once over ``frames`` (already decoded, so decoding is not timed)."""
    analyse_frame(detector, classifier, frames[0])
    seconds: list[float] = []
    faces = classified = 0
    for frame in frames:
        start = time.perf_counter()
        results = analyse_frame(detector, classifier, frame)
        seconds.append(time.perf_counter() - start)
        faces += len(results)
        classified += sum(r.emotion is not None for r in results)
        if progress is not None:
            progress(1)
    h, w = frames[0].shape[:2]
    return PipelineThroughput(
        presence_model=detector.model.entry.name,
        emotion_model=classifier.model.entry.name,
        threads=detector.model.threads,
        frame_size=(w, h),
        frames=len(frames),
        faces=faces,
        classified=classified,
        fps=len(frames) / sum(seconds),
        latency=summarise(seconds),
    )


def machine_description() -> dict[str, Any]:
    """CPU model, core count and Python version of this machine, for benchmark reports."""
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "system": platform.platform(),
    }
