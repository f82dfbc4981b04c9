"""``edge-models train``: train Vitrina's own emotion model, and install a finished run's export.

Importing this module needs no TensorFlow (``--help`` works on the kiosk); ``train emotion`` imports
:mod:`edge_models.build.train_emotion` only when it starts.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import click

from edge_models.cli_options import kiosk_framing_options
from edge_models.errors import EdgeModelsError
from edge_models.kiosk_crops import KioskFraming
from edge_models.manifest import MODELS_DIR, load_manifest
from edge_models.train.framings import write_kiosk_framings
from edge_models.train.install import install_run
from edge_models.train.recipe import NO_AUGMENTATION, STRONG_AUGMENTATION, Augmentation, Distillation, Recipe
from edge_models.train.run import DEFAULT_VALIDATION_FRACTION, TrainOptions, sha256_file
from edge_models.train.status import find_runs, format_status, run_status

AUGMENTATIONS: dict[str, Augmentation] = {
    "default": Augmentation(),
    "strong": STRONG_AUGMENTATION,
    "none": NO_AUGMENTATION,
}

DEFAULT_DATA = Path("../shared/data/fer2013")
RESUME_DIR = Path("edge_models/train/resume")

_THREADS_OPTION = click.option(
    "--threads",
    type=click.IntRange(1, 64),
    default=2,
    show_default=True,
    help="TensorFlow CPU threads. The same seed with another thread count trains other (equally "
    "deterministic) weights: repeat or resume a run with the count it started with.",
)
_FLIP_AVERAGE_OPTION = click.option(
    "--flip-average",
    is_flag=True,
    help="Export a graph that averages each face with its mirror image (test-time flip averaging: one "
    "invoke, twice the compute).",
)


@click.group("train")
def train_group() -> None:
    """Train Vitrina's own emotion model on FER-2013 and install it (training needs the 'build' extra).

    \b
    Example:
        edge-models train emotion --data ../shared/data/fer2013 --out runs/emotion-s0
        edge-models train export --run runs/emotion-s0 --flip-average   # optional
        edge-models train install --run runs/emotion-s0
        edge-models train status edge_models/train/resume             # runs in progress

    \b
    Distillation (issue #21; docs/models/emotion.md):
        edge-models train emotion --out runs/vgg40-s1 --width 40 --seed 1 --augment strong \\
            --selection validation
        edge-models train soft-targets --teacher runs/vgg40-s1 --out runs/targets.npz
        edge-models train emotion --out runs/student --width 28 --selection validation \\
            --teacher-targets runs/targets.npz --distill-temperature 4 --distill-alpha 0.7

    \b
    Kiosk crops (issue #21 item 3): train on faces framed the way the kiosk crops them, too:
        edge-models train kiosk-framings --data ../shared/data/fer2013 --out runs/framings.npz
        edge-models train emotion --out runs/student --width 28 --selection validation \\
            --kiosk-framings runs/framings.npz --kiosk-framing 0.5

    \b
    The shipped model (docs/models/emotion.md) is the default recipe at width 28:
        edge-models train emotion --out runs/emotion-vgg28-s0 --seed 0 --width 28
    """


@train_group.command("emotion")
@click.option(
    "--data",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=DEFAULT_DATA,
    show_default=True,
    help="FER-2013 folder: trains on its train.npz, selects on its publictest/; nothing else is read.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Run folder (checkpoints, logs, export). An unfinished run there is resumed.",
)
@click.option(
    "--seed", type=click.IntRange(0), default=0, show_default=True, help="Seed of everything random."
)
@click.option("--epochs", type=click.IntRange(1), default=None, help="Epochs [default: the recipe's, 60].")
@click.option(
    "--architecture",
    type=click.Choice(["sepnet", "vgg"]),
    default=None,
    help="Network family [default: vgg].",
)
@click.option(
    "--width", type=click.IntRange(4, 256), default=None, help="First-stage channels [default: 24]."
)
@click.option("--batch-size", type=click.IntRange(1), default=None, help="Faces per step [default: 64].")
@click.option(
    "--learning-rate",
    type=click.FloatRange(0, min_open=True),
    default=None,
    help="Peak learning rate [default: 2e-3].",
)
@click.option(
    "--label-smoothing",
    type=click.FloatRange(0, 1, max_open=True),
    default=None,
    help="Label smoothing [default: 0.1].",
)
@click.option(
    "--mixup", "mixup_alpha", type=click.FloatRange(0), default=None, help="Mixup alpha; 0: off [default: 0]."
)
@click.option(
    "--class-weighting",
    type=click.Choice(["none", "inverse_sqrt"]),
    default=None,
    help="Loss weight per class [default: inverse_sqrt].",
)
@click.option("--no-augment", is_flag=True, help="Train without augmentation (same as --augment none).")
@click.option(
    "--augment",
    type=click.Choice(sorted(AUGMENTATIONS)),
    default=None,
    help="Augmentation preset: default, strong (teachers: larger affine, photometric and erasing changes), "
    "none [default: default].",
)
@click.option(
    "--selection",
    type=click.Choice(["publictest", "validation"]),
    default="publictest",
    show_default=True,
    help="Split that chooses the epoch and fits the temperature. publictest: how the shipped model was made "
    "(PublicTest figures are then optimistic); validation: a stratified seeded share of Training is held "
    "out for it and PublicTest is read once, at the export.",
)
@click.option(
    "--validation-fraction",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=DEFAULT_VALIDATION_FRACTION,
    show_default=True,
    help="Share of each class held out with --selection validation.",
)
@click.option(
    "--validation-seed",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Seed of the validation split; keep it the same for teachers, students and baselines.",
)
@click.option(
    "--teacher-targets",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Distil from this soft-target .npz (edge-models train soft-targets); needs --distill-temperature "
    "and --distill-alpha.",
)
@click.option(
    "--distill-temperature",
    type=click.FloatRange(0, min_open=True),
    default=None,
    help="Softmax temperature T of the distillation loss.",
)
@click.option(
    "--distill-alpha",
    type=click.FloatRange(0, 1),
    default=None,
    help="Weight of the soft part: loss = alpha*T^2*KL(teacher||student) + (1-alpha)*CE(hard labels).",
)
@click.option(
    "--kiosk-framings",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Kiosk framings .npz (edge-models train kiosk-framings) for --kiosk-framing; its sha256 goes into "
    "the recipe, so a resume with another file is refused.",
)
@click.option(
    "--kiosk-framing",
    type=click.FloatRange(0, 1),
    default=None,
    help="Chance that a training face is first warped the way the kiosk crops it (its own framing from "
    "--kiosk-framings when the kiosk's detector found it, else one of the file's at random) [default: 0, "
    "off].",
)
@click.option(
    "--limit",
    type=click.IntRange(1),
    default=None,
    help="Train on N faces spread evenly through train.npz (smoke tests).",
)
@click.option(
    "--export/--no-export", default=True, show_default=True, help="Calibrate and export at the end."
)
@_FLIP_AVERAGE_OPTION
@click.option(
    "--stop-after",
    type=click.IntRange(1),
    default=None,
    help="Stop after this epoch (checkpointed); the same command later resumes (for time-boxed sessions).",
)
@_THREADS_OPTION
def train_emotion(
    *,
    data: Path,
    out: Path,
    seed: int,
    epochs: int | None,
    architecture: str | None,
    width: int | None,
    batch_size: int | None,
    learning_rate: float | None,
    label_smoothing: float | None,
    mixup_alpha: float | None,
    class_weighting: str | None,
    no_augment: bool,
    augment: str | None,
    selection: str,
    validation_fraction: float,
    validation_seed: int,
    teacher_targets: Path | None,
    distill_temperature: float | None,
    distill_alpha: float | None,
    kiosk_framings: Path | None,
    kiosk_framing: float | None,
    limit: int | None,
    export: bool,
    flip_average: bool,
    stop_after: int | None,
    threads: int,
) -> None:
    """Train the emotion model on FER-2013 Training, choosing the epoch on the --selection split.

    Deterministic for a seed; resumes an unfinished run in --out from its last finished epoch. Writes
    metrics.jsonl (one line per epoch), train.log, and at the end a temperature-calibrated float and
    full-int8 export measured on PublicTest (export/report.json). A GPU is used when TensorFlow sees one.

    \b
    Example:
        edge-models train emotion --data ../shared/data/fer2013 --out runs/emotion-s0 --seed 0
        edge-models train emotion --out /tmp/smoke --limit 512 --epochs 1
        edge-models train emotion --out runs/s28 --width 28 --selection validation \\
            --teacher-targets runs/targets.npz --distill-temperature 4 --distill-alpha 0.7
        edge-models train emotion --out runs/s28k --width 28 --selection validation \\
            --kiosk-framings runs/framings.npz --kiosk-framing 0.5
    """
    if no_augment and augment not in (None, "none"):
        raise click.UsageError(f"--no-augment contradicts --augment {augment}: pass one of them")
    distill_given = [teacher_targets is not None, distill_temperature is not None, distill_alpha is not None]
    if any(distill_given) and not all(distill_given):
        raise click.UsageError(
            "distillation needs all three of --teacher-targets, --distill-temperature and --distill-alpha"
        )
    distill = None
    if teacher_targets is not None and distill_temperature is not None and distill_alpha is not None:
        distill = Distillation(
            temperature=distill_temperature, alpha=distill_alpha, targets_sha256=sha256_file(teacher_targets)
        )
    augmentation = NO_AUGMENTATION if no_augment else AUGMENTATIONS[augment] if augment else None
    if kiosk_framing and kiosk_framings is None:
        raise click.UsageError(
            "--kiosk-framing needs --kiosk-framings FILE.npz (write it with edge-models train kiosk-framings)"
        )
    if kiosk_framings is not None and kiosk_framing is None:
        raise click.UsageError("--kiosk-framings needs --kiosk-framing P (the chance a face is kiosk-framed)")
    if not kiosk_framing:
        kiosk_framings = None  # --kiosk-framing 0: off, the file unused (the same recipe as without it)
    if kiosk_framings is not None and kiosk_framing:
        base = augmentation if augmentation is not None else Augmentation()
        augmentation = Augmentation.model_validate(
            {
                **base.model_dump(),
                "kiosk_framing": kiosk_framing,
                "kiosk_framings_sha256": sha256_file(kiosk_framings),
            }
        )
    chosen: dict[str, object] = {
        "seed": seed,
        "epochs": epochs,
        "architecture": architecture,
        "width": width,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "label_smoothing": label_smoothing,
        "mixup_alpha": mixup_alpha,
        "class_weighting": class_weighting,
        "augmentation": augmentation,
        "distill": distill,
    }
    recipe = Recipe.model_validate({k: v for k, v in chosen.items() if v is not None})
    train = _trainer().train
    options = TrainOptions(
        data=data,
        out=out,
        limit=limit,
        export=export,
        threads=threads,
        stop_after=stop_after,
        flip_average=flip_average,
        selection="validation" if selection == "validation" else "publictest",
        validation_fraction=validation_fraction,
        validation_seed=validation_seed,
        teacher_targets=teacher_targets,
        kiosk_framings=kiosk_framings,
    )
    try:
        train(recipe, options)
    except (EdgeModelsError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc


def _trainer() -> ModuleType:
    """The TensorFlow half of the trainer, imported only when a command needs it."""
    try:
        from edge_models.build import train_emotion
    except ImportError as exc:
        raise click.ClickException(
            f"training needs TensorFlow, which cannot be imported here ({exc}): pip install -e '.[build]'"
        ) from exc
    return train_emotion


_RUN_OPTION = click.option(
    "--run",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    required=True,
    help="The --out folder of a finished edge-models train emotion run.",
)


@train_group.command("export")
@_RUN_OPTION
@_FLIP_AVERAGE_OPTION
@_THREADS_OPTION
def export(run: Path, flip_average: bool, threads: int) -> None:
    """Export a finished run's best epoch again, replacing its export/ folder.

    Fits the temperature on PublicTest, converts to a float reference (float16 weights) and full-int8
    TFLite and measures both on PublicTest, as the end of a training does; the recipe and data come from
    the run folder.

    \b
    Example:
        edge-models train export --run runs/emotion-s0 --flip-average
    """
    try:
        _trainer().export_run(run, threads=threads, flip_average=flip_average)
    except (EdgeModelsError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc


@train_group.command("install")
@_RUN_OPTION
@click.option(
    "--models-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=MODELS_DIR,
    show_default=True,
    help="Models folder with the manifest.json to add the entries to.",
)
def install(run: Path, models_dir: Path) -> None:
    """Copy a run's float and int8 models into the models folder and add their manifest entries.

    Checks each file's size and sha256 against the run's entries first. The kiosk's default emotion
    model is not changed.

    \b
    Example:
        edge-models train install --run runs/emotion-s0
    """
    try:
        entries = install_run(run, models_dir)
    except EdgeModelsError as exc:
        raise click.ClickException(str(exc)) from exc
    for entry in entries:
        click.echo(f"installed {entry.name} ({entry.size_bytes} bytes) into {models_dir}")


@train_group.command("soft-targets")
@click.option(
    "--teacher",
    "teachers",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    multiple=True,
    required=True,
    help="A teacher's run folder (its best epoch is used); repeat for an ensemble.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The .npz to write (the student's --teacher-targets).",
)
@click.option(
    "--temperature",
    type=click.FloatRange(0, min_open=True),
    default=4.0,
    show_default=True,
    help="Temperature of the stored probabilities (the file also keeps the logits, so a student may "
    "distil at another --distill-temperature).",
)
@_THREADS_OPTION
def soft_targets(teachers: tuple[Path, ...], out: Path, temperature: float, threads: int) -> None:
    """Write a teacher ensemble's soft targets over the training split to an .npz.

    Each teacher's best epoch classifies every training face and its mirror image (flip averaging); the
    file keeps each teacher's averaged logits, the ensemble's probabilities at --temperature (the mean over
    teachers of softmax(logits / T)), the teachers' run folders with the sha256 of their weights, and the
    sha256 of train.npz. Teachers that selected on a validation split get their and the ensemble's
    validation accuracy printed and stored.

    \b
    Example:
        edge-models train soft-targets --teacher runs/vgg40-s1 --teacher runs/vgg40-s2 \\
            --out runs/targets.npz --temperature 4
    """
    try:
        _trainer().write_soft_targets(list(teachers), out, temperature=temperature, threads=threads)
    except (EdgeModelsError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc


@contextmanager
def _detection_bar(total: int) -> Iterator[Callable[[int], None]]:
    with click.progressbar(length=total, label=f"detecting {total} faces", file=sys.stderr) as bar:
        yield bar.update


@train_group.command("kiosk-framings")
@click.option(
    "--data",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=DEFAULT_DATA,
    show_default=True,
    help="FER-2013 folder: its train.npz is read, nothing else.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The .npz to write (the trainer's --kiosk-framings).",
)
@kiosk_framing_options("")
@click.option(
    "--limit",
    type=click.IntRange(1),
    default=None,
    help="Only N faces spread evenly through train.npz, as edge-models train emotion --limit (tests); a "
    "training run needs every one of its rows scanned.",
)
@click.option(
    "--threads", type=click.IntRange(1, 8), default=1, show_default=True, help="Interpreter threads."
)
@click.option(
    "--manifest",
    "manifest_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Manifest to use [default: edge_models/models/manifest.json]; models are read from its folder.",
)
def kiosk_framings(
    *,
    data: Path,
    out: Path,
    presence_model: str,
    kiosk_scale: int,
    kiosk_pad: float,
    limit: int | None,
    threads: int,
    manifest_path: Path | None,
) -> None:
    """Store how the kiosk would crop each FER-2013 Training face, for the --kiosk-framing augmentation.

    Each face of train.npz is framed as edge-models eval emotion --crops kiosk frames it (upscaled on a
    mid-gray canvas), the kiosk's presence model looks for it and, for each face found that the kiosk would
    classify (width and frontalness rules), the 2x3 affine map from the 48x48 FER face straight to the
    kiosk's 48x48 eye-aligned crop is stored, with the row, the sha256 of train.npz, the detector's name and
    sha256, and the framing settings. Prints how many faces were found and eligible. No TensorFlow needed.

    \b
    Example:
        edge-models train kiosk-framings --data ../shared/data/fer2013 --out runs/framings.npz
        edge-models train emotion --out runs/s28k --width 28 --selection validation \\
            --kiosk-framings runs/framings.npz --kiosk-framing 0.5
    """
    try:
        report = write_kiosk_framings(
            data,
            out,
            presence_model=presence_model,
            threads=threads,
            limit=limit,
            framing=KioskFraming(kiosk_scale, kiosk_pad),
            manifest=load_manifest(manifest_path) if manifest_path is not None else None,
            models_dir=manifest_path.parent if manifest_path is not None else None,
            progress=_detection_bar,
        )
    except EdgeModelsError as exc:
        raise click.ClickException(str(exc)) from exc
    share = report.found / report.faces if report.faces else 0.0
    click.echo(
        f"{presence_model} found {report.found} of {report.faces} faces ({share:.1%}), {report.eligible} "
        f"eligible; wrote the framings of the eligible ones to {out} ({report.seconds:.1f} s)"
    )


@train_group.command("status")
@click.argument(
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=RESUME_DIR,
    required=False,
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON list.")
def status(folder: Path, as_json: bool) -> None:
    """Each run folder's epoch of the total, best selection accuracy, wall and CPU time, and time left.

    FOLDER is a run folder or a folder of them [default: edge_models/train/resume]. The time left is the
    mean wall time of the last five epochs times the epochs left (other work on the machine changes it).

    \b
    Example:
        edge-models train status
        edge-models train status edge_models/train/resume/teachers --json
    """
    try:
        found = [run_status(root) for root in find_runs(folder)]
    except EdgeModelsError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps([s.to_json() for s in found], indent=2))
        return
    if not found:
        click.echo(f"no run folder (one with recipe.json) in {folder}")
    for run in found:
        click.echo(format_status(run))
