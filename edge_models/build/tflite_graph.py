"""Rebuild a float TFLite graph (such as MediaPipe's fp16 BlazeFace) as a TensorFlow function.

The converter can only quantise from a TensorFlow graph, and MediaPipe ships only the ``.tflite``. This
module reads the flatbuffer with TensorFlow's schema, turns fp16 weights (``DEQUANTIZE`` of a float16
constant) into float32 constants, and maps each operator to its TensorFlow twin. It covers exactly the
operators BlazeFace uses; any other operator raises :class:`BuildError` naming it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edge_models.build._tf import import_tensorflow
from edge_models.build.errors import BuildError

# TFLite schema enums (tensorflow/lite/schema/schema.fbs).
_TENSOR_DTYPES = {0: np.float32, 1: np.float16, 2: np.int32, 4: np.int64, 9: np.int8}
_PADDING = {0: "SAME", 1: "VALID"}


def _activation(tf: Any, code: int) -> Callable[[Any], Any]:
    """The fused activation function of a TFLite operator."""
    if code == 0:
        return lambda x: x
    if code == 1:
        return tf.nn.relu  # type: ignore[no-any-return]
    if code == 3:
        return tf.nn.relu6  # type: ignore[no-any-return]
    raise BuildError(f"fused activation {code} is not supported by the graph rebuilder")


@dataclass(frozen=True)
class _OpArgs:
    """What an operator handler needs: TensorFlow, the operator's inputs and its builtin options."""

    tf: Any
    inputs: list[int]
    opts: Any
    value: Callable[[int], Any]
    constants: dict[int, npt.NDArray[Any]]

    def x(self, position: int = 0) -> Any:
        """The TensorFlow value of input ``position``."""
        return self.value(self.inputs[position])

    def activate(self, x: Any) -> Any:
        """Apply the operator's fused activation."""
        return _activation(self.tf, self.opts.fusedActivationFunction)(x)


def _conv_2d(a: _OpArgs) -> Any:
    kernel = a.tf.transpose(a.x(1), (1, 2, 3, 0))  # TFLite OHWI -> TensorFlow HWIO
    x = a.tf.nn.conv2d(
        a.x(0),
        kernel,
        strides=(1, a.opts.strideH, a.opts.strideW, 1),
        padding=_PADDING[a.opts.padding],
        dilations=(1, a.opts.dilationHFactor, a.opts.dilationWFactor, 1),
    )
    return a.activate(a.tf.nn.bias_add(x, a.x(2)))


def _depthwise_conv_2d(a: _OpArgs) -> Any:
    if a.opts.depthMultiplier not in (0, 1):
        raise BuildError("depthwise convolution with a depth multiplier is not supported")
    kernel = a.tf.transpose(a.x(1), (1, 2, 3, 0))  # TFLite 1HWC -> TensorFlow HWC1
    x = a.tf.nn.depthwise_conv2d(
        a.x(0), kernel, strides=(1, a.opts.strideH, a.opts.strideW, 1), padding=_PADDING[a.opts.padding]
    )
    return a.activate(a.tf.nn.bias_add(x, a.x(2)))


def _max_pool_2d(a: _OpArgs) -> Any:
    x = a.tf.nn.max_pool2d(
        a.x(0),
        ksize=(a.opts.filterHeight, a.opts.filterWidth),
        strides=(a.opts.strideH, a.opts.strideW),
        padding=_PADDING[a.opts.padding],
    )
    return a.activate(x)


def _resize_bilinear(a: _OpArgs) -> Any:
    return a.tf.raw_ops.ResizeBilinear(
        images=a.x(0),
        size=a.constants[a.inputs[1]],
        align_corners=bool(a.opts.alignCorners),
        half_pixel_centers=bool(a.opts.halfPixelCenters),
    )


def _reshape(a: _OpArgs) -> Any:
    if len(a.inputs) > 1 and a.inputs[1] in a.constants:
        shape = a.constants[a.inputs[1]]
    else:
        shape = np.asarray(a.opts.newShape)
    return a.tf.reshape(a.x(0), [int(d) for d in shape])


_HANDLERS: dict[str, Callable[[_OpArgs], Any]] = {
    "CONV_2D": _conv_2d,
    "DEPTHWISE_CONV_2D": _depthwise_conv_2d,
    "ADD": lambda a: a.activate(a.x(0) + a.x(1)),
    "RELU": lambda a: a.tf.nn.relu(a.x(0)),
    "MAX_POOL_2D": _max_pool_2d,
    "PAD": lambda a: a.tf.pad(a.x(0), a.constants[a.inputs[1]]),
    "RESIZE_BILINEAR": _resize_bilinear,
    "RESHAPE": _reshape,
    "CONCATENATION": lambda a: a.activate(a.tf.concat([a.value(i) for i in a.inputs], axis=a.opts.axis)),
}


