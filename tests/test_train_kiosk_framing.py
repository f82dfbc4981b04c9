"""Issue #21, item 3: the kiosk's framings of the training faces and the ``kiosk_framing`` augmentation.

The data-free tests use synthetic faces and files made here; the tests on real faces read FER-2013 from
../shared/data/fer2013 and skip, saying why, when it is missing; the training test also needs TensorFlow.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from pydantic import ValidationError
from train_support import FER_DIR, ROOT, need_tf_and_data

from edge_models.cli import main
from edge_models.config import EmotionSettings
from edge_models.errors import DatasetError
from edge_models.kiosk_crops import CANVAS_GRAY, KioskFraming, face_to_frame, frame_for, kiosk_crop, warp_face
from edge_models.train import cli as train_cli
from edge_models.train.augment import KioskFramings, augment_batch
from edge_models.train.framings import FRAMINGS_FORMAT, load_kiosk_framings
from edge_models.train.recipe import NO_AUGMENTATION, STRONG_AUGMENTATION, Augmentation, Recipe
from edge_models.train.run import (
    RunPaths,
    TrainOptions,
    load_held_out_faces,
    sha256_file,
    spread,
    validation_split,
)

SHA = "ab" * 32


def _faces(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 48, 48), dtype=np.uint8)


def _recorded_fingerprint(folder: Path) -> str | None:
    """The fingerprint a run folder recorded beside its recipe.json (state.json or an export report)."""
    for name in ("state.json", "export-report-plain.json", "export-report-flip.json"):
        path = folder / name
        if path.is_file():
            return str(json.loads(path.read_text(encoding="utf-8"))["recipe"])
    return None


# --- the recipe: off keeps every old fingerprint ---


def test_every_committed_recipe_keeps_its_json_and_fingerprint() -> None:
    found = sorted(
        [
            *(ROOT / "edge_models" / "train" / "resume").rglob("recipe.json"),
            *(ROOT / "docs" / "models").rglob("recipe.json"),
        ]
    )
    assert found, "no committed recipe.json"
    for path in found:
        text = path.read_text(encoding="utf-8")
        recipe = Recipe.model_validate_json(text)
        assert recipe.augmentation.kiosk_framing == 0
        assert recipe.to_json() == text, path  # the very same recipe.json (a resume compares it)
        recorded = _recorded_fingerprint(path.parent)
        if recorded is not None:
            assert recipe.fingerprint() == recorded, path
    shipped = ROOT / "docs" / "models" / "emotion-vgg28-s0" / "recipe.json"
    if shipped.is_file():
        assert Recipe.model_validate_json(shipped.read_text(encoding="utf-8")).fingerprint() == "53f1d5a49acd"
    teacher = ROOT / "edge_models" / "train" / "resume" / "teachers" / "vgg40-s1" / "recipe.json"
    if teacher.is_file():
        assert Recipe.model_validate_json(teacher.read_text(encoding="utf-8")).fingerprint() == "ea9da14c6530"
    assert Recipe(width=28, seed=0).fingerprint() == "53f1d5a49acd"


def test_kiosk_framing_is_left_out_when_off_and_recorded_with_its_file_when_on() -> None:
    off = Recipe(width=28, augmentation=Augmentation(kiosk_framing=0.0))
    assert off.fingerprint() == "53f1d5a49acd"
    assert "kiosk_framing" not in json.loads(off.to_json())["augmentation"]
    on_aug = Augmentation(kiosk_framing=0.5, kiosk_framings_sha256=SHA)
    on = Recipe(width=28, augmentation=on_aug)
    data = json.loads(on.to_json())["augmentation"]
    assert data["kiosk_framing"] == 0.5 and data["kiosk_framings_sha256"] == SHA
    assert on.fingerprint() != off.fingerprint()
    assert Recipe.model_validate_json(on.to_json()) == on
    other_file = Recipe(width=28, augmentation=on_aug.model_copy(update={"kiosk_framings_sha256": "cd" * 32}))
    assert other_file.fingerprint() != on.fingerprint()
    with pytest.raises(ValidationError, match="go together"):
        Augmentation(kiosk_framing=0.5)
    with pytest.raises(ValidationError, match="go together"):
        Augmentation(kiosk_framings_sha256=SHA)
    with pytest.raises(ValidationError):
        Augmentation(kiosk_framing=1.5, kiosk_framings_sha256=SHA)


# --- the augmentation ---


def _shift(dx: float, dy: float) -> np.ndarray:
    return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]])


def test_kiosk_framing_off_draws_nothing_and_changes_nothing() -> None:
    faces = _faces(16)
    framings = KioskFramings(matrices=np.stack([_shift(3, 0)]), own=np.zeros(16, dtype=np.int64))
    for aug in (Augmentation(), STRONG_AUGMENTATION):
        a_rng, b_rng = np.random.default_rng([0, 1]), np.random.default_rng([0, 1])
        plain = augment_batch(faces, a_rng, aug)
        with_file = augment_batch(faces, b_rng, aug, framings)
        assert np.array_equal(plain, with_file)
        assert a_rng.random() == b_rng.random()  # the same draws were made


def test_kiosk_framing_warps_by_the_face_s_own_framing_or_one_from_the_pool() -> None:
    faces = _faces(40)
    pool = np.stack([_shift(5, 0), _shift(0, -4), _shift(-2, 3)])
    own = np.array([1, -1] * 20, dtype=np.int64)
    always = NO_AUGMENTATION.model_copy(update={"kiosk_framing": 1.0, "kiosk_framings_sha256": SHA})
    out = augment_batch(faces, np.random.default_rng(3), always, KioskFramings(pool, own))
    as_pixels = np.round((out[..., 0] + 1.0) * 127.5).astype(np.uint8)
    for i, face in enumerate(faces):
        candidates = [pool[own[i]]] if own[i] >= 0 else list(pool)
        assert any(np.array_equal(as_pixels[i], warp_face(face, m, 48)) for m in candidates), i
    # A face without its own framing draws from the whole pool.
    drawn = {
        next(j for j, m in enumerate(pool) if np.array_equal(as_pixels[i], warp_face(faces[i], m, 48)))
        for i in range(1, 40, 2)
    }
    assert drawn == {0, 1, 2}
    # Mid-gray where the warp reaches past the face: face 0's own framing, a shift of 4 pixels up, leaves
    # four gray rows at the bottom.
    assert (as_pixels[0, -4:] == CANVAS_GRAY).all() and not (as_pixels[0, -5] == CANVAS_GRAY).all()


def test_kiosk_framing_is_a_function_of_the_generator_and_is_drawn_about_p_of_the_time() -> None:
    faces = _faces(400)
    framings = KioskFramings(np.stack([_shift(6, 6)]), np.zeros(400, dtype=np.int64))
    half = NO_AUGMENTATION.model_copy(update={"kiosk_framing": 0.5, "kiosk_framings_sha256": SHA})
    a = augment_batch(faces, np.random.default_rng([7, 2]), half, framings)
    b = augment_batch(faces, np.random.default_rng([7, 2]), half, framings)
    assert np.array_equal(a, b)
    plain = augment_batch(faces, np.random.default_rng([7, 2]), NO_AUGMENTATION)
    changed = np.mean([not np.array_equal(x, y) for x, y in zip(a, plain, strict=True)])
    assert 0.4 < changed < 0.6
    with pytest.raises(ValueError, match="--kiosk-framings"):
        augment_batch(faces, np.random.default_rng(0), half)
    with pytest.raises(ValueError, match="do not fit"):
        augment_batch(faces, np.random.default_rng(0), half, framings.take(np.arange(3)))


# --- the framings file ---


def _data_folder(tmp_path: Path, n: int = 50) -> Path:
    data = tmp_path / "fer"
    data.mkdir()
    np.savez(data / "train.npz", x=_faces(n), y=np.arange(n) % 7)
    return data


def _framings_file(path: Path, data: Path, scanned: np.ndarray, rows: np.ndarray, **override: Any) -> Path:
    fields: dict[str, Any] = {
        "format": np.int64(FRAMINGS_FORMAT),
        "scanned_rows": scanned,
        "found": np.isin(scanned, rows),
        "eligible": np.isin(scanned, rows),
        "rows": rows,
        "matrices": np.stack([_shift(float(r), 0.0) for r in rows]),
        "train_sha256": np.array(sha256_file(data / "train.npz")),
        "face_size": np.int64(48),
        "out_size": np.int64(48),
    }
    fields.update(override)
    np.savez(path, **fields)
    return path


def test_framings_are_matched_to_the_training_rows_and_the_pool_is_theirs(tmp_path: Path) -> None:
    data = _data_folder(tmp_path)
    path = _framings_file(tmp_path / "f.npz", data, np.arange(50), np.array([2, 5, 9, 30]))
    framings = load_kiosk_framings(path, np.array([1, 2, 3, 9, 10]), data, 48)
    # Rows 2 and 9 have their own framing; the pool holds only the training rows' (not rows 5 and 30).
    assert framings.own.tolist() == [-1, 0, -1, 1, -1]
    assert [m[0, 2] for m in framings.matrices] == [2.0, 9.0]


def test_a_framings_file_that_does_not_fit_is_refused_saying_why(tmp_path: Path) -> None:
    data = _data_folder(tmp_path)
    rows = np.array([2, 5])
    with pytest.raises(DatasetError, match="did not cover 2 training rows"):
        load_kiosk_framings(
            _framings_file(tmp_path / "a.npz", data, np.arange(10), rows), np.array([1, 20, 30]), data, 48
        )
    with pytest.raises(DatasetError, match=r"another train\.npz"):
        wrong = _framings_file(tmp_path / "b.npz", data, np.arange(50), rows, train_sha256=np.array("0" * 64))
        load_kiosk_framings(wrong, np.arange(10), data, 48)
    with pytest.raises(DatasetError, match="this recipe's input is 64x64"):
        load_kiosk_framings(
            _framings_file(tmp_path / "c.npz", data, np.arange(50), rows), np.arange(10), data, 64
        )
    with pytest.raises(DatasetError, match="no kiosk framing of any"):
        load_kiosk_framings(
            _framings_file(tmp_path / "d.npz", data, np.arange(50), rows), np.array([1, 3]), data, 48
        )
    np.savez(tmp_path / "targets.npz", logits=np.zeros(3))
    with pytest.raises(DatasetError, match="not a kiosk-framings file"):
        load_kiosk_framings(tmp_path / "targets.npz", np.arange(10), data, 48)
    np.save(tmp_path / "one.npy", np.zeros(3))
    with pytest.raises(DatasetError, match=r"holds one array, not an \.npz"):
        load_kiosk_framings(tmp_path / "one.npy", np.arange(10), data, 48)
    (tmp_path / "junk.npz").write_text("not a zip", encoding="utf-8")
    with pytest.raises(DatasetError, match="cannot read"):
        load_kiosk_framings(tmp_path / "junk.npz", np.arange(10), data, 48)


def test_the_face_to_frame_map_follows_frame_for() -> None:
    face = np.zeros((48, 48), dtype=np.uint8)
    face[10, 30] = 255
    framing = KioskFraming(scale=3, pad=1.0)
    frame = frame_for(face, framing)[..., 0]
    x, y, _ = face_to_frame(face.shape, framing) @ np.array([30.0, 10.0, 1.0])
    assert np.unravel_index(np.argmax(frame), frame.shape) == (round(y), round(x)) == (175, 235)


# --- the trainer's checks (no TensorFlow needed) ---


def test_a_resume_with_another_framings_file_is_refused_saying_which(tmp_path: Path) -> None:
    from edge_models.build.train_emotion import _check_kiosk_framings

    first, second = tmp_path / "first.npz", tmp_path / "second.npz"
    np.savez(first, a=np.zeros(1))
    np.savez(second, a=np.ones(1))

    def recipe(file: Path | None) -> Recipe:
        if file is None:
            return Recipe(width=8)
        aug = Augmentation(kiosk_framing=0.5, kiosk_framings_sha256=sha256_file(file))
        return Recipe(width=8, augmentation=aug)

    def options(file: Path | None) -> TrainOptions:
        return TrainOptions(data=tmp_path, out=tmp_path / "run", kiosk_framings=file)

    paths = RunPaths(tmp_path / "run")
    _check_kiosk_framings(recipe(first), options(first), paths)  # a new run
    paths.root.mkdir()
    paths.recipe.write_text(recipe(first).to_json(), encoding="utf-8")
    _check_kiosk_framings(recipe(first), options(first), paths)  # the same file resumes
    with pytest.raises(
        ValueError, match=r"started with kiosk framing 0.5 .* resumed here with .*second\.npz"
    ):
        _check_kiosk_framings(recipe(second), options(second), paths)
    with pytest.raises(ValueError, match="resumed here without --kiosk-framings"):
        _check_kiosk_framings(recipe(None), options(None), paths)
    with pytest.raises(ValueError, match="not the kiosk-framings file the recipe names"):
        _check_kiosk_framings(recipe(first), options(second), RunPaths(tmp_path / "new"))
    with pytest.raises(ValueError, match="go together"):
        _check_kiosk_framings(recipe(first), options(None), RunPaths(tmp_path / "new"))
    paths.recipe.write_text(recipe(None).to_json(), encoding="utf-8")
    with pytest.raises(ValueError, match="started without kiosk framing"):
        _check_kiosk_framings(recipe(first), options(first), paths)


def _capture_training(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Recipe, TrainOptions]]:
    calls: list[tuple[Recipe, TrainOptions]] = []
    monkeypatch.setattr(
        train_cli, "_trainer", lambda: SimpleNamespace(train=lambda r, o: calls.append((r, o)))
    )
    return calls


def test_the_train_options_put_the_file_s_sha256_in_the_recipe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _capture_training(monkeypatch)
    framings = tmp_path / "framings.npz"
    np.savez(framings, a=np.zeros(1))
    base = ["train", "emotion", "--out", str(tmp_path / "run"), "--width", "28"]
    result = CliRunner().invoke(main, [*base, "--kiosk-framings", str(framings), "--kiosk-framing", "0.5"])
    assert result.exit_code == 0, result.output
    recipe, options = calls[-1]
    assert recipe.augmentation.kiosk_framing == 0.5
    assert recipe.augmentation.kiosk_framings_sha256 == hashlib.sha256(framings.read_bytes()).hexdigest()
    assert recipe.augmentation.max_rotation_deg == Augmentation().max_rotation_deg
    assert options.kiosk_framings == framings
    # With --augment strong, the strong preset plus the framing.
    CliRunner().invoke(
        main, [*base, "--augment", "strong", "--kiosk-framings", str(framings), "--kiosk-framing", "1"]
    )
    assert calls[-1][0].augmentation.max_rotation_deg == STRONG_AUGMENTATION.max_rotation_deg
    # --kiosk-framing 0 is off: the file is unused and the recipe is the plain one (the shipped fingerprint).
    result = CliRunner().invoke(main, [*base, "--kiosk-framings", str(framings), "--kiosk-framing", "0"])
    assert result.exit_code == 0, result.output
    assert calls[-1][0].fingerprint() == "53f1d5a49acd" and calls[-1][1].kiosk_framings is None
    result = CliRunner().invoke(main, [*base, "--kiosk-framing", "0.5"])
    assert result.exit_code != 0 and "needs --kiosk-framings" in result.output
    result = CliRunner().invoke(main, [*base, "--kiosk-framings", str(framings)])
    assert result.exit_code != 0 and "needs --kiosk-framing P" in result.output
    assert len(calls) == 3


# --- on real FER-2013 faces ---


def _need_fer() -> None:
    if not (FER_DIR / "train.npz").is_file():
        pytest.skip(f"FER-2013 not found at {FER_DIR}")


def test_a_face_warped_by_its_framing_is_the_kiosk_s_crop() -> None:
    """One bilinear warp of the 48x48 face gives the kiosk's crop (upscale, detect, crop) to a grey level
    or two inside the face and exactly the canvas gray beyond it; only the face's edge, about one face pixel
    wide, differs more (see :func:`edge_models.kiosk_crops.warp_face`)."""
    _need_fer()
    from edge_models.presence import PresenceDetector

    with np.load(FER_DIR / "train.npz") as f:
        faces = f["x"][spread(len(f["y"]), 60)]
    compared = 0
    with PresenceDetector() as detector:
        for face in faces:
            result = kiosk_crop(detector, face, 48, EmotionSettings(), KioskFraming())
            if not result.found:
                continue
            assert result.matrix is not None and result.crop is not None
            kiosk = cv2.cvtColor(result.crop, cv2.COLOR_BGR2GRAY).astype(int)
            warped = warp_face(face, result.matrix, 48).astype(int)
            inverse = cv2.invertAffineTransform(result.matrix)
            ys, xs = np.mgrid[0:48, 0:48]
            u = inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2]
            v = inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2]
            inside = (u >= 0) & (u <= 47) & (v >= 0) & (v <= 47)
            beyond = (u < -1) | (u > 48) | (v < -1) | (v > 48)
            assert np.abs(warped - kiosk)[inside].max() <= 2
            assert np.abs(warped - kiosk)[beyond].max(initial=0) <= 2
            assert (warped[beyond] == CANVAS_GRAY).all()
            assert inside.mean() > 0.4
            compared += 1
    assert compared >= 10, f"the detector found only {compared} of 60 faces"


def test_the_kiosk_framings_command_stores_the_eligible_faces_framings(tmp_path: Path) -> None:
    _need_fer()
    out = tmp_path / "framings.npz"
    result = CliRunner().invoke(
        main, ["train", "kiosk-framings", "--data", str(FER_DIR), "--out", str(out), "--limit", "40"]
    )
    assert result.exit_code == 0, result.output
    with np.load(out) as f:
        assert f["scanned_rows"].tolist() == spread(28709, 40).tolist()
        assert set(f["rows"].tolist()) <= set(f["scanned_rows"].tolist())
        assert int(f["eligible"].sum()) == len(f["rows"]) == len(f["matrices"]) > 0
        assert (f["eligible"] <= f["found"]).all()
        assert str(f["train_sha256"]) == sha256_file(FER_DIR / "train.npz")
        assert str(f["presence_model"]) == "face_full_range_int8" and len(str(f["presence_sha256"])) == 64
        assert (int(f["scale"]), float(f["pad"]), float(f["crop_margin"])) == (3, 1.0, 0.1)
        found, eligible = int(f["found"].sum()), int(f["eligible"].sum())
        row, matrix = int(f["rows"][0]), f["matrices"][0]
    assert f"found {found} of 40 faces" in result.output and f"{eligible} eligible" in result.output
    with np.load(FER_DIR / "train.npz") as f:
        face = f["x"][row]
    from edge_models.presence import PresenceDetector

    with PresenceDetector() as detector:
        again = kiosk_crop(detector, face, 48, EmotionSettings(), KioskFraming())
    assert again.matrix is not None and np.allclose(again.matrix, matrix)
    framings = load_kiosk_framings(out, spread(28709, 40), FER_DIR, 48)
    assert int((framings.own >= 0).sum()) == eligible
    missing = CliRunner().invoke(
        main, ["train", "kiosk-framings", "--data", str(tmp_path), "--out", str(out)]
    )
    assert missing.exit_code != 0 and "no train.npz" in missing.output


# --- the validation split for eval emotion ---


def test_the_eval_validation_split_is_the_trainer_s(tmp_path: Path) -> None:
    data = _data_folder(tmp_path, 400)
    faces = load_held_out_faces(data / "train.npz", "validation", limit=300, fraction=0.1, seed=0)
    keep = spread(400, 300)
    with np.load(data / "train.npz") as f:
        x, y = f["x"], f["y"]
    _train, val = validation_split(y[keep], 0.1, 0)
    assert np.array_equal(faces.labels, y[keep][val])
    assert all(np.array_equal(a, b) for a, b in zip(faces.images, x[keep][val], strict=True))
    with pytest.raises(DatasetError, match=r"training \.npz"):
        load_held_out_faces(data)
    unused = load_held_out_faces(data / "train.npz", "unused", limit=300)
    assert len(unused) == 100 and np.array_equal(unused.labels, np.delete(y, keep))
    with pytest.raises(DatasetError, match="no face is unused"):
        load_held_out_faces(data / "train.npz", "unused")
    args = ["eval", "emotion", "--data", str(data / "train.npz"), "--split", "validation"]
    result = CliRunner().invoke(main, [*args, "--train-limit", "300", "--limit", "10", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output[result.output.index("{") :])["n"] == 10
    result = CliRunner().invoke(
        main, ["eval", "emotion", "--data", str(data / "train.npz"), "--train-limit", "3"]
    )
    assert result.exit_code != 0 and "--split validation and unused only" in result.output


# --- a real (tiny) training with the kiosk framing (TensorFlow) ---


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_training_with_kiosk_framing_resumes_bit_identically_and_refuses_another_file(tmp_path: Path) -> None:
    need_tf_and_data()
    from edge_models.build.train_emotion import train
    from edge_models.train.framings import write_kiosk_framings

    framings = tmp_path / "framings.npz"
    write_kiosk_framings(FER_DIR, framings, limit=300)
    aug = Augmentation(kiosk_framing=0.5, kiosk_framings_sha256=sha256_file(framings))
    recipe = Recipe(width=4, epochs=2, batch_size=32, augmentation=aug)
    quiet = lambda _: None  # noqa: E731

    def options(out: Path, file: Path, stop_after: int | None = None) -> TrainOptions:
        return TrainOptions(
            data=FER_DIR,
            out=tmp_path / out,
            limit=300,
            selection_limit=70,
            selection="validation",
            export=False,
            stop_after=stop_after,
            kiosk_framings=file,
        )

    assert train(recipe, options(Path("straight"), framings), echo=quiet).epochs_done == 2
    assert train(recipe, options(Path("resumed"), framings, stop_after=1), echo=quiet).epochs_done == 1
    assert train(recipe, options(Path("resumed"), framings), echo=quiet).epochs_done == 2
    straight, resumed = RunPaths(tmp_path / "straight"), RunPaths(tmp_path / "resumed")
    with np.load(straight.checkpoint) as a, np.load(resumed.checkpoint) as b:
        assert a.files == b.files
        for key in a.files:
            assert np.array_equal(a[key], b[key]), key
    saved = json.loads(straight.recipe.read_text(encoding="utf-8"))
    assert saved["augmentation"]["kiosk_framing"] == 0.5
    assert saved["augmentation"]["kiosk_framings_sha256"] == sha256_file(framings)
    assert "have their own framing" in straight.log.read_text(encoding="utf-8")
    # The kiosk framing changes what is learnt: other weights than the plain recipe's.
    plain = Recipe(width=4, epochs=2, batch_size=32)
    train(plain, replace(options(Path("plain"), framings), kiosk_framings=None), echo=quiet)
    with np.load(straight.checkpoint) as a, np.load(RunPaths(tmp_path / "plain").checkpoint) as b:
        assert any(not np.array_equal(a[key], b[key]) for key in a.files)
    # Resuming with a framings file made another way is refused before anything is trained.
    other = tmp_path / "other.npz"
    write_kiosk_framings(FER_DIR, other, limit=300, framing=KioskFraming(scale=2))
    other_aug = aug.model_copy(update={"kiosk_framings_sha256": sha256_file(other)})
    with pytest.raises(ValueError, match="resumed here with"):
        train(
            recipe.model_copy(update={"augmentation": other_aug}),
            options(Path("straight"), other),
            echo=quiet,
        )
