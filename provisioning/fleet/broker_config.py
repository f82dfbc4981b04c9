"""The fleet's Mosquitto: its configuration, its ACL (from the registry) and its CRL, written into a folder
that ``mosquitto -c DIR/mosquitto.conf`` runs as is, and the SIGHUP that makes a new ACL and CRL take effect.

**Access control: one ACL block per identity, generated from the registry** (docs/provisioning.md, "Why
per-identity ACL blocks"). A device's certificate name is ``{store}.{device}``; its block grants exactly its
own topics and its store's catalogue. ``%u`` patterns were not used: a pattern fills one topic level, and a
device needs two subtrees (``{store}/{device}/...`` and ``{store}/catalogue``) that no single name maps
onto; and a generated block per identity is a whitelist (a certificate the registry does not list, or lists
as revoked, gets nothing, and a revoked device gets ``topic deny #``, which Mosquitto checks first).

Measured on Mosquitto 2.0.11 (tests/test_provision_broker.py): a SIGHUP re-reads the ACL file, the CRL and
the server's certificate and key without dropping any client, and a new ACL applies at once to clients
already connected (a revoked device's open session receives nothing more and its publishes are answered
with reason 135); a changed listener or ``max_queued_messages`` needs a restart. A CRL that does not load
on SIGHUP is logged and the broker then lets revoked certificates back in, so a CRL is written to a
temporary file, checked and only then renamed over the good one (:func:`install_crl`).
"""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

from cryptography import x509

from mqtt_bridge.contract.enrolment import ENROL_LEVEL, FLEET_LEVEL
from mqtt_bridge.identity import write_file_atomically
from provisioning import pki
from provisioning.errors import BrokerReloadError
from provisioning.fleet.authority import Fleet
from provisioning.fleet.registry import Identity

CONF_FILE: Final = "mosquitto.conf"
ACL_FILE: Final = "acl"
CRL_FILE: Final = "crl.pem"
PID_FILE: Final = "mosquitto.pid"
LOG_FILE: Final = "mosquitto.log"

#: Messages Mosquitto queues per client while that client is away (its default is 1000).
#:
#: The one client that is away with a queue that matters is the back office's ingest (a persistent session,
#: ``session_expiry_s`` 3600): during its outage every device keeps publishing, and past this limit Mosquitto
#: drops QoS 1 messages it already PUBACKed to the devices, which then deleted them (measured on 2.0.11:
#: 1000 of 1500 delivered). Devices themselves keep their backlog in their outbox, so they need no queue.
#: So the limit is (messages a second from the whole fleet) x (the ingest's session expiry): 100 kiosks each
#: publishing one batch every 2 s for an hour is 180 000; 200 000 with headroom. Raise it with the fleet
#: (``--max-queued``); a change needs a broker restart (a SIGHUP does not apply it, measured).
DEFAULT_MAX_QUEUED: Final = 200_000

#: Device topic kinds the back office reads.
_BACKOFFICE_READS: Final = (
    "status",
    "birth",
    "events",
    "metrics",
    "alerts",
    "cmd/+/result",
    "catalogue/result",
    "chat",
)


def device_acl(prefix: str, store_id: str, device_id: str) -> list[str]:
    """The ACL lines of one device: its own topics out; its commands, renewal and time replies, operator chat
    messages and its store's catalogue in."""
    base = f"{prefix}/{store_id}/{device_id}"
    writes = [
        "status",
        "birth",
        "events",
        "metrics",
        "alerts",
        "cmd/+/result",
        "catalogue/result",
        "renew/request",
        "chat",
        "time/request",
    ]
    return [
        *(f"topic write {base}/{kind}" for kind in writes),
        f"topic read {base}/cmd/#",
        f"topic read {base}/renew/reply",
        f"topic read {base}/chat/operator",
        f"topic read {base}/time/reply",
        f"topic read {prefix}/{store_id}/catalogue",
    ]


def role_acl(prefix: str, role: str) -> list[str]:
    """The ACL lines of a non-device role (claim, backoffice, enrolment, admin)."""
    enrol = f"{prefix}/{ENROL_LEVEL}"
    fleet = f"{prefix}/{FLEET_LEVEL}"
    if role == "claim":
        return [f"topic write {enrol}/+/request", f"topic read {enrol}/+/reply"]
    if role == "backoffice":
        return [
            *(f"topic read {prefix}/+/+/{kind}" for kind in _BACKOFFICE_READS),
            f"topic write {prefix}/+/+/cmd/+",
            f"topic write {prefix}/+/+/chat/operator",
            f"topic write {prefix}/+/catalogue",
            f"topic read {fleet}/#",
        ]
    if role == "enrolment":
        return [
            f"topic read {enrol}/+/request",
            f"topic write {enrol}/+/reply",
            f"topic read {prefix}/+/+/renew/request",
            f"topic write {prefix}/+/+/renew/reply",
            f"topic read {prefix}/+/+/time/request",
            f"topic write {prefix}/+/+/time/reply",
            f"topic readwrite {fleet}/#",
        ]
    if role == "admin":
        return [f"topic readwrite {fleet}/#"]
    raise ValueError(f"unknown role {role!r}")


