"""``edge-models train``: train Vitrina's own emotion model, and install a finished run's export.

Importing this module needs no TensorFlow (``--help`` works on the kiosk); ``train emotion`` imports
:mod:`edge_models.build.train_emotion` only when it starts.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import click

from edge_models.errors import EdgeModelsError
from edge_models.manifest import MODELS_DIR
from edge_models.train.install import install_run
from edge_models.train.recipe import NO_AUGMENTATION, Recipe
from edge_models.train.run import TrainOptions

DEFAULT_DATA = Path("../shared/data/fer2013")

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
@click.option("--no-augment", is_flag=True, help="Train without augmentation (for comparisons).")
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
    limit: int | None,
    export: bool,
    flip_average: bool,
    stop_after: int | None,
    threads: int,
) -> None:
    """Train the emotion model on FER-2013 Training, choosing the epoch on PublicTest.

    Deterministic for a seed; resumes an unfinished run in --out from its last finished epoch. Writes
    metrics.jsonl (one line per epoch), train.log, and at the end a temperature-calibrated float and
    full-int8 export measured on PublicTest (export/report.json). A GPU is used when TensorFlow sees one.

    \b
    Example:
        edge-models train emotion --data ../shared/data/fer2013 --out runs/emotion-s0 --seed 0
        edge-models train emotion --out /tmp/smoke --limit 512 --epochs 1
    """
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
        "augmentation": NO_AUGMENTATION if no_augment else None,
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
