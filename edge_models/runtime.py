"""The one place that imports a TFLite interpreter, and the only way models are loaded.

Interpreter choice: ``ai_edge_litert.interpreter`` (LiteRT, runs int8 through XNNPACK) first, then
``tflite_runtime.interpreter`` (32-bit Raspberry Pi OS, which has no LiteRT wheel). Every model file is
checked against its manifest entry before it is loaded (size, sha256), and its tensors after loading
(shapes, dtypes, quantisation); a file that differs is refused with :class:`ModelVerificationError`.
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import importlib.metadata
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self

import numpy as np
import numpy.typing as npt

from edge_models.errors import InterpreterUnavailableError, ModelInputError, ModelVerificationError
from edge_models.manifest import MODELS_DIR, Manifest, ModelEntry, Quantization, TensorSpec, load_manifest
from edge_models.quantization import dequantize, quantize

#: Interpreter modules tried in order.
INTERPRETER_MODULES: tuple[str, ...] = ("ai_edge_litert.interpreter", "tflite_runtime.interpreter")

INSTALL_HINT = (
    "install LiteRT with `pip install ai-edge-litert`, or on 32-bit Raspberry Pi OS (armv7l, no LiteRT "
    "wheel) `pip install 'vitrina[tflite]'`"
)


class Interpreter(Protocol):
    """The part of the TFLite ``Interpreter`` API that Vitrina uses."""

    def allocate_tensors(self) -> None: ...
    def get_input_details(self) -> list[dict[str, Any]]: ...
    def get_output_details(self) -> list[dict[str, Any]]: ...
    def set_tensor(self, tensor_index: int, value: npt.NDArray[Any]) -> None: ...
    def invoke(self) -> None: ...
    def get_tensor(self, tensor_index: int) -> npt.NDArray[Any]: ...
    def tensor(self, tensor_index: int) -> Callable[[], npt.NDArray[Any]]: ...


InterpreterFactory = Callable[[bytes, int], Interpreter]


@dataclass(frozen=True, slots=True)
class InterpreterBackend:
    """An importable interpreter: its module name and a factory ``(model bytes, threads) -> Interpreter``."""

    module: str
    create: InterpreterFactory


def _factory_for(module_name: str, module: Any) -> InterpreterFactory:
    interpreter_cls = module.Interpreter
    if module_name.startswith("tflite_runtime"):
        # tflite-runtime 2.14 gives int8 models no XNNPACK speed-up anyway, and crashes on sparse models
        # unless its default delegate is off (MODELS.md): turn it off.
        resolver = module.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES

        def create_tflite(content: bytes, threads: int) -> Interpreter:
            it: Interpreter = interpreter_cls(
                model_content=content, num_threads=threads, experimental_op_resolver_type=resolver
            )
            return it

        return create_tflite

    def create(content: bytes, threads: int) -> Interpreter:
        it: Interpreter = interpreter_cls(model_content=content, num_threads=threads)
        return it

    return create


def find_interpreter(modules: Sequence[str] = INTERPRETER_MODULES) -> InterpreterBackend:
    """Import the first available interpreter module; raise :class:`InterpreterUnavailableError` if none."""
    failures: list[str] = []
    for name in modules:
        try:
            module = importlib.import_module(name)
        except (ImportError, AttributeError, RuntimeError) as exc:
            # tflite-runtime 2.14 built against numpy 1 fails on numpy 2 with "_ARRAY_API not found".
            failures.append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        return InterpreterBackend(module=name, create=_factory_for(name, module))
    raise InterpreterUnavailableError(
        "no TFLite interpreter could be imported (" + "; ".join(failures) + "): " + INSTALL_HINT
    )


#: The distribution that installs each interpreter module, for version reports.
_DISTRIBUTIONS = {
    "ai_edge_litert.interpreter": "ai-edge-litert",
    "tflite_runtime.interpreter": "tflite-runtime",
}


def interpreter_description(backend: InterpreterBackend | None = None) -> str:
    """The interpreter module that runs the models here and its installed version, e.g.
    ``ai_edge_litert.interpreter 2.3.0`` (for benchmark reports and calibrations)."""
    chosen = backend if backend is not None else find_interpreter()
    try:
        version = importlib.metadata.version(_DISTRIBUTIONS.get(chosen.module, chosen.module.split(".")[0]))
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return f"{chosen.module} {version}"


def sha256_bytes(content: bytes) -> str:
    """Hex sha256 of ``content``."""
    return hashlib.sha256(content).hexdigest()


def verify_file_bytes(entry: ModelEntry, path: Path, content: bytes) -> None:
    """Check a model file's bytes against its manifest entry (size first, then sha256)."""
    if len(content) != entry.size_bytes:
        kind = "truncated" if len(content) < entry.size_bytes else "too long"
        raise ModelVerificationError(
            f"model file {path} is {kind}: {len(content)} bytes, manifest entry {entry.name!r} says "
            f"{entry.size_bytes}; restore it from the release (or rebuild with `edge-models build`)"
        )
    digest = sha256_bytes(content)
    if digest != entry.sha256:
        raise ModelVerificationError(
            f"model file {path} is corrupt or replaced: sha256 {digest}, manifest entry {entry.name!r} says "
            f"{entry.sha256}; restore it from the release (or rebuild with `edge-models build`)"
        )


