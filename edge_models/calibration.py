"""Which shipped variant of each model runs fastest on this device, chosen by measurement.

Every model family ships an int8 file and a float one (``face_full_range_int8`` / ``face_full_range_float``;
the float presence files are the fp16 originals, Vitrina's emotion model has float16 weights). Which one is
faster depends on the CPU: on an x86-64 with AVX2 but without VNNI, XNNPACK's int8 kernels lose to its
float32 ones on BlazeFace's thin 1x1 convolutions (docs/edge-models-runtime.md, "Variants"), while on an
ARM core with dot-product instructions int8 wins. :func:`measure` times each variant's whole task step
(pre-processing, invoke, decoding: :meth:`PresenceDetector.detect` on a 640x480 frame,
:meth:`EmotionClassifier.probabilities` on a crop) in interleaved rounds, so that a change of load hits
every variant alike, and keeps the configured variant unless another is faster by more than a margin.

The result is a :class:`Calibration`, written as JSON in the kiosk's data folder (``calibration.json``) by
``edge-models calibrate``, by the kiosk on its first start and by the device self-test. It names the host it
was measured on; a calibration from another CPU, another interpreter or other model files is stale and is
measured again (:func:`ensure`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge_models.emotion import EmotionClassifier
from edge_models.errors import EdgeModelsError
from edge_models.manifest import MODELS_DIR, Manifest, load_manifest
from edge_models.presence import PresenceDetector
from edge_models.runtime import Closing, interpreter_description

log = logging.getLogger(__name__)

Variant = Literal["int8", "float"]
VariantChoice = Literal["auto", "int8", "float"]
VARIANTS: tuple[Variant, ...] = ("int8", "float")
CALIBRATION_FILE = "calibration.json"
#: Another variant replaces the configured one only when it is this much faster (a 5 % margin keeps noise
#: from flipping the choice between two near-equal variants).
DEFAULT_MARGIN = 0.05


class CalibrationError(EdgeModelsError):
    """A calibration could not be made or read."""


def family_of(name: str) -> str:
    """The model family of a manifest name: ``face_full_range_int8`` -> ``face_full_range``."""
    for variant in VARIANTS:
        suffix = f"_{variant}"
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def variant_of(name: str) -> Variant | None:
    """The variant a manifest name ends with, or None."""
    return next((v for v in VARIANTS if name.endswith(f"_{v}")), None)


def variants_in(manifest: Manifest, family: str) -> dict[Variant, str]:
    """The variants of ``family`` that the manifest ships, variant -> model name."""
    names = {m.name for m in manifest.models}
    return {v: f"{family}_{v}" for v in VARIANTS if f"{family}_{v}" in names}


class HostFingerprint(BaseModel):
    """What makes a measurement valid: the CPU, the interpreter and the model files measured."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cpu: str = Field(description="CPU model name (/proc/cpuinfo), or the platform's processor name.")
    cpu_flags_sha256: str = Field(description="First 16 hex digits of the sha256 of the CPU's flag list.")
    machine: str = Field(description="Machine architecture (platform.machine()).")
    interpreter: str = Field(
        description="The interpreter module and its version, as edge_models.runtime reports it."
    )
    models_sha256: str = Field(
        description="First 16 hex digits of the sha256 over the measured files' digests."
    )


class VariantFigure(BaseModel):
    """One variant's measured time for its task step, milliseconds a call."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(description="Manifest name.")
    precision: str = Field(description="The manifest's precision of the file (int8, float16, float32).")
    median_ms: float = Field(ge=0, description="Median over the rounds of each round's mean call time.")
    min_ms: float = Field(ge=0, description="Fastest round's mean call time.")
    max_ms: float = Field(ge=0, description="Slowest round's mean call time.")
    calls: int = Field(ge=1, description="Timed calls in each round.")


class FamilyChoice(BaseModel):
    """The variant chosen for one model family, and the figures it was chosen on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    family: str = Field(description="Model family, e.g. face_full_range.")
    task: str = Field(description="presence or emotion: what step was timed.")
    chosen: str = Field(description="Manifest name of the chosen variant.")
    preferred: str = Field(description="The variant kept unless another beats it by the margin.")
    figures: tuple[VariantFigure, ...] = Field(description="Every variant measured, in variant order.")

    def figure(self, model: str) -> VariantFigure | None:
        """The figures of ``model``, if it was measured."""
        return next((f for f in self.figures if f.model == model), None)


