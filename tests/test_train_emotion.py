"""Training Vitrina's emotion model: the TensorFlow-free parts always, the real training when TF is here.

The data-free tests use synthetic faces made here; the TensorFlow tests read FER-2013 from
../shared/data/fer2013 and skip, saying why, when TensorFlow or the data is missing.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from pydantic import ValidationError
from train_support import FER_DIR, need_tf_and_data

from edge_models.cli import main
from edge_models.errors import DatasetError
from edge_models.manifest import MODELS_DIR, Manifest, load_manifest
from edge_models.train import calibration as cal
from edge_models.train.augment import augment_batch, mixup, to_model_input
from edge_models.train.install import LICENCE_FILE, InstallError, install_run
from edge_models.train.recipe import NO_AUGMENTATION, Augmentation, Recipe
from edge_models.train.run import (
    EpochRecord,
    RunPaths,
    RunSettings,
    append_metrics,
    check_settings,
    load_selection_split,
    load_training_split,
    read_metrics,
    run_folder_lock,
    spread,
    write_metrics,
)
from edge_models.values import FER_CLASSES


def _faces(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 48, 48), dtype=np.uint8)


# --- recipe ---


def test_recipe_fingerprint_is_stable_and_follows_every_field() -> None:
    assert Recipe().fingerprint() == Recipe().fingerprint()
    assert Recipe(seed=1).fingerprint() != Recipe().fingerprint()
    aug = Augmentation(max_rotation_deg=5)
    assert Recipe(augmentation=aug).fingerprint() != Recipe().fingerprint()


def test_recipe_refuses_unknown_fields_and_changes() -> None:
    with pytest.raises(ValidationError):
        Recipe.model_validate({"learning_rat": 0.1})
    with pytest.raises(ValidationError):
        Recipe(architecture="resnet")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Recipe().seed = 3  # type: ignore[misc]


# --- augmentation ---


def test_augmentation_is_a_function_of_the_generator_seed() -> None:
    faces = _faces(16)
    aug = Augmentation()
    a = augment_batch(faces, np.random.default_rng([0, 1]), aug)
    b = augment_batch(faces, np.random.default_rng([0, 1]), aug)
    c = augment_batch(faces, np.random.default_rng([0, 2]), aug)
    assert a.shape == (16, 48, 48, 1) and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.min() >= -1.0 and a.max() <= 1.0


def test_no_augmentation_gives_the_plain_model_input() -> None:
    faces = _faces(4)
    out = augment_batch(faces, np.random.default_rng(0), NO_AUGMENTATION)
    np.testing.assert_allclose(out, to_model_input(faces), atol=1e-6)
    assert to_model_input(np.array([[[0, 255]]], dtype=np.uint8)).ravel().tolist() == [-1.0, 1.0]


def test_flip_only_mirrors_about_half_the_faces() -> None:
    faces = _faces(200)
    aug = NO_AUGMENTATION.model_copy(update={"flip": True})
    out = augment_batch(faces, np.random.default_rng(3), aug)[..., 0]
    plain = to_model_input(faces)[..., 0]
    mirrored = [np.allclose(o, p[:, ::-1]) for o, p in zip(out, plain, strict=True)]
    same = [np.allclose(o, p) for o, p in zip(out, plain, strict=True)]
    assert all(m or s for m, s in zip(mirrored, same, strict=True))
    assert 70 < sum(mirrored) < 130


def test_erasing_fills_a_rectangle_within_the_area_bounds() -> None:
    faces = np.full((50, 48, 48), 128, dtype=np.uint8)
    aug = NO_AUGMENTATION.model_copy(update={"erase_probability": 1.0, "erase_area": (0.05, 0.1)})
    out = augment_batch(faces, np.random.default_rng(1), aug)[..., 0]
    plain = to_model_input(faces[:1])[0, ..., 0]
    for face in out:
        changed = ~np.isclose(face, plain)
        rows, cols = np.nonzero(changed.any(axis=1))[0], np.nonzero(changed.any(axis=0))[0]
        box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
        assert changed.sum() == box  # one filled rectangle
        assert 0.03 * 48 * 48 <= box <= 0.12 * 48 * 48


def test_mixup_keeps_targets_normalised_and_each_face_mostly_itself() -> None:
    x = to_model_input(_faces(8))
    t = cal.smooth_targets(np.arange(8) % 7, 7, 0.0)
    same_x, same_t = mixup(x, t, np.random.default_rng(0), 0.0)
    assert same_x is x and same_t is t
    mx, mt = mixup(x, t, np.random.default_rng(0), 0.4)
    np.testing.assert_allclose(mt.sum(axis=1), 1.0, atol=1e-6)
    assert (mt.max(axis=1) >= 0.5 - 1e-6).all()
    assert not np.array_equal(mx, x)


# --- calibration maths ---


def test_temperature_fit_recovers_the_temperature_that_made_the_labels() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, size=(20000, 7))
    true_t = 2.5
    p = cal.softmax(logits, true_t)
    labels = np.array([rng.choice(7, p=row) for row in p], dtype=np.int64)
    fitted = cal.fit_temperature(logits, labels)
    assert fitted == pytest.approx(true_t, rel=0.05)
    assert cal.nll(logits, labels, fitted) < cal.nll(logits, labels, 1.0)
    ece_raw = cal.expected_calibration_error(cal.softmax(logits), labels)
    ece_fit = cal.expected_calibration_error(cal.softmax(logits, fitted), labels)
    assert ece_fit < 0.02 < ece_raw


def test_ensemble_softmax_is_the_mean_of_the_members_softmax() -> None:
    members = np.array([[[2.0, 0.0, 0.0]], [[0.0, 0.0, 4.0]]])  # two members, one face, three classes
    by_hand = [np.exp(m[0] / 2) / np.exp(m[0] / 2).sum() for m in members]
    np.testing.assert_allclose(cal.ensemble_softmax(members, 2.0), [(by_hand[0] + by_hand[1]) / 2])
    assert cal.ensemble_softmax(members, 2.0).shape == (1, 3)


def test_ece_of_a_hand_worked_example() -> None:
    # Two faces at confidence 0.9 (one right), two at 0.6 (both right):
    # |0.5 - 0.9| * 2/4 + |1.0 - 0.6| * 2/4 = 0.4.
    probs = np.array(
        [[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.4, 0.6]],
    )
    labels = np.array([0, 1, 0, 1])
    assert cal.expected_calibration_error(probs, labels, bins=10) == pytest.approx(0.4)


def test_confusion_recall_and_accuracy() -> None:
    labels = np.array([0, 0, 1, 2, 2, 2])
    preds = np.array([0, 1, 1, 2, 0, 2])
    m = cal.confusion_matrix(labels, preds, 4)
    assert m.tolist() == [[1, 1, 0, 0], [0, 1, 0, 0], [1, 0, 2, 0], [0, 0, 0, 0]]
    assert cal.per_class_recall(m) == [0.5, 1.0, pytest.approx(2 / 3), None]
    assert cal.accuracy(labels, preds) == pytest.approx(4 / 6)


def test_class_weights_lift_the_rare_class_and_average_one() -> None:
    counts = [3995, 436, 4097, 7215, 4830, 3171, 4965]  # FER-2013 Training
    labels = np.repeat(np.arange(7), counts)
    w = cal.class_weights(labels, 7, "inverse_sqrt")
    assert int(np.argmax(w)) == 1 and int(np.argmin(w)) == 3
    assert float(w[labels].mean()) == pytest.approx(1.0)
    assert w[1] / w[3] == pytest.approx(math.sqrt(7215 / 436))
    assert cal.class_weights(labels, 7, "none").tolist() == [1.0] * 7
    with pytest.raises(ValueError, match="unknown class weighting"):
        cal.class_weights(labels, 7, "focal")


def test_smoothed_targets() -> None:
    t = cal.smooth_targets(np.array([2]), 7, 0.1)
    assert t[0, 2] == pytest.approx(0.9 + 0.1 / 7)
    assert t.sum() == pytest.approx(1.0)


# --- run folder and data ---


def test_spread_keeps_every_class_of_a_sorted_file() -> None:
    labels = np.repeat(np.arange(7), [3995, 436, 4097, 7215, 4830, 3171, 4965])
    picks = spread(len(labels), 512)
    assert len(picks) == 512 and len(set(picks.tolist())) == 512
    assert set(labels[picks].tolist()) == set(range(7))
    assert spread(10, None).tolist() == list(range(10))
    assert spread(10, 50).tolist() == list(range(10))


def _fake_fer(tmp_path: Path) -> Path:
    """A FER-shaped folder of synthetic faces (no FER-2013 image is written anywhere)."""
    data = tmp_path / "fer"
    data.mkdir()
    np.savez(data / "train.npz", x=_faces(70), y=np.repeat(np.arange(7), 10).astype(np.uint8))
    for c, name in enumerate(FER_CLASSES):
        (data / "publictest" / name).mkdir(parents=True)
        for i, face in enumerate(_faces(2, seed=c)):
            cv2.imwrite(str(data / "publictest" / name / f"{i}.png"), face)
    (data / "privatetest").mkdir()  # must never be read
    return data


def test_splits_read_train_npz_and_publictest_only(tmp_path: Path) -> None:
    data = _fake_fer(tmp_path)
    (data / "privatetest" / "trap.npz").write_bytes(b"not an npz")
    x, y = load_training_split(data, 48, limit=14)
    assert x.shape == (14, 48, 48) and sorted(set(y.tolist())) == list(range(7))
    tx, ty = load_selection_split(data, 40)
    assert tx.shape == (14, 40, 40) and ty.tolist() == [c for c in range(7) for _ in range(2)]
    assert load_selection_split(data, 48, limit=7)[1].tolist() == list(range(7))
    with pytest.raises(DatasetError, match=r"no train\.npz"):
        load_training_split(data / "publictest", 48)


def test_a_run_folder_resumes_only_the_same_recipe_and_data(tmp_path: Path) -> None:
    paths = RunPaths(tmp_path / "run")
    settings = RunSettings(data="/d", limit=None)
    recipe = Recipe().model_dump_json()
    assert check_settings(paths, settings, recipe) is False
    assert check_settings(paths, settings, recipe) is False  # nothing finished yet
    paths.state.write_text("{}", encoding="utf-8")
    assert check_settings(paths, settings, recipe) is True
    with pytest.raises(ValueError, match="another recipe"):
        check_settings(paths, settings, Recipe(seed=1).model_dump_json())
    with pytest.raises(ValueError, match="--limit"):
        check_settings(paths, RunSettings(data="/d", limit=5), recipe)


def test_a_run_folder_takes_one_trainer_at_a_time_and_a_killed_one_leaves_no_lock(tmp_path: Path) -> None:
    root = tmp_path / "run"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from edge_models.train.run import run_folder_lock\n"
            "with run_folder_lock(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(60)",
            str(root),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(ValueError, match="being trained by another process"), run_folder_lock(root):
            pass
    finally:
        holder.kill()
        holder.wait()
    with run_folder_lock(root):  # the kernel dropped the killed holder's lock
        assert list(root.iterdir()) == []  # and the folder gained no file


def test_metrics_lines_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    assert read_metrics(path) == []
    records = [
        EpochRecord(
            epoch=e,
            train_loss=1.0 / e,
            train_accuracy=0.5,
            selection_loss=1.2,
            selection_accuracy=0.4 + e / 100,
            learning_rate=1e-3,
            seconds=3.0,
        )
        for e in (1, 2, 3)
    ]
    for r in records:
        append_metrics(path, r)
    assert read_metrics(path) == records
    write_metrics(path, records[:1])
    assert read_metrics(path) == records[:1]


# --- install ---


def _models_copy(tmp_path: Path) -> Path:
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(MODELS_DIR / "manifest.json", models)
    shutil.copytree(MODELS_DIR / "licences", models / "licences")
    for entry in load_manifest().models:
        shutil.copy(MODELS_DIR / entry.file, models)
    return models


def _fake_export(tmp_path: Path) -> Path:
    """A run whose export is fer's int8 model renamed (stands in for a trained one)."""
    run = tmp_path / "run"
    RunPaths(run).export.mkdir(parents=True)
    fer = load_manifest().get("emotion_minixception_int8")
    content = (MODELS_DIR / fer.file).read_bytes()
    (RunPaths(run).export / "emotion_test_int8.tflite").write_bytes(content)
    entry = fer.model_copy(
        update={
            "name": "emotion_test_int8",
            "file": "emotion_test_int8.tflite",
            "agreement": None,
            "sha256": hashlib.sha256(content).hexdigest(),
            "source": fer.source.model_copy(update={"licence": "Apache-2.0", "licence_file": LICENCE_FILE}),
        }
    )
    RunPaths(run).entries.write_text(json.dumps([entry.model_dump(mode="json")]), encoding="utf-8")
    return run


