"""Training Vitrina's own FER-2013 emotion model with TensorFlow, and its float and full-int8 export.

Called by ``edge-models train emotion`` (:mod:`edge_models.train.cli`). Trains on FER-2013 Training
(``train.npz``) only and selects the epoch on the run's selection split: PublicTest, or a seeded stratified
validation share of Training (then PublicTest is read once, at the export; :mod:`edge_models.train.run`).
With a teacher ensemble's soft targets (:func:`write_soft_targets`) it trains by knowledge distillation.

Deterministic for a seed: TensorFlow's seeds and op determinism are set, the data order and augmentation
come from a numpy generator seeded with ``(seed, epoch)``, and the dropout seed is reset from ``(seed,
epoch)`` at each epoch start. The model and optimiser state are saved after every epoch
(``checkpoint.npz``); a stopped run resumes at the next epoch and ends with the same weights as one that
never stopped.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import click
import numpy as np
import numpy.typing as npt

from edge_models.build._tf import import_tensorflow
from edge_models.build.emotion import contrast_stretch
from edge_models.build.errors import BuildError
from edge_models.build.tflite_io import TFLiteModel, convert_full_int8, run_converter
from edge_models.manifest import Agreement, ModelEntry, SourceInfo
from edge_models.train import calibration as cal
from edge_models.train.augment import KioskFramings, augment_batch, mixup, to_model_input
from edge_models.train.framings import load_kiosk_framings
from edge_models.train.install import LICENCE_FILE
from edge_models.train.recipe import Recipe
from edge_models.train.run import (
    FLOAT_NAME,
    INT8_NAME,
    CalibrationReport,
    EpochRecord,
    ExportReport,
    ModelFigures,
    RunPaths,
    RunSettings,
    RunState,
    TrainOptions,
    append_metrics,
    check_settings,
    load_selection_split,
    load_training_rows,
    read_derived_npz,
    read_metrics,
    run_folder_lock,
    sha256_file,
    validation_split,
    write_metrics,
    write_text_atomic,
)
from edge_models.values import FER_CLASSES

logger = logging.getLogger("edge_models.train")

CLASSES = len(FER_CLASSES)
INT8_NOTE = "Full int8 (weights, activations, input, output)."
FLOAT_NOTE = "Float reference (float16 weights, float32 compute)."
EVAL_BATCH = 512


def configure(threads: int) -> Any:
    """Import TensorFlow, make its kernels deterministic and set its CPU threads (before any op runs)."""
    if "tensorflow" in sys.modules and os.environ.get("TF_ENABLE_ONEDNN_OPTS") != "0":
        raise BuildError(
            "TensorFlow was imported before the trainer could turn oneDNN off (TF_ENABLE_ONEDNN_OPTS=0), "
            "so training would not be deterministic: set TF_ENABLE_ONEDNN_OPTS=0 and TF_DETERMINISTIC_OPS=1 "
            "before importing TensorFlow, or start the training in a fresh process"
        )
    tf = import_tensorflow()
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.experimental.enable_op_determinism()
    return tf


def build_model(recipe: Recipe) -> Any:
    """The Keras model: gray ``[S, S, 1]`` in [-1, 1] -> 7 logits (no softmax; export adds it)."""
    tf = import_tensorflow()
    keras = tf.keras
    layers = keras.layers
    size, w = recipe.input_size, recipe.width
    inputs = keras.Input((size, size, 1), name="face")

    def bn_relu(x: Any) -> Any:
        return layers.ReLU()(layers.BatchNormalization()(x))

    if recipe.architecture == "sepnet":
        x = bn_relu(layers.Conv2D(w, 3, padding="same", use_bias=False)(inputs))
        for channels in (w, 2 * w, 4 * w, 8 * w):
            shortcut = layers.BatchNormalization()(
                layers.Conv2D(channels, 1, strides=2, padding="same", use_bias=False)(x)
            )
            y = bn_relu(layers.SeparableConv2D(channels, 3, padding="same", use_bias=False)(x))
            y = layers.BatchNormalization()(
                layers.SeparableConv2D(channels, 3, padding="same", use_bias=False)(y)
            )
            y = layers.MaxPooling2D(3, strides=2, padding="same")(y)
            x = layers.ReLU()(layers.Add()([y, shortcut]))
    else:
        x = inputs
        for channels in (w, 2 * w, 4 * w, 8 * w):
            x = bn_relu(layers.Conv2D(channels, 3, padding="same", use_bias=False)(x))
            x = bn_relu(layers.Conv2D(channels, 3, padding="same", use_bias=False)(x))
            x = layers.MaxPooling2D(2)(x)
    x = layers.GlobalAveragePooling2D()(x)
    if recipe.dropout:
        x = layers.Dropout(recipe.dropout, seed=recipe.seed)(x)
    logits = layers.Dense(CLASSES, name="logits")(x)
    return keras.Model(inputs, logits, name=f"emotion_{recipe.architecture}{w}")


def _optimizer(recipe: Recipe, steps_per_epoch: int) -> Any:
    tf = import_tensorflow()
    total = recipe.epochs * steps_per_epoch
    warmup = min(round(recipe.warmup_epochs * steps_per_epoch), total // 10)
    schedule = tf.keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup else recipe.learning_rate,
        decay_steps=max(1, total - warmup),
        alpha=0.01,
        warmup_target=recipe.learning_rate if warmup else None,
        warmup_steps=warmup,
    )
    return tf.keras.optimizers.AdamW(learning_rate=schedule, weight_decay=recipe.weight_decay)


def _save_state(path: Path, variables: list[Any]) -> None:
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, *[v.numpy() for v in variables])
    tmp.replace(path)


def _load_state(path: Path, variables: list[Any]) -> None:
    with np.load(path) as data:
        values = [data[f"arr_{i}"] for i in range(len(data.files))]
    if len(values) != len(variables):
        raise BuildError(
            f"{path} holds {len(values)} arrays, the model and optimiser {len(variables)}: it belongs to "
            "another model; choose a new --out"
        )
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)


def _reset_dropout_seeds(model: Any, seed: int, epoch: int) -> None:
    """Give every seed generator (dropout) a state that depends only on the seed and the epoch."""
    generators = [v for v in model.non_trainable_variables if v.path.endswith("seed_generator_state")]
    for i, state in enumerate(generators):
        state.assign(np.array([seed * 1_000_003 + epoch * 101 + i, 0], dtype=np.int64))


def predict_logits(
    model: Any, inputs: npt.NDArray[np.float32], flip_average: bool = False
) -> npt.NDArray[np.float64]:
    """The model's logits for many inputs ``[N, S, S, 1]``, in inference mode; with ``flip_average`` the
    mean of the logits of each face and its mirror image (what the flip-averaged export computes)."""
    parts = [
        np.asarray(model(inputs[i : i + EVAL_BATCH], training=False))
        for i in range(0, len(inputs), EVAL_BATCH)
    ]
    logits = np.concatenate(parts).astype(np.float64)
    if flip_average:
        logits = (logits + predict_logits(model, inputs[:, :, ::-1].copy())) / 2
    return logits


def flip_averaged(model: Any) -> Any:
    """A Keras model whose logits are the mean of ``model``'s logits for a face and its mirror image.

    The face and its mirror go through the network as one batch of two (one copy of the weights in the
    exported file, one invoke a face); the batch is split again before the mean, so any batch size works.
    """
    keras = import_tensorflow().keras
    layers, ops = keras.layers, keras.ops
    face = keras.Input(model.input.shape[1:], name="face")
    mirrored = layers.Lambda(lambda x: ops.flip(x, axis=2), name="mirror")(face)
    both = layers.Concatenate(axis=0, name="face_and_mirror")([face, mirrored])
    logits = model(both)
    pairs = layers.Lambda(lambda x: ops.reshape(x, (2, -1, CLASSES)), name="split")(logits)
    mean = layers.Lambda(lambda x: ops.mean(x, axis=0), name="flip_average")(pairs)
    return keras.Model(face, mean, name=f"{model.name}_flip_average")


def _setup_logging(path: Path) -> None:
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.handlers = [h for h in logger.handlers if not isinstance(h, logging.FileHandler)]
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


@dataclass
class _Session:
    """What the epochs of one run share."""

    recipe: Recipe
    paths: RunPaths
    model: Any
    optimizer: Any
    train_step: Any
    train_x: npt.NDArray[np.uint8]
    train_y: npt.NDArray[np.int64]
    test_inputs: npt.NDArray[np.float32]
    test_y: npt.NDArray[np.int64]
    weights: npt.NDArray[np.float32]
    final_inputs: npt.NDArray[np.float32]
    final_y: npt.NDArray[np.int64]
    selection: str = "publictest"
    soft: npt.NDArray[np.float32] | None = None
    framings: KioskFramings | None = None

    @property
    def state_variables(self) -> list[Any]:
        return [*self.model.variables, *self.optimizer.variables]


def _make_train_step(tf: Any, recipe: Recipe, model: Any, optimizer: Any) -> Any:
    size = recipe.input_size

    @tf.function(  # type: ignore[untyped-decorator]
        input_signature=[
            tf.TensorSpec([None, size, size, 1], tf.float32),
            tf.TensorSpec([None, CLASSES], tf.float32),
            tf.TensorSpec([None], tf.float32),
        ]
    )
    def train_step(x: Any, t: Any, w: Any) -> tuple[Any, Any]:
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            per_face = tf.nn.softmax_cross_entropy_with_logits(labels=t, logits=logits)
            loss = tf.reduce_mean(per_face * w)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(grads, model.trainable_variables)
        return loss, tf.argmax(logits, axis=1)

    return train_step


def _make_distill_step(tf: Any, recipe: Recipe, model: Any, optimizer: Any) -> Any:
    """The training step with the distillation loss of :class:`~edge_models.train.recipe.Distillation`."""
    assert recipe.distill is not None
    size = recipe.input_size
    temperature = float(recipe.distill.temperature)
    alpha = float(recipe.distill.alpha)

    @tf.function(  # type: ignore[untyped-decorator]
        input_signature=[
            tf.TensorSpec([None, size, size, 1], tf.float32),
            tf.TensorSpec([None, CLASSES], tf.float32),
            tf.TensorSpec([None], tf.float32),
            tf.TensorSpec([None, CLASSES], tf.float32),
        ]
    )
    def distill_step(x: Any, t: Any, w: Any, soft: Any) -> tuple[Any, Any]:
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            hard = tf.nn.softmax_cross_entropy_with_logits(labels=t, logits=logits) * w
            log_student = tf.nn.log_softmax(logits / temperature, axis=1)
            log_teacher = tf.math.log(tf.maximum(soft, 1e-12))
            kl = tf.reduce_sum(soft * (log_teacher - log_student), axis=1)
            loss = tf.reduce_mean((1.0 - alpha) * hard + alpha * temperature * temperature * kl)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(grads, model.trainable_variables)
        return loss, tf.argmax(logits, axis=1)

    return distill_step


def _run_epoch(run: _Session, epoch: int) -> tuple[float, float]:
    """One pass over the training faces in the epoch's seeded order; returns mean loss and accuracy."""
    recipe = run.recipe
    rng = np.random.default_rng([recipe.seed, epoch])
    _reset_dropout_seeds(run.model, recipe.seed, epoch)
    order = rng.permutation(len(run.train_x))
    loss_sum, correct, seen = 0.0, 0, 0
    steps = -(-len(order) // recipe.batch_size)
    with click.progressbar(
        length=steps, label=f"epoch {epoch}/{recipe.epochs}", file=sys.stderr, item_show_func=lambda s: s
    ) as bar:
        for start in range(0, len(order), recipe.batch_size):
            idx = order[start : start + recipe.batch_size]
            labels = run.train_y[idx]
            framings = None if run.framings is None else run.framings.take(idx)
            x = augment_batch(run.train_x[idx], rng, recipe.augmentation, framings)
            t = cal.smooth_targets(labels, CLASSES, recipe.label_smoothing)
            x, t = mixup(x, t, rng, recipe.mixup_alpha)
            if run.soft is None:
                loss, top = run.train_step(x, t, run.weights[labels])
            else:
                loss, top = run.train_step(x, t, run.weights[labels], run.soft[idx])
            loss_sum += float(loss) * len(idx)
            correct += int(np.sum(np.asarray(top) == labels))
            seen += len(idx)
            bar.update(1, f"loss {loss_sum / seen:.4f}")
    return loss_sum / seen, correct / seen


def _finish_epoch(run: _Session, state: RunState, epoch: int, record: EpochRecord) -> RunState:
    """Log the epoch, keep the best weights, checkpoint, and return the new state."""
    append_metrics(run.paths.metrics, record)
    best = record.selection_accuracy > state.best_accuracy
    if best:
        _save_state(run.paths.best, list(run.model.variables))
    _save_state(run.paths.checkpoint, run.state_variables)
    state = RunState(
        recipe=state.recipe,
        epochs_done=epoch,
        best_epoch=epoch if best else state.best_epoch,
        best_accuracy=record.selection_accuracy if best else state.best_accuracy,
        selection=state.selection,
    )
    write_text_atomic(run.paths.state, state.model_dump_json(indent=2) + "\n")
    return state


@dataclass(frozen=True)
class Splits:
    """The faces a run trains on and selects on, and PublicTest for the final measurement."""

    train_x: npt.NDArray[np.uint8]
    train_y: npt.NDArray[np.int64]
    train_rows: npt.NDArray[np.int64]
    select_x: npt.NDArray[np.uint8]
    select_y: npt.NDArray[np.int64]
    select_rows: npt.NDArray[np.int64] | None
    final_x: npt.NDArray[np.uint8]
    final_y: npt.NDArray[np.int64]


def load_splits(options: TrainOptions, size: int) -> Splits:
    """Training, selection and final (PublicTest) faces as ``options.selection`` says; the selection rows
    are ``train.npz`` rows for a validation split, None for PublicTest."""
    x, y, rows = load_training_rows(options.data, size, options.limit)
    test_x, test_y = load_selection_split(options.data, size, options.selection_limit)
    if options.selection == "publictest":
        return Splits(x, y, rows, test_x, test_y, None, test_x, test_y)
    train, val = validation_split(y, options.validation_fraction, options.validation_seed)
    return Splits(x[train], y[train], rows[train], x[val], y[val], rows[val], test_x, test_y)


def load_soft_targets(path: Path, rows: npt.NDArray[np.int64], data: Path, temperature: float) -> Any:
    """The ensemble's soft targets at ``temperature`` for the training ``rows`` of ``data/train.npz``.

    Recomputed from the per-teacher flip-averaged logits the file keeps (mean over teachers of
    ``softmax(logits / T)``), so any temperature can be tried from one file. Refuses a file made from another
    ``train.npz`` or one that lacks a row.
    """
    arrays = read_derived_npz(
        path,
        data=data,
        rows=rows,
        keys=frozenset({"logits", "rows", "train_sha256"}),
        covered_by="rows",
        describe="a soft-target file",
        remake="edge-models train soft-targets",
        rows_hint="write it with the same --data and --limit as the student",
        error=BuildError,
    )
    logits = arrays["logits"]
    position = {int(r): i for i, r in enumerate(arrays["rows"])}
    picked = logits[:, [position[int(r)] for r in rows]].astype(np.float64)
    probs = cal.ensemble_softmax(picked, temperature)
    return probs.astype(np.float32)


def _open_session(tf: Any, recipe: Recipe, options: TrainOptions, paths: RunPaths) -> _Session:
    splits = load_splits(options, recipe.input_size)
    selection = "validation" if options.selection == "validation" else "PublicTest"
    logger.info(
        "training on %d Training faces, selecting on %d %s faces",
        len(splits.train_y),
        len(splits.select_y),
        selection,
    )
    soft = None  # not needed to export a finished run
    if recipe.distill is not None and options.teacher_targets is not None:
        soft = load_soft_targets(
            options.teacher_targets, splits.train_rows, options.data, recipe.distill.temperature
        )
    framings = None  # not needed to export a finished run either
    if recipe.augmentation.kiosk_framing > 0 and options.kiosk_framings is not None:
        framings = load_kiosk_framings(
            options.kiosk_framings, splits.train_rows, options.data, recipe.input_size
        )
        logger.info(
            "kiosk framing %.2f: %d of %d training faces have their own framing (%s)",
            recipe.augmentation.kiosk_framing,
            int(np.sum(framings.own >= 0)),
            len(framings.own),
            options.kiosk_framings,
        )
    tf.keras.utils.set_random_seed(recipe.seed)
    model = build_model(recipe)
    optimizer = _optimizer(recipe, -(-len(splits.train_x) // recipe.batch_size))
    optimizer.build(model.trainable_variables)
    step = (
        _make_train_step(tf, recipe, model, optimizer)
        if soft is None
        else _make_distill_step(tf, recipe, model, optimizer)
    )
    return _Session(
        recipe=recipe,
        paths=paths,
        model=model,
        optimizer=optimizer,
        train_step=step,
        train_x=splits.train_x,
        train_y=splits.train_y,
        test_inputs=to_model_input(splits.select_x),
        test_y=splits.select_y,
        weights=cal.class_weights(splits.train_y, CLASSES, recipe.class_weighting).astype(np.float32),
        final_inputs=to_model_input(splits.final_x),
        final_y=splits.final_y,
        selection=options.selection,
        soft=soft,
        framings=framings,
    )


def _check_kiosk_framings(recipe: Recipe, options: TrainOptions, paths: RunPaths) -> None:
    """Refuse a kiosk-framings file the recipe does not name, and a resume with another file (or none, or
    one where the run had none) than the run started with, saying which, before anything is trained."""
    aug = recipe.augmentation
    if (aug.kiosk_framing > 0) != (options.kiosk_framings is not None):
        raise ValueError(
            "a kiosk-framing recipe and --kiosk-framings go together: pass both (--kiosk-framing P above 0 "
            "and the file) or neither"
        )
    digest = None if options.kiosk_framings is None else sha256_file(options.kiosk_framings)
    if paths.recipe.exists():
        old = Recipe.model_validate_json(paths.recipe.read_text(encoding="utf-8")).augmentation
        if old.kiosk_framings_sha256 != digest:
            started = (
                "without kiosk framing"
                if old.kiosk_framings_sha256 is None
                else f"with kiosk framing {old.kiosk_framing:g} from a kiosk-framings file of sha256 "
                f"{old.kiosk_framings_sha256[:12]}..."
            )
            given = (
                "without --kiosk-framings"
                if digest is None
                else f"with {options.kiosk_framings} (sha256 {digest[:12]}...)"
            )
            raise ValueError(
                f"{paths.root} holds a run started {started}, resumed here {given}: resume it with the "
                "options it started with, or choose a new --out"
            )
    if digest is not None and digest != aug.kiosk_framings_sha256:
        raise ValueError(
            f"{options.kiosk_framings} (sha256 {digest[:12]}...) is not the kiosk-framings file the recipe "
            f"names ({str(aug.kiosk_framings_sha256)[:12]}...): pass that file or make a new recipe"
        )


def train(recipe: Recipe, options: TrainOptions, echo: Callable[[str], None] = click.echo) -> RunState:
    """Train (or resume) the run in ``options.out``, then calibrate and export the best epoch.

    With ``options.stop_after`` the run stops after that epoch (checkpointed, not exported); running the
    same command again resumes it.
    """
    tf = configure(options.threads)
    paths = RunPaths(options.out)
    settings = RunSettings(
        data=str(options.data.resolve()),
        limit=options.limit,
        selection_limit=options.selection_limit,
        selection=options.selection,
        validation_fraction=options.validation_fraction,
        validation_seed=options.validation_seed,
    )
    if recipe.distill is not None and recipe.mixup_alpha > 0:
        raise ValueError("distillation does not mix faces: train with --mixup 0 (the default)")
    if (recipe.distill is None) != (options.teacher_targets is None):
        raise ValueError("a distillation recipe and --teacher-targets go together: pass both or neither")
    if recipe.distill is not None and options.teacher_targets is not None:
        digest = sha256_file(options.teacher_targets)
        if digest != recipe.distill.targets_sha256:
            raise ValueError(
                f"{options.teacher_targets} (sha256 {digest[:12]}...) is not the soft-target file the recipe "
                f"names ({recipe.distill.targets_sha256[:12]}...): pass that file or make a new recipe"
            )
    _check_kiosk_framings(recipe, options, paths)
    with run_folder_lock(paths.root):
        return _train_locked(tf, recipe, options, paths, settings=settings, echo=echo)


def _train_locked(
    tf: Any,
    recipe: Recipe,
    options: TrainOptions,
    paths: RunPaths,
    *,
    settings: RunSettings,
    echo: Callable[[str], None],
) -> RunState:
    """:func:`train` once the run folder is locked."""
    resuming = check_settings(paths, settings, recipe.to_json())
    _setup_logging(paths.log)
    devices = [d.name for d in tf.config.list_logical_devices()]
    logger.info("recipe %s, devices %s, %d CPU thread(s)", recipe.fingerprint(), devices, options.threads)
    run = _open_session(tf, recipe, options, paths)
    state = RunState(
        recipe=recipe.fingerprint(),
        epochs_done=0,
        best_epoch=0,
        best_accuracy=0.0,
        selection=options.selection,
    )
    if resuming:
        state = RunState.model_validate_json(paths.state.read_text(encoding="utf-8"))
        _load_state(paths.checkpoint, run.state_variables)
        write_metrics(paths.metrics, read_metrics(paths.metrics)[: state.epochs_done])
        echo(f"resuming {paths.root} after epoch {state.epochs_done}")
        logger.info("resumed after epoch %d", state.epochs_done)
    elif paths.metrics.exists():
        paths.metrics.unlink()

    last = min(recipe.epochs, options.stop_after or recipe.epochs)
    for epoch in range(state.epochs_done + 1, last + 1):
        started, cpu_started = time.monotonic(), time.process_time()
        train_loss, train_accuracy = _run_epoch(run, epoch)
        logits = predict_logits(run.model, run.test_inputs)
        record = EpochRecord(
            epoch=epoch,
            train_loss=train_loss,
            train_accuracy=train_accuracy,
            selection_loss=cal.nll(logits, run.test_y),
            selection_accuracy=cal.accuracy(run.test_y, logits.argmax(axis=1)),
            learning_rate=float(run.optimizer.learning_rate),
            seconds=time.monotonic() - started,
            cpu_seconds=time.process_time() - cpu_started,
        )
        state = _finish_epoch(run, state, epoch, record)
        split = "validation" if run.selection == "validation" else "PublicTest"
        line = (
            f"epoch {epoch}/{recipe.epochs}: loss {record.train_loss:.4f}, "
            f"train acc {record.train_accuracy:.4f}, {split} acc {record.selection_accuracy:.4f} "
            f"(loss {record.selection_loss:.4f}), lr {record.learning_rate:.2e}, {record.seconds:.0f} s "
            f"({record.cpu_seconds:.0f} CPU s){' *best*' if state.best_epoch == epoch else ''}"
        )
        echo(line)
        logger.info(line)

    if options.export and state.epochs_done == recipe.epochs:
        _export_best(run, state, options.flip_average, echo)
    elif state.epochs_done < recipe.epochs:
        echo(f"stopped after epoch {state.epochs_done} of {recipe.epochs}; run the same command to resume")
    return state


def _export_best(
    run: _Session, state: RunState, flip_average: bool, echo: Callable[[str], None]
) -> ExportReport:
    _load_state(run.paths.best, list(run.model.variables))
    report = export(
        run.model,
        recipe=run.recipe,
        state=state,
        train_x=run.train_x,
        paths=run.paths,
        test_inputs=run.test_inputs,
        test_y=run.test_y,
        final_inputs=run.final_inputs,
        final_y=run.final_y,
        selection=run.selection,
        flip_average=flip_average,
    )
    chosen = "chosen on validation, " if run.selection == "validation" else ""
    echo(
        f"exported epoch {report.best_epoch}{' (flip-averaged)' if flip_average else ''} ({chosen}"
        f"temperature fitted on {report.selection}): PublicTest "
        f"float {report.float_model.accuracy:.4f}, int8 {report.int8_model.accuracy:.4f} "
        f"({report.int8_model.size_bytes} bytes, {report.int8_model.mean_ms:.3f} ms/face), temperature "
        f"{report.calibration.temperature:.3f}, ECE {report.calibration.ece_before:.4f} -> "
        f"{report.calibration.ece_after:.4f}"
    )
    return report


def export_run(
    out: Path,
    *,
    threads: int = 2,
    flip_average: bool = False,
    echo: Callable[[str], None] = click.echo,
) -> ExportReport:
    """Export a finished run's best epoch again (for example with flip averaging), replacing ``export/``.

    Reads the recipe and data folder the run was trained with from the run folder itself.
    """
    paths = RunPaths(out)
    if not (paths.state.exists() and paths.best.exists()):
        raise BuildError(
            f"{out} holds no trained run (no state.json or best.npz): pass --run with the --out folder of "
            "an edge-models train emotion run"
        )
    recipe = Recipe.model_validate_json(paths.recipe.read_text(encoding="utf-8"))
    settings = RunSettings.model_validate_json(paths.settings.read_text(encoding="utf-8"))
    state = RunState.model_validate_json(paths.state.read_text(encoding="utf-8"))
    if state.epochs_done < recipe.epochs:
        raise BuildError(
            f"{out} is unfinished ({state.epochs_done} of {recipe.epochs} epochs): finish it with the same "
            "edge-models train emotion command first"
        )
    tf = configure(threads)
    _setup_logging(paths.log)
    logger.info("re-exporting epoch %d, flip averaging %s", state.best_epoch, flip_average)
    options = TrainOptions(
        data=Path(settings.data),
        out=out,
        limit=settings.limit,
        selection_limit=settings.selection_limit,
        threads=threads,
        selection=settings.selection,
        validation_fraction=settings.validation_fraction,
        validation_seed=settings.validation_seed,
    )
    return _export_best(_open_session(tf, recipe, options, paths), state, flip_average, echo)


def calibration_inputs(
    train_x: npt.NDArray[np.uint8], seed: int, count: int = 500, stretched: int = 150
) -> npt.NDArray[np.float32]:
    """Seeded Training faces for int8 calibration, a share contrast-stretched so the input range spans
    [-1, 1] (then the int8 input maps pixel ``p`` to ``p - 128``)."""
    rng = random.Random(f"{seed}:calibration")  # noqa: S311 - reproducible sampling, not security
    picks = rng.sample(range(len(train_x)), min(len(train_x), count + stretched))
    split = len(picks) * count // (count + stretched)
    plain = train_x[picks[:split]]
    stretched_faces = np.stack([contrast_stretch(c) for c in train_x[picks[split:]]])
    return to_model_input(np.concatenate([plain, stretched_faces]))


def _figures(
    name: str, content: bytes, inputs: npt.NDArray[np.float32], labels: npt.NDArray[np.int64]
) -> tuple[ModelFigures, npt.NDArray[np.int64]]:
    model = TFLiteModel.from_bytes(content)
    probs = np.empty((len(inputs), CLASSES), dtype=np.float64)
    elapsed = 0.0
    for i in range(len(inputs)):
        started = time.perf_counter()
        out = model.run(inputs[i : i + 1])[0][0]
        elapsed += time.perf_counter() - started
        probs[i] = out
    top = probs.argmax(axis=1)
    matrix = cal.confusion_matrix(labels, top, CLASSES)
    recall: dict[str, float | None] = dict(zip(FER_CLASSES, cal.per_class_recall(matrix), strict=True))
    figures = ModelFigures(
        name=name,
        size_bytes=len(content),
        accuracy=cal.accuracy(labels, top),
        per_class_recall=recall,
        confusion=matrix.tolist(),
        ece=cal.expected_calibration_error(probs, labels),
        mean_ms=1000 * elapsed / len(inputs),
    )
    return figures, top


def export(
    model: Any,
    *,
    recipe: Recipe,
    state: RunState,
    train_x: npt.NDArray[np.uint8],
    test_inputs: npt.NDArray[np.float32],
    test_y: npt.NDArray[np.int64],
    paths: RunPaths,
    flip_average: bool = False,
    final_inputs: npt.NDArray[np.float32] | None = None,
    final_y: npt.NDArray[np.int64] | None = None,
    selection: str = "publictest",
) -> ExportReport:
    """Fit the temperature on the selection faces (``test_inputs``), convert to a float reference (float16
    weights) and full-int8 TFLite with it baked in, measure both on PublicTest (``final_inputs``; the
    selection faces when not given) and write them with ``report.json`` and ``entries.json``.

    With ``flip_average`` the exported graph averages the logits of each face and its mirror image
    (test-time flip averaging; twice the compute in one invoke), and the temperature is fitted on those.
    """
    tf = import_tensorflow()
    keras = tf.keras
    logits = predict_logits(model, test_inputs, flip_average)
    temperature = cal.fit_temperature(logits, test_y)
    calibration = CalibrationReport(
        temperature=temperature,
        ece_before=cal.expected_calibration_error(cal.softmax(logits), test_y),
        ece_after=cal.expected_calibration_error(cal.softmax(logits, temperature), test_y),
        nll_before=cal.nll(logits, test_y),
        nll_after=cal.nll(logits, test_y, temperature),
    )
    graph = flip_averaged(model) if flip_average else model
    scaled = keras.layers.Rescaling(1.0 / temperature, name="temperature")(graph.output)
    probabilities = keras.layers.Softmax(name="probabilities")(scaled)
    served = keras.Model(graph.input, probabilities)
    # The float reference keeps float32 compute with float16 weights: half the file, and the same
    # accuracy to a face or two (it is a reference for the int8 model, never run on a kiosk).
    float_converter = tf.lite.TFLiteConverter.from_keras_model(served)
    float_converter.optimizations = [tf.lite.Optimize.DEFAULT]
    float_converter.target_spec.supported_types = [tf.float16]
    float_bytes = run_converter(float_converter)
    samples = calibration_inputs(train_x, recipe.seed)
    int8_bytes = convert_full_int8(
        tf.lite.TFLiteConverter.from_keras_model(served), [s[np.newaxis] for s in samples]
    )
    measure_x = test_inputs if final_inputs is None else final_inputs
    measure_y = test_y if final_y is None else final_y
    float_figures, float_top = _figures(FLOAT_NAME, float_bytes, measure_x, measure_y)
    int8_figures, int8_top = _figures(INT8_NAME, int8_bytes, measure_x, measure_y)
    report = ExportReport(
        recipe=recipe.fingerprint(),
        best_epoch=state.best_epoch,
        selection="validation" if selection == "validation" else "publictest",
        flip_average=flip_average,
        parameters=int(sum(np.prod(v.shape) for v in model.weights if "seed_generator" not in v.path)),
        calibration=calibration,
        float_model=float_figures,
        int8_model=int8_figures,
        top1_agreement=cal.accuracy(float_top, int8_top),
    )
    paths.export.mkdir(parents=True, exist_ok=True)
    (paths.export / f"{FLOAT_NAME}.tflite").write_bytes(float_bytes)
    (paths.export / f"{INT8_NAME}.tflite").write_bytes(int8_bytes)
    write_text_atomic(paths.report, report.model_dump_json(indent=2) + "\n")
    entries = _entries(recipe, report, float_bytes, int8_bytes, paths)
    text = "[\n" + ",\n".join(e.model_dump_json(indent=2) for e in entries) + "\n]\n"
    write_text_atomic(paths.entries, text)
    logger.info("exported: %s", report.model_dump_json())
    return report


def _entries(
    recipe: Recipe, report: ExportReport, float_bytes: bytes, int8_bytes: bytes, paths: RunPaths
) -> list[ModelEntry]:
    """The manifest entries of the two exports (what ``edge-models train install`` adds)."""
    size = recipe.input_size
    source = SourceInfo(
        package="vitrina",
        version=version("vitrina"),
        path=f"edge-models train emotion: recipe {recipe.fingerprint()}, epoch {report.best_epoch}",
        sha256=hashlib.sha256(paths.best.read_bytes()).hexdigest(),
        licence="Apache-2.0",
        licence_file=LICENCE_FILE,
    )
    preprocessing = (
        f"Input: a {size}x{size} grayscale face crop, value = pixel / 127.5 - 1 (float model). Output: 7 "
        f"probabilities in FER-2013 order ({', '.join(FER_CLASSES)}), temperature-scaled on "
        f"{'a validation share of Training' if report.selection == 'validation' else 'PublicTest'} "
        f"(T = {report.calibration.temperature:.3f})"
        f"{', averaged over the face and its mirror image in one invoke' if report.flip_average else ''}. "
        "Trained on FER-2013 Training only; see docs/models/emotion.md."
    )
    entries = []
    for name, content, figures, is_int8 in (
        (FLOAT_NAME, float_bytes, report.float_model, False),
        (INT8_NAME, int8_bytes, report.int8_model, True),
    ):
        loaded = TFLiteModel.from_bytes(content)
        agreement = None
        if is_int8:
            agreement = Agreement(
                reference=FLOAT_NAME,
                images=sum(sum(row) for row in figures.confusion),
                metrics={
                    "top1_agreement": round(report.top1_agreement, 6),
                    "accuracy": round(figures.accuracy, 6),
                    "accuracy_float": round(report.float_model.accuracy, 6),
                    "ece": round(figures.ece, 6),
                },
            )
        entries.append(
            ModelEntry(
                name=name,
                task="emotion",
                file=f"{name}.tflite",
                sha256=hashlib.sha256(content).hexdigest(),
                size_bytes=len(content),
                precision="int8" if is_int8 else "float16",
                inputs=loaded.inputs,
                outputs=loaded.outputs,
                source=source,
                agreement=agreement,
                notes=f"{INT8_NOTE if is_int8 else FLOAT_NOTE} {preprocessing} "
                f"FER-2013 PublicTest accuracy {100 * figures.accuracy:.1f}%.",
            )
        )
    return entries


@dataclass(frozen=True)
class SoftTargetsReport:
    """What :func:`write_soft_targets` measured (also stored in the .npz)."""

    faces: int
    temperature: float
    teacher_accuracy: dict[str, float]
    ensemble_accuracy: float | None
    validation_faces: int
    #: Each teacher's and the ensemble's PublicTest accuracy: reported, never used to choose anything.
    teacher_publictest_accuracy: dict[str, float]
    ensemble_publictest_accuracy: float
    publictest_faces: int


def _teacher_runs(teachers: list[Path]) -> list[tuple[RunPaths, Recipe, RunSettings, RunState]]:
    """The teachers' run folders read and checked to share one data folder, limit and validation split."""
    if not teachers:
        raise BuildError("no teacher: pass --teacher RUN at least once")
    runs = []
    for root in teachers:
        paths = RunPaths(root)
        if not (paths.state.exists() and paths.best.exists()):
            raise BuildError(
                f"{root} holds no trained run (no state.json or best.npz): pass --teacher with the --out "
                "folder of an edge-models train emotion run"
            )
        recipe = Recipe.model_validate_json(paths.recipe.read_text(encoding="utf-8"))
        settings = RunSettings.model_validate_json(paths.settings.read_text(encoding="utf-8"))
        state = RunState.model_validate_json(paths.state.read_text(encoding="utf-8"))
        runs.append((paths, recipe, settings, state))
    first = runs[0][2]
    for paths, _recipe, settings, _state in runs[1:]:
        keys = ("data", "limit", "selection", "validation_fraction", "validation_seed")
        if any(getattr(settings, k) != getattr(first, k) for k in keys):
            raise BuildError(
                f"{paths.root} was trained on other data or another split than {runs[0][0].root} "
                f"({settings.model_dump(include=set(keys))} against {first.model_dump(include=set(keys))}): "
                "teachers of one ensemble must share --data, --limit and the validation split"
            )
    return runs


@dataclass(frozen=True)
class _TeacherLogits:
    """Every teacher's flip-averaged logits over the training rows and over PublicTest."""

    rows: npt.NDArray[np.int64]
    labels: npt.NDArray[np.int64]
    logits: npt.NDArray[np.float64]  # [teachers, training faces, classes]
    test_labels: npt.NDArray[np.int64]
    test_logits: npt.NDArray[np.float64]  # [teachers, PublicTest faces, classes]


def _teacher_logits(
    tf: Any, runs: list[tuple[RunPaths, Recipe, RunSettings, RunState]], echo: Callable[[str], None]
) -> _TeacherLogits:
    """Run each teacher's best epoch on the training rows and PublicTest of the teachers' shared data."""
    first = runs[0][2]
    data = Path(first.data)
    training: dict[int, tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64], npt.NDArray[np.int64]]] = {}
    publictest: dict[int, tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]] = {}
    logits, test_logits = [], []
    for paths, recipe, _settings, state in runs:
        size = recipe.input_size
        if size not in training:  # teachers of one input size share one read of the faces
            training[size] = load_training_rows(data, size, first.limit)
            publictest[size] = load_selection_split(data, size, first.selection_limit)
        (x, labels, rows), (test_x, test_labels) = training[size], publictest[size]
        tf.keras.utils.set_random_seed(recipe.seed)
        model = build_model(recipe)
        _load_state(paths.best, list(model.variables))
        logits.append(predict_logits(model, to_model_input(x), flip_average=True))
        test_logits.append(predict_logits(model, to_model_input(test_x), flip_average=True))
        note = (
            ""
            if state.epochs_done == recipe.epochs
            else f" (unfinished: {state.epochs_done}/{recipe.epochs})"
        )
        echo(f"teacher {paths.root}: epoch {state.best_epoch}{note}, {len(x)} faces")
    return _TeacherLogits(rows, labels, np.stack(logits), test_labels, np.stack(test_logits))


