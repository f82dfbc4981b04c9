"""bench/compare_fer.py: the interleaving coordinator's parts, the thread accounting it reports, and our
side's worker (the kiosk's perception path on real frames, in its own process) spoken to over its pipe.

No speed is asserted (that is the bench's job, on a quiet machine). The fer side needs its own virtual
environment with TensorFlow (made by the bench once, ~1 GB): its test runs only where that exists.
"""

from __future__ import annotations

import importlib.util
import io
import json
import sys
import threading
import time
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from edge_models.datasets import pad_to, read_video
from edge_models.sample_media import WOLFGANG_CLIP, cache_dir, sample_file

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("compare_fer", REPO / "bench" / "compare_fer.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["compare_fer"] = module
    spec.loader.exec_module(module)
    return module


def test_chunks_cover_the_frames_once_in_order(bench: ModuleType) -> None:
    assert bench.chunks(40, 16) == [(0, 16), (16, 32), (32, 40)]
    assert bench.chunks(16, 16) == [(0, 16)]


def test_spread_is_the_median_with_its_range(bench: ModuleType) -> None:
    s = bench.spread([10.0, 12.0, 11.0, 30.0, 9.0])
    assert s["median"] == 11.0 and s["min"] == 9.0 and s["max"] == 30.0
    assert s["half_range_pct"] == pytest.approx(100 * 21 / 2 / 11)


def test_thread_ticks_see_a_second_thread_that_works(bench: ModuleType) -> None:
    stop = threading.Event()

    def spin() -> None:
        x = np.random.default_rng(0).random((200, 200))
        while not stop.is_set():
            x = x @ x.T / 200.0  # numpy releases the GIL: a real second busy thread

    before = bench.thread_ticks()
    worker = threading.Thread(target=spin)
    worker.start()
    end = time.monotonic() + 0.6
    while time.monotonic() < end:
        sum(range(10_000))
    stop.set()
    worker.join()
    spent = {tid: t - before.get(tid, 0) for tid, t in bench.thread_ticks().items()}
    assert sum(t > 0 for t in spent.values()) >= 2


def test_thread_summary_counts_the_threads_that_did_the_work(bench: ModuleType) -> None:
    answers = [
        {"thread_ticks": {"1": 90, "2": 3}, "threads_alive": 4, "wall_s": 1.0, "cpu_s": 0.93},
        {"thread_ticks": {"1": 50, "3": 45}, "threads_alive": 5, "wall_s": 1.0, "cpu_s": 0.95},
    ]
    summary = bench.thread_summary(answers)
    assert summary["busy_threads"] == 2  # thread 2 used 1.6 % of the CPU: not counted
    assert summary["threads_alive"] == 5
    assert summary["cpu_over_wall"] == pytest.approx(0.94)


def test_serve_answers_each_chunk_with_its_timing_and_stops_on_quit(bench: ModuleType) -> None:
    calls: list[tuple[int, int]] = []

    def handle(a: int, b: int) -> dict[str, int]:
        calls.append((a, b))
        return {"frames": b - a, "faces": 1}

    out = io.StringIO()
    bench.serve(
        handle, io.StringIO('{"run": [0, 8]}\n{"run": [8, 16]}\n{"quit": true}\n{"run": [16, 24]}\n'), out
    )
    answers = [json.loads(line) for line in out.getvalue().splitlines()]
    assert calls == [(0, 8), (8, 16)]
    assert [a["frames"] for a in answers] == [8, 8]
    assert all({"wall_s", "cpu_s", "thread_ticks", "threads_alive"} <= a.keys() for a in answers)


@pytest.fixture(scope="module")
def frames_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frames = [pad_to(f, 640, 480) for f in read_video(sample_file(WOLFGANG_CLIP), 24)]
    path = tmp_path_factory.mktemp("frames") / "frames.npy"
    np.save(path, np.stack(frames))
    return path


@pytest.mark.slow
def test_our_worker_runs_the_kiosk_path_on_one_thread(
    bench: ModuleType, frames_file: Path, tmp_path: Path
) -> None:
    import os

    env = {**os.environ, **bench.ONE_THREAD_ENV, "PYTHONPATH": str(REPO)}
    data_dir = tmp_path / "kiosk-data"
    worker = bench.Worker(
        [
            sys.executable,
            str(REPO / "bench" / "compare_fer.py"),
            "--worker",
            "equal_threads",
            str(frames_file),
            str(data_dir),
        ],
        env,
        tmp_path / "ours.log",
    )
    try:
        info = worker.info
        answers = [worker.run(a, b) for a, b in bench.chunks(24, 8)]
    finally:
        log = worker.close()
    # The kiosk's defaults: region detection on, one interpreter thread, variants from a calibration made
    # at this first start (in the data folder, as a kiosk's first start makes it).
    assert info["side"] == "ours" and info["region_detection"] is True
    assert info["presence_threads"] == 1 and info["opencv_threads"] == 1
    assert (data_dir / "calibration.json").is_file()
    assert set(info["variants"]) == {"face_full_range", "face_short_range", "emotion_vitrina"}
    assert set(info["variants"].values()) <= set(info["models"])
    assert sum(a["frames"] for a in answers) == 24
    assert sum(a["faces"] for a in answers) >= 22  # one person on (nearly) every frame
    summary = bench.thread_summary(answers)
    assert summary["busy_threads"] == 1, summary
    assert summary["cpu_over_wall"] <= 1.1, summary
    stats = json.loads([line for line in log.splitlines() if line.startswith('{"region_detection"')][-1])
    assert stats["region_detection"]["region_frames"] > 0


PEER = cache_dir() / "fer-peer-venv" / "bin" / "python"


@pytest.mark.slow
@pytest.mark.skipif(
    not PEER.exists(), reason=f"the fer peer environment {PEER} is not made here (the bench makes it once)"
)
def test_the_fer_peer_is_pinned_to_one_thread_in_the_equal_setting(
    bench: ModuleType, frames_file: Path, tmp_path: Path
) -> None:
    import os

    script = tmp_path / "fer_peer.py"
    script.write_text(bench.PEER_SCRIPT, encoding="utf-8")
    results = {}
    for mode in ("equal_threads", "defaults"):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        if mode == "equal_threads":
            env.update(bench.ONE_THREAD_ENV)
        worker = bench.Worker([str(PEER), str(script), str(frames_file), mode], env, tmp_path / f"{mode}.log")
        try:
            answers = [worker.run(a, b) for a, b in bench.chunks(24, 12)]
            results[mode] = (worker.info, bench.thread_summary(answers))
        finally:
            worker.close()
    info, summary = results["equal_threads"]
    assert info["opencv_threads"] == 1
    assert summary["busy_threads"] == 1, summary
    assert summary["cpu_over_wall"] <= 1.1, summary
    assert results["defaults"][0]["opencv_threads"] >= 1
