"""The fixture store's figures (tests/backoffice_fixture.py, computed there by hand) on every page, in every
page's CSV and in its JSON, cells under k included ("< 5" in all three), on SQLite and PostgreSQL."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import backoffice_fixture as fx
import pytest
from fastapi.testclient import TestClient
from web_helpers import MovableClock, make_app, page_tables, read_csv, read_json, sign_in

from backoffice.ingest import BackofficeStore, open_store
from backoffice.web.settings import WebSettings
from mqtt_bridge.contract.payloads import StatusPayload

SUPPRESSED = f"< {fx.K}"
#: The whole fixture: 2026-11-01 to 2026-11-03, both days included (fx.START to fx.END).
RANGE = "start=2026-11-01&end=2026-11-03"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BackofficeStore]:
    for url in fx.store_url(request.param, tmp_path):
        clock = fx.Clock()
        opened = open_store(url, clock=clock)
        try:
            fx.fill(opened, clock)
            yield opened
        finally:
            opened.close()


def _client(store: BackofficeStore, zone: str = "UTC") -> TestClient:
    app, _ = make_app(
        store.db, MovableClock(fx.NOW), settings=WebSettings(time_zone=zone, default_language="en"), k=fx.K
    )
    return sign_in(app, "viewer-user")


@pytest.fixture
def client(store: BackofficeStore) -> TestClient:
    return _client(store)


def csv_rows(client: TestClient, path: str) -> list[dict[str, str]]:
    response = client.get(path)
    assert response.status_code == 200, (path, response.text)
    assert response.headers["content-type"].startswith("text/csv")
    return read_csv(response.text)


def by(rows: list[dict[str, str]], key: str) -> dict[str, dict[str, str]]:
    return {row[key]: row for row in rows}


def assert_csv_figures(row: Mapping[str, str], expected: Mapping[str, Any]) -> None:
    """The CSV row holds each expected figure (numbers compared as numbers, None as an empty cell)."""
    for name, want in expected.items():
        if name == "csat_distribution":
            continue  # a table of its own
        got = row[name]
        if want is None:
            assert got == "", f"{name}: {got!r} != empty"
        else:
            assert got != SUPPRESSED, f"{name} is suppressed, expected {want}"
            assert float(got) == pytest.approx(want, abs=1e-6), f"{name}: {got} != {want}"


def assert_row_suppressed(row: Mapping[str, str], *keep: str) -> None:
    """Every figure of the row reads '< k' (the row's labels aside)."""
    figures = {k: v for k, v in row.items() if k not in ("start", "offer_id", "arm", *keep)}
    assert figures and all(v == SUPPRESSED for v in figures.values()), figures


def assert_json_figures(row: Mapping[str, Any], expected: Mapping[str, Any]) -> None:
    for name, want in expected.items():
        if name == "csat_distribution":
            continue
        got = row[name]
        assert got == (None if want is None else pytest.approx(want, abs=1e-6)), f"{name}: {got} != {want}"


def test_audience_page_csv_and_json(client: TestClient) -> None:
    total = csv_rows(client, f"/audience/total.csv?{RANGE}")
    assert len(total) == 1
    assert_csv_figures(total[0], fx.AUDIENCE_TOTAL)
    hours = by(csv_rows(client, f"/audience/by_hour.csv?{RANGE}"), "start")
    assert sorted(hours) == [f"2026-11-02T{h}:00:00+00:00" for h in ("10", "11", "22")]
    assert_csv_figures(hours["2026-11-02T10:00:00+00:00"], fx.AUDIENCE_10)
    assert_csv_figures(hours["2026-11-02T22:00:00+00:00"], fx.AUDIENCE_22)
    assert_row_suppressed(hours["2026-11-02T11:00:00+00:00"])  # 3 visits < k
    days = csv_rows(client, f"/audience/by_day.csv?{RANGE}")
    assert [(d["start"], float(d["visits"])) for d in days] == [("2026-11-02T00:00:00+00:00", 16.0)]

    data = read_json(client.get(f"/audience.json?{RANGE}").text)
    assert_json_figures(data["tables"]["total"]["rows"][0], fx.AUDIENCE_TOTAL)
    json_hours = {r["start"]: r for r in data["tables"]["by_hour"]["rows"]}
    assert json_hours["2026-11-02T11:00:00+00:00"]["visits"] == SUPPRESSED
    assert json_hours["2026-11-02T11:00:00+00:00"]["positive_share"] == SUPPRESSED
    assert data["filters"] == {"store": "", "device": "", "start": "2026-11-01", "end": "2026-11-03"}
    # Charts carry the figures, with a gap (null) where a cell is suppressed.
    visits_chart = data["charts"]["visits_by_hour"]
    assert visits_chart["labels"] == ["11-02 10:00", "11-02 11:00", "11-02 22:00"]
    assert visits_chart["series"][0]["values"] == [8, None, 5]

    page = client.get(f"/audience?{RANGE}")
    assert page.status_code == 200
    tables = page_tables(page.text)
    assert tables["total"][0]["visits"] == "16"
    assert tables["total"][0]["watcher_rate"] == "56.2 %"  # 9 / 16
    assert tables["total"][0]["dwell_s_mean"] == "9.2"  # 148 / 16 = 9.25, one digit
    hour_11 = next(r for r in tables["by_hour"] if r["start"] == "2026-11-02 11:00")
    assert hour_11["visits"] == SUPPRESSED and hour_11["negative_share"] == SUPPRESSED
    assert f"&lt; {fx.K}" in page.text and "data-chart=" in page.text


def test_frustration_on_the_audience_page(client: TestClient) -> None:
    total = csv_rows(client, f"/audience/frustration_total.csv?{RANGE}")
    assert_csv_figures(total[0], fx.FRUSTRATION_TOTAL)
    hours = by(csv_rows(client, f"/audience/frustration_by_hour.csv?{RANGE}"), "start")
    assert_row_suppressed(hours["2026-11-02T10:00:00+00:00"])
    assert_row_suppressed(hours["2026-11-02T11:00:00+00:00"])
    assert_csv_figures(hours["2026-11-02T22:00:00+00:00"], fx.FRUSTRATION_22)
    tables = page_tables(client.get(f"/audience?{RANGE}").text)
    assert tables["frustration_total"][0]["per_100_visits_read"] == "16.7"


def test_audience_days_in_the_display_time_zone(store: BackofficeStore) -> None:
    client = _client(store, zone=fx.MOSCOW)
    days = csv_rows(client, f"/audience/by_day.csv?{RANGE}")
    assert {d["start"][:10]: float(d["visits"]) for d in days} == {
        day: float(n) for day, n in fx.AUDIENCE_DAYS_MOSCOW.items()
    }
    assert all(d["start"].endswith("+03:00") for d in days)


def test_offers_page_funnel_arms_mood_and_frustration(client: TestClient) -> None:
    funnel = csv_rows(client, f"/offers/funnel.csv?{RANGE}")
    assert funnel[0]["offer_id"] == ""
    assert_csv_figures(funnel[0], fx.FUNNEL_TOTAL)
    per_offer = by(csv_rows(client, f"/offers/per_offer.csv?{RANGE}"), "offer_id")
    assert sorted(per_offer) == ["o1", "o2"]
    assert_csv_figures(per_offer["o1"], fx.FUNNEL_O1)
    assert_row_suppressed(per_offer["o2"])
    arms = {(r["offer_id"], r["arm"]): r for r in csv_rows(client, f"/offers/per_arm.csv?{RANGE}")}
    assert sorted(arms) == [("o1", ""), ("o1", "o1|a"), ("o1", "o1|b"), ("o2", "")]
    assert_csv_figures(arms[("o1", "o1|a")], fx.ARM_A)
    assert_csv_figures(arms[("o1", "")], fx.ARM_O1_RULES)
    assert_row_suppressed(arms[("o1", "o1|b")])
    mood = by(csv_rows(client, f"/offers/mood.csv?{RANGE}"), "offer_id")
    assert_csv_figures(mood[""], fx.MOOD_TOTAL)
    assert_csv_figures(mood["o1"], fx.MOOD_O1)
    assert_row_suppressed(mood["o2"])
    follows = by(csv_rows(client, f"/offers/frustration.csv?{RANGE}"), "offer_id")
    assert_csv_figures(follows["o1"], fx.FRUSTRATION_O1)
    assert follows["o1"]["share_of_frustrated"] == SUPPRESSED  # 3 frustrated visits < k

    data = read_json(client.get(f"/offers.json?{RANGE}").text)
    funnel_chart = data["charts"]["funnel"]
    assert funnel_chart["series"][0]["values"] == [11, 5, 4, 1]  # shown, attended, tapped, redeemed
    json_offers = {r["offer_id"]: r for r in data["tables"]["per_offer"]["rows"]}
    assert_json_figures(json_offers["o1"], fx.FUNNEL_O1)
    assert json_offers["o2"]["tap_rate"] == SUPPRESSED

    tables = page_tables(client.get(f"/offers?{RANGE}").text)
    o1 = next(r for r in tables["per_offer"] if r["offer_id"] == "o1")
    assert (o1["shown"], o1["tap_rate"], o1["redemption_rate"]) == ("8", "37.5 %", "12.5 %")
    o2 = next(r for r in tables["per_offer"] if r["offer_id"] == "o2")
    assert o2["shown"] == SUPPRESSED
    mood_o1 = next(r for r in tables["mood"] if r["offer_id"] == "o1")
    assert mood_o1["positive_uplift"] == "35.0 %"  # 0.50 - 0.15


def test_feedback_page(client: TestClient, store: BackofficeStore) -> None:
    total = csv_rows(client, f"/feedback/total.csv?{RANGE}")
    assert_csv_figures(total[0], fx.FEEDBACK_TOTAL)
    distribution = csv_rows(client, f"/feedback/csat_distribution.csv?{RANGE}")
    assert [(int(r["score"]), float(r["answers"])) for r in distribution] == list(
        zip(range(1, 6), (float(n) for n in fx.FEEDBACK_TOTAL["csat_distribution"]), strict=True)
    )
    moscow = by(csv_rows(_client(store, fx.MOSCOW), f"/feedback/by_day.csv?{RANGE}"), "start")
    day1, day2 = moscow["2026-11-02T00:00:00+03:00"], moscow["2026-11-03T00:00:00+03:00"]
    assert_csv_figures(day1, fx.FEEDBACK_MOSCOW_DAY1)
    assert day2["csat_responses"] == SUPPRESSED and day2["csat_mean"] == SUPPRESSED  # 2 answers < k
    tables = page_tables(client.get(f"/feedback?{RANGE}").text)
    assert tables["total"][0]["csat_mean"] == "4.00" and tables["total"][0]["nps"] == "0.0"


def test_staff_page_kpis_and_live_calls(client: TestClient) -> None:
    total = csv_rows(client, f"/staff/kpi_total.csv?{RANGE}")
    assert_csv_figures(total[0], fx.STAFF_TOTAL)
    stores = by(csv_rows(client, f"/staff/kpi_per_store.csv?{RANGE}"), "store_id")
    assert_csv_figures(stores["s1"], fx.STAFF_S1)
    assert_csv_figures(stores["s2"], fx.STAFF_S2)
    calls = by(csv_rows(client, f"/staff/calls.csv?{RANGE}"), "call_id")
    # At 22:05: c2 acknowledged (not resolved) and c3 open and escalated; c1 was resolved long before.
    assert sorted(calls) == ["c2", "c3"]
    assert calls["c2"]["state"] == "acknowledged" and calls["c2"]["acknowledged_by"] == "bob"
    assert calls["c2"]["device_ack_at"].startswith("2026-11-02T10:26:02")
    assert calls["c3"]["state"] == "open" and calls["c3"]["escalated_at"].startswith("2026-11-02T22:07:30")
    assert calls["c3"]["waiting_s"] == "0"  # raised at 22:05:00, the clock reads 22:05:00
    page = client.get(f"/staff?{RANGE}")
    assert 'sse-connect="/staff/stream' in page.text
    assert 'data-call="c3" data-state="open"' in page.text
    # A viewer sees the calls but no button to answer them.
    assert "/staff/calls/c3/ack" not in page.text
    tables = page_tables(page.text)
    assert tables["kpi_total"][0]["ack_mean_s"] == "200.0"


def test_fleet_page_devices_and_alerts(client: TestClient) -> None:
    alerts = csv_rows(client, "/fleet/alerts.csv")
    assert {(a["store_id"], a["device_id"], a["kind"]): float(a["value"]) for a in alerts} == pytest.approx(
        fx.FLEET_ALERTS
    )
    devices = by(csv_rows(client, "/fleet/devices.csv"), "device_id")
    assert sorted(devices) == ["d1", "d2", "d3"]
    d1 = devices["d1"]
    assert (d1["status"], d1["online"], d1["software_version"], d1["privacy_mode"]) == (
        "online", "true", "0.2.0", "notice",
    )  # fmt: skip
    assert (float(d1["fps"]), float(d1["inference_ms"]), int(d1["dropped_frames"])) == (12.0, 7.0, 5)
    assert (int(d1["outbox_depth"]), float(d1["clock_drift_s"])) == (2, 1.0)
    assert devices["d2"]["status"] == "offline" and devices["d2"]["camera_ok"] == "false"
    assert devices["d3"]["status"] == "" and int(devices["d3"]["alerts"]) == 2
    tables = page_tables(client.get("/fleet").text)
    assert {r["device_id"] for r in tables["devices"]} == {"d1", "d2", "d3"}
    assert {r["alert"] for r in tables["alerts"]} == {
        "offline",
        "camera lost",
        "clock drift",
        "outbox growing",
    }
    # The store filter narrows the fleet.
    assert {r["device_id"] for r in csv_rows(client, "/fleet/devices.csv?store=s2")} == {"d3"}


def test_device_page_history(client: TestClient) -> None:
    hours = by(csv_rows(client, f"/fleet/s1/d1/hours.csv?{RANGE}"), "start")
    assert_csv_figures(hours["2026-11-02T10:00:00+00:00"], fx.DEVICE_D1_H10)
    now = {r["field"]: r["value"] for r in csv_rows(client, f"/fleet/s1/d1/now.csv?{RANGE}")}
    assert now["Software"] == "0.2.0" and now["Status"] == "online"
    page = client.get(f"/fleet/s1/d1?{RANGE}")
    assert page.status_code == 200 and "s1/d1" in page.text
    data = read_json(client.get(f"/fleet/s1/d1.json?{RANGE}").text)
    # fps by hour: 10:00 had two health events (10 and 12), 11:00 visits but no health event (a gap).
    assert data["charts"]["health"]["series"][0]["values"] == [11.0, None]


def test_every_page_in_russian_too(store: BackofficeStore) -> None:
    client = _client(store)
    client.get("/lang/ru")
    for path, heading in (
        ("/fleet", "Устройства"),
        ("/audience", "Аудитория"),
        ("/offers", "Предложения"),
        ("/feedback", "Отзывы"),
        ("/staff", "Вызовы персонала"),
    ):
        page = client.get(f"{path}?{RANGE}")
        assert page.status_code == 200 and heading in page.text and 'lang="ru"' in page.text
    client.get("/lang/en")
    assert "Audience" in client.get(f"/audience?{RANGE}").text


def test_unknown_table_and_bad_date_are_explained(client: TestClient) -> None:
    missing = client.get("/audience/nothing.csv")
    assert missing.status_code == 400 and "by_hour.csv" in missing.json()["error"]
    bad = client.get("/audience?start=yesterday")
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.text


def test_every_definitions_link_lands_on_a_definition(store: BackofficeStore) -> None:
    app, _ = make_app(store.db, MovableClock(fx.NOW), settings=WebSettings(default_language="en"), k=fx.K)
    admin = sign_in(app, "admin-user")
    definitions = admin.get("/definitions").text
    anchors = set(re.findall(r'id="([^"]+)"', definitions))
    for path in ("/fleet", "/fleet/s1/d1", "/audience", "/offers", "/feedback", "/staff", "/audit", "/users"):
        links = set(re.findall(r'href="/definitions#([^"]+)"', admin.get(f"{path}?{RANGE}").text))
        assert links, path
        assert links <= anchors, f"{path} links to definitions that do not exist: {sorted(links - anchors)}"


def test_fleet_device_table_pages_problems_first(tmp_path: Path) -> None:
    """A fleet larger than ``[web] fleet_rows``: the device table's first page starts with the devices that
    have alerts, its pager walks every device once, and the CSV and JSON have them all."""
    clock = fx.Clock()
    store = open_store(f"sqlite:///{tmp_path / 'fleet.sqlite'}", clock=clock)
    try:
        fx.fill(store, clock)
        online = StatusPayload(state="online", ts=fx.NOW - timedelta(minutes=1)).model_dump_json().encode()
        fx.write_messages(
            store,
            clock,
            fx.NOW - timedelta(minutes=1),
            [(f"{fx.PREFIX}/s3/k{i:02d}/status", online) for i in range(25)],
        )
        app, _ = make_app(
            store.db,
            MovableClock(fx.NOW),
            settings=WebSettings(time_zone="UTC", default_language="en", fleet_rows=10),
            k=fx.K,
        )
        client = sign_in(app, "viewer-user")
        assert len(csv_rows(client, "/fleet/devices.csv")) == 28
        assert len(read_json(client.get("/fleet.json").text)["tables"]["devices"]["rows"]) == 28

        pages, path = [], "/fleet"
        while path:
            response = client.get(path)
            assert response.status_code == 200, response.text
            pages.append([(r["store_id"], r["device_id"]) for r in page_tables(response.text)["devices"]])
            found = re.search(r'rel="next" href="([^"]+)"', response.text)
            path = html.unescape(found.group(1)) if found else ""
        assert [len(p) for p in pages] == [10, 10, 8]
        # Alerts first (d2 offline and camera lost, d3 clock drift and outbox), then the online ones in order.
        assert pages[0][:3] == [("s1", "d2"), ("s2", "d3"), ("s1", "d1")]
        assert [row for page in pages for row in page][3:] == [("s3", f"k{i:02d}") for i in range(25)]
        second = client.get("/fleet?devices_from=10").text
        assert "Rows 11-20 of 28" in second
        back = re.search(r'rel="prev" href="([^"]+)"', second)
        assert back is not None and html.unescape(back.group(1)) == "/fleet?devices_from=0"
        # A row past the end shows the last page; a malformed one is explained.
        last = page_tables(client.get("/fleet?devices_from=99").text)["devices"]
        assert (len(last), last[0]["device_id"]) == (8, "k17")
        bad = client.get("/fleet?devices_from=ten")
        assert bad.status_code == 400 and "devices_from" in bad.text
    finally:
        store.close()