def read_verified(entry: ModelEntry, models_dir: Path) -> bytes:
    """Read the file of ``entry`` from ``models_dir`` and verify it; returns the very bytes checked."""
    path = models_dir / entry.file
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        raise ModelVerificationError(
            f"model file {path} for {entry.name!r} is missing; restore it or rebuild with `edge-models build`"
        ) from None
    verify_file_bytes(entry, path, content)
    return content


def entry_for_file(manifest: Manifest, path: Path) -> ModelEntry:
    """The manifest entry whose file is ``path``'s name; an unknown file is refused."""
    for entry in manifest.models:
        if entry.file == path.name:
            return entry
    known = ", ".join(m.file for m in manifest.models) or "(none)"
    raise ModelVerificationError(f"model file {path} is not listed in the manifest (known files: {known})")


def _quantization_of(detail: dict[str, Any]) -> Quantization | None:
    scale, zero_point = detail.get("quantization", (0.0, 0))
    if not scale:
        return None
    return Quantization(scale=float(scale), zero_point=int(zero_point))


def _describe_mismatch(spec: TensorSpec, detail: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    shape = tuple(int(v) for v in detail["shape"])
    dtype = np.dtype(detail["dtype"]).name
    if detail["name"] != spec.name:
        problems.append(f"name {detail['name']!r} != {spec.name!r}")
    if shape != spec.shape:
        problems.append(f"shape {shape} != {spec.shape}")
    if dtype != spec.dtype:
        problems.append(f"dtype {dtype} != {spec.dtype}")
    actual_q = _quantization_of(detail)
    expected_q = spec.quantization
    if (actual_q is None) != (expected_q is None):
        problems.append(f"quantization {actual_q} != {expected_q}")
    elif (
        actual_q is not None
        and expected_q is not None
        and (
            actual_q.zero_point != expected_q.zero_point
            or not math.isclose(actual_q.scale, expected_q.scale, rel_tol=1e-6)
        )
    ):
        problems.append(
            f"quantization scale/zero_point {actual_q.scale}/{actual_q.zero_point} != "
            f"{expected_q.scale}/{expected_q.zero_point}"
        )
    return problems


def verify_contract(entry: ModelEntry, path: Path, interpreter: Interpreter) -> None:
    """Check the loaded model's input and output tensors against the manifest entry."""
    problems: list[str] = []
    for kind, specs, details in (
        ("input", entry.inputs, interpreter.get_input_details()),
        ("output", entry.outputs, interpreter.get_output_details()),
    ):
        if len(details) != len(specs):
            problems.append(f"{len(details)} {kind}s, manifest says {len(specs)}")
            continue
        for i, (spec, detail) in enumerate(zip(specs, details, strict=True)):
            problems += [f"{kind} {i}: {p}" for p in _describe_mismatch(spec, detail)]
    if problems:
        raise ModelVerificationError(
            f"model file {path} does not match manifest entry {entry.name!r}: " + "; ".join(problems)
        )


class Closing:
    """A context manager that calls ``close()`` on the way out."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release what the object holds."""


class LoadedModel(Closing):
    """A verified model in an interpreter: typed set-input, invoke and get-output.

    Use :func:`open_model` to make one. Inputs can be set raw (exact dtype) or as real values, which are
    quantised for an int8 input; outputs can be read raw or dequantised (``scale * (q - zero_point)``).
    """

    def __init__(self, entry: ModelEntry, path: Path, interpreter: Interpreter, backend: str, threads: int):
        self.entry = entry
        self.path = path
        self.backend = backend
        self.threads = threads
        self._interpreter: Interpreter | None = interpreter
        self._inputs = interpreter.get_input_details()
        self._outputs = interpreter.get_output_details()

    def close(self) -> None:
        """Release the interpreter; the model cannot be used afterwards."""
        self._interpreter = None

    @property
    def interpreter(self) -> Interpreter:
        """The underlying interpreter; raises once the model is closed."""
        if self._interpreter is None:
            raise ModelInputError(f"model {self.entry.name!r} is closed")
        return self._interpreter

    # Tensors ---------------------------------------------------------------------------------------
    @property
    def input_specs(self) -> tuple[TensorSpec, ...]:
        """The input tensors' contract (from the manifest, verified against the file)."""
        return self.entry.inputs

    @property
    def output_specs(self) -> tuple[TensorSpec, ...]:
        """The output tensors' contract (from the manifest, verified against the file)."""
        return self.entry.outputs

    def set_input(self, value: npt.NDArray[Any], index: int = 0) -> None:
        """Set input ``index`` from an array of exactly its shape and dtype."""
        spec = self.entry.inputs[index]
        if tuple(value.shape) != spec.shape or value.dtype.name != spec.dtype:
            raise ModelInputError(
                f"input {index} of {self.entry.name!r} needs {spec.dtype} {spec.shape}, "
                f"got {value.dtype.name} {tuple(value.shape)}"
            )
        self.interpreter.set_tensor(self._inputs[index]["index"], value)

    def set_input_real(self, value: npt.ArrayLike, index: int = 0) -> None:
        """Set input ``index`` from real values, quantising them when the input is int8/uint8."""
        spec = self.entry.inputs[index]
        real = np.asarray(value, dtype=np.float32).reshape(spec.shape)
        if spec.quantization is None:
            self.set_input(real.astype(spec.dtype), index)
        else:
            q = quantize(real, spec.quantization.scale, spec.quantization.zero_point, spec.dtype)
            self.set_input(q, index)

    def fill_input(self, fill: Callable[[npt.NDArray[Any]], object], index: int = 0) -> None:
        """Write input ``index`` in place: ``fill`` gets a view of the interpreter's own input buffer (its
        shape and dtype) and must write every element of it. No array is allocated and nothing is copied
        (``set_input`` copies the value into that buffer). ``fill`` must not keep the view: while any view
        of the interpreter's buffers is alive, the interpreter refuses to invoke."""
        view = self.interpreter.tensor(self._inputs[index]["index"])()
        try:
            fill(view)
        finally:
            del view

    def invoke(self) -> None:
        """Run the model on the inputs set."""
        self.interpreter.invoke()

    def output_view(self, index: int = 0) -> npt.NDArray[Any]:
        """Output ``index`` as a read-only view of the interpreter's buffer (no copy, unlike
        :meth:`get_output`): copy what is needed (an index or a slice copied with ``np.array``) and drop the
        view, and anything sliced from it, before the next invoke, which the interpreter refuses while one is
        alive."""
        view = self.interpreter.tensor(self._outputs[index]["index"])()
        view.flags.writeable = False
        return view

    def get_output(self, index: int = 0) -> npt.NDArray[Any]:
        """Output ``index`` as the interpreter returns it (a copy)."""
        return np.array(self.interpreter.get_tensor(self._outputs[index]["index"]))

    def get_output_real(self, index: int = 0) -> npt.NDArray[np.float32]:
        """Output ``index`` as float32, dequantised when the output is int8/uint8."""
        raw = self.get_output(index)
        q = self.entry.outputs[index].quantization
        if q is None:
            return raw.astype(np.float32)
        return dequantize(raw, q.scale, q.zero_point)

    def warm_up(self) -> None:
        """One invoke on zero inputs, so the first real call does not pay for lazy initialisation."""
        for i, spec in enumerate(self.entry.inputs):
            self.set_input(np.zeros(spec.shape, dtype=spec.dtype), i)
        self.invoke()


class ModelOwner(Closing):
    """What every task class that owns one :class:`LoadedModel` shares: the ``model`` property, the context
    manager and :meth:`close`. Subclasses set ``self._model`` in their constructor."""

    _model: LoadedModel

    @property
    def model(self) -> LoadedModel:
        """The loaded model (for benchmarks and diagnostics)."""
        return self._model

    def close(self) -> None:
        """Release the model."""
        self._model.close()


def open_model(
    name: str,
    threads: int = 1,
    manifest: Manifest | None = None,
    models_dir: Path | None = None,
    backend: InterpreterBackend | None = None,
) -> LoadedModel:
    """Verify and load the model called ``name`` in the manifest.

    ``manifest`` defaults to ``edge_models/models/manifest.json`` and ``models_dir`` to the folder it lives
    in. Raises :class:`UnknownModelError`, :class:`ModelVerificationError` or
    :class:`InterpreterUnavailableError`, each saying what to do.
    """
    if threads < 1:
        raise ModelInputError(f"threads must be at least 1, got {threads}")
    manifest = manifest if manifest is not None else load_manifest()
    models_dir = models_dir if models_dir is not None else MODELS_DIR
    entry = manifest.get(name)
    content = read_verified(entry, models_dir)
    chosen = backend if backend is not None else find_interpreter()
    path = models_dir / entry.file
    try:
        interpreter = chosen.create(content, threads)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise ModelVerificationError(
            f"model file {path} could not be loaded by {chosen.module}: {exc}"
        ) from exc
    verify_contract(entry, path, interpreter)
    return LoadedModel(entry, path, interpreter, chosen.module, threads)


@dataclass(frozen=True, slots=True)
class OpTiming:
    """One operator of a model timed alone: its position, type, tensor shapes and milliseconds a call."""

    index: int
    op: str
    inputs: tuple[tuple[int, ...], ...]
    output: tuple[int, ...]
    ms: float
    #: Why the operator was not timed (``ms`` is then 0), e.g. a shape the graph leaves to run time.
    untimed: str | None = None


def _single_op_models(
    content: bytes,
) -> list[tuple[int, str, bytes, tuple[tuple[int, ...], ...], tuple[int, ...]]]:
    """Every operator of the model cut out into a model of its own: (index, op type, flatbuffer, input
    shapes, output shape). A float16 weight's ``DEQUANTIZE`` goes with the operator that uses it."""
    try:
        fu = importlib.import_module("ai_edge_litert.tools.flatbuffer_utils")
    except ImportError as exc:
        raise InterpreterUnavailableError(f"the op profile needs LiteRT's flatbuffer tools: {exc}") from exc
    model = fu.convert_bytearray_to_object(bytearray(content))
    graph = model.subgraphs[0]
    constant = {
        i
        for i, t in enumerate(graph.tensors)
        if model.buffers[t.buffer].data is not None and len(model.buffers[t.buffer].data) > 0
    }
    names = [fu.opcode_to_name(model, op.opcodeIndex) for op in graph.operators]
    producer = {out: k for k, op in enumerate(graph.operators) for out in op.outputs}
    weight_ops = {
        k for k, op in enumerate(graph.operators) if names[k] == "DEQUANTIZE" and set(op.inputs) <= constant
    }
    cuts = []
    for index, op in enumerate(graph.operators):
        if index in weight_ops:
            continue
        weights = [graph.operators[producer[i]] for i in op.inputs if producer.get(i, -1) in weight_ops]
        folded = {o for w in weights for o in w.outputs}
        single = copy.copy(graph)
        single.operators = [*weights, op]
        single.inputs = [i for i in op.inputs if i >= 0 and i not in constant and i not in folded]
        single.outputs = list(op.outputs)
        cut = copy.copy(model)
        cut.subgraphs = [single]
        cut.signatureDefs = []
        shapes = tuple(tuple(int(d) for d in graph.tensors[i].shape) for i in op.inputs if i >= 0)
        output = tuple(int(d) for d in graph.tensors[op.outputs[0]].shape)
        cuts.append((index, names[index], bytes(fu.convert_object_to_bytearray(cut)), shapes, output))
    return cuts


def _best_invoke_s(interpreter: Interpreter, runs: int) -> float:
    """Random inputs set once; the best of five rounds of ``runs`` invokes, seconds a call."""
    rng = np.random.default_rng(0)
    for detail in interpreter.get_input_details():
        dtype = np.dtype(detail["dtype"])
        if dtype.kind == "f":
            value = rng.uniform(-1, 1, detail["shape"]).astype(dtype)
        else:
            value = rng.integers(-128, 128, detail["shape"]).astype(dtype)
        interpreter.set_tensor(detail["index"], value)
    for _ in range(5):
        interpreter.invoke()
    best = math.inf
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(runs):
            interpreter.invoke()
        best = min(best, (time.perf_counter() - start) / runs)
    return best


def profile_ops(content: bytes, threads: int = 1, runs: int = 100) -> list[OpTiming]:
    """An op-by-op profile: every operator of the model cut out into a model of its own (its non-constant
    inputs become inputs; a float16 weight's ``DEQUANTIZE`` goes with the operator that uses it, as XNNPACK
    folds it into the weights) and timed in the interpreter, best of five rounds of ``runs`` calls.

    LiteRT's Python API has no profiler; this runs each operator through the very delegate (XNNPACK) and
    kernels the whole model uses, so the sum is close to one whole invoke (each call adds the interpreter's
    own few microseconds). Needs LiteRT (``ai_edge_litert``: its flatbuffer tools cut the model). Each
    operator runs with the shapes the graph records: where the run changes them (a dynamic batch), the sum
    is not the whole model's time, and an operator that cannot run so is listed with ``untimed`` set.
    """
    backend = find_interpreter()
    timings = []
    for index, op, cut, inputs, output in _single_op_models(content):
        interpreter = backend.create(cut, threads)
        try:
            interpreter.allocate_tensors()
        except (RuntimeError, ValueError) as exc:
            # A graph may record shapes its run fixes later (a flip-averaged model's batch of two is stored
            # as batch 1): such an operator cannot run alone with the recorded shapes. Say so; time the rest.
            why = f"cannot run alone with the shapes the graph records: {str(exc).strip()}"
            timings.append(OpTiming(index=index, op=op, inputs=inputs, output=output, ms=0.0, untimed=why))
            continue
        ms = 1000.0 * _best_invoke_s(interpreter, runs)
        timings.append(OpTiming(index=index, op=op, inputs=inputs, output=output, ms=ms))
    return timings