def write_soft_targets(
    teachers: list[Path],
    out: Path,
    *,
    temperature: float,
    threads: int = 2,
    echo: Callable[[str], None] = click.echo,
) -> SoftTargetsReport:
    """Write the teachers' flip-averaged logits and the ensemble's soft targets over the training split.

    Every teacher's best epoch (``best.npz``) runs on every training face of its data folder (the same
    ``--data`` and ``--limit`` for all teachers, validation faces included, so the file serves students of
    either selection); its logits are the mean over the face and its mirror image. The .npz holds
    ``rows`` (``train.npz`` rows), ``labels``, ``logits`` ``[teachers, faces, 7]``, ``probabilities`` (the
    mean over teachers of ``softmax(logits / temperature)``), ``temperature``, ``teachers`` (run folders),
    ``teacher_sha256`` (of each ``best.npz``), ``teacher_recipes``, ``teacher_epochs`` (best, done, total),
    ``train_sha256``, when the teachers selected on a validation split, ``validation_rows`` and the
    validation accuracy of each teacher and of the ensemble (``validation_accuracy``, ensemble last), and
    the same for PublicTest (``publictest_accuracy``, ensemble last; the run's ``selection_limit`` faces):
    the teachers' and the ensemble's figure for the model card, measured once here and used for no choice.
    The ensemble's prediction is the argmax of ``probabilities`` (validation) or of the same mean over
    teachers at ``temperature`` (PublicTest).
    """
    runs = _teacher_runs(teachers)
    first = runs[0][2]
    data = Path(first.data)
    seen = _teacher_logits(configure(threads), runs, echo)
    labels, rows, stacked, test_y = seen.labels, seen.rows, seen.logits, seen.test_labels
    probabilities = cal.ensemble_softmax(stacked, temperature)
    names = [str(paths.root) for paths, *_ in runs]
    test_accuracy = {
        name: cal.accuracy(test_y, logits.argmax(axis=1))
        for name, logits in zip(names, seen.test_logits, strict=True)
    }
    test_probabilities = cal.ensemble_softmax(seen.test_logits, temperature)
    ensemble_test_accuracy = cal.accuracy(test_y, test_probabilities.argmax(axis=1))
    teacher_accuracy: dict[str, float] = {}
    ensemble_accuracy = None
    extra: dict[str, Any] = {}
    val = np.empty(0, dtype=np.int64)
    if first.selection == "validation":
        _train, val = validation_split(labels, first.validation_fraction, first.validation_seed)
        for name, teacher in zip(names, stacked, strict=True):
            teacher_accuracy[name] = cal.accuracy(labels[val], teacher[val].argmax(axis=1))
        ensemble_accuracy = cal.accuracy(labels[val], probabilities[val].argmax(axis=1))
        extra = {
            "validation_rows": rows[val],
            "validation_accuracy": np.array([*teacher_accuracy.values(), ensemble_accuracy]),
        }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.stem + ".tmp.npz")
    np.savez_compressed(
        tmp,
        rows=rows,
        labels=labels,
        logits=stacked.astype(np.float32),
        probabilities=probabilities.astype(np.float32),
        temperature=np.float64(temperature),
        teachers=np.array(names),
        teacher_sha256=np.array([sha256_file(paths.best) for paths, *_ in runs]),
        teacher_recipes=np.array([recipe.fingerprint() for _p, recipe, *_ in runs]),
        teacher_epochs=np.array([[s.best_epoch, s.epochs_done, r.epochs] for _p, r, _s2, s in runs]),
        train_sha256=np.array(sha256_file(data / "train.npz")),
        publictest_accuracy=np.array([*test_accuracy.values(), ensemble_test_accuracy]),
        **extra,
    )
    tmp.replace(out)
    report = SoftTargetsReport(
        faces=len(rows),
        temperature=temperature,
        teacher_accuracy=teacher_accuracy,
        ensemble_accuracy=ensemble_accuracy,
        validation_faces=len(val),
        teacher_publictest_accuracy=test_accuracy,
        ensemble_publictest_accuracy=ensemble_test_accuracy,
        publictest_faces=len(test_y),
    )
    for name, accuracy in teacher_accuracy.items():
        echo(f"  {name}: validation accuracy {accuracy:.4f} (flip-averaged, {len(val)} faces)")
    if ensemble_accuracy is not None:
        echo(f"  ensemble of {len(runs)}: validation accuracy {ensemble_accuracy:.4f}")
    for name, accuracy in test_accuracy.items():
        echo(f"  {name}: PublicTest accuracy {accuracy:.4f} (flip-averaged, {len(test_y)} faces, reported)")
    echo(f"  ensemble of {len(runs)}: PublicTest accuracy {ensemble_test_accuracy:.4f} (reported only)")
    echo(f"wrote {out}: soft targets of {len(rows)} training faces at temperature {temperature:g}")
    return report