class Calibration(BaseModel):
    """Measured variant choices of one device (``calibration.json``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = Field(default=1, description="Version of this file's schema.")
    created: datetime = Field(description="When it was measured (UTC).")
    host: HostFingerprint = Field(description="What it was measured on.")
    threads: int = Field(ge=1, description="Interpreter threads a model during the measurement.")
    rounds: int = Field(ge=1, description="Interleaved rounds (every variant once a round).")
    margin: float = Field(
        ge=0, description="How much faster another variant had to be to replace the preferred."
    )
    choices: tuple[FamilyChoice, ...] = Field(description="One choice a model family.")

    def choice(self, family: str) -> FamilyChoice | None:
        """The choice for ``family``, if it was measured."""
        return next((c for c in self.choices if c.family == family), None)

    def chosen(self) -> dict[str, str]:
        """Family -> the chosen model's name."""
        return {c.family: c.chosen for c in self.choices}


def cpu_description() -> tuple[str, str]:
    """(CPU model name, its flag list) from /proc/cpuinfo: x86's ``model name`` and ``flags``, ARM's
    ``Model`` (a Raspberry Pi names itself there) or ``Hardware`` and ``Features``; the platform's names
    where there is no /proc/cpuinfo."""
    info: dict[str, str] = {}
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            key, sep, value = line.partition(":")
            if sep:
                info.setdefault(key.strip().lower(), value.strip())
    model = next(
        (
            info[key]
            for key in ("model name", "model", "hardware", "cpu model")
            if info.get(key) and not info[key].isdigit()
        ),
        platform.processor() or platform.machine(),
    )
    return model, info.get("flags") or info.get("features", "")


def host_fingerprint(models: Sequence[str], manifest: Manifest) -> HostFingerprint:
    """This device's fingerprint for a measurement of ``models``."""
    cpu, flags = cpu_description()
    digests = "".join(manifest.get(name).sha256 for name in sorted(models))
    return HostFingerprint(
        cpu=cpu,
        cpu_flags_sha256=hashlib.sha256(flags.encode()).hexdigest()[:16],
        machine=platform.machine(),
        interpreter=interpreter_description(),
        models_sha256=hashlib.sha256(digests.encode()).hexdigest()[:16],
    )


class _Step(Closing):
    """One variant's task step, ready to be called."""

    def __init__(self, call: Callable[[], object], owner: Closing) -> None:
        self.call = call
        self._owner = owner

    def close(self) -> None:
        self._owner.close()


def _step(name: str, task: str, threads: int, manifest: Manifest, models_dir: Path) -> _Step:
    rng = np.random.default_rng(0)
    if task == "presence":
        detector = PresenceDetector(name, threads, manifest=manifest, models_dir=models_dir)
        frame = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
        return _Step(lambda: detector.detect(frame), detector)
    classifier = EmotionClassifier(name, threads, manifest=manifest, models_dir=models_dir)
    crop = rng.integers(0, 256, (classifier.input_size, classifier.input_size, 3), dtype=np.uint8)
    return _Step(lambda: classifier.probabilities(crop), classifier)


