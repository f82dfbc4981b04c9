"""Interpreter discovery and model verification, with a fake interpreter (no real model needed)."""

import hashlib
import importlib
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge_models.errors import InterpreterUnavailableError, ModelVerificationError, UnknownModelError
from edge_models.manifest import Manifest, ModelEntry, Quantization, SourceInfo, TensorSpec
from edge_models.runtime import InterpreterBackend, entry_for_file, find_interpreter, open_model

CONTENT = b"TFL3 not really a model, but bytes with a known hash"


class FakeInterpreter:
    """Mimics the TFLite Interpreter API for one int8 input and one int8 output."""

    def __init__(self, inputs: list[dict[str, Any]], outputs: list[dict[str, Any]]) -> None:
        self.inputs, self.outputs = inputs, outputs
        self.tensors: dict[int, np.ndarray] = {}
        self.invoked = 0

    def allocate_tensors(self) -> None:
        for detail in [*self.inputs, *self.outputs]:
            self.tensors[detail["index"]] = np.zeros(tuple(detail["shape"]), dtype=detail["dtype"])

    def get_input_details(self) -> list[dict[str, Any]]:
        return self.inputs

    def get_output_details(self) -> list[dict[str, Any]]:
        return self.outputs

    def set_tensor(self, tensor_index: int, value: np.ndarray) -> None:
        self.tensors[tensor_index] = value

    def invoke(self) -> None:
        self.invoked += 1
        self.tensors[1][:] = [[-128, 0, 127]]

    def get_tensor(self, tensor_index: int) -> np.ndarray:
        return self.tensors[tensor_index].copy()

    def tensor(self, tensor_index: int) -> Any:
        return lambda: self.tensors[tensor_index]  # the buffer itself, as LiteRT's view of it


def _detail(name: str, index: int, shape: tuple[int, ...], scale: float, zp: int) -> dict[str, Any]:
    return {
        "name": name,
        "index": index,
        "shape": np.array(shape),
        "dtype": np.int8,
        "quantization": (scale, zp),
    }


def _entry(content: bytes = CONTENT, **changes: Any) -> ModelEntry:
    fields: dict[str, Any] = {
        "name": "tiny_int8",
        "task": "emotion",
        "file": "tiny_int8.tflite",
        "sha256": hashlib.sha256(content).hexdigest(),
        "size_bytes": len(content),
        "precision": "int8",
        "inputs": (
            TensorSpec(
                name="in", shape=(1, 2), dtype="int8", quantization=Quantization(scale=0.5, zero_point=-1)
            ),
        ),
        "outputs": (
            TensorSpec(
                name="out", shape=(1, 3), dtype="int8", quantization=Quantization(scale=0.25, zero_point=0)
            ),
        ),
        "source": SourceInfo(
            package="p", version="1", path="x", sha256="0" * 64, licence="MIT", licence_file="l"
        ),
    }
    fields.update(changes)
    return ModelEntry(**fields)


def _fake_backend(
    inputs: list[dict[str, Any]] | None = None,
) -> tuple[InterpreterBackend, list[FakeInterpreter]]:
    made: list[FakeInterpreter] = []

    def create(content: bytes, threads: int) -> FakeInterpreter:
        it = FakeInterpreter(
            inputs or [_detail("in", 0, (1, 2), 0.5, -1)], [_detail("out", 1, (1, 3), 0.25, 0)]
        )
        made.append(it)
        return it

    return InterpreterBackend("fake", create), made  # type: ignore[arg-type]


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    (tmp_path / "tiny_int8.tflite").write_bytes(CONTENT)
    return tmp_path


def test_a_verified_model_quantises_inputs_and_dequantises_outputs(models_dir: Path) -> None:
    backend, made = _fake_backend()
    manifest = Manifest(models=(_entry(),))
    with open_model("tiny_int8", 2, manifest=manifest, models_dir=models_dir, backend=backend) as model:
        model.set_input_real([[1.0, -0.6]])
        # q = round(x / 0.5) - 1, ties up: 1.0 -> 1, -0.6 -> -2
        assert made[0].tensors[0].tolist() == [[1, -2]]
        model.invoke()
        assert model.get_output(0).dtype == np.int8
        assert model.get_output_real(0).tolist() == [[-32.0, 0.0, 31.75]]
        assert model.threads == 2 and model.backend == "fake"
        with pytest.raises(ValueError, match="needs int8"):
            model.set_input(np.zeros((1, 2), dtype=np.float32))


def test_inputs_fill_in_place_and_outputs_read_as_read_only_views(models_dir: Path) -> None:
    backend, made = _fake_backend()
    manifest = Manifest(models=(_entry(),))
    with open_model("tiny_int8", manifest=manifest, models_dir=models_dir, backend=backend) as model:
        buffer = made[0].tensors[0]
        model.fill_input(lambda view: view.__setitem__(slice(None), [[5, -7]]))
        assert made[0].tensors[0] is buffer  # written in place, not replaced by a copy
        assert buffer.tolist() == [[5, -7]]
        model.invoke()
        view = model.output_view(0)
        assert view.tolist() == [[-128, 0, 127]] and view.dtype == np.int8
        with pytest.raises(ValueError, match="read-only"):
            view[0, 0] = 1


