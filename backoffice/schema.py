"""Every table of a back-office store, made or updated in one call.

:func:`migrate_all` applies, in order, the ingest's migrations (adopting the records of a store made
before :mod:`backoffice.db`), staff calls', retention's and the rollups' (filling the rollups from the
events already stored the first time they are made). The ingest calls it when it opens its store; the web
application calls it at start (it may start before any ingest on a fresh store), then its own
``db.migrate("web", ...)``.
"""

from __future__ import annotations

from backoffice.db import Database
from backoffice.ingest import migrate_store


def migrate_all(db: Database) -> None:
    """Make or update every table of the store except the web application's own."""
    migrate_store(db)
