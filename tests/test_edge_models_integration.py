"""The real int8 and float models from the manifest, on real images (skimage's NASA astronaut photo)."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from skimage import data as skdata

from edge_models.anchors import SHORT_RANGE
from edge_models.cli import main
from edge_models.datasets import load_emotion_dataset
from edge_models.emotion import EmotionClassifier
from edge_models.errors import ModelInputError, ModelVerificationError
from edge_models.evaluation import match_faces
from edge_models.manifest import MODELS_DIR, Manifest, load_manifest
from edge_models.pipeline import analyse_frame
from edge_models.preprocess import crop_aligned
from edge_models.presence import PresenceDetector
from edge_models.runtime import open_model
from edge_models.values import Box

MANIFEST_PATH = MODELS_DIR / "manifest.json"
FER_PUBLICTEST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "fer2013" / "publictest"
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not MANIFEST_PATH.is_file(),
        reason=f"no model manifest at {MANIFEST_PATH}: run `edge-models build` (releases ship the models)",
    ),
]


def _names(task: str, precision: str | None = None) -> list[str]:
    if not MANIFEST_PATH.is_file():
        return ["(no manifest)"]
    return [
        m.name
        for m in load_manifest(MANIFEST_PATH).models
        if m.task == task and (precision is None or m.precision == precision)
    ]


def _int8_with_reference(task: str) -> list[tuple[str, str]]:
    if not MANIFEST_PATH.is_file():
        return [("(no manifest)", "(no manifest)")]
    return [
        (m.name, m.agreement.reference)
        for m in load_manifest(MANIFEST_PATH).models
        if m.task == task and m.precision == "int8" and m.agreement is not None
    ]


# The astronaut's face (Eileen Collins), measured by hand on the 512x512 photo.
ASTRONAUT_FACE = Box(174, 68, 280, 174)


def _bgr(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return _bgr(skdata.astronaut())


@pytest.fixture(scope="module")
def manifest() -> Manifest:
    return load_manifest(MANIFEST_PATH)


@pytest.mark.parametrize("model", _names("presence"))
def test_astronaut_has_exactly_one_face_where_expected(model: str, astronaut: np.ndarray) -> None:
    with PresenceDetector(model) as detector:
        faces = detector.detect(astronaut)
    assert len(faces) == 1
    face = faces[0]
    assert face.box.iou(ASTRONAUT_FACE) > 0.7
    assert face.score >= detector.score_threshold
    # Eyes in the upper half of the box, the right eye on the image left; looking at the camera.
    assert face.right_eye.x < face.nose.x < face.left_eye.x
    assert ASTRONAUT_FACE.ymin < face.right_eye.y < ASTRONAUT_FACE.center.y
    assert abs(face.yaw_deg) < 20 and face.frontalness > 0.9
    # A ~106 px face in a 512 px frame with the default 62.2 degree HFOV: about 0.6 m.
    assert 0.4 < face.distance_m < 0.9


@pytest.mark.parametrize("model", _names("presence"))
@pytest.mark.parametrize("image", ["coffee", "rocket", "brick", "chelsea", "blank"])
def test_images_without_faces_have_none(model: str, image: str) -> None:
    frame = np.full((480, 640, 3), 128, np.uint8) if image == "blank" else getattr(skdata, image)()
    if frame.ndim == 2:
        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    elif image != "blank":
        frame = _bgr(frame)
    with PresenceDetector(model) as detector:
        assert detector.detect(frame) == []


def _small_astronaut(astronaut: np.ndarray) -> np.ndarray:
    """The astronaut shrunk to 200 px (face about 40 px) on a 640x480 frame: a shopper 1.5 m away."""
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[140:340, 400:600] = cv2.resize(astronaut, (200, 200), interpolation=cv2.INTER_AREA)
    return frame


@pytest.mark.parametrize(("model", "reference"), _int8_with_reference("presence"))
def test_int8_detector_agrees_with_float(model: str, reference: str, astronaut: np.ndarray) -> None:
    # The 40 px face is beyond the short-range model's reach: there both must agree on none.
    frames = [astronaut, _bgr(skdata.camera()[..., None].repeat(3, 2)), _small_astronaut(astronaut)]
    with PresenceDetector(model) as q, PresenceDetector(reference) as f:
        for i, frame in enumerate(frames):
            faces_q, faces_f = q.detect(frame), f.detect(frame)
            assert len(faces_q) == len(faces_f)
            assert len(faces_f) >= (0 if i == 2 and q.anchor_spec == SHORT_RANGE else 1)
            matches = match_faces(faces_q, faces_f)
            assert len(matches) == len(faces_f)
            assert all(iou > 0.8 for _, _, iou in matches)


@pytest.mark.parametrize("model", [*_names("presence"), *_names("emotion")])
def test_inputs_written_in_place_match_the_prepared_tensor(model: str, astronaut: np.ndarray) -> None:
    # detect() and classify() write the input straight into the interpreter's buffer (no tensor copied):
    # it must hold exactly what prepare() builds, and the answer must be the one the copied tensor gives.
    crop = _astronaut_crop(astronaut)
    with PresenceDetector(model) if model in _names("presence") else EmotionClassifier(model) as owner:
        loaded = owner.model
        index = loaded.interpreter.get_input_details()[0]["index"]
        if isinstance(owner, PresenceDetector):
            tensor, _ = owner.prepare(astronaut)
            answer = owner.detect(astronaut)
        else:
            tensor = owner.prepare(crop)
            answer = owner.classify(crop)
        assert np.array_equal(loaded.interpreter.get_tensor(index), tensor)
        loaded.set_input(tensor)
        loaded.invoke()
        again = owner.detect(astronaut) if isinstance(owner, PresenceDetector) else owner.classify(crop)
        assert again == answer


def test_a_live_output_view_stops_the_next_invoke(astronaut: np.ndarray) -> None:
    # Output views are the interpreter's own buffers: LiteRT refuses to invoke while one is alive, so a
    # view kept by mistake fails loudly instead of reading the next frame's values.
    with PresenceDetector(_names("presence")[0]) as detector:
        detector.detect(astronaut)
        view = detector.model.output_view(0)
        with pytest.raises(RuntimeError, match="reference to internal data"):
            detector.model.invoke()
        del view
        detector.model.invoke()


def test_detector_wants_a_bgr_frame(astronaut: np.ndarray) -> None:
    with PresenceDetector(_names("presence")[0]) as detector, pytest.raises(ModelInputError):
        detector.detect(astronaut[..., 0])


def _astronaut_crop(astronaut: np.ndarray) -> np.ndarray:
    with PresenceDetector(_names("presence")[0]) as detector:
        face = detector.detect(astronaut)[0]
    return crop_aligned(astronaut, face.box, face.right_eye, face.left_eye, margin=0.1, out_size=96)


@pytest.mark.parametrize("model", _names("emotion"))
def test_smiling_astronaut_is_happy_in_any_crop_format(model: str, astronaut: np.ndarray) -> None:
    crop = _astronaut_crop(astronaut)
    with EmotionClassifier(model) as classifier:
        for variant in (crop, cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY), cv2.cvtColor(crop, cv2.COLOR_BGR2BGRA)):
            scores = classifier.classify(variant)
            assert scores.label == "happy" and scores.valence == "positive"
            assert not scores.abstain
            assert sum(scores.probabilities) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize(("model", "reference"), _int8_with_reference("emotion"))
def test_int8_emotion_agrees_with_float_on_publictest(model: str, reference: str) -> None:
    if not FER_PUBLICTEST.is_dir():
        pytest.skip(f"FER-2013 PublicTest not found at {FER_PUBLICTEST}")
    dataset = load_emotion_dataset(FER_PUBLICTEST, limit=40)
    with EmotionClassifier(model) as q, EmotionClassifier(reference) as f:
        top_q = np.array([q.probabilities(img).argmax() for img in dataset.images])
        top_f = np.array([f.probabilities(img).argmax() for img in dataset.images])
    assert len(dataset) == 7 * 40  # 40 a class
    assert (top_q == top_f).mean() >= 0.93
    assert (top_q == dataset.labels).mean() > 0.45  # chance is 1/7


def test_pipeline_classifies_the_astronaut(astronaut: np.ndarray) -> None:
    with PresenceDetector() as detector, EmotionClassifier() as classifier:
        results = analyse_frame(detector, classifier, astronaut)
    assert len(results) == 1
    assert results[0].emotion is not None and results[0].emotion.valence == "positive"


@pytest.mark.parametrize("damage", ["truncated", "flipped byte"])
def test_damaged_real_model_is_refused_naming_the_file(
    damage: str, manifest: Manifest, tmp_path: Path
) -> None:
    entry = manifest.get(_names("presence", "int8")[0])
    content = (MODELS_DIR / entry.file).read_bytes()
    if damage == "truncated":
        content = content[: len(content) // 2]
    else:
        middle = len(content) // 2
        content = content[:middle] + bytes([content[middle] ^ 0xFF]) + content[middle + 1 :]
    (tmp_path / entry.file).write_bytes(content)
    with pytest.raises(ModelVerificationError, match=entry.file.replace(".", r"\.")):
        open_model(entry.name, manifest=manifest, models_dir=tmp_path)


def test_cli_eval_emotion_prints_one_json_object(tmp_path: Path, astronaut: np.ndarray) -> None:
    crop = cv2.cvtColor(_astronaut_crop(astronaut), cv2.COLOR_BGR2GRAY)
    x = np.stack([cv2.resize(crop, (48, 48))] * 7)
    np.savez(tmp_path / "faces.npz", x=x, y=np.arange(7))
    result = CliRunner().invoke(main, ["eval", "emotion", "--data", str(tmp_path / "faces.npz"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n"] == 7
    assert report["accuracy"] == pytest.approx(1 / 7)  # all seven are the same smiling face: "happy"
    assert report["per_class_recall"]["happy"] == 1.0 and report["per_class_recall"]["sad"] == 0.0
    assert np.array(report["confusion"])[:, 3].sum() == 7
    assert report["mean_ms"] > 0 and report["top1_agreement"] == 1.0


def test_cli_bench_reports_every_model_and_the_pipeline(tmp_path: Path, astronaut: np.ndarray) -> None:
    clip = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter.fourcc(*"MJPG"), 10, (640, 480))
    assert writer.isOpened()
    for _ in range(5):
        writer.write(_small_astronaut(astronaut))
    writer.release()
    result = CliRunner().invoke(main, ["bench", "--runs", "10", "--clip", str(clip), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    names = {m.name for m in load_manifest(MANIFEST_PATH).models}
    assert {(m["model"], m["threads"]) for m in report["models"]} == {(n, t) for n in names for t in (1, 2)}
    assert [p["threads"] for p in report["pipeline"]] == [1, 2]
    assert all(p["frames"] == 5 and p["faces"] == 5 and p["fps"] > 0 for p in report["pipeline"])


def test_pipeline_classifies_only_the_nearest_faces_and_only_when_asked() -> None:
    from edge_models.sample_media import MULTI_FACE_IMAGE, sample_file

    frame = cv2.imread(str(sample_file(MULTI_FACE_IMAGE)))
    with PresenceDetector() as detector, EmotionClassifier() as classifier:
        every = analyse_frame(detector, classifier, frame, min_face_px=8, min_frontalness=0.0)
        two = analyse_frame(detector, classifier, frame, min_face_px=8, min_frontalness=0.0, max_classified=2)
        none = analyse_frame(detector, classifier, frame, classify=False)
    assert len(every) == len(two) == len(none) >= 4
    assert all(result.emotion is not None for result in every)
    assert all(result.emotion is None for result in none)
    classified = [result.face.box.width for result in two if result.emotion is not None]
    assert len(classified) == 2
    assert min(classified) >= max(r.face.box.width for r in two if r.emotion is None)
