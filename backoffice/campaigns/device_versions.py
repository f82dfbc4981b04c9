"""Which catalogue version each device runs, and who is behind and why.

The ingest stores every device's ``catalogue/result``
(:class:`~mqtt_bridge.contract.payloads.CatalogueResult`: installed, refused with a reason, or kept) with
:func:`record`, in the table ``device_catalogue`` (component
``catalogue_results``, its own migration): per device, its latest result, the version it has installed,
and its latest refusal (version and reason), guarded by the device's timestamp so a late, older result
never overwrites a newer one.

:func:`device_versions` joins it with each store's newest release (what the device should run) and the
fleet's live status (online or not): a device is ``current`` when it reports that version installed;
otherwise it is behind, and the reason is the first that applies: ``refused`` (it refused the version, with
the device's reason), ``offline`` (not online since the release), ``waiting`` (online, no answer yet), or
``no_release`` (nothing was published for its store).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Literal

from backoffice.db import Database, Migration, as_utc
from mqtt_bridge.contract.payloads import CatalogueResult

COMPONENT: Final = "catalogue_results"


def _table(dialect: str) -> str:
    real = "REAL" if dialect == "sqlite" else "DOUBLE PRECISION"
    big = "INTEGER" if dialect == "sqlite" else "BIGINT"
    return f"""CREATE TABLE device_catalogue (
        store_id TEXT NOT NULL, device_id TEXT NOT NULL,
        status TEXT NOT NULL, version {big}, reason TEXT NOT NULL DEFAULT '', installed_version {big},
        ts {real} NOT NULL, received_at {real} NOT NULL,
        refused_version {big}, refused_reason TEXT, refused_at {real},
        PRIMARY KEY (store_id, device_id))"""


#: The catalogue results' table: a small migration of its own, applied by the ingest.
MIGRATIONS: Final[tuple[Migration, ...]] = (
    Migration("0001_device_catalogue", _table("sqlite"), _table("postgresql")),
)


def migrate(db: Database) -> list[str]:
    """Make or update ``device_catalogue``."""
    return db.migrate(COMPONENT, MIGRATIONS)


_COLUMNS = (
    "store_id",
    "device_id",
    "status",
    "version",
    "reason",
    "installed_version",
    "ts",
    "received_at",
    "refused_version",
    "refused_reason",
    "refused_at",
)


def _upsert_sql() -> str:
    """Insert a device's result, or update its row: the latest result's columns when the result is newer
    (by the device's ts), the refusal's when it is a newer refusal. ``ts`` is set last: every SET
    expression reads the row as it was."""
    newer = "excluded.ts >= device_catalogue.ts"
    newer_refusal = (
        "excluded.refused_at IS NOT NULL AND (device_catalogue.refused_at IS NULL "
        "OR excluded.refused_at >= device_catalogue.refused_at)"
    )
    sets = [
        f"{c} = CASE WHEN {newer} THEN excluded.{c} ELSE device_catalogue.{c} END"
        for c in ("status", "version", "reason", "installed_version", "received_at")
    ]
    sets += [
        f"{c} = CASE WHEN {newer_refusal} THEN excluded.{c} ELSE device_catalogue.{c} END"
        for c in ("refused_version", "refused_reason", "refused_at")
    ]
    sets.append(f"ts = CASE WHEN {newer} THEN excluded.ts ELSE device_catalogue.ts END")
    return (
        f"INSERT INTO device_catalogue ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))}) "  # noqa: S608
        f"ON CONFLICT (store_id, device_id) DO UPDATE SET {', '.join(sets)}"
    )


_UPSERT = _upsert_sql()


def record(db: Database, results: Sequence[tuple[str, str, CatalogueResult]], received_at: datetime) -> None:
    """Keep each device's latest catalogue result (in the caller's transaction, or one of its own)."""
    if not results:
        return
    received = as_utc(received_at).timestamp()
    rows = []
    for store_id, device_id, result in sorted(results, key=lambda r: (r[0], r[1], r[2].ts)):
        ts = as_utc(result.ts).timestamp()
        refused = result.status == "refused"
        rows.append(
            (
                store_id,
                device_id,
                result.status,
                result.version,
                result.reason,
                result.installed_version,
                ts,
                received,
                result.version if refused else None,
                result.reason if refused else None,
                ts if refused else None,
            )
        )
    db.executemany(_UPSERT, rows)


@dataclass(frozen=True)
class DeviceCatalogue:
    """What one device last reported about its catalogue."""

    store_id: str
    device_id: str
    status: str
    version: int | None
    reason: str
    installed_version: int | None
    ts: datetime
    refused_version: int | None
    refused_reason: str | None


def reported(db: Database) -> dict[tuple[str, str], DeviceCatalogue]:
    """Every device's latest report, by (store, device)."""
    out = {}
    for row in db.query(
        "SELECT store_id, device_id, status, version, reason, installed_version, ts, refused_version, "
        "refused_reason FROM device_catalogue"
    ):
        out[(str(row[0]), str(row[1]))] = DeviceCatalogue(
            str(row[0]),
            str(row[1]),
            str(row[2]),
            None if row[3] is None else int(row[3]),
            str(row[4]),
            None if row[5] is None else int(row[5]),
            datetime.fromtimestamp(float(row[6]), UTC),
            None if row[7] is None else int(row[7]),
            None if row[8] is None else str(row[8]),
        )
    return out


