"""The campaigns' tables (component ``campaigns``, named migrations in both dialects; docs/campaigns.md).

- ``campaign_offers``: the draft's offers, one row each: the offer as the contract's catalogue carries it
  (``document``, JSON, its ``image`` the name the release gives its picture), the stores it runs in
  (``stores``, a JSON list; empty: every store), its picture's sha256, its place in the catalogue, who
  changed it last and when;
- ``campaign_dayparts``: the draft's named time ranges;
- ``campaign_images``: every picture, resized and checked on upload, content-addressed by sha256;
- ``campaign_requests``: each request to publish or roll back, with its snapshot of the draft, its scope
  (a store, or '' for the fleet), who asked, its state (pending, published, rejected, cancelled) and who
  decided;
- ``campaign_versions``: each published version, once: its snapshot, scope, kind (publish, rollback),
  who requested, approved and published it;
- ``campaign_releases``: what each store was sent of each version: the catalogue text, its size, whether
  the broker took it.

Instants are epoch seconds (``REAL``/``DOUBLE PRECISION``), flags ``INTEGER`` 0/1, as in
:mod:`backoffice.db`'s conventions.
"""

from __future__ import annotations

from typing import Final

from backoffice.db import Database, Migration

COMPONENT: Final = "campaigns"


def _tables(dialect: str) -> str:
    real = "REAL" if dialect == "sqlite" else "DOUBLE PRECISION"
    blob = "BLOB" if dialect == "sqlite" else "BYTEA"
    serial = "INTEGER PRIMARY KEY AUTOINCREMENT" if dialect == "sqlite" else "BIGSERIAL PRIMARY KEY"
    big = "INTEGER" if dialect == "sqlite" else "BIGINT"
    return f"""CREATE TABLE campaign_offers (
        offer_id TEXT PRIMARY KEY, position {big} NOT NULL, document TEXT NOT NULL,
        stores TEXT NOT NULL DEFAULT '[]', image_sha256 TEXT NOT NULL,
        updated_at {real} NOT NULL, updated_by TEXT NOT NULL);
    CREATE TABLE campaign_dayparts (
        name TEXT PRIMARY KEY, start_time TEXT NOT NULL, end_time TEXT NOT NULL,
        updated_at {real} NOT NULL, updated_by TEXT NOT NULL);
    CREATE TABLE campaign_images (
        sha256 TEXT PRIMARY KEY, format TEXT NOT NULL, width {big} NOT NULL, height {big} NOT NULL,
        size_bytes {big} NOT NULL, data {blob} NOT NULL, original_name TEXT NOT NULL DEFAULT '',
        uploaded_at {real} NOT NULL, uploaded_by TEXT NOT NULL);
    CREATE TABLE campaign_requests (
        id {serial}, kind TEXT NOT NULL, scope TEXT NOT NULL, snapshot TEXT NOT NULL,
        rollback_of {big}, note TEXT NOT NULL DEFAULT '', requested_by TEXT NOT NULL,
        requested_at {real} NOT NULL, state TEXT NOT NULL, decided_by TEXT, decided_at {real},
        version {big});
    CREATE INDEX campaign_requests_state ON campaign_requests (state);
    CREATE TABLE campaign_versions (
        version {big} PRIMARY KEY, request_id {big} NOT NULL, kind TEXT NOT NULL, scope TEXT NOT NULL,
        snapshot TEXT NOT NULL, rollback_of {big}, note TEXT NOT NULL DEFAULT '',
        requested_by TEXT NOT NULL, approved_by TEXT, published_by TEXT NOT NULL,
        published_at {real} NOT NULL);
    CREATE TABLE campaign_releases (
        version {big} NOT NULL, store_id TEXT NOT NULL, catalogue TEXT NOT NULL, issued_at TEXT NOT NULL,
        size_bytes {big} NOT NULL, offers {big} NOT NULL, sent INTEGER NOT NULL DEFAULT 0,
        sent_at {real}, problem TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (version, store_id));
    CREATE INDEX campaign_releases_store ON campaign_releases (store_id, version)"""


#: The campaigns' migrations.
MIGRATIONS: Final[tuple[Migration, ...]] = (
    Migration("0001_campaigns", _tables("sqlite"), _tables("postgresql")),
)


def migrate(db: Database) -> list[str]:
    """Make or update the campaigns' tables; returns the migrations applied now."""
    return db.migrate(COMPONENT, MIGRATIONS)