def test_truncated_file_is_refused_naming_the_file(models_dir: Path) -> None:
    (models_dir / "tiny_int8.tflite").write_bytes(CONTENT[:-5])
    with pytest.raises(ModelVerificationError, match=r"tiny_int8\.tflite is truncated: 47 bytes.*says 52"):
        open_model(
            "tiny_int8",
            manifest=Manifest(models=(_entry(),)),
            models_dir=models_dir,
            backend=_fake_backend()[0],
        )


def test_corrupt_file_of_the_right_size_is_refused_by_sha256(models_dir: Path) -> None:
    (models_dir / "tiny_int8.tflite").write_bytes(b"X" + CONTENT[1:])
    with pytest.raises(ModelVerificationError, match=r"tiny_int8\.tflite is corrupt or replaced: sha256"):
        open_model(
            "tiny_int8",
            manifest=Manifest(models=(_entry(),)),
            models_dir=models_dir,
            backend=_fake_backend()[0],
        )


def test_missing_file_and_unknown_names_are_refused(tmp_path: Path) -> None:
    manifest = Manifest(models=(_entry(),))
    with pytest.raises(ModelVerificationError, match="is missing"):
        open_model("tiny_int8", manifest=manifest, models_dir=tmp_path, backend=_fake_backend()[0])
    with pytest.raises(UnknownModelError, match="known models: tiny_int8"):
        open_model("nope", manifest=manifest, models_dir=tmp_path, backend=_fake_backend()[0])
    with pytest.raises(ModelVerificationError, match="not listed in the manifest"):
        entry_for_file(manifest, tmp_path / "other.tflite")


def test_contract_mismatch_names_every_difference(models_dir: Path) -> None:
    backend, _ = _fake_backend(inputs=[_detail("in", 0, (1, 3), 0.4, -1)])
    with pytest.raises(ModelVerificationError) as info:
        open_model("tiny_int8", manifest=Manifest(models=(_entry(),)), models_dir=models_dir, backend=backend)
    message = str(info.value)
    assert "tiny_int8.tflite" in message
    assert "input 0: shape (1, 3) != (1, 2)" in message
    assert "quantization scale/zero_point 0.4/-1 != 0.5/-1" in message


def _block(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    for name in names:
        monkeypatch.setitem(sys.modules, name, None)  # makes `import name` raise ImportError


def test_litert_is_preferred(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("ai_edge_litert.interpreter")
    fake.Interpreter = object  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", fake)
    assert find_interpreter().module == "ai_edge_litert.interpreter"


def test_falls_back_to_tflite_runtime_without_its_default_delegate(monkeypatch: pytest.MonkeyPatch) -> None:
    _block(monkeypatch, "ai_edge_litert", "ai_edge_litert.interpreter")
    calls: list[dict[str, Any]] = []
    fake = types.ModuleType("tflite_runtime.interpreter")

    class OpResolverType:
        BUILTIN_WITHOUT_DEFAULT_DELEGATES = "no-default-delegates"

    fake.OpResolverType = OpResolverType  # type: ignore[attr-defined]
    fake.Interpreter = lambda **kw: calls.append(kw)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tflite_runtime.interpreter", fake)
    backend = find_interpreter()
    assert backend.module == "tflite_runtime.interpreter"
    backend.create(b"model", 3)
    assert calls == [
        {"model_content": b"model", "num_threads": 3, "experimental_op_resolver_type": "no-default-delegates"}
    ]


def test_no_interpreter_gives_install_instructions(monkeypatch: pytest.MonkeyPatch) -> None:
    _block(
        monkeypatch,
        "ai_edge_litert",
        "ai_edge_litert.interpreter",
        "tflite_runtime",
        "tflite_runtime.interpreter",
    )
    with pytest.raises(InterpreterUnavailableError) as info:
        find_interpreter()
    message = str(info.value)
    assert "ai_edge_litert.interpreter" in message and "tflite_runtime.interpreter" in message
    assert "pip install ai-edge-litert" in message
    assert "pip install 'vitrina[tflite]'" in message


def test_a_tflite_runtime_built_for_numpy_1_counts_as_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    _block(monkeypatch, "ai_edge_litert", "ai_edge_litert.interpreter")
    real_import = importlib.import_module

    def fake_import(name: str) -> types.ModuleType:
        if name == "tflite_runtime.interpreter":
            raise AttributeError("_ARRAY_API not found")
        return real_import(name)

    monkeypatch.setattr(importlib, "import_module", fake_import)
    with pytest.raises(InterpreterUnavailableError, match="AttributeError: _ARRAY_API not found"):
        find_interpreter()