def measure(
    models: Sequence[str],
    *,
    threads: int = 1,
    rounds: int = 5,
    calls: int = 30,
    margin: float = DEFAULT_MARGIN,
    manifest: Manifest | None = None,
    models_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> Calibration:
    """Time every shipped variant of the families of ``models`` and choose one a family.

    ``models`` are the configured names (their variant is the preferred one). Each round calls every
    variant ``calls`` times, in an order that alternates between rounds; a variant's figure is the median
    of its rounds' mean call times, with the fastest and slowest round as its spread.
    """
    if rounds < 1 or calls < 1:
        raise CalibrationError(f"rounds and calls must be at least 1, got {rounds} and {calls}")
    manifest = manifest if manifest is not None else load_manifest()
    models_dir = models_dir if models_dir is not None else MODELS_DIR
    plan: list[tuple[str, str, str, dict[Variant, str]]] = []  # family, task, preferred, variants
    for name in dict.fromkeys(models):
        entry = manifest.get(name)
        family = family_of(name)
        variants = variants_in(manifest, family) or {"int8": name}
        plan.append((family, entry.task, name, variants))
    tasks = {name: task for _, task, _, vs in plan for name in vs.values()}
    seconds = _time_rounds(
        tasks,
        threads=threads,
        rounds=rounds,
        calls=calls,
        manifest=manifest,
        models_dir=models_dir,
        progress=progress,
    )
    choices = []
    for family, task, preferred, variants in plan:
        if not any(name in seconds for name in variants.values()):
            raise CalibrationError(
                f"no variant of {family} could be loaded ({', '.join(variants.values())}); "
                "`edge-models list` says which file is damaged"
            )
        figures = tuple(
            VariantFigure(
                model=name,
                precision=manifest.get(name).precision,
                median_ms=1000 * statistics.median(seconds[name]),
                min_ms=1000 * min(seconds[name]),
                max_ms=1000 * max(seconds[name]),
                calls=calls,
            )
            for name in variants.values()
            if name in seconds
        )
        choices.append(
            FamilyChoice(
                family=family,
                task=task,
                chosen=_choose(figures, preferred, margin),
                preferred=preferred,
                figures=figures,
            )
        )
    return Calibration(
        created=datetime.now(UTC),
        host=host_fingerprint(sorted(seconds), manifest),
        threads=threads,
        rounds=rounds,
        margin=margin,
        choices=tuple(choices),
    )


def _time_rounds(
    tasks: dict[str, str],
    *,
    threads: int,
    rounds: int,
    calls: int,
    manifest: Manifest,
    models_dir: Path,
    progress: Callable[[str], None] | None,
) -> dict[str, list[float]]:
    """Each model's mean call time (seconds) in each round; the order alternates between rounds."""
    steps: dict[str, _Step] = {}
    try:
        for name, task in tasks.items():
            try:
                step = _step(name, task, threads, manifest, models_dir)
            except EdgeModelsError as exc:  # a damaged or missing file: the other variant may still run
                log.warning("variant %s left out of the calibration: %s", name, exc)
                continue
            steps[name] = step
            for _ in range(3):  # warm caches and lazy initialisation, untimed
                step.call()
        seconds: dict[str, list[float]] = {name: [] for name in steps}
        order = list(steps)
        for r in range(rounds):
            if progress is not None:
                progress(f"round {r + 1} of {rounds}")
            for name in order if r % 2 == 0 else reversed(order):
                call = steps[name].call
                start = time.perf_counter()
                for _ in range(calls):
                    call()
                seconds[name].append((time.perf_counter() - start) / calls)
        return seconds
    finally:
        for step in steps.values():
            step.close()


def _choose(figures: Sequence[VariantFigure], preferred: str, margin: float) -> str:
    """The fastest variant, unless the preferred one is within ``margin`` of it."""
    fastest = min(figures, key=lambda f: f.median_ms)
    kept = next((f for f in figures if f.model == preferred), None)
    if kept is None or fastest.median_ms < kept.median_ms * (1.0 - margin):
        return fastest.model
    return kept.model


def load(path: Path) -> Calibration | None:
    """The calibration saved at ``path``; None when there is none or it cannot be read (it is then made
    again), with the reason logged."""
    try:
        return Calibration.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, ValidationError) as exc:
        log.warning("calibration %s unreadable, measuring again: %s", path, exc)
        return None


def save(calibration: Calibration, path: Path) -> None:
    """Write ``calibration`` to ``path`` (via a temporary file, so a reader never sees half of it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(calibration.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def is_current(
    calibration: Calibration, models: Sequence[str], threads: int, manifest: Manifest | None = None
) -> bool:
    """Whether ``calibration`` was measured here, at ``threads``, on every family of ``models`` (with the
    same files and the same preferred variant)."""
    manifest = manifest if manifest is not None else load_manifest()
    if calibration.threads != threads:
        return False
    measured: list[str] = []
    for name in models:
        choice = calibration.choice(family_of(name))
        if choice is None or choice.preferred != name:
            return False
        measured += [f.model for f in choice.figures]
    try:
        host = host_fingerprint(sorted(set(measured)), manifest)
    except EdgeModelsError:
        return False
    return host == calibration.host


def ensure(
    path: Path,
    models: Sequence[str],
    *,
    threads: int = 1,
    manifest: Manifest | None = None,
    models_dir: Path | None = None,
    rounds: int = 3,
    calls: int = 10,
) -> tuple[Calibration, bool]:
    """The calibration at ``path`` when it is current for ``models``, else a new measurement saved there.

    Returns it and whether it was measured now. The kiosk calls this at start, so its default measurement
    is short (3 rounds of 10 calls, well under a second on an x86-64; `edge-models calibrate` takes 5 of 30).
    A folder that cannot be written is logged, not fatal: the
    measurement is still used for this run.
    """
    manifest = manifest if manifest is not None else load_manifest()
    found = load(path)
    if found is not None and is_current(found, models, threads, manifest):
        return found, False
    fresh = measure(
        models, threads=threads, rounds=rounds, calls=calls, manifest=manifest, models_dir=models_dir
    )
    try:
        save(fresh, path)
    except OSError as exc:
        log.warning("calibration could not be saved to %s (%s); it is used for this run only", path, exc)
    return fresh, True


def resolve(name: str, choice: VariantChoice, calibration: Calibration | None, manifest: Manifest) -> str:
    """The model to load for the configured ``name``: the forced variant of its family (``int8``,
    ``float``) when the manifest ships it, the calibration's choice with ``auto``, else ``name`` itself."""
    family = family_of(name)
    if choice != "auto":
        return variants_in(manifest, family).get(choice, name)
    if calibration is not None:
        chosen = calibration.choice(family)
        if chosen is not None and chosen.preferred == name:
            return chosen.chosen
    return name