def render_acl(identities: Iterable[Identity], prefix: str, fleet_name: str) -> str:
    """The ACL file's text: one block per identity in the registry, sorted by name (a stable diff)."""
    out = [
        f"# Vitrina fleet {fleet_name}: the broker's ACL, generated from the registry by `provision "
        "broker-config`,",
        "# `provision serve` (enrolment) and `provision revoke`. Do not edit: it is rewritten. A user "
        "with no",
        "# block has no access; a revoked identity has `topic deny #`, which Mosquitto checks first.",
        "",
    ]
    for identity in sorted(identities, key=lambda i: i.name):
        out.append(
            f"# {identity.role}" + (f" {identity.store_id}/{identity.device_id}" if identity.store_id else "")
        )
        out.append(f"user {identity.name}")
        if identity.state == "revoked":
            out.append("topic deny #")
        elif identity.role == "device":
            assert identity.store_id is not None and identity.device_id is not None
            out.extend(device_acl(prefix, identity.store_id, identity.device_id))
        else:
            out.extend(role_acl(prefix, identity.role))
        out.append("")
    return "\n".join(out)


@dataclass(frozen=True)
class BrokerOptions:
    """What ``broker-config`` writes into mosquitto.conf."""

    port: int
    bind: str | None = None
    user: str = "mosquitto"
    max_queued: int = DEFAULT_MAX_QUEUED


def render_conf(folder: Path, fleet_name: str, options: BrokerOptions) -> str:
    """mosquitto.conf's text, every file it names inside ``folder``."""
    listener = f"listener {options.port}" + (f" {options.bind}" if options.bind else "")
    return "\n".join(
        [
            f"# Vitrina fleet {fleet_name}: written by `provision broker-config`; run `mosquitto -c "
            f"{folder / CONF_FILE}`.",
            "# A change to this file needs a broker restart (listeners, limits: a SIGHUP does not "
            "apply them,",
            "# measured on 2.0.11); the ACL, the CRL and the certificates are re-read on SIGHUP, "
            "nobody dropped.",
            "per_listener_settings false",
            f"user {options.user}",
            f"pid_file {folder / PID_FILE}",
            "",
            "# Sessions and queued messages survive a restart.",
            "persistence true",
            f"persistence_location {folder / 'data'}/",
            "autosave_interval 60",
            "",
            "# The back office's ingest may be away for its session expiry (1 h) while the fleet publishes:",
            "# (fleet messages a second) x 3600. Mosquitto's default, 1000, silently drops the rest "
            "although it",
            "# acknowledged them to the devices. docs/provisioning.md, Broker limits.",
            f"max_queued_messages {options.max_queued}",
            "max_queued_bytes 0",
            "",
            f"log_dest file {folder / LOG_FILE}",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            "",
            "# Who may do what: one block per identity, from the fleet's registry.",
            f"acl_file {folder / ACL_FILE}",
            "allow_anonymous false",
            "",
            listener,
            "protocol mqtt",
            f"cafile {folder / 'ca.pem'}",
            f"certfile {folder / 'server.pem'}",
            f"keyfile {folder / 'server.key'}",
            f"crlfile {folder / CRL_FILE}",
            "tls_version tlsv1.2",
            "# A client certificate is required; its common name is the user name and the client id, so no",
            "# certificate can take another's topics or client id (and kick its owner off).",
            "require_certificate true",
            "use_identity_as_username true",
            "use_username_as_clientid true",
            "",
        ]
    )


