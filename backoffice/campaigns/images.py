"""Pictures of offers: checked and resized on upload, so that a release with its pictures inline stays under
the devices' 4 MiB cap.

:func:`prepare_image` takes the uploaded bytes and refuses (:class:`ImageRejectedError`, saying what is
accepted) a file that is too large, not a picture, of a format not accepted, of more pixels than the
decompression-bomb guard, or smaller than the least side; otherwise it applies the EXIF orientation, resizes
so the longer side is at most ``image_long_side`` (never enlarges), and stores it as PNG when it has
transparency, else JPEG, lowering JPEG quality and then the size until it is at most ``image_max_bytes``.
Metadata (EXIF, GPS, comments) is dropped: the stored picture holds pixels only. :class:`ImageStore` keeps
pictures content-addressed by sha256 in ``campaign_images``.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from PIL import Image, ImageOps, UnidentifiedImageError

from backoffice.campaigns.errors import ImageRejectedError
from backoffice.campaigns.settings import CampaignSettings
from backoffice.db import Database

StoredFormat = Literal["PNG", "JPEG"]

#: JPEG qualities tried, best first, before the picture is made smaller.
_QUALITIES = (88, 80, 72, 64)


@dataclass(frozen=True)
class PreparedImage:
    """A picture as stored: its bytes, format, size and sha256."""

    data: bytes
    format: StoredFormat
    width: int
    height: int
    sha256: str

    @property
    def extension(self) -> str:
        """The file name extension of its format."""
        return "png" if self.format == "PNG" else "jpg"

    @property
    def asset_name(self) -> str:
        """The name the release gives it (an offer's ``image``): content-addressed, so two offers with the
        same picture share one asset."""
        return f"images/{self.sha256[:20]}.{self.extension}"


def _open(data: bytes, settings: CampaignSettings) -> Image.Image:
    if len(data) > settings.image_upload_max_bytes:
        raise ImageRejectedError(
            f"the file is {len(data)} bytes, more than the {settings.image_upload_max_bytes} accepted; "
            "upload a smaller picture"
        )
    if not data:
        raise ImageRejectedError("the file is empty; choose a picture to upload")
    accepted = ", ".join(settings.image_formats)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            picture = Image.open(io.BytesIO(data))
            fmt = (picture.format or "").upper()
            width, height = picture.size
            if width * height > settings.image_max_pixels:
                raise ImageRejectedError(
                    f"the picture is {width}x{height} pixels, more than the {settings.image_max_pixels} "
                    "accepted; scale it down first"
                )
            if fmt not in settings.image_formats:
                raise ImageRejectedError(
                    f"a {fmt or 'unknown'} file is not accepted: upload one of {accepted}"
                )
            picture.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageRejectedError(f"the file is not a picture Vitrina can read ({accepted}): {exc}") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejectedError(f"the picture has too many pixels: {exc}") from exc
    return picture


def _has_alpha(picture: Image.Image) -> bool:
    if picture.mode in ("RGBA", "LA") or (picture.mode == "P" and "transparency" in picture.info):
        low, _high = picture.convert("RGBA").getchannel("A").getextrema()
        return isinstance(low, int | float) and low < 255
    return False


def _encode(picture: Image.Image, fmt: StoredFormat, quality: int) -> bytes:
    out = io.BytesIO()
    if fmt == "PNG":
        picture.save(out, "PNG", optimize=True)
    else:
        picture.save(out, "JPEG", quality=quality, optimize=True, progressive=True)
    return out.getvalue()


def prepare_image(data: bytes, settings: CampaignSettings) -> PreparedImage:
    """Check and resize an uploaded picture (see the module's docstring)."""
    picture = _open(data, settings)
    picture = ImageOps.exif_transpose(picture) or picture
    width, height = picture.size
    if min(width, height) < settings.image_min_side:
        raise ImageRejectedError(
            f"the picture is {width}x{height} pixels; each side must be at least {settings.image_min_side} "
            "so it stays sharp on the screen"
        )
    alpha = _has_alpha(picture)
    fmt: StoredFormat = "PNG" if alpha else "JPEG"
    picture = picture.convert("RGBA" if alpha else "RGB")
    long_side = settings.image_long_side
    while True:
        scale = min(1.0, long_side / max(picture.size))
        size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
        resized = picture if size == picture.size else picture.resize(size, Image.Resampling.LANCZOS)
        for quality in _QUALITIES if fmt == "JPEG" else (0,):
            encoded = _encode(resized, fmt, quality)
            if len(encoded) <= settings.image_max_bytes:
                return PreparedImage(
                    encoded, fmt, resized.width, resized.height, hashlib.sha256(encoded).hexdigest()
                )
        if long_side <= 64:
            raise ImageRejectedError(
                f"the picture does not fit in {settings.image_max_bytes} bytes even at 64 pixels; use a "
                "simpler picture"
            )
        long_side = max(64, int(long_side * 0.8))


@dataclass(frozen=True)
class StoredImage:
    """A picture in ``campaign_images``, without its bytes."""

    sha256: str
    format: StoredFormat
    width: int
    height: int
    size_bytes: int
    original_name: str
    uploaded_at: datetime
    uploaded_by: str

    @property
    def asset_name(self) -> str:
        """The name a release gives it."""
        return f"images/{self.sha256[:20]}.{'png' if self.format == 'PNG' else 'jpg'}"


def _format(value: object) -> StoredFormat:
    return "PNG" if value == "PNG" else "JPEG"


class ImageStore:
    """Pictures, content-addressed, in ``campaign_images``."""

    def __init__(self, db: Database, settings: CampaignSettings, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.settings = settings
        self._now = clock

    def add(self, data: bytes, original_name: str, by: str) -> StoredImage:
        """Check, resize and keep an uploaded picture (the same picture twice is kept once)."""
        prepared = prepare_image(data, self.settings)
        now = self._now()
        self.db.execute(
            "INSERT INTO campaign_images (sha256, format, width, height, size_bytes, data, original_name, "
            "uploaded_at, uploaded_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING",
            [
                prepared.sha256,
                prepared.format,
                prepared.width,
                prepared.height,
                len(prepared.data),
                prepared.data,
                original_name[:200],
                now.timestamp(),
                by,
            ],
        )
        found = self.get(prepared.sha256)
        assert found is not None
        return found

    def get(self, sha256: str) -> StoredImage | None:
        """A picture's record, or None."""
        row = self.db.execute(
            "SELECT sha256, format, width, height, size_bytes, original_name, uploaded_at, uploaded_by "
            "FROM campaign_images WHERE sha256 = ?",
            [sha256],
        ).fetchone()
        if row is None:
            return None
        return StoredImage(
            str(row[0]),
            _format(row[1]),
            int(row[2]),
            int(row[3]),
            int(row[4]),
            str(row[5]),
            datetime.fromtimestamp(float(row[6]), UTC),
            str(row[7]),
        )

    def data(self, sha256: str) -> bytes | None:
        """A picture's bytes, or None."""
        value = self.db.scalar("SELECT data FROM campaign_images WHERE sha256 = ?", [sha256])
        return bytes(value) if value is not None else None
