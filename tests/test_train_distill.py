"""Issue #21's tooling: the validation split, teachers' soft targets, distillation, kiosk crops, train status.

The TensorFlow-free parts always run; the training tests read FER-2013 from ../shared/data/fer2013 and
skip, saying why, when TensorFlow or the data is missing (as tests/test_train_emotion.py does).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from train_support import FER_DIR, need_tf_and_data

from edge_models.cli import main
from edge_models.config import EmotionSettings
from edge_models.kiosk_crops import KioskFraming, frame_for, kiosk_crop
from edge_models.train.recipe import STRONG_AUGMENTATION, Augmentation, Distillation, Recipe
from edge_models.train.run import (
    EpochRecord,
    ExportReport,
    RunPaths,
    RunSettings,
    RunState,
    check_settings,
    read_metrics,
    spread,
    validation_split,
)
from edge_models.train.status import find_runs, format_status, run_status

FER_TRAINING_COUNTS = [3995, 436, 4097, 7215, 4830, 3171, 4965]


# --- recipe ---


def test_the_shipped_recipe_keeps_its_fingerprint_and_distillation_changes_it() -> None:
    shipped = Recipe(width=28, seed=0)
    assert shipped.fingerprint() == "53f1d5a49acd"  # docs/models/emotion.md, emotion-vgg28-s0
    assert "distill" not in json.loads(shipped.to_json())
    distilled = shipped.model_copy(
        update={"distill": Distillation(temperature=4, alpha=0.7, targets_sha256="0" * 64)}
    )
    assert distilled.fingerprint() != shipped.fingerprint()
    assert Recipe.model_validate_json(distilled.to_json()) == distilled
    other_t = shipped.model_copy(
        update={"distill": Distillation(temperature=2, alpha=0.7, targets_sha256="0" * 64)}
    )
    assert other_t.fingerprint() != distilled.fingerprint()


def test_strong_augmentation_is_stronger_than_the_default_everywhere() -> None:
    default = Augmentation()
    assert STRONG_AUGMENTATION.max_rotation_deg > default.max_rotation_deg
    assert STRONG_AUGMENTATION.max_shift > default.max_shift
    assert STRONG_AUGMENTATION.brightness > default.brightness
    assert STRONG_AUGMENTATION.erase_area[1] > default.erase_area[1]
    assert Recipe(augmentation=STRONG_AUGMENTATION).fingerprint() != Recipe().fingerprint()


# --- validation split ---


def test_validation_split_is_stratified_seeded_and_disjoint() -> None:
    labels = np.repeat(np.arange(7), FER_TRAINING_COUNTS)
    train, val = validation_split(labels, 0.1, seed=0)
    assert len(np.intersect1d(train, val)) == 0
    assert len(train) + len(val) == len(labels)
    for c, n in enumerate(FER_TRAINING_COUNTS):
        assert int(np.sum(labels[val] == c)) == round(0.1 * n)
    again_train, again_val = validation_split(labels, 0.1, seed=0)
    assert np.array_equal(val, again_val) and np.array_equal(train, again_train)
    _, other = validation_split(labels, 0.1, seed=1)
    assert not np.array_equal(val, other)
    # Not the first faces of each class: drawn at random within the class.
    assert not np.array_equal(val[: round(0.1 * FER_TRAINING_COUNTS[0])], np.arange(400))
    with pytest.raises(ValueError, match="between 0 and 1"):
        validation_split(labels, 1.0)


def test_validation_split_keeps_a_training_face_of_every_small_class() -> None:
    labels = np.array([0, 0, 1, 2, 2, 2])
    train, val = validation_split(labels, 0.1, seed=3)
    assert sorted(labels[val].tolist()) == [0, 2]  # one of each class with two or more faces
    assert sorted(set(labels[train].tolist())) == [0, 1, 2]


def test_runs_written_before_the_split_still_read_and_resume(tmp_path: Path) -> None:
    old_line = (
        '{"epoch": 1, "train_loss": 1.5, "train_accuracy": 0.4, "publictest_loss": 1.2, '
        '"publictest_accuracy": 0.45, "learning_rate": 0.002, "seconds": 120.0}'
    )
    record = EpochRecord.model_validate_json(old_line)
    assert record.selection_accuracy == 0.45 and record.selection_loss == 1.2
    assert record.cpu_seconds is None
    old_state = RunState.model_validate_json(
        '{"recipe": "53f1d5a49acd", "epochs_done": 27, "best_epoch": 27, "best_accuracy": 0.6486}'
    )
    assert old_state.selection == "publictest"
    # An old run.json (no selection fields) matches the default options, so the run resumes.
    paths = RunPaths(tmp_path / "run")
    paths.root.mkdir()
    recipe = Recipe(width=28)
    old_fields = {"distill": True, "augmentation": {"kiosk_framing", "kiosk_framings_sha256"}}
    paths.recipe.write_text(recipe.model_dump_json(exclude=old_fields), encoding="utf-8")
    paths.settings.write_text('{"data": "/d", "limit": null}', encoding="utf-8")
    paths.state.write_text(old_state.model_dump_json(), encoding="utf-8")
    assert check_settings(paths, RunSettings(data="/d", limit=None), recipe.to_json()) is True
    with pytest.raises(ValueError, match="--limit"):
        check_settings(paths, RunSettings(data="/d", limit=None, selection="validation"), recipe.to_json())
    report = ExportReport.model_json_schema()
    assert "selection" in report["properties"]


# --- train status ---


def _fake_run(root: Path, *, epochs: int, done: int, seconds: list[float], cpu: bool = True) -> None:
    paths = RunPaths(root)
    root.mkdir(parents=True)
    recipe = Recipe(width=56, epochs=epochs)
    paths.recipe.write_text(recipe.to_json(), encoding="utf-8")
    paths.settings.write_text(
        RunSettings(data="/d", limit=None, selection="validation").model_dump_json(), encoding="utf-8"
    )
    lines = [
        EpochRecord(
            epoch=e + 1,
            train_loss=1.0,
            train_accuracy=0.5,
            selection_loss=1.0,
            selection_accuracy=0.5 + e / 100,
            learning_rate=1e-3,
            seconds=s,
            cpu_seconds=2 * s if cpu else None,
        ).model_dump_json()
        for e, s in enumerate(seconds)
    ]
    paths.metrics.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    state = RunState(
        recipe=recipe.fingerprint(),
        epochs_done=done,
        best_epoch=done,
        best_accuracy=0.5 + (done - 1) / 100,
        selection="validation",
    )
    paths.state.write_text(state.model_dump_json(), encoding="utf-8")


def test_status_reports_progress_cpu_time_and_eta(tmp_path: Path) -> None:
    seconds = [100.0, 300.0, 200.0, 200.0, 200.0, 200.0, 200.0]
    # 7 epochs logged but only 6 checkpointed (a crash mid-way): the seventh is not counted.
    _fake_run(tmp_path / "teachers" / "w56-s0", epochs=10, done=6, seconds=seconds)
    status = run_status(tmp_path / "teachers" / "w56-s0")
    assert (status.epochs_done, status.epochs, status.best_epoch) == (6, 10, 6)
    assert status.best_accuracy == pytest.approx(0.55)
    assert status.wall_seconds == pytest.approx(1200.0)
    assert status.cpu_seconds == pytest.approx(2400.0)
    assert status.eta_seconds == pytest.approx(4 * (300 + 200 * 4) / 5)
    assert not status.finished and status.selection == "validation"
    line = format_status(status)
    assert "epoch 6/10" in line and "best validation 0.5500" in line and "0h40m CPU" in line
    assert "ETA 0h15m" in line


def test_status_finds_every_run_and_prints_them(tmp_path: Path) -> None:
    _fake_run(tmp_path / "a", epochs=3, done=3, seconds=[10.0, 10.0, 10.0])
    _fake_run(tmp_path / "b" / "c", epochs=4, done=1, seconds=[10.0], cpu=False)
    (tmp_path / "not-a-run").mkdir()
    assert find_runs(tmp_path) == [tmp_path / "a", tmp_path / "b" / "c"]
    assert find_runs(tmp_path / "a") == [tmp_path / "a"]
    result = CliRunner().invoke(main, ["train", "status", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["finished"] for r in rows] == [True, False]
    assert rows[1]["cpu_seconds"] is None and rows[1]["eta_seconds"] == pytest.approx(30.0)
    text = CliRunner().invoke(main, ["train", "status", str(tmp_path)])
    assert "epoch 3/3" in text.output and "finished" in text.output and "- CPU" in text.output
    empty = CliRunner().invoke(main, ["train", "status", str(tmp_path / "not-a-run")])
    assert empty.exit_code == 0 and "no run folder" in empty.output
    missing = CliRunner().invoke(main, ["train", "status", str(tmp_path / "nowhere")])
    assert missing.exit_code != 0 and "not a folder" in missing.output


# --- the trainer's options (checked before TensorFlow is imported) ---


def test_distillation_needs_all_three_options(tmp_path: Path) -> None:
    targets = tmp_path / "t.npz"
    np.savez(targets, x=np.zeros(1))
    args = ["train", "emotion", "--out", str(tmp_path / "run"), "--teacher-targets", str(targets)]
    result = CliRunner().invoke(main, [*args, "--distill-alpha", "0.5"])
    assert result.exit_code != 0 and "--distill-temperature" in result.output
    result = CliRunner().invoke(
        main, ["train", "emotion", "--out", "x", "--no-augment", "--augment", "strong"]
    )
    assert result.exit_code != 0 and "contradicts" in result.output
    assert not (tmp_path / "run").exists()


# --- kiosk crops ---


def test_a_fer_face_is_framed_larger_on_a_gray_canvas() -> None:
    face = np.arange(48 * 48, dtype=np.uint8).reshape(48, 48)
    frame = frame_for(face, KioskFraming(scale=3, pad=1.0))
    assert frame.shape == (432, 432, 3)
    assert (frame[:144, :144] == 128).all()
    assert np.array_equal(frame[144:288, 144:288, 0], frame[144:288, 144:288, 2])  # gray as BGR


def test_kiosk_crops_find_no_face_in_a_blank_image_and_one_in_a_fer_face() -> None:
    if not (FER_DIR / "publictest" / "happy").is_dir():
        pytest.skip(f"FER-2013 not found at {FER_DIR}")
    from edge_models.datasets import load_emotion_dataset
    from edge_models.presence import PresenceDetector

    with PresenceDetector() as detector:
        blank = kiosk_crop(detector, np.full((48, 48), 128, np.uint8), 48, EmotionSettings(), KioskFraming())
        assert not blank.found and blank.crop is None
        faces = load_emotion_dataset(FER_DIR / "publictest", 30).images
        results = [kiosk_crop(detector, f, 48, EmotionSettings(), KioskFraming()) for f in faces[:30]]
    found = [r for r in results if r.found]
    assert found, "no face found in 30 happy PublicTest faces"
    assert all(r.crop is not None and r.crop.shape == (48, 48, 3) for r in found)


def test_eval_emotion_kiosk_crops_reports_faces_found_and_accuracy() -> None:
    if not (FER_DIR / "publictest" / "happy").is_dir():
        pytest.skip(f"FER-2013 not found at {FER_DIR}")
    args = ["eval", "emotion", "--data", str(FER_DIR / "publictest"), "--crops", "kiosk", "--limit", "6"]
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{") :])
    assert report["n"] == 42
    assert 0 < report["found"] <= 42 and report["eligible"] <= report["found"]
    assert sum(report["found_per_class"].values()) == report["found"]
    assert sum(map(sum, report["confusion"])) == report["eligible"]
    if report["eligible"]:
        assert 0 <= report["accuracy"] <= 1
    text = CliRunner().invoke(main, args)
    assert f"{report['found']} of 42 faces found" in text.output


# --- training: validation selection, soft targets, distillation (TensorFlow) ---


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_teacher_soft_targets_and_distillation(tmp_path: Path) -> None:
    """A tiny teacher selected on validation, its soft targets, a distilled student and its baseline."""
    need_tf_and_data()
    from edge_models.build.train_emotion import load_soft_targets, train, write_soft_targets
    from edge_models.train.run import TrainOptions

    quiet = lambda _: None  # noqa: E731

    def options(out: Path, targets: Path | None = None) -> TrainOptions:
        return TrainOptions(
            data=FER_DIR,
            out=out,
            limit=300,
            selection_limit=70,
            selection="validation",
            teacher_targets=targets,
        )

    teacher = tmp_path / "teacher"
    state = train(
        Recipe(width=8, epochs=2, batch_size=32),
        dataclasses.replace(options(teacher), flip_average=True),
        echo=quiet,
    )
    assert state.selection == "validation"
    report = ExportReport.model_validate_json(RunPaths(teacher).report.read_text(encoding="utf-8"))
    assert report.selection == "validation"
    assert sum(map(sum, report.int8_model.confusion)) == 70  # measured on PublicTest, not on validation
    assert "validation faces" in RunPaths(teacher).log.read_text(encoding="utf-8")

    targets = tmp_path / "targets.npz"
    soft = write_soft_targets([teacher], targets, temperature=3.0, echo=quiet)
    assert soft.faces == 300 and soft.validation_faces == 30
    with np.load(targets) as f:
        assert f["rows"].tolist() == spread(28709, 300).tolist()
        assert f["logits"].shape == (1, 300, 7)
        np.testing.assert_allclose(f["probabilities"].sum(axis=1), 1.0, atol=1e-5)
        assert str(f["teachers"][0]) == str(teacher)
        assert str(f["teacher_sha256"][0]) == hashlib.sha256(RunPaths(teacher).best.read_bytes()).hexdigest()
        assert float(f["temperature"]) == 3.0
        rows = f["rows"]
        assert f["validation_accuracy"][-1] == pytest.approx(soft.ensemble_accuracy)
        # PublicTest, reported: the teacher's flip-averaged figure is its export's float figure.
        assert soft.publictest_faces == 70
        assert soft.teacher_publictest_accuracy[str(teacher)] == report.float_model.accuracy
        assert f["publictest_accuracy"].tolist() == [report.float_model.accuracy] * 2  # one teacher
    # Another temperature is recomputed from the logits; T = 3 gives back the stored probabilities.
    with np.load(targets) as f:
        stored = f["probabilities"]
    np.testing.assert_allclose(load_soft_targets(targets, rows, FER_DIR, 3.0), stored, atol=1e-6)
    sharper = load_soft_targets(targets, rows, FER_DIR, 1.0)
    assert sharper.max(axis=1).mean() > stored.max(axis=1).mean()

    student = Recipe(width=4, epochs=1, batch_size=32)
    digest = hashlib.sha256(targets.read_bytes()).hexdigest()

    def distilled(alpha: float) -> Recipe:
        return student.model_copy(
            update={"distill": Distillation(temperature=3.0, alpha=alpha, targets_sha256=digest)}
        )

    base = tmp_path / "baseline"
    train(student, options(base), echo=quiet)
    train(distilled(0.0), options(tmp_path / "alpha0", targets), echo=quiet)
    train(distilled(0.9), options(tmp_path / "alpha09", targets), echo=quiet)

    def weights(run: Path) -> list[np.ndarray]:
        with np.load(RunPaths(run).checkpoint) as f:
            return [f[k] for k in f.files]

    # alpha 0 is the plain loss: the same weights as the baseline (same seed, epochs, faces).
    for a, b in zip(weights(base), weights(tmp_path / "alpha0"), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    # alpha 0.9 learns from the teacher: other weights.
    assert any(
        not np.allclose(a, b, rtol=1e-3, atol=1e-5)
        for a, b in zip(weights(base), weights(tmp_path / "alpha09"), strict=True)
    )
    recipe_json = json.loads(RunPaths(tmp_path / "alpha09").recipe.read_text(encoding="utf-8"))
    assert recipe_json["distill"] == {"temperature": 3.0, "alpha": 0.9, "targets_sha256": digest}
    assert read_metrics(RunPaths(tmp_path / "alpha09").metrics)[0].cpu_seconds is not None

    # A recipe naming another targets file is refused before anything is trained.
    with pytest.raises(ValueError, match="not the soft-target file"):
        wrong = student.model_copy(
            update={"distill": Distillation(temperature=3.0, alpha=0.5, targets_sha256="0" * 64)}
        )
        train(wrong, options(tmp_path / "wrong", targets), echo=quiet)
    # A student over other rows than the file holds is refused, naming the fix.
    from edge_models.build.errors import BuildError

    with pytest.raises(BuildError, match=r"did not cover \d+ training rows"):
        load_soft_targets(targets, np.array([1, 2, 3]), FER_DIR, 3.0)
