"""systemd's notification protocol (sd_notify), without the systemd Python package.

A service started by systemd with ``Type=notify`` finds a Unix datagram socket's address in
``$NOTIFY_SOCKET`` and sends it newline-separated ``KEY=VALUE`` lines: ``READY=1`` once it serves,
``WATCHDOG=1`` to tell the watchdog it is alive, ``STOPPING=1`` when it begins to stop, ``STATUS=...`` as a
line for ``systemctl status``. An address starting with ``@`` is in the abstract namespace (its first byte a
NUL). ``$WATCHDOG_USEC`` (and ``$WATCHDOG_PID``, when set, naming this process) says how often systemd
expects ``WATCHDOG=1``. Outside systemd there is no ``$NOTIFY_SOCKET`` and every call here is a no-op.

The protocol is documented in sd_notify(3) and sd_watchdog_enabled(3).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


def _address(raw: str) -> str | bytes:
    if raw.startswith("@"):
        return b"\0" + raw[1:].encode()
    return raw


def notify(message: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send ``message`` (e.g. ``"READY=1"``) to systemd. Returns False, sending nothing, when there is no
    ``$NOTIFY_SOCKET`` (not run by systemd, or not ``Type=notify``) or the socket cannot be reached (logged
    once a call at DEBUG: a kiosk must not stop because its supervisor went away)."""
    env = os.environ if environ is None else environ
    raw = env.get("NOTIFY_SOCKET")
    if not raw:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(_address(raw))
            sock.sendall(message.encode("utf-8"))
    except OSError as exc:
        log.debug("sd_notify to %s failed: %s", raw, exc)
        return False
    return True


def watchdog_interval_s(environ: Mapping[str, str] | None = None, pid: int | None = None) -> float | None:
    """The watchdog timeout systemd set for this process (``WatchdogSec=``), in seconds; None when there is
    none (no ``$WATCHDOG_USEC``, a bad value, or ``$WATCHDOG_PID`` naming another process)."""
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC")
    if not usec or not usec.isdigit() or int(usec) == 0:
        return None
    owner = env.get("WATCHDOG_PID")
    if owner and owner.isdigit() and int(owner) != (os.getpid() if pid is None else pid):
        return None
    return int(usec) / 1_000_000
