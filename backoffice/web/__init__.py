"""The back office's web application: FastAPI on uvicorn, server-rendered pages (Jinja2, HTMX, Chart.js).

Pages: the fleet, the audience, staff calls, the audit log and users; every page's data also as JSON and CSV
at a sibling URL. :func:`backoffice.web.app.create_app` builds the application from its collaborators;
``backoffice serve`` runs it (:mod:`backoffice.web.cli`). docs/backoffice.md describes it.

This package is the only place of the project that imports the web stack (an import-linter contract).
"""
