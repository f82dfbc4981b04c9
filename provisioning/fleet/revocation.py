"""Revocation and the CRL: ``provision revoke`` and ``provision crl refresh``.

Revoking a device (:func:`revoke_device`) marks it and every certificate it holds revoked in the registry,
re-signs the CRL (checked before it replaces the good one), rewrites the ACL of every broker folder the
fleet wrote (the device's block becomes ``topic deny #``), and reloads each broker (SIGHUP): from then on
the device cannot connect (the CRL), and a session it still has open receives nothing and may publish
nothing (the ACL; Mosquitto does not close it on its own). The back office is told by a retained
:class:`~mqtt_bridge.contract.enrolment.FleetDeviceNotice` on ``{prefix}/_fleet/devices/{store}/{device}``.

A CRL past its nextUpdate makes Mosquitto refuse every device, so :func:`refresh_crl` re-signs it; run
``provision crl refresh`` from a daily timer (the CRL is valid ``crl_days``, 7 by default).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from mqtt_bridge.contract.identity import device_identity_name
from mqtt_bridge.identity import write_file_atomically
from provisioning import pki
from provisioning.fleet.authority import Fleet
from provisioning.fleet.broker_config import refresh_brokers

log = logging.getLogger(__name__)


def refresh_crl(fleet: Fleet, now: datetime) -> datetime:
    """Re-sign the fleet's CRL from the registry: built, checked (issuer, signature, nextUpdate, every
    revoked serial), then renamed over ``FLEET/crl.pem``. Returns its nextUpdate. :class:`CrlError` leaves
    the previous CRL in place."""
    ca_key, ca_cert = fleet.ca()
    revoked = fleet.registry.revoked_certificates()
    entries = [
        pki.CrlEntry(int(c.serial, 16), datetime.fromisoformat(c.revoked_at or now.isoformat()))
        for c in revoked
    ]
    data = pki.build_crl(
        ca_key,
        ca_cert,
        entries,
        now=now,
        valid_days=fleet.settings.crl_days,
        number=fleet.registry.next_crl_number(),
    )
    crl = pki.check_crl(data, ca_cert, now, [e.serial for e in entries])
    write_file_atomically(fleet.crl_path, data, 0o644)
    assert crl.next_update_utc is not None
    return crl.next_update_utc


def crl_due(fleet: Fleet, now: datetime, within: timedelta) -> bool:
    """True when the fleet's CRL is missing, unreadable, or reaches its nextUpdate within ``within``."""
    try:
        next_update = pki.crl_next_update(fleet.crl_path.read_bytes())
    except OSError:
        return True
    return next_update is None or next_update - now <= within


@dataclass(frozen=True)
class Revocation:
    """What :func:`revoke_device` did."""

    name: str
    serials: list[str]
    crl_next_update: datetime
    brokers: list[str]


def revoke_device(
    fleet: Fleet,
    store_id: str,
    device_id: str,
    now: datetime,
    *,
    reason: str,
    reload_command: Sequence[str] | None = None,
) -> Revocation:
    """Revoke a device: registry, CRL, every broker's ACL and CRL, reload (module docstring)."""
    return revoke_identity(
        fleet, device_identity_name(store_id, device_id), now, reason=reason, reload_command=reload_command
    )


def revoke_identity(
    fleet: Fleet, name: str, now: datetime, *, reason: str, reload_command: Sequence[str] | None = None
) -> Revocation:
    """Revoke any identity by its common name (a device, the claim identity, a back-office process)."""
    serials = fleet.registry.revoke(name, now, reason)
    next_update = refresh_crl(fleet, now)
    brokers = refresh_brokers(fleet, now, reload_command)
    log.warning("revoked %s (%d certificate(s)): %s", name, len(serials), reason)
    return Revocation(name, serials, next_update, brokers)