def test_install_copies_checks_and_adds_the_manifest_entry(tmp_path: Path) -> None:
    models = _models_copy(tmp_path)
    run = _fake_export(tmp_path)
    result = CliRunner().invoke(main, ["train", "install", "--run", str(run), "--models-dir", str(models)])
    assert result.exit_code == 0, result.output
    manifest = Manifest.model_validate_json((models / "manifest.json").read_text(encoding="utf-8"))
    names = [m.name for m in manifest.models]
    last_emotion = max(
        i for i, m in enumerate(manifest.models) if m.task == "emotion" and m.name != "emotion_test_int8"
    )
    assert names.index("emotion_test_int8") == last_emotion + 1
    assert "Apache License" in (models / LICENCE_FILE).read_text(encoding="utf-8")
    # Installing again replaces the entry instead of adding a second one.
    install_run(run, models)
    manifest = Manifest.model_validate_json((models / "manifest.json").read_text(encoding="utf-8"))
    assert [m.name for m in manifest.models].count("emotion_test_int8") == 1


def test_install_refuses_a_file_that_does_not_match_its_entry(tmp_path: Path) -> None:
    models = _models_copy(tmp_path)
    run = _fake_export(tmp_path)
    (RunPaths(run).export / "emotion_test_int8.tflite").write_bytes(b"tampered")
    with pytest.raises(InstallError, match="does not match"):
        install_run(run, models)
    result = CliRunner().invoke(
        main, ["train", "install", "--run", str(tmp_path), "--models-dir", str(models)]
    )
    assert result.exit_code != 0 and "no export" in result.output