class TFLiteGraph:
    """A single-subgraph float ``.tflite`` file, callable as TensorFlow operations.

    ``constants`` holds every weight as float32 (fp16 weights widened exactly); :meth:`__call__` applies
    the operators in file order to a float32 input batch and returns the outputs in file order.
    """

    def __init__(self, path: Path, output_floors: dict[int, float] | None = None) -> None:
        """Read ``path``; ``output_floors`` maps output positions to floors (:meth:`floor_output`)."""
        tf = import_tensorflow()
        from tensorflow.lite.python import schema_py_generated as schema
        from tensorflow.lite.tools import flatbuffer_utils

        self._tf = tf
        self.model = flatbuffer_utils.read_model(str(path))
        if len(self.model.subgraphs) != 1:
            raise BuildError(f"{path.name} has {len(self.model.subgraphs)} subgraphs; expected one")
        self.graph = self.model.subgraphs[0]
        self._op_names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
        self.constants: dict[int, npt.NDArray[Any]] = {}
        for index, tensor in enumerate(self.graph.tensors):
            data = self.model.buffers[tensor.buffer].data if tensor.buffer else None
            if data is not None and len(data):
                dtype = _TENSOR_DTYPES.get(tensor.type)
                if dtype is None:
                    raise BuildError(f"constant {tensor.name!r} has TFLite type {tensor.type}, not supported")
                shape = [int(d) for d in tensor.shape]
                self.constants[index] = np.frombuffer(bytes(data), dtype=dtype).reshape(shape)
        self._floors: dict[int, float] = {}
        for position, floor in (output_floors or {}).items():
            self.floor_output(position, floor)

    def _tensor_name(self, index: int) -> str:
        name = self.graph.tensors[index].name
        return name.decode() if isinstance(name, bytes) else str(name)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of the single input, batch first."""
        return tuple(int(d) for d in self.graph.tensors[self.graph.inputs[0]].shape)

    @property
    def output_names(self) -> list[str]:
        """Names of the outputs, in file order."""
        return [self._tensor_name(i) for i in self.graph.outputs]

    def floor_output(self, position: int, floor: float) -> None:
        """Clamp output ``position`` from below at ``floor``, where int8 conversion can use it.

        The convolutions that produce the output (through ``RESHAPE`` and ``CONCATENATION``) get
        ``relu(x - floor) + floor``: the converter fuses the ReLU into the convolution, so the int8
        range of that tensor starts at ``floor`` instead of at the most negative value calibration met.
        For BlazeFace score logits a floor of -16 (score 1e-7) changes no decision and makes the int8
        logit steps several times finer.
        """
        producers = {int(o): op for op in self.graph.operators for o in op.outputs}
        pending = [int(self.graph.outputs[position])]
        while pending:
            op = producers[pending.pop()]
            name = self.op_name(op)
            if name == "CONV_2D":
                if op.builtinOptions.fusedActivationFunction != 0:
                    raise BuildError("cannot floor a convolution that already has an activation")
                self._floors[int(op.outputs[0])] = floor
            elif name in {"RESHAPE", "CONCATENATION"}:
                pending.extend(int(i) for i in op.inputs if int(i) not in self.constants)
            else:
                raise BuildError(f"cannot floor an output produced by {name}")

    def op_name(self, op: Any) -> str:
        """Builtin name (e.g. ``CONV_2D``) of one operator."""
        code = self.model.operatorCodes[op.opcodeIndex]
        return str(self._op_names[max(code.builtinCode, code.deprecatedBuiltinCode)])

    def __call__(self, image: Any) -> list[Any]:
        """Apply the graph to a float32 batch ``image`` and return the outputs as TensorFlow tensors."""
        tf = self._tf
        values: dict[int, Any] = {self.graph.inputs[0]: image}

        def value(index: int) -> Any:
            if index in values:
                return values[index]
            if index in self.constants:
                return tf.constant(
                    self.constants[index].astype(np.float32)
                    if self.constants[index].dtype == np.float16
                    else self.constants[index]
                )
            raise BuildError(f"tensor {self._tensor_name(index)!r} is used before it is computed")

        for op in self.graph.operators:
            name = self.op_name(op)
            inputs = [int(i) for i in op.inputs]
            opts = op.builtinOptions
            if name == "DEQUANTIZE":
                values[int(op.outputs[0])] = tf.constant(self.constants[inputs[0]].astype(np.float32))
                continue
            result = self._apply(name, inputs, opts, value)
            floor = self._floors.get(int(op.outputs[0]))
            if floor is not None:
                result = tf.nn.relu(result - floor) + floor
            values[int(op.outputs[0])] = result
        return [values[int(i)] for i in self.graph.outputs]

    def _apply(self, name: str, inputs: list[int], opts: Any, value: Callable[[int], Any]) -> Any:
        handler = _HANDLERS.get(name)
        if handler is None:
            raise BuildError(f"operator {name} is not supported by the graph rebuilder")
        args = _OpArgs(tf=self._tf, inputs=inputs, opts=opts, value=value, constants=self.constants)
        return handler(args)

    def concrete_function(self) -> Any:
        """A TensorFlow concrete function of the graph with a fixed float32 input (for the converter)."""
        tf = self._tf

        # A tuple, not a dict: the converter keeps a tuple's order (a dict's keys would be sorted), so
        # the int8 model's outputs come in the original file's order.
        def graph(image: Any) -> tuple[Any, ...]:
            return tuple(self(image))

        signature = [tf.TensorSpec(self.input_shape, tf.float32, name="input")]
        return tf.function(graph, input_signature=signature).get_concrete_function()