def _owner(user: str) -> tuple[int, int] | None:
    """The uid and gid Mosquitto drops to, when we run as root and the user exists; else None."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return None
    return entry.pw_uid, entry.pw_gid


def _give(path: Path, owner: tuple[int, int] | None) -> None:
    if owner is not None:
        os.chown(path, *owner)


def install_crl(
    folder: Path,
    data: bytes,
    ca: x509.Certificate,
    now: datetime,
    *,
    must_revoke: Iterable[int] = (),
    user: str = "",
) -> Path:
    """Put a CRL in ``folder``: written to a temporary file, read back and checked (:func:`pki.check_crl`),
    and only then renamed over ``crl.pem``. Anything wrong raises :class:`CrlError` and the good CRL stays."""
    target = folder / CRL_FILE
    tmp = folder / f".{CRL_FILE}.new"
    tmp.unlink(missing_ok=True)
    write_file_atomically(tmp, data, 0o644)
    try:
        pki.check_crl(tmp.read_bytes(), ca, now, must_revoke)
        _give(tmp, _owner(user) if user else None)
        tmp.replace(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


@dataclass(frozen=True)
class WrittenConfig:
    """What ``broker-config`` did: the folder, and whether mosquitto.conf changed (a restart is needed)."""

    folder: Path
    conf_changed: bool
    first_time: bool


def write_access(fleet: Fleet, folder: Path, now: datetime, user: str = "mosquitto") -> None:
    """Rewrite the ACL and the CRL in a broker folder from the registry (what a SIGHUP then applies)."""
    owner = _owner(user)
    acl = folder / ACL_FILE
    write_file_atomically(
        acl,
        render_acl(fleet.registry.identities(), fleet.settings.topic_prefix, fleet.settings.name).encode(),
        0o640,
    )
    _give(acl, owner)
    _, ca = fleet.ca()
    revoked = [int(c.serial, 16) for c in fleet.registry.revoked_certificates()]
    install_crl(folder, fleet.crl_path.read_bytes(), ca, now, must_revoke=revoked, user=user)


def write_broker_config(fleet: Fleet, folder: Path, options: BrokerOptions, now: datetime) -> WrittenConfig:
    """Write (or rewrite) a broker folder: mosquitto.conf, acl, crl.pem, ca.pem, the server's certificate
    and key (0600, owned by ``options.user`` when run as root), data/. Records the folder in the registry."""
    first_time = not (folder / CONF_FILE).exists()
    folder.mkdir(mode=0o750, parents=True, exist_ok=True)
    owner = _owner(options.user)
    (folder / "data").mkdir(mode=0o750, exist_ok=True)
    for path in (folder, folder / "data"):
        _give(path, owner)
    write_file_atomically(folder / "ca.pem", fleet.ca_pem)
    write_file_atomically(folder / "server.pem", fleet.server_cert_path.read_bytes())
    write_file_atomically(folder / "server.key", fleet.server_key_path.read_bytes(), 0o600)
    _give(folder / "server.key", owner)
    write_access(fleet, folder, now, options.user)
    conf = render_conf(folder.resolve(), fleet.settings.name, options)
    old = (folder / CONF_FILE).read_text(encoding="utf-8") if not first_time else ""
    if old != conf:
        write_file_atomically(folder / CONF_FILE, conf.encode("utf-8"), 0o644)
    log = folder / LOG_FILE
    if not log.exists():
        log.touch(mode=0o640)
    _give(log, owner)
    fleet.registry.add_broker_config(folder, now)
    return WrittenConfig(folder, conf_changed=not first_time and old != conf, first_time=first_time)


def broker_pid(folder: Path) -> int | None:
    """The pid of the Mosquitto running ``folder``'s config (its pid file, checked against /proc), or None."""
    try:
        pid = int((folder / PID_FILE).read_text(encoding="ascii").strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if b"mosquitto" in cmdline else None


def reload_broker(folder: Path, command: Sequence[str] | None = None) -> str:
    """Make the broker re-read its ACL and CRL: ``command`` (e.g. ``systemctl reload mosquitto``) when given,
    else SIGHUP to the pid in ``folder``'s pid file. Returns what was done; :class:`BrokerReloadError` when
    nothing could be."""
    if command:
        try:
            subprocess.run(list(command), check=True, capture_output=True, timeout=30)
        except (OSError, subprocess.SubprocessError) as exc:
            raise BrokerReloadError(f"the reload command {' '.join(command)!r} failed: {exc}") from exc
        return f"ran {' '.join(command)}"
    pid = broker_pid(folder)
    if pid is None:
        raise BrokerReloadError(
            f"no running Mosquitto for {folder} (its {PID_FILE} is missing or stale): start it with "
            f"`mosquitto -c {folder / CONF_FILE}`, or reload it yourself (systemctl reload mosquitto)"
        )
    try:
        os.kill(pid, signal.SIGHUP)
    except OSError as exc:
        raise BrokerReloadError(
            f"cannot signal Mosquitto (pid {pid}): {exc.strerror}; run this as the broker's user or root, "
            "or give a reload command (--reload-command 'systemctl reload mosquitto')"
        ) from exc
    return f"sent SIGHUP to Mosquitto (pid {pid})"


def refresh_brokers(fleet: Fleet, now: datetime, reload_command: Sequence[str] | None = None) -> list[str]:
    """Rewrite the ACL and CRL of every broker folder the fleet wrote, and reload each broker: what a
    revocation or an enrolment needs. Returns one line per folder; a folder that cannot be reloaded says
    why (the others are still done)."""
    done = []
    folders = fleet.registry.broker_configs()
    for folder in folders:
        write_access(fleet, folder, now)
        try:
            done.append(f"{folder}: {reload_broker(folder, reload_command)}")
        except BrokerReloadError as exc:
            done.append(f"{folder}: NOT RELOADED: {exc}")
    return done
