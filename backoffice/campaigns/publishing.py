"""Draft -> publish: releases built from a snapshot of the draft, validated by the contract, signed with the
back office's Ed25519 key and sent, retained, to a store or to every store of the fleet; an optional second
admin's approval; version history, diffs and rollback.

- :meth:`Publisher.request` freezes the draft (:class:`~backoffice.campaigns.drafts.Snapshot`) and checks
  that every store in scope gets a catalogue the contract accepts and a release under the size cap. Without
  ``[campaigns] require_approval`` it publishes at once; with it the request waits for
  :meth:`Publisher.approve` by another admin account (the requester can never approve their own), or
  :meth:`Publisher.reject`. The audit log records the request, the approval and the publication with both
  accounts.
- Publishing takes the next version number (one sequence for the fleet, so every store's versions only
  go up), records the version and each store's release in one transaction, then sends each release
  (:func:`mqtt_bridge.catalogue.build_release`, :func:`~mqtt_bridge.catalogue.sign_release`), retained, on
  ``{prefix}/{store}/catalogue``. A release the broker did not take is marked unsent and sent again by
  :meth:`Publisher.send_pending` (releases are rebuilt byte for byte: the text and ``issued_at`` are kept,
  and Ed25519 signatures are deterministic).
- :meth:`Publisher.rollback` publishes an older version's snapshot as a new version (signed anew, with a
  higher number, so kiosks install it) and makes the draft that snapshot.
- :func:`diff` lists what changed between two snapshots, field by field.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from backoffice.campaigns.drafts import Drafts, Snapshot, check_stores, validate_catalogue
from backoffice.campaigns.errors import ApprovalError, CampaignError, PublishError
from backoffice.campaigns.images import ImageStore
from backoffice.campaigns.link import CampaignLink, LinkDownError
from backoffice.campaigns.settings import CampaignSettings
from backoffice.db import Database, IntegrityError
from backoffice.web.audit import AuditLog
from mqtt_bridge.catalogue import build_release, sign_release
from mqtt_bridge.signing import canonical_json

RequestKind = Literal["publish", "rollback"]
RequestState = Literal["pending", "published", "rejected", "cancelled"]

#: The scope of a publication to every store.
FLEET = ""


@dataclass(frozen=True)
class PublishRequest:
    """A request to publish (or roll back), and what became of it."""

    id: int
    kind: RequestKind
    scope: str
    snapshot: Snapshot
    rollback_of: int | None
    note: str
    requested_by: str
    requested_at: datetime
    state: RequestState
    decided_by: str | None
    decided_at: datetime | None
    version: int | None


@dataclass(frozen=True)
class Version:
    """A published version."""

    version: int
    request_id: int
    kind: RequestKind
    scope: str
    snapshot: Snapshot
    rollback_of: int | None
    note: str
    requested_by: str
    approved_by: str | None
    published_by: str
    published_at: datetime


@dataclass(frozen=True)
class Release:
    """What one store was sent of one version."""

    version: int
    store_id: str
    catalogue: str
    issued_at: datetime
    size_bytes: int
    offers: int
    sent: bool
    sent_at: datetime | None
    problem: str


@dataclass(frozen=True)
class Change:
    """One difference between two snapshots: an offer or daypart added, removed, or a field changed."""

    change: Literal["added", "removed", "changed"]
    item: str
    field: str
    before: str
    after: str


@dataclass(frozen=True)
class Outcome:
    """What :meth:`Publisher.request` (or approve, reject, rollback) did: the request, and the version when
    one was published; ``unsent`` lists stores whose release waits for the broker."""

    request: PublishRequest
    version: Version | None
    unsent: tuple[str, ...] = ()


def _time(value: Any) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(float(value), UTC)


def _kind(value: Any) -> RequestKind:
    return "rollback" if value == "rollback" else "publish"


def _state(value: Any) -> RequestState:
    for state in ("pending", "published", "rejected", "cancelled"):
        if value == state:
            return state
    raise CampaignError(f"a request holds an unknown state {value!r}")


_REQUEST_COLUMNS = (
    "id, kind, scope, snapshot, rollback_of, note, requested_by, requested_at, state, decided_by, "
    "decided_at, version"
)
_VERSION_COLUMNS = (
    "version, request_id, kind, scope, snapshot, rollback_of, note, requested_by, approved_by, published_by, "
    "published_at"
)
_RELEASE_COLUMNS = "version, store_id, catalogue, issued_at, size_bytes, offers, sent, sent_at, problem"


def _request(row: Sequence[Any]) -> PublishRequest:
    return PublishRequest(
        int(row[0]),
        _kind(row[1]),
        str(row[2]),
        Snapshot.model_validate_json(row[3]),
        None if row[4] is None else int(row[4]),
        str(row[5]),
        str(row[6]),
        _time(row[7]) or datetime.now(UTC),
        _state(row[8]),
        None if row[9] is None else str(row[9]),
        _time(row[10]),
        None if row[11] is None else int(row[11]),
    )


def _version(row: Sequence[Any]) -> Version:
    return Version(
        int(row[0]),
        int(row[1]),
        _kind(row[2]),
        str(row[3]),
        Snapshot.model_validate_json(row[4]),
        None if row[5] is None else int(row[5]),
        str(row[6]),
        str(row[7]),
        None if row[8] is None else str(row[8]),
        str(row[9]),
        _time(row[10]) or datetime.now(UTC),
    )


def _release(row: Sequence[Any]) -> Release:
    return Release(
        int(row[0]),
        str(row[1]),
        str(row[2]),
        datetime.fromisoformat(str(row[3])),
        int(row[4]),
        int(row[5]),
        bool(row[6]),
        _time(row[7]),
        str(row[8]),
    )


def scope_label(scope: str) -> str:
    """A scope as people read it: a store id, or 'fleet'."""
    return scope or "fleet"


class Publisher:
    """Publication requests, approvals, versions and releases (see the module's docstring)."""

    def __init__(
        self,
        db: Database,
        *,
        drafts: Drafts,
        images: ImageStore,
        settings: CampaignSettings,
        clock: Callable[[], datetime],
        audit: AuditLog,
        link: CampaignLink,
        key: Ed25519PrivateKey | None,
    ) -> None:
        self.db = db
        self.drafts = drafts
        self.images = images
        self.settings = settings
        self._now = clock
        self.audit = audit
        self.link = link
        self.key = key

    # --- stores ---------------------------------------------------------------------------------------

    def known_stores(self, snapshot: Snapshot | None = None) -> list[str]:
        """Every store the fleet has: stores with a device the ingest heard from or that reported a
        catalogue, stores a release was sent to, and stores some offer names."""
        found: set[str] = set()
        for table in ("devices", "device_catalogue"):
            if self.db.table_exists(table):
                found.update(str(r[0]) for r in self.db.query(f"SELECT DISTINCT store_id FROM {table}"))  # noqa: S608
        found.update(str(r[0]) for r in self.db.query("SELECT DISTINCT store_id FROM campaign_releases"))
        if snapshot is not None:
            found.update(snapshot.stores())
        return sorted(found)

    def stores_in(self, scope: str, snapshot: Snapshot) -> list[str]:
        """The stores a publication of ``snapshot`` to ``scope`` reaches."""
        if scope:
            return list(check_stores([scope]))
        stores = self.known_stores(snapshot)
        if not stores:
            raise PublishError(
                "no store is known yet (no device has reported and no offer names a store): publish to a "
                "named store instead"
            )
        return stores

    # --- building -------------------------------------------------------------------------------------

    def _files(self, snapshot: Snapshot, store_id: str) -> dict[str, bytes]:
        files: dict[str, bytes] = {}
        for item in snapshot.offers:
            if not item.runs_in(store_id):
                continue
            data = self.images.data(item.image_sha256)
            if data is None:
                raise PublishError(f"offer {item.offer_id!r}: its picture is missing; upload it again")
            files[str(item.offer["image"])] = data
        return files

    def catalogue_text(self, snapshot: Snapshot, store_id: str) -> str:
        """The catalogue ``store_id`` gets, validated by the contract, as canonical JSON text (fields left
        at their defaults left out, so kiosks of an older contract accept it when it uses nothing new)."""
        catalogue = validate_catalogue(snapshot.catalogue_document(store_id), store_id)
        return canonical_json(catalogue.model_dump(mode="json", exclude_defaults=True)).decode("utf-8")

    def build(
        self, snapshot: Snapshot, store_id: str, version: int, issued_at: datetime
    ) -> tuple[str, bytes]:
        """The catalogue text and the signed release payload of ``snapshot`` for ``store_id``; raises
        :class:`~backoffice.campaigns.errors.InvalidOfferError` (the contract refuses it) or
        :class:`PublishError` (no key, too large)."""
        if self.key is None:
            raise PublishError(
                "the back office has no signing key, and kiosks install only signed catalogues: start "
                "`backoffice serve` with --key (the key `backoffice keygen` made)"
            )
        text = self.catalogue_text(snapshot, store_id)
        return text, self._payload(text, self._files(snapshot, store_id), store_id, version, issued_at)

    def _payload(
        self, text: str, files: Mapping[str, bytes], store_id: str, version: int, issued_at: datetime
    ) -> bytes:
        assert self.key is not None
        try:
            release = build_release(store_id, version, issued_at, text, files)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise PublishError(f"the release cannot be built: {first['loc']}: {first['msg']}") from exc
        payload = sign_release(release, self.key).model_dump_json().encode("utf-8")
        cap = self.settings.max_release_bytes
        if len(payload) > cap:
            raise PublishError(
                f"the release for {store_id} is {len(payload)} bytes with its pictures, more than the "
                f"{cap} a kiosk accepts: use fewer offers or smaller pictures for this store"
            )
        return payload

    def check(self, snapshot: Snapshot, scope: str) -> list[str]:
        """Build (and throw away) the release of every store in ``scope``: the stores, or an error saying
        what a kiosk would refuse."""
        stores = self.stores_in(scope, snapshot)
        for store_id in stores:
            self.build(snapshot, store_id, 1, self._now())
        return stores

    # --- requests -------------------------------------------------------------------------------------

    def request(
        self, scope: str, by: str, *, note: str = "", address: str = "", snapshot: Snapshot | None = None
    ) -> Outcome:
        """Ask to publish the draft (or ``snapshot``) to ``scope`` (a store id, or :data:`FLEET`): checked
        now; published at once unless approval is required."""
        return self._ask(
            "publish",
            scope,
            by,
            snapshot or self.drafts.snapshot(),
            rollback_of=None,
            note=note,
            address=address,
        )

    def rollback(self, to_version: int, by: str, *, address: str = "") -> Outcome:
        """Publish version ``to_version``'s snapshot again as a new version, to the scope it had (approval
        as for any publication); once published, the draft becomes that snapshot."""
        old = self.version(to_version)
        if old is None:
            raise PublishError(f"there is no version {to_version} to roll back to")
        note = f"rollback to version {to_version}"
        return self._ask(
            "rollback", old.scope, by, old.snapshot, rollback_of=to_version, note=note, address=address
        )

    def _ask(
        self,
        kind: RequestKind,
        scope: str,
        by: str,
        snapshot: Snapshot,
        *,
        rollback_of: int | None,
        note: str,
        address: str,
    ) -> Outcome:
        if not snapshot.offers:
            raise PublishError("the draft has no offers: add one before publishing")
        stores = self.check(snapshot, scope)
        now = self._now()
        with self.db.transaction():
            request_id = int(
                self.db.execute(
                    "INSERT INTO campaign_requests (kind, scope, snapshot, rollback_of, note, requested_by, "
                    "requested_at, state) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending') RETURNING id",
                    [kind, scope, snapshot.model_dump_json(), rollback_of, note[:500], by, now.timestamp()],
                ).scalar()
            )
            if self.settings.require_approval:
                self.audit.record(
                    by,
                    "publish_request",
                    target=f"request {request_id}",
                    store_id=scope,
                    address=address,
                    detail=f"{kind} to {scope_label(scope)} ({len(stores)} stores), waiting for a second "
                    f"admin's approval{'; ' + note if note else ''}",
                )
        request = self.get_request(request_id)
        assert request is not None
        if self.settings.require_approval:
            return Outcome(request, None)
        return self._publish(request, published_by=by, approved_by=None, address=address)

    def approve(self, request_id: int, by: str, role: str, *, address: str = "") -> Outcome:
        """A second admin approves a pending request: it is published, by them. The requester may not
        approve their own request, nor may anyone but an admin."""
        request = self.get_request(request_id)
        if request is None:
            raise ApprovalError(f"there is no publication request {request_id}")
        if role != "admin":
            raise ApprovalError(f"{by} ({role}) may not approve: only an admin approves a publication")
        if request.requested_by == by:
            raise ApprovalError(
                f"{by} asked for this publication and cannot approve it too: another admin must approve"
            )
        if request.state != "pending":
            raise ApprovalError(
                f"request {request_id} was {request.state} already by {request.decided_by or '?'}"
            )
        return self._publish(request, published_by=by, approved_by=by, address=address)

    def reject(self, request_id: int, by: str, *, address: str = "", reason: str = "") -> PublishRequest:
        """Refuse a pending request (an admin, or its requester withdrawing it)."""
        now = self._now().timestamp()
        with self.db.transaction():
            changed = self.db.execute(
                "UPDATE campaign_requests SET state = ?, decided_by = ?, decided_at = ? "
                "WHERE id = ? AND state = 'pending'",
                ["rejected", by, now, request_id],
            ).rowcount
            if changed != 1:
                raise ApprovalError(f"request {request_id} is not pending (decided already, or unknown)")
            self.audit.record(
                by, "reject", target=f"request {request_id}", address=address, detail=reason[:200]
            )
        request = self.get_request(request_id)
        assert request is not None
        return request

    def _publish(
        self, request: PublishRequest, *, published_by: str, approved_by: str | None, address: str
    ) -> Outcome:
        snapshot = request.snapshot
        stores = self.stores_in(request.scope, snapshot)
        now = self._now()
        built: dict[str, tuple[str, bytes]] = {}
        try:
            with self.db.transaction():
                if self.db.dialect == "postgresql":
                    self.db.execute("LOCK TABLE campaign_versions IN EXCLUSIVE MODE")
                state = self.db.scalar("SELECT state FROM campaign_requests WHERE id = ?", [request.id])
                if state != "pending":
                    raise ApprovalError(f"request {request.id} was {state} already")
                version = int(self.db.scalar("SELECT coalesce(max(version), 0) FROM campaign_versions")) + 1
                if approved_by is not None:
                    self.audit.record(
                        approved_by,
                        "approve",
                        target=f"request {request.id}",
                        store_id=request.scope,
                        address=address,
                        detail=f"approved {request.kind} to {scope_label(request.scope)} (version {version}) "
                        f"requested by {request.requested_by}",
                    )
                for store_id in stores:
                    built[store_id] = self.build(snapshot, store_id, version, now)
                self.db.execute(
                    f"INSERT INTO campaign_versions ({_VERSION_COLUMNS}) "  # noqa: S608
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        version,
                        request.id,
                        request.kind,
                        request.scope,
                        snapshot.model_dump_json(),
                        request.rollback_of,
                        request.note,
                        request.requested_by,
                        approved_by,
                        published_by,
                        now.timestamp(),
                    ],
                )
                for store_id, (text, payload) in built.items():
                    self.db.execute(
                        "INSERT INTO campaign_releases (version, store_id, catalogue, issued_at, size_bytes, "
                        "offers, sent) VALUES (?, ?, ?, ?, ?, ?, 0)",
                        [
                            version,
                            store_id,
                            text,
                            now.isoformat(),
                            len(payload),
                            sum(1 for o in snapshot.offers if o.runs_in(store_id)),
                        ],
                    )
                self.db.execute(
                    "UPDATE campaign_requests SET state = 'published', decided_by = ?, decided_at = ?, "
                    "version = ? WHERE id = ?",
                    [approved_by or published_by, now.timestamp(), version, request.id],
                )
                who = f"requested by {request.requested_by}" + (
                    f", approved by {approved_by}" if approved_by else ""
                )
                self.audit.record(
                    published_by,
                    "rollback" if request.kind == "rollback" else "publish",
                    target=f"version {version}",
                    store_id=request.scope,
                    address=address,
                    detail=f"{request.kind} to {scope_label(request.scope)} ({', '.join(stores)}); {who}"
                    + (f"; {request.note}" if request.note else ""),
                )
                if request.kind == "rollback":
                    self.drafts.replace(snapshot, published_by)
        except IntegrityError as exc:
            raise PublishError(
                f"another publication took the version number just now; try again ({exc})"
            ) from exc
        unsent = [
            store_id for store_id, (_, payload) in built.items() if not self._send(version, store_id, payload)
        ]
        published = self.version(version)
        fresh = self.get_request(request.id)
        assert published is not None and fresh is not None
        return Outcome(fresh, published, tuple(unsent))

    # --- sending --------------------------------------------------------------------------------------

    def _send(self, version: int, store_id: str, payload: bytes) -> bool:
        try:
            self.link.publish_release(store_id, payload)
        except LinkDownError as exc:
            self.db.execute(
                "UPDATE campaign_releases SET problem = ? WHERE version = ? AND store_id = ?",
                [str(exc)[:300], version, store_id],
            )
            return False
        self.db.execute(
            "UPDATE campaign_releases SET sent = 1, sent_at = ?, problem = '' "
            "WHERE version = ? AND store_id = ?",
            [self._now().timestamp(), version, store_id],
        )
        return True

    def send_pending(self) -> list[tuple[int, str]]:
        """Send again each store's latest release the broker has not taken yet (rebuilt byte for byte);
        returns the (version, store) sent now."""
        sent = []
        for release in self.latest_releases().values():
            if release.sent:
                continue
            published = self.version(release.version)
            if published is None or self.key is None:
                continue
            files = self._files(published.snapshot, release.store_id)
            payload = self._payload(
                release.catalogue, files, release.store_id, release.version, release.issued_at
            )
            if self._send(release.version, release.store_id, payload):
                sent.append((release.version, release.store_id))
        return sent

    # --- reading --------------------------------------------------------------------------------------

    def get_request(self, request_id: int) -> PublishRequest | None:
        """One request."""
        row = self.db.execute(
            f"SELECT {_REQUEST_COLUMNS} FROM campaign_requests WHERE id = ?",  # noqa: S608
            [request_id],
        ).fetchone()
        return _request(row) if row is not None else None

    def requests(self, state: RequestState | None = None) -> list[PublishRequest]:
        """Requests, newest first (only those in ``state`` when given)."""
        where, params = ("WHERE state = ?", [state]) if state else ("", [])
        return [
            _request(r)
            for r in self.db.query(
                f"SELECT {_REQUEST_COLUMNS} FROM campaign_requests {where} ORDER BY id DESC",  # noqa: S608
                params,
            )
        ]

    def version(self, number: int) -> Version | None:
        """One version."""
        row = self.db.execute(
            f"SELECT {_VERSION_COLUMNS} FROM campaign_versions WHERE version = ?",  # noqa: S608
            [number],
        ).fetchone()
        return _version(row) if row is not None else None

    def versions(self) -> list[Version]:
        """Every version, newest first."""
        return [
            _version(r)
            for r in self.db.query(
                f"SELECT {_VERSION_COLUMNS} FROM campaign_versions ORDER BY version DESC"  # noqa: S608
            )
        ]

    def latest(self) -> Version | None:
        """The newest version."""
        row = self.db.execute(
            f"SELECT {_VERSION_COLUMNS} FROM campaign_versions ORDER BY version DESC LIMIT 1"  # noqa: S608
        ).fetchone()
        return _version(row) if row is not None else None

    def releases(self, version: int | None = None) -> list[Release]:
        """Releases (of ``version``), newest first."""
        where, params = ("WHERE version = ?", [version]) if version is not None else ("", [])
        return [
            _release(r)
            for r in self.db.query(
                f"SELECT {_RELEASE_COLUMNS} FROM campaign_releases {where} "  # noqa: S608
                "ORDER BY version DESC, store_id",
                params,
            )
        ]

    def latest_releases(self) -> dict[str, Release]:
        """Each store's newest release."""
        out: dict[str, Release] = {}
        for release in self.releases():
            out.setdefault(release.store_id, release)
        return out

    def offer_ids(self) -> set[str]:
        """Every offer id of the draft and of every version (what a code at the till may be for)."""
        ids = {o.offer_id for o in self.drafts.snapshot().offers}
        for version in self.versions():
            ids.update(o.offer_id for o in version.snapshot.offers)
        return ids

    def offer_title(self, offer_id: str, language: str) -> str | None:
        """An offer's title in ``language`` from the newest snapshot that has it (the draft last)."""
        snapshots = [v.snapshot for v in self.versions()] + [self.drafts.snapshot()]
        for snapshot in snapshots:
            for item in snapshot.offers:
                if item.offer_id == offer_id:
                    title = item.offer.get("title", {})
                    return str(title.get(language) or title.get("ru") or offer_id)
        return None


