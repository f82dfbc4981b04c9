"""The kiosk's framings of FER-2013's training faces (issue #21, item 3: train on kiosk crops too).

The kiosk classifies BlazeFace eye-aligned crops; FER-2013's faces were centred by another detector.
:func:`write_kiosk_framings` (``edge-models train kiosk-framings``) frames every Training face as
:mod:`edge_models.kiosk_crops` does (upscaled on a mid-gray canvas), runs the kiosk's presence detector and,
for each face it finds and the kiosk would classify, stores the 2x3 affine map from the 48x48 FER face
straight to the kiosk's 48x48 crop (:attr:`edge_models.kiosk_crops.KioskCrop.matrix`). The trainer's
``kiosk_framing`` augmentation warps faces by those maps (:func:`edge_models.train.augment.augment_batch`);
:func:`load_kiosk_framings` matches them to a run's training rows.

The .npz holds ``format``; ``scanned_rows`` (every ``train.npz`` row the detector ran on), ``found`` and
``eligible`` (one flag each per scanned row); ``rows`` (the eligible ones) and ``matrices`` ``[rows, 2,
3]`` (float64); ``train_sha256``; ``presence_model``, ``presence_sha256`` (of its model file) and
``score_threshold``; the framing settings ``scale``, ``pad``, ``crop_margin``, ``min_face_px``,
``min_frontalness``, ``face_size`` and ``out_size``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edge_models.config import DEFAULT_PRESENCE_MODEL, EmotionSettings
from edge_models.errors import DatasetError
from edge_models.kiosk_crops import KioskFraming, kiosk_crop
from edge_models.manifest import Manifest
from edge_models.presence import PresenceDetector
from edge_models.train.augment import KioskFramings
from edge_models.train.run import TRAIN_FILE, load_training_rows, read_derived_npz, sha256_file

#: Version of the .npz layout (see the module docstring).
FRAMINGS_FORMAT = 1
#: Side of FER-2013's faces and of the crops the framings map them to (the emotion model's input).
FACE_SIZE = 48
_KEYS = frozenset({"format", "scanned_rows", "rows", "matrices", "train_sha256", "face_size", "out_size"})


@dataclass(frozen=True)
class FramingsReport:
    """What :func:`write_kiosk_framings` found (also stored in the .npz)."""

    faces: int
    found: int
    eligible: int
    presence_model: str
    presence_sha256: str
    seconds: float


def write_kiosk_framings(
    data: Path,
    out: Path,
    *,
    presence_model: str = DEFAULT_PRESENCE_MODEL,
    threads: int = 1,
    limit: int | None = None,
    framing: KioskFraming | None = None,
    settings: EmotionSettings | None = None,
    manifest: Manifest | None = None,
    models_dir: Path | None = None,
    progress: Callable[[int], AbstractContextManager[Callable[[int], None]]] | None = None,
) -> FramingsReport:
    """Run the kiosk's detector on every training face of ``data/train.npz`` and write ``out`` (see the
    module docstring). ``limit`` keeps N faces spread evenly, as ``edge-models train emotion --limit`` does.

    ``progress(total)``, when given, opens a progress report and gives the function told of each face done.
    """
    framing = framing if framing is not None else KioskFraming()
    settings = settings if settings is not None else EmotionSettings()
    faces, _labels, scanned = load_training_rows(data, FACE_SIZE, limit)
    train_sha256 = sha256_file(data / TRAIN_FILE)
    found = np.zeros(len(scanned), dtype=bool)
    eligible = np.zeros(len(scanned), dtype=bool)
    matrices = np.zeros((len(scanned), 2, 3), dtype=np.float64)
    started = time.monotonic()
    with ExitStack() as stack:
        detector = stack.enter_context(
            PresenceDetector(presence_model, threads, manifest=manifest, models_dir=models_dir)
        )
        done = stack.enter_context(progress(len(faces))) if progress is not None else None
        presence_sha256 = detector.model.entry.sha256
        score_threshold = detector.score_threshold
        for i, face in enumerate(faces):
            result = kiosk_crop(detector, face, FACE_SIZE, settings, framing)
            found[i], eligible[i] = result.found, result.eligible
            if result.eligible and result.matrix is not None:
                matrices[i] = result.matrix
            if done is not None:
                done(1)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.stem + ".tmp.npz")
    np.savez_compressed(
        tmp,
        format=np.int64(FRAMINGS_FORMAT),
        scanned_rows=scanned,
        found=found,
        eligible=eligible,
        rows=scanned[eligible],
        matrices=matrices[eligible],
        train_sha256=np.array(train_sha256),
        presence_model=np.array(presence_model),
        presence_sha256=np.array(presence_sha256),
        score_threshold=np.float64(score_threshold),
        scale=np.int64(framing.scale),
        pad=np.float64(framing.pad),
        crop_margin=np.float64(settings.crop_margin),
        min_face_px=np.int64(settings.min_face_px),
        min_frontalness=np.float64(settings.min_frontalness),
        face_size=np.int64(FACE_SIZE),
        out_size=np.int64(FACE_SIZE),
    )
    tmp.replace(out)
    return FramingsReport(
        faces=len(scanned),
        found=int(found.sum()),
        eligible=int(eligible.sum()),
        presence_model=presence_model,
        presence_sha256=presence_sha256,
        seconds=time.monotonic() - started,
    )


def load_kiosk_framings(path: Path, rows: npt.NDArray[np.int64], data: Path, face_size: int) -> KioskFramings:
    """The kiosk framings of the training ``rows`` of ``data/train.npz``, for the augmentation.

    Each row gets its own framing when the file has one; the pool a face without one draws from holds the
    framings of ``rows`` only (a run's validation faces lend it nothing). Refuses a file made from another
    ``train.npz``, one that did not scan a row, one for another face size, and one whose rows have no
    framing at all.
    """
    arrays = read_derived_npz(
        path,
        data=data,
        rows=rows,
        keys=_KEYS,
        covered_by="scanned_rows",
        describe="a kiosk-framings file",
        remake="edge-models train kiosk-framings",
        rows_hint="write it with the same --data and --limit as the training (or without --limit)",
        error=DatasetError,
    )
    if int(arrays["format"]) != FRAMINGS_FORMAT:
        raise DatasetError(
            f"{path} has format {int(arrays['format'])}, this trainer reads {FRAMINGS_FORMAT}: write it again"
        )
    sizes = (int(arrays["face_size"]), int(arrays["out_size"]))
    if sizes != (face_size, face_size):
        raise DatasetError(
            f"{path} maps {sizes[0]}x{sizes[0]} faces to {sizes[1]}x{sizes[1]} crops; this recipe's input is "
            f"{face_size}x{face_size}"
        )
    file_rows, matrices = arrays["rows"], arrays["matrices"].astype(np.float64)
    position = {int(r): i for i, r in enumerate(file_rows)}
    picked = [position.get(int(r), -1) for r in rows]
    kept = sorted({p for p in picked if p >= 0})
    if not kept:
        raise DatasetError(f"{path} holds no kiosk framing of any of the {len(rows)} training rows")
    index = {p: i for i, p in enumerate(kept)}
    own = np.array([index[p] if p >= 0 else -1 for p in picked], dtype=np.int64)
    return KioskFramings(matrices=matrices[kept], own=own)
