"""Recipe comparison for the emotion trainer: the default recipe against the same recipe with one choice
changed, each trained on the full FER-2013 Training set for a short schedule and scored on PublicTest.

Every variant is one ``edge-models train emotion --no-export`` run in its own folder under ``--runs``;
a finished folder is not trained again (the trainer resumes it and finds nothing left to do), so rerunning
this script after a stop only collects what is missing. Needs the ``build`` extra (TensorFlow).

Example:
    python bench/emotion_recipes.py --runs /work/runs --jobs 2 --output bench/results/emotion_recipes.json
    python bench/emotion_recipes.py --runs /work/runs --epochs 8 --only baseline no-augment
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from bench_report import emit, machine_facts

from edge_models.train.run import RunPaths, read_metrics


@dataclass(frozen=True)
class Variant:
    """One recipe to compare: a name, what it changes, and the trainer options that change it."""

    name: str
    change: str
    options: tuple[str, ...]


VARIANTS = (
    Variant("baseline", "the default recipe", ()),
    Variant(
        "no-augment", "no augmentation (no flip, affine, brightness/contrast, erasing)", ("--no-augment",)
    ),
    Variant(
        "no-class-weighting",
        "plain loss instead of 1/sqrt(class count) weights",
        ("--class-weighting", "none"),
    ),
    Variant("no-label-smoothing", "label smoothing 0 instead of 0.1", ("--label-smoothing", "0")),
    Variant("mixup", "mixup alpha 0.2 added", ("--mixup", "0.2")),
    Variant(
        "sepnet32",
        "sepnet width 32 (190k parameters) instead of vgg width 24",
        ("--architecture", "sepnet", "--width", "32"),
    ),
)


def trainer() -> str:
    """The ``edge-models`` command of the running interpreter's environment."""
    beside = Path(sys.executable).with_name("edge-models")
    found = str(beside) if beside.exists() else shutil.which("edge-models")
    if not found:
        raise SystemExit("edge-models not found: pip install -e '.[build]' into this environment")
    return found


@dataclass(frozen=True)
class Outcome:
    """One variant's figures (a row of the table and of the JSON's ``variants``)."""

    variant: str
    change: str
    options: list[str]
    epochs: int
    best_publictest_accuracy: float
    best_epoch: int
    last_publictest_accuracy: float
    last_train_accuracy: float
    mean_epoch_s: float
    wall_s_this_call: float


def train(variant: Variant, args: argparse.Namespace) -> Outcome:
    """Train (or finish) one variant and summarise its metrics."""
    out = args.runs / variant.name
    command = [
        trainer(), "train", "emotion", "--data", str(args.data), "--out", str(out), "--seed", str(args.seed),
        "--epochs", str(args.epochs), "--threads", str(args.threads), "--no-export", *variant.options,
    ]  # fmt: skip
    log = args.runs / f"{variant.name}.out"
    args.runs.mkdir(parents=True, exist_ok=True)
    print(f"{variant.name}: {' '.join(command[1:])} (log {log})", flush=True)
    started = time.monotonic()
    with log.open("a", encoding="utf-8") as f:
        done = subprocess.run(command, stdout=f, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{variant.name} failed (exit {done.returncode}); see {log}")
    records = read_metrics(RunPaths(out).metrics)
    best = max(records, key=lambda r: r.selection_accuracy)
    print(f"{variant.name}: best PublicTest {best.selection_accuracy:.4f} at epoch {best.epoch}", flush=True)
    return Outcome(
        variant=variant.name,
        change=variant.change,
        options=list(variant.options),
        epochs=len(records),
        best_publictest_accuracy=best.selection_accuracy,
        best_epoch=best.epoch,
        last_publictest_accuracy=records[-1].selection_accuracy,
        last_train_accuracy=records[-1].train_accuracy,
        mean_epoch_s=sum(r.seconds for r in records) / len(records),
        wall_s_this_call=time.monotonic() - started,
    )


def table(results: list[Outcome]) -> str:
    """A markdown table of the results, with each variant's difference from the baseline."""
    base = next((r.best_publictest_accuracy for r in results if r.variant == "baseline"), None)
    lines = [
        "| variant | change | best PublicTest (epoch) | vs baseline | last epoch | s/epoch |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        acc = r.best_publictest_accuracy
        delta = "" if base is None or r.variant == "baseline" else f"{100 * (acc - base):+.2f} pt"
        lines.append(
            f"| {r.variant} | {r.change} | {acc:.4f} ({r.best_epoch}) | {delta} | "
            f"{r.last_publictest_accuracy:.4f} | {r.mean_epoch_s:.0f} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 2)[2],
    )  # fmt: skip
    parser.add_argument("--data", type=Path, default=Path("../shared/data/fer2013"), help="FER-2013 folder")
    parser.add_argument("--runs", type=Path, required=True, help="folder for one run folder per variant")
    parser.add_argument("--epochs", type=int, default=8, help="schedule length of every variant (default 8)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every variant (default 0)")
    parser.add_argument("--jobs", type=int, default=1, help="variants trained at once (default 1)")
    parser.add_argument("--threads", type=int, default=1, help="TensorFlow threads a run (default 1)")
    parser.add_argument(
        "--only", nargs="+", choices=[v.name for v in VARIANTS], help="compare only these variants"
    )
    parser.add_argument("--output", type=Path, help="write the results here as JSON")
    args = parser.parse_args()
    chosen = [v for v in VARIANTS if not args.only or v.name in args.only]
    load_before = os.getloadavg()
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(lambda v: train(v, args), chosen))
    result = {
        "benchmark": "emotion_recipes",
        "epochs": args.epochs,
        "seed": args.seed,
        "threads_per_run": args.threads,
        "jobs": args.jobs,
        "machine": machine_facts(load_before),
        "variants": [asdict(r) for r in results],
    }
    emit(result, args.output, as_json=False)
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
