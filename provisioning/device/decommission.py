"""``provision decommission``: take a device back to blank, and say so to the back office first.

What is removed (:func:`purge_plan`), found from the kiosk's configuration as written:

- everything under ``[storage] data_dir``: the event store (``events.sqlite`` and its WAL), the alert
  spill file, the redemption codes (``redemption.sqlite``), the bandit state (``bandit.json``), the
  command ledger (``commands.sqlite``), and whatever else the kiosk keeps there;
- the files the configuration puts elsewhere: ``[outbox] path``, ``[offers] installed_dir`` (the
  installed catalogue), ``[offers] state_file``, ``[mqtt.commands] ledger_path`` (each SQLite file with its
  ``-wal`` and ``-shm``), ``[logging] file``, and the secret files ``[redemption] secret``, ``[mqtt]
  password`` and ``[mqtt.tls]`` (the client certificate, its key and its passphrase; the CA, public, stays);
- everything under the identity folder (``[identity] dir``, or ``--identity``): every installed identity,
  ``current``, ``pending`` and the claim identity.

Folders are emptied and kept (with their owner and mode, so a later enrolment finds them as the
deployment made them); files are removed. Afterwards every folder of the plan is walked again and anything
still there is reported. Running it again finds nothing to remove and says so: it is idempotent.

Before anything is removed, the device says goodbye on its own link while it still has an identity
(:func:`farewell`): the retained ``status`` ``stopped`` (a valid message of the contract, which the ingest
stores with its time), then zero-length retained messages on ``status`` and ``birth``, which make the
broker forget the device's retained state, so that nothing that subscribes later sees a device that no
longer exists. Where no identity or broker is there to use, the report says so and the purge goes on.

Removing a file does not erase its blocks on an SD card (wear levelling): to give a card away, wipe it
whole (docs/deploy.md).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from kiosk.app.identity import IdentityUnusableError, apply_identity
from kiosk.config import KioskConfig
from mqtt_bridge.contract.payloads import StatusPayload
from mqtt_bridge.contract.topics import QOS, DeviceTopics
from mqtt_bridge.device import status_message
from mqtt_bridge.errors import MqttBridgeError
from mqtt_bridge.identity import IdentityFolder
from mqtt_bridge.transport import MqttTransport
from provisioning.errors import ProvisioningError

#: Folders never emptied, whatever a configuration says (a typo must not wipe a system).
_NEVER = frozenset(
    Path(p)
    for p in (
        *("/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/opt", "/proc", "/root", "/run", "/sbin"),
        *("/srv", "/sys", "/usr", "/var", "/var/lib", "/var/log", tempfile.gettempdir()),
    )
)


class DecommissionRefusedError(ProvisioningError):
    """The plan names something decommission must not touch; nothing was removed."""


@dataclass(frozen=True)
class Target:
    """One thing to remove: a folder to empty, or a file."""

    path: Path
    what: str
    folder: bool


def _sqlite(path: Path, what: str) -> list[Target]:
    return [Target(Path(f"{path}{suffix}"), what, False) for suffix in ("", "-wal", "-shm", "-journal")]


def purge_plan(config: KioskConfig, identity_dir: Path) -> list[Target]:
    """Everything the kiosk keeps of its own (module docstring), folders first; nothing twice."""
    targets = [
        Target(config.storage.data_dir, "kiosk data (events, codes, bandit, command ledger, ...)", True),
        Target(config.offers.installed_dir, "installed catalogue", True),
        Target(identity_dir, "identity (certificates, keys, signed config)", True),
        *_sqlite(config.outbox.path, "outbox"),
    ]
    if config.offers.state_file is not None:
        targets.append(Target(config.offers.state_file, "bandit state", False))
    if config.mqtt.commands.ledger_path is not None:
        targets += _sqlite(config.mqtt.commands.ledger_path, "command ledger")
    if config.logging.file is not None:
        targets.append(Target(config.logging.file, "log file", False))
    secrets = [
        (config.redemption.secret, "redemption secret"),
        (config.mqtt.password, "broker password"),
    ]
    tls = config.mqtt.tls
    if tls is not None:
        secrets.append((tls.key_password, "client key passphrase"))
        targets += [
            Target(path, what, False)
            for path, what in ((tls.cert_file, "client certificate"), (tls.key_file, "client key"))
            if path is not None
        ]
    targets += [
        Target(ref.file, what, False) for ref, what in secrets if ref is not None and ref.file is not None
    ]
    return _without_nested(targets)


def _without_nested(targets: list[Target]) -> list[Target]:
    """Drop targets inside a folder that is emptied anyway, and duplicates."""
    folders = [t.path.absolute() for t in targets if t.folder]
    kept: list[Target] = []
    seen: set[Path] = set()
    for target in targets:
        where = target.path.absolute()
        inside = any(where != f and where.is_relative_to(f) for f in folders)
        if where in seen or inside:
            continue
        seen.add(where)
        kept.append(target)
    return kept


def check_plan(targets: Iterable[Target]) -> None:
    """Refuse a plan that would empty a system folder, a home folder or a source checkout."""
    for target in targets:
        if not target.folder:
            continue
        where = target.path.resolve()
        if where in _NEVER or where == Path.home().resolve() or (where / ".git").exists():
            raise DecommissionRefusedError(
                f"refusing to empty {where} ({target.what}): it is a system, home or source folder, not the "
                "kiosk's own; point [storage] data_dir, [offers] installed_dir and the identity folder at "
                "folders of their own (the deployment uses /var/lib/vitrina/...)"
            )


def files_left(targets: Iterable[Target]) -> list[Path]:
    """Every file, link or folder still there: inside each emptied folder, and each file target."""
    left: list[Path] = []
    for target in targets:
        if target.folder:
            if target.path.is_dir():
                for root, dirs, files in os.walk(target.path):
                    left += [Path(root) / name for name in (*dirs, *files)]
        elif target.path.exists() or target.path.is_symlink():
            left.append(target.path)
    return sorted(left)


class Removed(BaseModel):
    """What went from one target."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(description="The folder emptied or the file removed.")
    what: str = Field(description="What it held, in words.")
    files: int = Field(description="Files (and links) removed.")
    bytes: int = Field(description="Their size in bytes.")


