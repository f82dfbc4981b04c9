"""``edge-models train install``: copy a run's exported models into the models folder and the manifest.

The export (TensorFlow side) writes ``export/entries.json``: the finished manifest entries of the float
and int8 models. Installing checks each file against its entry (size and sha256), copies it, writes the
licence text and merges the entries into ``manifest.json``, replacing entries of the same name. It
changes no default: the kiosk keeps its configured emotion model until the config names the new one.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from pydantic import TypeAdapter

from edge_models.errors import EdgeModelsError
from edge_models.manifest import Manifest, ModelEntry
from edge_models.train.run import RunPaths

#: The project's licence text (Apache-2.0), which the trained weights are released under.
LICENCE_FILE = "licences/vitrina-Apache-2.0.txt"
#: The Apache-2.0 text shipped with the BlazeFace models: the same licence text is reused for Vitrina's.
APACHE_TEXT_SOURCE = "licences/mediapipe-Apache-2.0.txt"

_ENTRIES = TypeAdapter(list[ModelEntry])


class InstallError(EdgeModelsError):
    """A run's export cannot be installed (missing, or not matching its entries)."""


def read_entries(run: Path) -> list[ModelEntry]:
    """The manifest entries a run's export wrote."""
    path = RunPaths(run).entries
    if not path.is_file():
        raise InstallError(
            f"{run} has no export ({path} missing): finish the training, or run it again without --no-export"
        )
    return _ENTRIES.validate_json(path.read_text(encoding="utf-8"))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def install_run(run: Path, models_dir: Path) -> list[ModelEntry]:
    """Copy the run's exported models into ``models_dir`` and merge their entries into its manifest."""
    entries = read_entries(run)
    export = RunPaths(run).export
    for entry in entries:
        source = export / entry.file
        if not source.is_file():
            raise InstallError(f"{source} is missing; the export of {run} is incomplete")
        if source.stat().st_size != entry.size_bytes or _sha256(source) != entry.sha256:
            raise InstallError(
                f"{source} does not match its entry in {RunPaths(run).entries} (size or sha256)"
            )
    manifest_path = models_dir / "manifest.json"
    if not manifest_path.is_file():
        raise InstallError(f"no manifest at {manifest_path}; install into a models folder that has one")
    manifest = Manifest.model_validate(json.loads(manifest_path.read_text(encoding="utf-8")))
    licence = models_dir / LICENCE_FILE
    if not licence.exists():
        apache = models_dir / APACHE_TEXT_SOURCE
        if not apache.is_file():
            raise InstallError(f"no Apache-2.0 licence text at {apache} to ship with the model")
        licence.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(apache, licence)
    for entry in entries:
        shutil.copyfile(export / entry.file, models_dir / entry.file)
    names = {e.name for e in entries}
    kept = [e for e in manifest.models if e.name not in names]
    # Emotion models first, as `edge-models build` orders them; the new ones after the existing emotion ones.
    last_emotion = max((i for i, e in enumerate(kept) if e.task == "emotion"), default=-1)
    models = [*kept[: last_emotion + 1], *entries, *kept[last_emotion + 1 :]]
    updated = Manifest(models=tuple(models))
    text = json.dumps(updated.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"
    manifest_path.write_text(text, encoding="utf-8")
    return entries