# --- diffs ---------------------------------------------------------------------------------------------


def _flatten(value: Any, prefix: str = "") -> dict[str, str]:
    if isinstance(value, dict):
        out: dict[str, str] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list | tuple):
        return {prefix: json.dumps(value, ensure_ascii=False)}
    return {prefix: "" if value is None else str(value)}


def _offer_fields(item: Any) -> dict[str, str]:
    fields = _flatten(item.offer)
    fields["stores"] = ", ".join(item.stores) or "(every store)"
    return fields


def diff(old: Snapshot | None, new: Snapshot) -> list[Change]:
    """What changed from ``old`` (None: nothing before) to ``new``: dayparts and offers added or removed,
    and every field of an offer or daypart that changed (the offer's stores included)."""
    before = old or Snapshot()
    changes: list[Change] = []
    for name in sorted(set(before.dayparts) | set(new.dayparts)):
        a, b = before.dayparts.get(name), new.dayparts.get(name)
        if a == b:
            continue
        kind: Literal["added", "removed", "changed"] = (
            "added" if a is None else "removed" if b is None else "changed"
        )
        changes.append(Change(kind, f"daypart {name}", "hours", a or "", b or ""))
    old_offers = {o.offer_id: o for o in before.offers}
    new_offers = {o.offer_id: o for o in new.offers}
    for offer_id in [*old_offers, *(i for i in new_offers if i not in old_offers)]:
        a_item, b_item = old_offers.get(offer_id), new_offers.get(offer_id)
        if a_item is None or b_item is None:
            present = b_item if b_item is not None else a_item
            assert present is not None
            title = str(present.offer.get("title", {}).get("ru", ""))
            changes.append(
                Change(
                    "added" if a_item is None else "removed",
                    f"offer {offer_id}",
                    "",
                    "" if a_item is None else title,
                    title if a_item is None else "",
                )
            )
            continue
        a_fields, b_fields = _offer_fields(a_item), _offer_fields(b_item)
        for field_name in sorted(set(a_fields) | set(b_fields)):
            if a_fields.get(field_name) != b_fields.get(field_name):
                changes.append(
                    Change(
                        "changed",
                        f"offer {offer_id}",
                        field_name,
                        a_fields.get(field_name, ""),
                        b_fields.get(field_name, ""),
                    )
                )
    return changes