State = Literal["current", "refused", "offline", "waiting", "no_release", "ahead"]


@dataclass(frozen=True)
class DeviceVersion:
    """One device: the version its store was sent, the one it runs, and whether (and why) it is behind."""

    store_id: str
    device_id: str
    expected: int | None
    installed: int | None
    state: State
    why: str
    online: bool | None
    last_seen: datetime | None
    reported_at: datetime | None

    @property
    def behind(self) -> bool:
        """Whether the device does not run its store's newest release."""
        return self.state in ("refused", "offline", "waiting")


@dataclass(frozen=True)
class Presence:
    """What the fleet knows of a device being there: online now, and when it was last heard from."""

    online: bool | None
    last_seen: datetime | None


@dataclass(frozen=True)
class StoreRelease:
    """A store's newest release: its version and when it was issued."""

    version: int
    issued_at: datetime


def _refused(report: DeviceCatalogue, release: StoreRelease | None) -> bool:
    """Whether the device refused ``release``: by its version, or (a release refused before its version
    could be read: a bad signature, another store) by a refusal since it was issued."""
    if release is None:
        return False
    if report.refused_version is not None:
        return report.refused_version == release.version
    return report.status == "refused" and report.ts >= release.issued_at


def device_versions(
    db: Database, releases: Mapping[str, StoreRelease], presence: Mapping[tuple[str, str], Presence]
) -> list[DeviceVersion]:
    """Every device the fleet knows (``presence``) or that reported a catalogue, with its state (see the
    module's docstring); ``releases`` is each store's newest release."""
    reports = reported(db)
    out = []
    for store_id, device_id in sorted(set(presence) | set(reports)):
        report = reports.get((store_id, device_id))
        seen = presence.get((store_id, device_id), Presence(None, None))
        release = releases.get(store_id)
        expected = release.version if release is not None else None
        installed = report.installed_version if report is not None else None
        state: State
        if expected is None:
            state, why = "no_release", "nothing was published for its store yet"
        elif installed is not None and installed == expected:
            state, why = "current", f"runs version {installed}"
        elif installed is not None and installed > expected:
            state, why = "ahead", f"runs version {installed}, newer than the store's last release {expected}"
        elif report is not None and _refused(report, release):
            reason = report.refused_reason or report.reason or "no reason given"
            state, why = "refused", f"refused version {expected}: {reason}"
        elif not seen.online:
            since = f" (last seen {seen.last_seen:%Y-%m-%d %H:%M} UTC)" if seen.last_seen is not None else ""
            state, why = "offline", f"offline{since}: it installs version {expected} when it comes back"
        else:
            state, why = "waiting", f"online, no answer about version {expected} yet"
        out.append(
            DeviceVersion(
                store_id,
                device_id,
                expected,
                installed,
                state,
                why,
                seen.online,
                seen.last_seen,
                report.ts if report is not None else None,
            )
        )
    return out