# --- real TensorFlow training (skipped without TensorFlow or the data) ---


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_stopping_and_resuming_gives_the_same_weights_as_not_stopping(tmp_path: Path) -> None:
    need_tf_and_data()
    from edge_models.build.train_emotion import train
    from edge_models.train.run import TrainOptions

    recipe = Recipe(width=8, epochs=2, batch_size=32, mixup_alpha=0.2)

    def options(out: Path, stop_after: int | None = None) -> TrainOptions:
        return TrainOptions(
            data=FER_DIR, out=out, limit=96, export=False, selection_limit=70, stop_after=stop_after
        )

    train(recipe, options(tmp_path / "straight"), echo=lambda _: None)
    first = train(recipe, options(tmp_path / "resumed", stop_after=1), echo=lambda _: None)
    assert first.epochs_done == 1
    # While another trainer holds the folder, a second one is refused before it touches anything.
    with run_folder_lock(tmp_path / "resumed"), pytest.raises(ValueError, match="another process"):
        train(recipe, options(tmp_path / "resumed"), echo=lambda _: None)
    second = train(recipe, options(tmp_path / "resumed"), echo=lambda _: None)
    assert second.epochs_done == 2
    with (
        np.load(tmp_path / "straight" / "checkpoint.npz") as a,
        np.load(tmp_path / "resumed" / "checkpoint.npz") as b,
    ):
        assert a.files == b.files
        for key in a.files:
            assert np.array_equal(a[key], b[key]), key
    straight = read_metrics(tmp_path / "straight" / "metrics.jsonl")
    resumed = read_metrics(tmp_path / "resumed" / "metrics.jsonl")
    timings = {"seconds", "cpu_seconds"}
    assert [r.model_dump(exclude=timings) for r in straight] == [
        r.model_dump(exclude=timings) for r in resumed
    ]


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_smoke_train_export_install_and_classify(tmp_path: Path) -> None:
    """The real command on 512 Training faces for one epoch, the whole PublicTest, export and install."""
    need_tf_and_data()
    from edge_models.emotion import EmotionClassifier

    run = tmp_path / "run"
    args = ["train", "emotion", "--data", str(FER_DIR), "--out", str(run), "--limit", "512", "--epochs", "1"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "PublicTest acc" in result.output and "exported epoch 1" in result.output
    assert len(read_metrics(RunPaths(run).metrics)) == 1
    assert "epoch 1/1" in RunPaths(run).log.read_text(encoding="utf-8")
    report = json.loads(RunPaths(run).report.read_text(encoding="utf-8"))
    assert report["int8_model"]["size_bytes"] <= 1_000_000
    assert sum(map(sum, report["int8_model"]["confusion"])) == 3589
    models = _models_copy(tmp_path)
    result = CliRunner().invoke(main, ["train", "install", "--run", str(run), "--models-dir", str(models)])
    assert result.exit_code == 0, result.output
    manifest = load_manifest(models / "manifest.json")
    with EmotionClassifier("emotion_vitrina_int8", manifest=manifest, models_dir=models) as classifier:
        assert classifier.input_size == 48
        probs = classifier.probabilities(_faces(1)[0])
    assert probs.shape == (7,) and probs.sum() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_flip_averaged_export_is_mirror_symmetric_with_one_copy_of_the_weights(tmp_path: Path) -> None:
    """``train export --flip-average``: the served model gives a face and its mirror the same output, and
    the file holds the weights once (within a few kB of the plain export)."""
    need_tf_and_data()
    from edge_models.build.tflite_io import TFLiteModel
    from edge_models.build.train_emotion import export_run, train
    from edge_models.train.run import ExportReport, TrainOptions

    run = tmp_path / "run"
    options = TrainOptions(data=FER_DIR, out=run, limit=96, export=False, selection_limit=70)
    train(Recipe(width=8, epochs=1, batch_size=32), options, echo=lambda _: None)
    plain = export_run(run, echo=lambda _: None)
    plain_int8 = (RunPaths(run).export / "emotion_vitrina_int8.tflite").read_bytes()
    result = CliRunner().invoke(main, ["train", "export", "--run", str(run), "--flip-average"])
    assert result.exit_code == 0, result.output
    assert "flip-averaged" in result.output
    report = ExportReport.model_validate_json(RunPaths(run).report.read_text(encoding="utf-8"))
    assert report.flip_average and not plain.flip_average
    assert report.int8_model.size_bytes < len(plain_int8) + 8_000
    entries = json.loads(RunPaths(run).entries.read_text(encoding="utf-8"))
    assert "mirror image" in entries[1]["notes"]
    faces = to_model_input(_faces(4, seed=3))
    for name in ("emotion_vitrina_float", "emotion_vitrina_int8"):
        model = TFLiteModel.from_bytes((RunPaths(run).export / f"{name}.tflite").read_bytes())
        for face in faces:
            out = model.run(face[np.newaxis])[0]
            mirrored = model.run(face[np.newaxis, :, ::-1].copy())[0]
            assert out.shape == (1, 7)
            np.testing.assert_allclose(out, mirrored, atol=1e-6, err_msg=name)
    plain_model = TFLiteModel.from_bytes(plain_int8)
    asymmetric = [
        not np.allclose(plain_model.run(f[np.newaxis])[0], plain_model.run(f[np.newaxis, :, ::-1].copy())[0])
        for f in faces
    ]
    assert any(asymmetric), "the plain export is already symmetric: the test would prove nothing"


def test_export_refuses_a_folder_without_a_trained_run(tmp_path: Path) -> None:
    """The folder is checked before TensorFlow is imported, so the message is the same without it."""
    result = CliRunner().invoke(main, ["train", "export", "--run", str(tmp_path)])
    assert result.exit_code != 0 and "no trained run" in result.output
