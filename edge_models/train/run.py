"""A training run's folder and data: which split is read, and the files a run writes.

A run folder holds::

    recipe.json        the frozen recipe (a resume must use the same one)
    run.json           data folder and --limit (a resume must use the same ones)
    state.json         epochs done and the best epoch so far on the selection split
    metrics.jsonl      one :class:`EpochRecord` per finished epoch
    train.log          the human log
    checkpoint.npz     model and optimiser state after the last finished epoch
    best.npz           model weights of the best epoch on the selection split
    export/            float and int8 .tflite, report.json, entries.json (manifest entries)

Only ``train.npz`` (FER-2013 Training) and ``publictest/`` are read; no other file of the data folder is
ever opened. The **selection split** chooses the epoch and fits the temperature:

- ``publictest`` (the default, how the shipped model was made): all Training faces are trained on and
  PublicTest selects, so PublicTest accuracy is optimistic for the chosen model;
- ``validation``: a stratified, seeded share of the Training faces (10% by default, the same for every run
  with the same ``validation_seed``, :func:`validation_split`) is held out and selects; the rest is trained
  on, and PublicTest is read once, at the export, to measure the chosen model.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, model_validator

from edge_models.datasets import EmotionDataset, load_emotion_dataset
from edge_models.errors import DatasetError
from edge_models.train.augment import resize_crops
from edge_models.values import FER_CLASSES

TRAIN_FILE = "train.npz"
SELECTION_FOLDER = "publictest"
INT8_NAME = "emotion_vitrina_int8"
FLOAT_NAME = "emotion_vitrina_float"
DEFAULT_VALIDATION_FRACTION = 0.1

#: The split that chooses the epoch and fits the temperature (see the module docstring).
Selection = Literal["publictest", "validation"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class TrainOptions:
    """How to run a training (not part of the recipe: these do not change what a full run learns)."""

    data: Path
    out: Path
    limit: int | None = None
    export: bool = True
    threads: int = 2
    stop_after: int | None = None
    selection_limit: int | None = None
    flip_average: bool = False
    selection: Selection = "publictest"
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION
    validation_seed: int = 0
    teacher_targets: Path | None = None
    kiosk_framings: Path | None = None


class RunSettings(_Frozen):
    """The data a run reads; a resume must read the same."""

    data: str = Field(description="FER-2013 folder (holds train.npz and publictest/).")
    limit: int | None = Field(
        description="Only N training faces, spread evenly through train.npz (smoke tests); null: all."
    )
    selection_limit: int | None = Field(
        default=None, description="Only N PublicTest faces, spread evenly (tests); null: all."
    )
    selection: Selection = Field(
        default="publictest",
        description="Split that chooses the epoch and fits the temperature: publictest (all Training faces "
        "trained on) or validation (a stratified seeded share of Training held out; PublicTest read once, "
        "at the export).",
    )
    validation_fraction: float = Field(
        default=DEFAULT_VALIDATION_FRACTION,
        gt=0,
        lt=1,
        description="Share of each class of the training faces held out when selection is validation.",
    )
    validation_seed: int = Field(
        default=0, ge=0, description="Seed of the validation split (independent of the recipe's seed)."
    )


class EpochRecord(_Frozen):
    """Figures of one finished epoch (one line of ``metrics.jsonl``)."""

    epoch: int = Field(description="Epoch number, from 1.")
    train_loss: float = Field(
        description="Mean training loss (weighted, smoothed, augmented) over the epoch."
    )
    train_accuracy: float = Field(
        description="Top-1 accuracy on the augmented training faces, in training mode."
    )
    selection_loss: float = Field(
        description="Negative log-likelihood (plain labels) on the selection split (PublicTest or validation;"
        " read as publictest_loss from runs written before the split existed).",
    )
    selection_accuracy: float = Field(
        description="Top-1 accuracy of the float model on the selection split.",
    )
    learning_rate: float = Field(description="Learning rate at the end of the epoch.")
    seconds: float = Field(description="Wall-clock seconds of the epoch, training and selection pass.")
    cpu_seconds: float | None = Field(
        default=None,
        description="CPU seconds (user + system, all threads) the process spent on the epoch; null in runs "
        "written before it was recorded.",
    )

    @model_validator(mode="before")
    @classmethod
    def _old_names(cls, data: Any) -> Any:
        """Read records written before the selection split existed (``publictest_loss``/``_accuracy``)."""
        if isinstance(data, dict):
            data = dict(data)
            for old, new in (
                ("publictest_loss", "selection_loss"),
                ("publictest_accuracy", "selection_accuracy"),
            ):
                if old in data and new not in data:
                    data[new] = data.pop(old)
        return data


class RunState(_Frozen):
    """Where a run stands (``state.json``), written after each epoch's checkpoint."""

    recipe: str = Field(description="Fingerprint of the recipe the run trains.")
    epochs_done: int = Field(description="Finished epochs; training resumes at the next one.")
    best_epoch: int = Field(description="Epoch with the best selection accuracy so far (0: none yet).")
    best_accuracy: float = Field(description="That epoch's accuracy on the selection split.")
    selection: Selection = Field(
        default="publictest", description="Split whose accuracy chose best_epoch (see RunSettings)."
    )