class DecommissionReport(BaseModel):
    """What ``provision decommission`` did."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ts: datetime = Field(description="When it ran (UTC).")
    farewell: str = Field(description="What was told to the back office, or why nothing could be.")
    removed: tuple[Removed, ...] = Field(description="Each target and what went from it.")
    left: tuple[str, ...] = Field(description="Anything still there after the purge (empty: blank).")

    @property
    def blank(self) -> bool:
        """Nothing of the plan is left."""
        return not self.left


def _remove_tree_contents(folder: Path) -> tuple[int, int]:
    files = size = 0
    for entry in list(folder.iterdir()):
        if entry.is_dir() and not entry.is_symlink():
            for root, _dirs, names in os.walk(entry):
                for name in names:
                    path = Path(root) / name
                    files += 1
                    size += path.lstat().st_size
            shutil.rmtree(entry)
        else:
            files += 1
            size += entry.lstat().st_size
            entry.unlink()
    return files, size


def purge(targets: Iterable[Target]) -> list[Removed]:
    """Empty each folder (kept) and remove each file; returns what went. Missing targets count zero."""
    done = []
    for target in targets:
        files = size = 0
        if target.folder and target.path.is_dir():
            files, size = _remove_tree_contents(target.path)
        elif not target.folder and (target.path.exists() or target.path.is_symlink()):
            files, size = 1, target.path.lstat().st_size
            target.path.unlink()
        done.append(Removed(path=str(target.path), what=target.what, files=files, bytes=size))
    return done


def farewell(config: KioskConfig, identity_dir: Path, now: datetime, timeout_s: float = 10.0) -> str:
    """Connect as the device (its identity) and publish the retained ``stopped`` status, then clear the
    retained ``status`` and ``birth``; each waits for its PUBACK. Returns what happened, in words."""
    folder = IdentityFolder(identity_dir)
    if folder.current_dir() is None:
        return f"nothing told to the back office: no identity is installed in {identity_dir} (already blank?)"
    try:
        applied, identity = apply_identity(
            config.model_copy(update={"identity": config.identity.model_copy(update={"dir": identity_dir})}),
            now,
        )
    except IdentityUnusableError as exc:  # the purge goes on: a broken identity is removed all the same
        return f"nothing told to the back office: {exc}"
    assert identity is not None
    topics = DeviceTopics(applied.mqtt.topic_prefix, applied.device.store_id, applied.device.device_id)
    quick = applied.mqtt.model_copy(update={"reconnect_min_s": 0.2, "reconnect_max_s": 0.5})
    transport = MqttTransport(quick, client_id=f"{topics.store_id}.{topics.device_id}.decommission")
    transport.start()
    try:
        transport.wait_connected(timeout_s)
        stopped = status_message(topics, StatusPayload(state="stopped", ts=now))
        messages: list[tuple[str, bytes, int]] = [
            (stopped.topic, stopped.payload, QOS["status"]),
            (topics.status, b"", QOS["status"]),  # zero-length, retained: the broker forgets the retained one
            (topics.birth, b"", QOS["birth"]),
        ]
        for topic, payload, qos in messages:
            if not transport.publish(topic, payload, qos, retain=True).wait(timeout_s):
                return f"the back office was not told: no acknowledgement for {topic} within {timeout_s:g} s"
    except MqttBridgeError as exc:
        return f"the back office was not told (the link failed: {exc}); the purge went on"
    finally:
        transport.stop(timeout_s=2.0)
    where = f"{applied.mqtt.host}:{applied.mqtt.port}"
    return (
        f"told the back office at {where} as {identity.name}: status 'stopped' at "
        f"{now:%Y-%m-%d %H:%M:%S} UTC, then the retained status and birth cleared"
    )


def decommission(
    config: KioskConfig, identity_dir: Path, *, tell: bool = True, now: datetime | None = None
) -> DecommissionReport:
    """Say goodbye (unless ``tell`` is False), purge the plan, walk it again, report."""
    moment = now or datetime.now(UTC)
    targets = purge_plan(config, identity_dir)
    check_plan(targets)
    said = farewell(config, identity_dir, moment) if tell else "nothing told to the back office (--offline)"
    removed = purge(targets)
    return DecommissionReport(
        ts=moment, farewell=said, removed=tuple(removed), left=tuple(str(p) for p in files_left(targets))
    )
