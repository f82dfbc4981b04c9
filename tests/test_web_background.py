"""The server's background jobs: retention deletes raw data past its age (the rollups and the pages' figures
stay) and every page says the age; the jobs start and stop with the application."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import backoffice_fixture as fx
import pytest
from fastapi.testclient import TestClient
from web_helpers import MovableClock, make_app, read_csv, sign_in

from backoffice.ingest import BackofficeStore, open_store
from backoffice.web.app import Background
from backoffice.web.settings import WebSettings


@pytest.fixture
def store(tmp_path: Path) -> Iterator[BackofficeStore]:
    for url in fx.store_url("sqlite", tmp_path):
        clock = fx.Clock()
        opened = open_store(url, clock=clock)
        fx.fill(opened, clock)
        try:
            yield opened
        finally:
            opened.close()


def test_retention_deletes_raw_events_and_the_figures_stay(store: BackofficeStore) -> None:
    clock = MovableClock(fx.NOW + timedelta(days=91))
    app, _ = make_app(store.db, clock, settings=WebSettings(default_language="en"), k=fx.K)
    viewer = sign_in(app, "viewer-user")
    assert "Raw events are deleted after 90 days" in viewer.get("/fleet").text
    assert store.db.scalar("SELECT count(*) FROM events") > 0
    Background(app.state.services, None).run_retention()
    assert store.db.scalar("SELECT count(*) FROM events") == 0
    total = read_csv(viewer.get("/audience/total.csv?start=2026-11-01&end=2026-11-03").text)
    assert float(total[0]["visits"]) == fx.AUDIENCE_TOTAL["visits"]  # from the rollups


def test_the_jobs_start_and_stop_with_the_application(store: BackofficeStore) -> None:
    clock = MovableClock(fx.NOW + timedelta(days=91))
    app, link = make_app(store.db, clock, settings=WebSettings(poll_interval_s=0.05), k=fx.K)
    services = app.state.services
    jobs = Background(services, None)
    jobs.start()
    try:
        names = {t.name for t in jobs._threads}
        assert names == {"web-escalation", "web-retention"} and all(t.is_alive() for t in jobs._threads)
    finally:
        jobs.stop()
    assert not any(t.is_alive() for t in jobs._threads)
    with TestClient(app) as client:  # the lifespan: background=False in tests starts nothing
        assert client.get("/healthz").json()["status"] == "ok"
    assert link.sent == []
