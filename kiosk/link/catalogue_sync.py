"""Catalogue sync on the device: install a signed catalogue release atomically, keep the last good one.

The back office publishes the store's catalogue retained on ``{prefix}/{store}/catalogue``
(:class:`~mqtt_bridge.contract.payloads.CatalogueRelease`, checked by
:func:`mqtt_bridge.catalogue.verify_release`).
:meth:`CatalogueInstaller.install` takes the payload's bytes and

1. verifies it: size, schema, the Ed25519 signature, the store, every inline asset's sha256 and size;
2. answers ``kept`` for a version not newer than the installed one (the retained release seen again after a
   reconnect, or a replay of an old one), changing nothing;
3. validates the catalogue text with :class:`kiosk.decisions.offers.Catalogue` and checks that every offer's
image is
   one of the release's assets, whose bytes came inline or are already installed with the same sha256;
4. writes the assets content-addressed (``assets/<sha256>``), builds the new version in a temporary folder
   (``versions/<N>/catalogue.json``, ``manifest.json``, the images under ``files/`` at their names), renames
   the folder into place, and last switches the ``current`` pointer (temporary file, fsync, ``os.replace``,
   fsync of the folder).

Nothing is fetched over the network: a release carries its files inline or names files the device already
holds. Until ``current`` is replaced the previous catalogue is the installed one, so any failure, or a crash
at any point, leaves it loadable (:func:`load_installed`); leftovers of an interrupted install are removed by
the next one. The two newest versions are kept, older ones and their unreferenced assets removed.

Layout of ``directory``::

    current                    the installed version number, e.g. "7"
    assets/<sha256>            every file, once
    versions/7/catalogue.json  the catalogue text as released
    versions/7/manifest.json   version, issued_at, and name -> sha256 of every file
    versions/7/files/...       the files at their names (hard links to assets/, or copies)
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mqtt_bridge.catalogue import DEFAULT_MAX_RELEASE_BYTES, CatalogueRejectedError, verify_release
from mqtt_bridge.contract.catalogue import Catalogue
from mqtt_bridge.contract.payloads import CatalogueResult
from mqtt_bridge.contract.topics import (
    CATALOGUE_QOS,
    CATALOGUE_RESULT_QOS,
    CATALOGUE_RESULT_RETAIN,
    DeviceTopics,
)
from mqtt_bridge.signing import load_public_keys
from mqtt_bridge.transport import InboundMessage, Publisher

log = logging.getLogger(__name__)

#: Installed versions kept on disk (the current one and the one before it).
KEEP_VERSIONS = 2


class Manifest(BaseModel):
    """``versions/<N>/manifest.json``: what an installed version holds, checked when it is loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(ge=1, description="The release's version.")
    issued_at: str = Field(description="When the back office issued it (ISO 8601).")
    files: dict[str, str] = Field(description="Asset name -> sha256 of every file of the version.")


@dataclass(frozen=True)
class InstallResult:
    """What :meth:`CatalogueInstaller.install` did.

    ``catalogue`` and ``image_base`` are the newly installed catalogue (``installed`` only): the kiosk swaps
    them in. ``installed_version`` is the version in use afterwards (None: nothing installed).
    """

    status: Literal["installed", "refused", "kept"]
    version: int | None
    reason: str
    installed_version: int | None
    catalogue: Catalogue | None = None
    image_base: Path | None = None

    def payload(self, topics: DeviceTopics, ts: datetime) -> CatalogueResult:
        """The result as published on ``catalogue/result``."""
        return CatalogueResult(
            store_id=topics.store_id,
            device_id=topics.device_id,
            version=self.version,
            status=self.status,
            reason=self.reason[:200],
            installed_version=self.installed_version,
            ts=ts,
        )


