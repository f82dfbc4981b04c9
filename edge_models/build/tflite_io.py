"""Small helpers around TensorFlow's own TFLite interpreter, for measuring converted models at build time.

The kiosk runs models with LiteRT through :mod:`edge_models.runtime`; the build measures with
``tf.lite.Interpreter`` because TensorFlow is installed here anyway and the project imports the LiteRT
interpreter in one module only.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge_models.build._arrays import FloatArray
from edge_models.build._tf import import_tensorflow
from edge_models.manifest import Quantization, TensorDType, TensorSpec
from edge_models.quantization import quantize

_DTYPES: dict[str, TensorDType] = {
    "int8": "int8",
    "uint8": "uint8",
    "float32": "float32",
    "float16": "float16",
    "int32": "int32",
}


def _spec(detail: dict[str, Any]) -> TensorSpec:
    dtype = np.dtype(detail["dtype"]).name
    if dtype not in _DTYPES:
        raise ValueError(f"tensor {detail['name']!r} has dtype {dtype}, which the manifest cannot describe")
    scale, zero_point = detail["quantization"]
    quantization = Quantization(scale=float(scale), zero_point=int(zero_point)) if scale else None
    return TensorSpec(
        name=str(detail["name"]),
        shape=tuple(int(d) for d in detail["shape"]),
        dtype=_DTYPES[dtype],
        quantization=quantization,
    )


@dataclass
class TFLiteModel:
    """A converted model loaded into ``tf.lite.Interpreter``, taking and returning real (float) values.

    Quantised inputs are quantised and quantised outputs dequantised here, exactly as a runtime must:
    ``q = round(x / scale) + zero_point`` and ``x = scale * (q - zero_point)``.
    """

    interpreter: Any

    @classmethod
    def from_bytes(cls, content: bytes) -> TFLiteModel:
        """Load a flatbuffer held in memory, one thread (the kiosk's setting)."""
        tf = import_tensorflow()
        with warnings.catch_warnings():
            # tf.lite.Interpreter warns that it is deprecated in favour of LiteRT; on a conversion
            # machine it is the right tool (the kiosk uses LiteRT through edge_models.runtime).
            warnings.simplefilter("ignore", UserWarning)
            interpreter = tf.lite.Interpreter(model_content=content, num_threads=1)
        interpreter.allocate_tensors()
        return cls(interpreter)

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        """Input tensor contracts, in interpreter order."""
        return tuple(_spec(d) for d in self.interpreter.get_input_details())

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        """Output tensor contracts, in interpreter order."""
        return tuple(_spec(d) for d in self.interpreter.get_output_details())

    def run(self, x: FloatArray) -> list[FloatArray]:
        """Run one sample (``x`` with the input's full shape, batch 1) and return the real-valued outputs."""
        detail = self.interpreter.get_input_details()[0]
        scale, zero_point = detail["quantization"]
        if scale:
            # The runtime's rounding (ties up), so build-time checks see the input the kiosk feeds.
            self.interpreter.set_tensor(detail["index"], quantize(x, scale, zero_point, detail["dtype"]))
        else:
            self.interpreter.set_tensor(detail["index"], x.astype(detail["dtype"]))
        self.interpreter.invoke()
        results: list[FloatArray] = []
        for out in self.interpreter.get_output_details():
            value = self.interpreter.get_tensor(out["index"])
            out_scale, out_zero = out["quantization"]
            if out_scale:
                value = out_scale * (value.astype(np.float32) - out_zero)
            results.append(np.asarray(value, dtype=np.float32))
        return results


def run_converter(converter: Any) -> bytes:
    """Run a ``TFLiteConverter`` and return the flatbuffer.

    Keras 3 prints a signature listing when the converter exports a model; it is kept out of the
    build's output.
    """
    with contextlib.redirect_stdout(io.StringIO()):
        return bytes(converter.convert())


def convert_full_int8(converter: Any, calibration: Sequence[FloatArray]) -> bytes:
    """Quantise everything to int8 (weights, activations, input and outputs) and convert.

    ``calibration`` holds real model inputs, each with the input's full shape (batch 1); the
    converter runs the float model on them to find every tensor's range.
    """
    tf = import_tensorflow()

    def representative() -> Iterator[list[FloatArray]]:
        for sample in calibration:
            yield [sample]

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return run_converter(converter)