class CalibrationReport(_Frozen):
    """Temperature scaling on the selection split (``ExportReport.selection``)."""

    temperature: float = Field(description="Logits are divided by this before the softmax.")
    ece_before: float = Field(description="Expected calibration error (15 bins) at temperature 1.")
    ece_after: float = Field(description="Expected calibration error (15 bins) at the fitted temperature.")
    nll_before: float = Field(description="Negative log-likelihood at temperature 1.")
    nll_after: float = Field(description="Negative log-likelihood at the fitted temperature.")


class ModelFigures(_Frozen):
    """One exported model measured on PublicTest through the TFLite interpreter (one thread)."""

    name: str = Field(description="Model name (manifest entry).")
    size_bytes: int = Field(description="File size.")
    accuracy: float = Field(description="PublicTest top-1 accuracy.")
    per_class_recall: dict[str, float | None] = Field(description="Recall per FER class.")
    confusion: list[list[int]] = Field(description="Confusion matrix [true][predicted] in FER class order.")
    ece: float = Field(description="Expected calibration error (15 bins) of its output probabilities.")
    mean_ms: float = Field(description="Mean invoke time per face, one thread, on the training machine.")


class ExportReport(_Frozen):
    """What ``export/report.json`` holds."""

    recipe: str = Field(description="Recipe fingerprint.")
    best_epoch: int = Field(description="Epoch whose weights were exported.")
    selection: Selection = Field(
        default="publictest",
        description="Split that chose best_epoch and fitted the temperature; the model figures are always "
        "measured on PublicTest (with selection validation, the only time the run reads PublicTest).",
    )
    flip_average: bool = Field(
        default=False,
        description="Whether the exported graph averages the logits of each face and its mirror image.",
    )
    parameters: int = Field(description="Trainable and non-trainable parameters of the Keras model.")
    calibration: CalibrationReport = Field(description="Temperature scaling (baked into both exports).")
    float_model: ModelFigures = Field(description="The float reference export (float16 weights).")
    int8_model: ModelFigures = Field(description="The full-int8 export.")
    top1_agreement: float = Field(
        description="Share of PublicTest faces where int8 and float agree on top-1."
    )


@dataclass(frozen=True)
class RunPaths:
    """The files of one run folder."""

    root: Path

    @property
    def recipe(self) -> Path:
        return self.root / "recipe.json"

    @property
    def settings(self) -> Path:
        return self.root / "run.json"

    @property
    def state(self) -> Path:
        return self.root / "state.json"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def log(self) -> Path:
        return self.root / "train.log"

    @property
    def checkpoint(self) -> Path:
        return self.root / "checkpoint.npz"

    @property
    def best(self) -> Path:
        return self.root / "best.npz"

    @property
    def export(self) -> Path:
        return self.root / "export"

    @property
    def report(self) -> Path:
        return self.export / "report.json"

    @property
    def entries(self) -> Path:
        return self.export / "entries.json"


@contextmanager
def run_folder_lock(root: Path) -> Iterator[None]:
    """Hold an exclusive lock on the run folder ``root`` (made if missing) for the block.

    Two trainers on one folder would overwrite each other's checkpoints and metrics; the second is refused
    at once instead. The lock is the kernel's (``flock`` on the folder itself), so a killed trainer leaves
    none behind and the folder gains no file.
    """
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ValueError(
                f"{root} is being trained by another process: wait for it to finish or stop it (two "
                "trainers on one folder would overwrite each other's checkpoints)"
            ) from None
        yield
    finally:
        os.close(fd)


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file, so a crash never leaves half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def read_metrics(path: Path) -> list[EpochRecord]:
    """The epoch records of ``metrics.jsonl`` (empty when the file does not exist)."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [EpochRecord.model_validate_json(line) for line in lines if line.strip()]


def write_metrics(path: Path, records: list[EpochRecord]) -> None:
    """Rewrite ``metrics.jsonl`` with exactly ``records`` (used to drop epochs a crash left unfinished)."""
    write_text_atomic(path, "".join(r.model_dump_json() + "\n" for r in records))


def append_metrics(path: Path, record: EpochRecord) -> None:
    """Add one epoch's record to ``metrics.jsonl``."""
    with path.open("a", encoding="utf-8") as f:
        f.write(record.model_dump_json() + "\n")


