"""Proof of play on both dialects: the ingest keeps ``offer_play_hourly`` per offer and catalogue version as
it stores events (a redelivery changes nothing), the report's figures equal a count done by hand, audience
figures under k are withheld ("< k") while showings and seconds are not, a rebuild from raw events gives the
same table, and the page shows it with its CSV."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import backoffice_fixture as fx
import pytest
from web_helpers import MovableClock, make_app, read_csv, sign_in

from backoffice.campaigns.proof_of_play import rebuild, report
from backoffice.ingest import BackofficeStore, open_store, parse_messages
from backoffice.reports.models import Filters, Suppressed, Value
from backoffice.web.settings import WebSettings
from mqtt_bridge.contract.events import Event, Feedback, OfferEnded, OfferShown

T0 = datetime(2026, 11, 2, 10, 5, tzinfo=UTC)
K = 3


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BackofficeStore]:
    for url in fx.store_url(request.param, tmp_path):
        opened = open_store(url, clock=lambda: T0 + timedelta(hours=1))
        try:
            yield opened
        finally:
            opened.close()


def _events() -> list[Event]:
    """Offer o1 version 1 on d1 (4 showings to visits, 3 watched, CSAT 5, 4, 2) and on d2 (1 showing in
    attract mode); o1 version 2 on d1 (2 showings, below k); o2 without a version (a file catalogue)."""
    out: list[Event] = []

    def showing(
        device: str, offer: str, version: int | None, n: int, *, visit: bool, watched: bool, s: float
    ) -> None:
        ref = f"{device}-{offer}-{version}-{n}" if visit else None
        ts = T0 + timedelta(minutes=n)
        out.append(
            OfferShown(
                store_id="s1",
                device_id=device,
                offer_id=offer,
                visit_ref=ref,
                reason="bandit",
                language="ru",
                catalogue_version=version,
                ts=ts,
            )
        )
        out.append(
            OfferEnded(
                store_id="s1",
                device_id=device,
                offer_id=offer,
                visit_ref=ref,
                shown_s=s,
                attention_s=s / 2,
                attended=watched,
                tapped=n == 0,
                catalogue_version=version,
                ts=ts,
            )
        )

    for n, watched in enumerate([True, True, True, False]):
        showing("d1", "o1", 1, n, visit=True, watched=watched, s=6.0)
    showing("d2", "o1", 1, 0, visit=False, watched=False, s=10.0)
    for n in range(2):
        showing("d1", "o1", 2, n, visit=True, watched=True, s=3.0)
    for n in range(3):
        showing("d1", "o2", None, n, visit=True, watched=False, s=2.0)
    for score in (5, 4, 2):
        out.append(
            Feedback(
                store_id="s1",
                device_id="d1",
                kind="csat",
                score=score,
                offer_id="o1",
                catalogue_version=1,
                ts=T0,
            )
        )
    out.append(
        Feedback(
            store_id="s1", device_id="d1", kind="nps", score=9, offer_id="o1", catalogue_version=1, ts=T0
        )
    )
    return out


def _write(store: BackofficeStore, events: list[Event]) -> None:
    by_device: dict[str, list[Event]] = {}
    for event in events:
        by_device.setdefault(event.device_id, []).append(event)
    messages = [fx._events_message("s1", device, batch) for device, batch in by_device.items()]
    parsed = parse_messages(fx.PREFIX, messages)
    assert not parsed.refusals, parsed.refusals
    store.write(parsed)


def _filters() -> Filters:
    return Filters(start=T0 - timedelta(days=1), end=T0 + timedelta(days=1), tz="UTC")


def value(cell: Value | Suppressed) -> float | None:
    assert isinstance(cell, Value), cell
    return cell.value


def test_the_ingest_counts_proof_of_play_per_offer_and_version(store: BackofficeStore) -> None:
    events = _events()
    _write(store, events)
    _write(store, events[:7])  # redelivered: nothing counted twice
    play = report(store.db, _filters(), K)
    rows = {(r.offer_id, r.catalogue_version): r for r in play.per_version}
    assert set(rows) == {("o1", 1), ("o1", 2), ("o2", None)}
    v1 = rows[("o1", 1)]
    assert (v1.shown, v1.devices, v1.shown_s) == (5, 2, 34.0)  # 4 x 6 s on d1, 10 s on d2
    assert v1.shown_s_mean == pytest.approx(34.0 / 5)
    assert value(v1.shown_to_visits) == 4 and value(v1.watchers) == 3
    assert value(v1.watcher_rate) == pytest.approx(3 / 5)
    assert value(v1.attention_s_mean) == pytest.approx(17.0 / 5)
    assert value(v1.tapped) == 2  # the first showing on each device was tapped
    assert value(v1.csat_n) == 3 and value(v1.csat_mean) == pytest.approx(11 / 3)
    assert value(v1.csat_satisfied_share) == pytest.approx(2 / 3)
    v2 = rows[("o1", 2)]
    assert (v2.shown, v2.shown_s) == (2, 6.0)  # about the screen: always shown
    assert isinstance(v2.watchers, Suppressed) and isinstance(v2.csat_mean, Suppressed)  # 2 visits < k
    assert rows[("o2", None)].shown == 3
    per_device = {(r.offer_id, r.catalogue_version, r.device_id): r for r in play.per_device}
    assert per_device[("o1", 1, "d2")].shown == 1 and per_device[("o1", 1, "d1")].shown == 4
    assert [(d.shown, d.shown_s) for d in play.by_day] == [(10, 46.0)]
    assert rebuild(store.db) == len(events)  # every offer_shown, offer_ended and feedback event read again
    assert report(store.db, _filters(), K) == play  # the same table from the raw events


def test_the_page_shows_proof_of_play_and_its_csv(store: BackofficeStore) -> None:
    _write(store, _events())
    app, _ = make_app(
        store.db, MovableClock(T0 + timedelta(hours=2)), settings=WebSettings(default_language="en"), k=K
    )
    client = sign_in(app, "viewer-user")
    page = client.get("/proof?start=2026-11-01&end=2026-11-03")
    assert page.status_code == 200 and "Proof of play" in page.text and "data-chart=" in page.text
    rows = read_csv(client.get("/proof/per_version.csv?start=2026-11-01&end=2026-11-03").text)
    by_key = {(r["offer_id"], r["catalogue_version"]): r for r in rows}
    assert by_key[("o1", "1")]["shown"] == "5" and by_key[("o1", "1")]["devices"] == "2"
    assert by_key[("o1", "2")]["watchers"] == f"< {K}"
    assert by_key[("o2", "")]["shown"] == "3"
    data = client.get("/proof.json?start=2026-11-01&end=2026-11-03").json()
    assert {r["offer_id"] for r in data["tables"]["per_device"]["rows"]} == {"o1", "o2"}
    russian = sign_in(app, "viewer-user")
    russian.get("/lang/ru")
    assert "Подтверждение показов" in russian.get("/proof").text