class _RefusedError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _sha256_file(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_durably(path: Path, data: bytes) -> None:
    """Write ``path`` through a temporary file in its folder, fsync, ``os.replace``."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)


def _read_current(directory: Path) -> int | None:
    try:
        text = (directory / "current").read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() and int(text) > 0 else None


def _load_version(folder: Path) -> tuple[Catalogue, Path] | None:
    """A version folder's catalogue when it is whole: manifest, catalogue, and every file's sha256."""
    try:
        manifest = Manifest.model_validate_json((folder / "manifest.json").read_bytes())
        catalogue = Catalogue.model_validate_json((folder / "catalogue.json").read_bytes())
    except (OSError, ValidationError) as exc:
        log.warning("installed catalogue %s is unreadable: %s", folder, str(exc)[:200])
        return None
    base = folder / "files"
    for name, sha in manifest.files.items():
        if _sha256_file(base / name) != sha:
            log.warning("installed catalogue %s: file %s is missing or damaged", folder, name)
            return None
    if catalogue.missing_images(base):
        log.warning("installed catalogue %s misses images", folder)
        return None
    return catalogue, base


@dataclass(frozen=True)
class InstalledRelease:
    """An installed catalogue as :func:`load_installed_release` found it: the catalogue, the folder its
    images are relative to, and its release version."""

    catalogue: Catalogue
    image_base: Path
    version: int


def load_installed_release(directory: Path) -> InstalledRelease | None:
    """The installed release; None when none is installed.

    The version ``current`` names is checked whole (every file's sha256); if it is damaged, the newest
    older version that is whole is used instead, with a warning.
    """
    current = _read_current(directory)
    if current is None:
        return None
    older = sorted((v for v in _version_numbers(directory) if v < current), reverse=True)
    for number in [current, *older]:
        found = _load_version(directory / "versions" / str(number))
        if found is not None:
            if number != current:
                log.warning("using catalogue version %d instead of %s", number, current)
            return InstalledRelease(found[0], found[1], number)
    return None


def load_installed(directory: Path) -> tuple[Catalogue, Path] | None:
    """The installed catalogue and the folder its images are relative to; None when none is installed
    (:func:`load_installed_release`, without the version)."""
    found = load_installed_release(directory)
    return (found.catalogue, found.image_base) if found is not None else None


def _version_numbers(directory: Path) -> list[int]:
    try:
        names = [p.name for p in (directory / "versions").iterdir() if p.is_dir()]
    except OSError:
        return []
    return [int(n) for n in names if n.isdigit()]


class CatalogueInstaller:
    """Installs signed catalogue releases into ``directory`` (see the module's docstring).

    ``public_keys`` are the back office's raw Ed25519 keys in base64url (``backoffice keygen`` prints one);
    ``store_id`` refuses a release signed for another store; ``max_bytes`` bounds a release payload.
    :meth:`install` never raises: whatever the bytes, the answer is an :class:`InstallResult`.
    """

    def __init__(
        self,
        directory: Path,
        public_keys: Iterable[str],
        store_id: str | None = None,
        max_bytes: int = DEFAULT_MAX_RELEASE_BYTES,
    ) -> None:
        self.directory = directory
        self.store_id = store_id
        self.max_bytes = max_bytes
        self._keys: list[Ed25519PublicKey] = load_public_keys(public_keys, "catalogue public_keys")

    @property
    def installed_version(self) -> int | None:
        """The version ``current`` names; None when nothing is installed."""
        return _read_current(self.directory)

    def install(self, payload: bytes) -> InstallResult:
        """Verify and install one release payload; the previous catalogue stays on any failure."""
        installed = self.installed_version
        try:
            return self._install(payload, installed)
        except _RefusedError as exc:
            return InstallResult("refused", None, exc.reason, installed)
        except Exception as exc:  # a disk error or a bug: refuse, keep the previous catalogue
            log.exception("catalogue install failed; the previous catalogue is kept")
            reason = f"install failed: {type(exc).__name__}: {exc}"
            # Re-read: a failure after the switch (fsync of the folder) leaves the new version in use.
            return InstallResult("refused", None, reason[:200], _read_current(self.directory))

    def _install(self, payload: bytes, installed: int | None) -> InstallResult:
        try:
            verified = verify_release(payload, self._keys, self.max_bytes, self.store_id)
        except CatalogueRejectedError as exc:
            return InstallResult("refused", None, str(exc), installed)
        release = verified.release
        version = release.version
        if installed is not None and version <= installed:
            reason = f"version {version} is not newer than the installed {installed}"
            return InstallResult("kept", version, reason, installed)
        try:
            catalogue = Catalogue.model_validate_json(release.catalogue)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "catalogue"
            return InstallResult("refused", version, f"invalid catalogue: {where}: {first['msg']}", installed)
        assets = {a.name: a.sha256 for a in release.assets}
        for offer in catalogue.offers:
            name = PurePosixPath(offer.image.as_posix()).as_posix()
            if name not in assets:
                return InstallResult(
                    "refused",
                    version,
                    f"offer {offer.id!r}: image {name!r} is not among the assets",
                    installed,
                )
        try:
            self._clean_leftovers()
            for asset in release.assets:
                self._store_asset(asset.name, asset.sha256, verified.files.get(asset.name))
            if release.assets:
                _fsync_dir(self.directory / "assets")
            folder = self._build_version(version, release.issued_at.isoformat(), release.catalogue, assets)
            _write_durably(self.directory / "current", f"{version}\n".encode("ascii"))
            _fsync_dir(self.directory)
        except _RefusedError as exc:
            return InstallResult("refused", version, exc.reason, installed)
        self._prune(version)
        log.info("catalogue version %d installed (%d offers)", version, len(catalogue.offers))
        return InstallResult("installed", version, "", version, catalogue, folder / "files")

    def _store_asset(self, name: str, sha256: str, data: bytes | None) -> None:
        blob = self.directory / "assets" / sha256
        if _sha256_file(blob) == sha256:
            return
        if data is None:
            raise _RefusedError(f"asset {name!r} is not in the release and not already on this device")
        blob.parent.mkdir(parents=True, exist_ok=True)
        _write_durably(blob, data)

    def _build_version(self, version: int, issued_at: str, text: str, assets: dict[str, str]) -> Path:
        versions = self.directory / "versions"
        versions.mkdir(parents=True, exist_ok=True)
        tmp = versions / f".{version}.{uuid.uuid4().hex[:8]}.tmp"
        tmp.mkdir()
        for name, sha in assets.items():
            target = tmp / "files" / name
            target.parent.mkdir(parents=True, exist_ok=True)
            _link_or_copy(self.directory / "assets" / sha, target)
        manifest = Manifest(version=version, issued_at=issued_at, files=assets)
        _write_durably(tmp / "manifest.json", manifest.model_dump_json().encode("utf-8"))
        _write_durably(tmp / "catalogue.json", text.encode("utf-8"))
        for folder in sorted(
            (d for d in tmp.rglob("*") if d.is_dir()), key=lambda d: len(d.parts), reverse=True
        ):
            _fsync_dir(folder)  # the links' entries, deepest first
        _fsync_dir(tmp)
        final = versions / str(version)
        if final.exists():  # a version folder left by an install that never switched `current`
            shutil.rmtree(final)
        tmp.replace(final)
        _fsync_dir(versions)
        return final

    def _clean_leftovers(self) -> None:
        versions = self.directory / "versions"
        leftovers = [self.directory, versions, self.directory / "assets"]
        for path in [found for folder in leftovers for found in folder.glob(".*.tmp")]:
            _remove(path)
        current = _read_current(self.directory)
        for number in _version_numbers(self.directory):
            if current is not None and number > current:  # never switched to: an interrupted install
                _remove(versions / str(number))

    def _prune(self, current: int) -> None:
        """Keep the :data:`KEEP_VERSIONS` newest versions and the assets they use. Best effort."""
        versions = self.directory / "versions"
        keep = sorted((n for n in _version_numbers(self.directory) if n <= current), reverse=True)
        for number in keep[KEEP_VERSIONS:]:
            _remove(versions / str(number))
        used: set[str] = set()
        for number in keep[:KEEP_VERSIONS]:
            try:
                manifest = Manifest.model_validate_json(
                    (versions / str(number) / "manifest.json").read_bytes()
                )
            except (OSError, ValidationError):
                continue
            used.update(manifest.files.values())
        with contextlib.suppress(OSError):
            for blob in (self.directory / "assets").iterdir():
                if blob.name not in used:
                    _remove(blob)


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
        with target.open("rb") as handle:
            os.fsync(handle.fileno())


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


class CatalogueListener:
    """Feeds the store's retained catalogue topic to a :class:`CatalogueInstaller` and publishes each result.

    Subscribe the transport to :attr:`subscription`; hand every inbound message to :meth:`handle` (messages
    on other topics are ignored, so a router may pass it everything). An empty payload (the back office
    cleared the retained release) changes nothing and is not answered.
    """

    def __init__(
        self,
        installer: CatalogueInstaller,
        topics: DeviceTopics,
        publisher: Publisher,
        clock: Callable[[], datetime],
    ) -> None:
        self.installer = installer
        self.topics = topics
        self.publisher = publisher
        self._clock = clock

    @property
    def subscription(self) -> tuple[str, int]:
        """The topic filter and QoS to subscribe to."""
        return self.topics.store.catalogue, CATALOGUE_QOS

    def handle(self, message: InboundMessage) -> InstallResult | None:
        """Install the release ``message`` carries and publish the result; None for another topic."""
        if message.topic != self.topics.store.catalogue or not message.payload:
            return None
        result = self.installer.install(message.payload)
        log.info("catalogue release: %s (%s)", result.status, result.reason or f"version {result.version}")
        payload = result.payload(self.topics, self._clock()).model_dump_json().encode("utf-8")
        self.publisher.publish(
            self.topics.catalogue_result, payload, qos=CATALOGUE_RESULT_QOS, retain=CATALOGUE_RESULT_RETAIN
        )
        return result