def spread(total: int, limit: int | None) -> npt.NDArray[np.int64]:
    """``limit`` indices spread evenly over ``range(total)`` (all of them when ``limit`` is None or larger).

    ``train.npz`` and the PublicTest folder are ordered by class, so the first N faces would all be
    angry; evenly spread ones keep every class.
    """
    if limit is None or limit >= total:
        return np.arange(total, dtype=np.int64)
    picks: npt.NDArray[np.int64] = np.floor(np.arange(limit) * (total / limit)).astype(np.int64)
    return picks


def load_training_split(
    data: Path, size: int, limit: int | None = None
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """FER-2013 Training faces ``[N, size, size]`` and labels from ``data/train.npz``.

    ``limit`` keeps that many faces spread evenly through the file (see :func:`spread`).
    """
    faces, labels, _rows = load_training_rows(data, size, limit)
    return faces, labels


def load_training_rows(
    data: Path, size: int, limit: int | None = None
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """:func:`load_training_split` and each face's row in ``train.npz`` (soft targets are matched by row)."""
    path = data / TRAIN_FILE
    if not path.is_file():
        raise DatasetError(f"no {TRAIN_FILE} in {data}: pass --data with the FER-2013 folder")
    dataset = load_emotion_dataset(path)
    keep = spread(len(dataset), limit)
    faces = np.stack([dataset.images[i] for i in keep])
    return resize_crops(faces, size), dataset.labels[keep], keep


def validation_split(
    labels: npt.NDArray[np.int64], fraction: float = DEFAULT_VALIDATION_FRACTION, seed: int = 0
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Positions ``(train, validation)`` into ``labels``: ``round(fraction * n)`` faces of each class (at
    least one where the class has two or more) held out, drawn by ``numpy.random.default_rng([seed, class])``.

    Stratified and a function of the labels, fraction and seed only, so every run (teachers, students,
    baselines) with the same seed holds out the same faces. Both arrays are sorted.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"validation fraction must be between 0 and 1, got {fraction}")
    held: list[npt.NDArray[np.int64]] = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        count = min(max(round(fraction * len(members)), 1), len(members) - 1) if len(members) >= 2 else 0
        rng = np.random.default_rng([seed, int(c)])
        held.append(np.sort(rng.permutation(members)[:count]))
    val = np.sort(np.concatenate(held)).astype(np.int64)
    train = np.setdiff1d(np.arange(len(labels), dtype=np.int64), val)
    return train, val


def load_held_out_faces(
    path: Path,
    split: Literal["validation", "unused"] = "validation",
    limit: int | None = None,
    fraction: float = DEFAULT_VALIDATION_FRACTION,
    seed: int = 0,
) -> EmotionDataset:
    """Training faces a ``--selection validation`` run (its ``train.npz`` is ``path``) did not train on.

    ``validation``: the faces the trainer holds out to choose the epoch (``limit``, the run's ``--limit``,
    keeps that many faces spread evenly, then :func:`validation_split` draws ``fraction`` of each class with
    ``seed``); ``unused``: the faces a run with ``--limit`` never read at all (neither trained nor
    selected on), in file order.
    """
    if not (path.is_file() and path.suffix == ".npz"):
        raise DatasetError(
            f"{path} is not a training .npz: the held-out faces are drawn from FER-2013's {TRAIN_FILE} "
            f"(e.g. --data ../shared/data/fer2013/{TRAIN_FILE})"
        )
    dataset = load_emotion_dataset(path)
    keep = spread(len(dataset), limit)
    if split == "validation":
        _train, val = validation_split(dataset.labels[keep], fraction, seed)
        rows = keep[val]
    else:
        rows = np.setdiff1d(np.arange(len(dataset), dtype=np.int64), keep)
        if not len(rows):
            raise DatasetError(
                f"a run without --limit (or one of {len(dataset)} or more) reads every face of {path}: no "
                "face is unused (pass the run's --limit)"
            )
    return EmotionDataset(tuple(dataset.images[i] for i in rows), dataset.labels[rows])


def sha256_file(path: Path) -> str:
    """sha256 of a file, read in 1 MiB pieces."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_derived_npz(
    path: Path,
    *,
    data: Path,
    rows: npt.NDArray[np.int64],
    keys: frozenset[str],
    covered_by: str,
    describe: str,
    remake: str,
    rows_hint: str,
    error: type[Exception],
) -> dict[str, npt.NDArray[Any]]:
    """The arrays of an .npz derived from ``data/train.npz`` (soft targets, kiosk framings), checked.

    Refuses, with ``error``, a file that is not an .npz, one that lacks one of ``keys``, one made from
    another ``train.npz`` (its ``train_sha256``), and one whose ``covered_by`` array misses one of the
    training ``rows``. ``describe`` names the file's kind ("a soft-target file"), ``remake`` the command that
    writes it, ``rows_hint`` how to write it again so that it covers every row.
    """
    try:
        f = np.load(path)
    except (OSError, ValueError) as exc:
        raise error(f"cannot read {path} as an .npz ({exc}): write it with {remake}") from exc
    if not isinstance(f, np.lib.npyio.NpzFile):
        raise error(f"{path} holds one array, not an .npz of named arrays: write it with {remake}")
    with f:
        if not set(f.files) >= keys:
            raise error(
                f"{path} is not {describe} (lacks {', '.join(sorted(keys - set(f.files)))}): "
                f"write one with {remake}"
            )
        arrays = {key: f[key] for key in f.files}
    train_sha, actual = str(arrays["train_sha256"]), sha256_file(data / TRAIN_FILE)
    if train_sha != actual:
        raise error(
            f"{path} was made from another {TRAIN_FILE} (sha256 {train_sha[:12]}..., this one "
            f"{actual[:12]}...): write it again from this --data"
        )
    missing = np.setdiff1d(rows, arrays[covered_by])
    if len(missing):
        raise error(
            f"{path} did not cover {len(missing)} training rows (first: {int(missing[0])}): {rows_hint}"
        )
    return arrays


def load_selection_split(
    data: Path, size: int, limit: int | None = None
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """FER-2013 PublicTest faces and labels from ``data/publictest/<class>/`` (class, then file order);
    ``limit`` keeps that many, spread evenly (tests only: selection uses all of PublicTest)."""
    path = data / SELECTION_FOLDER
    if not path.is_dir():
        raise DatasetError(f"no {SELECTION_FOLDER}/ folder in {data}: pass --data with the FER-2013 folder")
    dataset = load_emotion_dataset(path)
    missing = [c for c in FER_CLASSES if not (path / c).is_dir()]
    if missing:
        raise DatasetError(f"{path} lacks class folders {', '.join(missing)}")
    keep = spread(len(dataset), limit)
    faces = np.stack([resize_crops(dataset.images[i][np.newaxis], size)[0] for i in keep])
    return faces, dataset.labels[keep]


def check_settings(paths: RunPaths, settings: RunSettings, recipe_json: str) -> bool:
    """Check that an existing run folder holds the same recipe and data; return True when it can resume.

    A new (empty or absent) folder gets ``recipe.json`` and ``run.json`` written and returns False.
    Raises ``ValueError`` naming the difference when the folder belongs to another run.
    """
    if paths.recipe.exists():
        old = json.loads(paths.recipe.read_text(encoding="utf-8"))
        if old != json.loads(recipe_json):
            raise ValueError(
                f"{paths.root} holds a run of another recipe ({paths.recipe}); resume it with the same "
                "options or choose a new --out"
            )
        old_settings = RunSettings.model_validate_json(paths.settings.read_text(encoding="utf-8"))
        if old_settings != settings:
            raise ValueError(
                f"{paths.root} was trained on data {old_settings.data} with --limit {old_settings.limit}"
                f" (selection limit {old_settings.selection_limit}); resume with the same --data and "
                "--limit or choose a new --out"
            )
        return paths.state.exists()
    paths.root.mkdir(parents=True, exist_ok=True)
    write_text_atomic(paths.recipe, recipe_json)
    write_text_atomic(paths.settings, settings.model_dump_json(indent=2) + "\n")
    return False
