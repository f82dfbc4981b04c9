"""Redemption at the till, on SQLite and PostgreSQL: codes made by the kiosk's own issuer under the secret
derived from the fleet's master key; each refusal said in a cashier's words (already used at 14:02, expired,
not from this store, mistyped, ...) in Russian and English, on the page and in the JSON endpoint; 20 tries
of one code at once, in the store and through the HTTP endpoint, redeem it exactly once; the reward courier
sends the kiosk one redeem command id until it answers."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import backoffice_fixture as fx
import pytest
from campaign_support import MASTER, RecordingCampaignLink, make_desk, offer_doc, png
from fastapi.testclient import TestClient
from web_helpers import MovableClock, csrf, make_app, read_csv, sign_in

from backoffice.campaigns.desk import CampaignDesk
from backoffice.campaigns.settings import CampaignSettings
from backoffice.db import Database, open_database
from backoffice.ingest import BackofficeStore, parse_messages
from backoffice.redemption import Till
from backoffice.web.audit import AuditFilter, AuditLog
from backoffice.web.settings import WebSettings
from kiosk.decisions.redemption import CodeIssuer, MemoryCodeStore
from mqtt_bridge.contract.payloads import CommandResult, StatusPayload
from mqtt_bridge.contract.redemption import device_secret, secret_bytes

#: 14:02 in Moscow (the pages' zone in these tests).
NOW = datetime(2026, 6, 1, 11, 2, tzinfo=UTC)
TODAY = date(2026, 6, 1)
ZONE = "Europe/Moscow"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    for url in fx.store_url(request.param, tmp_path):
        opened = open_database(url, pool_size=8)
        try:
            yield opened
        finally:
            opened.close()


def kiosk_code(store: str, device: str, offer: str = "o1", *, expires_in: int = 14, seed: int = 1) -> str:
    """A code as a kiosk configured with its derived ``[redemption] secret`` issues it."""
    issuer = CodeIssuer(
        secret=secret_bytes(device_secret(MASTER, store, device)),
        device_id=device,
        valid_days=expires_in if expires_in >= 0 else 0,
        store=MemoryCodeStore(),
        rng=random.Random(seed),
        today=lambda: TODAY if expires_in >= 0 else TODAY + timedelta(days=expires_in),
    )
    code = issuer.issue(offer, "neutral/short/solo/morning")
    assert code is not None
    return code


def _fleet(db: Database, clock: MovableClock) -> None:
    """Devices the ingest heard from: d1 and d2 in s1, d9 in s2."""
    store = BackofficeStore(db, clock=clock)
    messages = [
        (f"{fx.PREFIX}/{s}/{d}/status", StatusPayload(state="online", ts=NOW).model_dump_json().encode())
        for s, d in (("s1", "d1"), ("s1", "d2"), ("s2", "d9"))
    ]
    store.write(parse_messages(fx.PREFIX, messages))


def _desk(
    db: Database, clock: MovableClock, **settings: object
) -> tuple[CampaignDesk, RecordingCampaignLink]:
    desk, link = make_desk(db, clock, settings=CampaignSettings.model_validate(settings))
    desk.till.zone = __import__("zoneinfo").ZoneInfo(ZONE)
    _fleet(db, clock)
    image = desk.images.add(png(), "p.png", "m")
    for offer in ("o1", "o2"):
        desk.drafts.save_offer(offer_doc(offer), stores=[], image_sha256=image.sha256, by="m")
    return desk, link


def test_each_verdict(db: Database) -> None:
    clock = MovableClock(NOW)
    desk, _ = _desk(db, clock)
    till = desk.till
    code = kiosk_code("s1", "d1")
    first = till.redeem(code, "s1", by="anna", till="2")
    assert first.ok and first.offer_id == "o1" and first.device_id == "d1"
    clock.now = NOW + timedelta(minutes=30)
    again = till.redeem(
        code.lower().replace("-", " "), "s1", by="boris", till="3"
    )  # as typed at another till
    assert again.status == "already_used" and again.redemption is not None
    assert again.redemption.redeemed_by == "anna" and again.redemption.till == "2"
    assert again.redemption.redeemed_at == NOW
    assert till.redeem(kiosk_code("s1", "d2", expires_in=-3), "s1", by="anna").status == "expired"
    other = till.redeem(kiosk_code("s2", "d9"), "s1", by="anna")
    assert other.status == "other_store" and other.issued_in == "s2"
    stranger = kiosk_code("s3", "dx")
    assert till.redeem(stranger, "s1", by="anna").status == "unknown_device"
    fresh = kiosk_code("s1", "d1", seed=5)
    typo = fresh[:-1] + ("0" if fresh[-1] != "0" else "1")
    assert till.redeem(typo, "s1", by="anna").status == "mistyped"
    assert till.redeem("ABC-123", "s1", by="anna").status == "malformed"
    assert till.redeem(kiosk_code("s1", "d1", "o-unknown"), "s1", by="anna").status == "unknown_offer"
    unset = Till(
        db,
        master_key=None,
        devices=lambda: [],
        offers=lambda: [],
        clock=clock,
        zone=till.zone,
        audit=till.audit,
    )
    assert unset.redeem(kiosk_code("s1", "d1", seed=9), "s1", by="anna").status == "not_set_up"
    assert [r.code for r in till.recent()] == [first.code]
    entries = AuditLog(db, clock).entries(AuditFilter(action="redeem"))
    assert [(e.actor, e.target, e.store_id, e.device_id) for e in entries] == [
        ("anna", first.code, "s1", "d1")
    ]


@pytest.mark.slow
def test_twenty_tills_at_once_redeem_a_code_exactly_once(db: Database) -> None:
    clock = MovableClock(NOW)
    desk, _ = _desk(db, clock)
    code = kiosk_code("s1", "d1")
    start = threading.Barrier(20)
    verdicts: list[str] = []
    lock = threading.Lock()

    def till(n: int) -> None:
        start.wait()
        verdict = desk.till.redeem(code, "s1", by=f"cashier-{n}", till=str(n))
        with lock:
            verdicts.append(verdict.status)

    threads = [threading.Thread(target=till, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(verdicts) == ["already_used"] * 19 + ["ok"]
    assert db.scalar("SELECT count(*) FROM redemptions") == 1
    assert len(AuditLog(db, clock).entries(AuditFilter(action="redeem"))) == 1


@pytest.mark.slow
def test_twenty_requests_at_once_to_the_json_endpoint_redeem_once(db: Database) -> None:
    clock = MovableClock(NOW)
    desk, link = _desk(db, clock)
    app, _ = make_app(db, clock, settings=WebSettings(time_zone=ZONE, default_language="en"))
    app.state.campaigns = desk
    signed = sign_in(app, "operator-user")
    code = kiosk_code("s1", "d1")
    start = threading.Barrier(20)
    answers: list[tuple[int, dict[str, object]]] = []
    lock = threading.Lock()

    def till(n: int) -> None:
        client = TestClient(app, cookies=dict(signed.cookies))
        start.wait()
        response = client.post(
            "/till/redeem.json", json={"code": code, "store_id": "s1", "till": str(n)}, headers=csrf(signed)
        )
        with lock:
            answers.append((response.status_code, response.json()))

    threads = [threading.Thread(target=till, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] + [409] * 19, answers
    refused = [body for status, body in answers if status == 409]
    assert {body["status"] for body in refused} == {"already_used"}
    assert all(str(body["message"]).startswith("Already used at 14:02") for body in refused)
    assert len(link.redeems) == 1  # the kiosk is told once


def test_the_cashier_reads_why_in_russian_and_english(db: Database) -> None:
    clock = MovableClock(NOW)
    desk, _ = _desk(db, clock)
    app, _ = make_app(db, clock, settings=WebSettings(time_zone=ZONE, default_language="ru"))
    app.state.campaigns = desk
    client = sign_in(app, "operator-user")
    code = kiosk_code("s1", "d1")

    def post(value: str, store: str = "s1") -> tuple[int, str]:
        response = client.post(
            "/till",
            data={
                "code": value,
                "store": store,
                "till": "1",
                "csrftoken": client.cookies.get("csrftoken") or "",
            },
        )
        return response.status_code, response.text

    status, text = post(code)
    assert status == 200 and "Выдать по предложению" in text and "Действителен: Кофе o1" in text
    status, text = post(code)
    assert (
        status == 409
        and "Уже использован в 14:02 01.06.2026 (магазин s1, касса 1, кассир operator-user)" in text
    )
    status, text = post(kiosk_code("s1", "d2", expires_in=-3))
    assert status == 409 and "Срок истёк: код действовал до 29.05.2026" in text
    status, text = post(kiosk_code("s2", "d9"))
    assert status == 409 and "Код не из этого магазина: его выдал экран магазина s2" in text  # noqa: RUF001
    client.get("/lang/en")
    status, text = post(code)
    assert (
        status == 409 and "Already used at 14:02 on 2026-06-01 (store s1, till 1, by operator-user)" in text
    )
    status, text = post(kiosk_code("s2", "d9", seed=3))
    assert status == 409 and "Not from this store: it was issued by a screen of store s2" in text
    status, text = post("123")
    assert status == 409 and "That is not a full code" in text
    rows = read_csv(client.get("/till/redemptions.csv?store=s1").text)
    assert [r["code"] for r in rows] == [code] and rows[0]["reward"] == "screen not told yet"
    answer = client.post(
        "/till/redeem.json?lang=ru", json={"code": code, "store_id": "s1"}, headers=csrf(client)
    )
    assert answer.status_code == 409 and answer.json()["message"].startswith("Уже использован в 14:02")


def test_the_courier_tells_the_kiosk_until_it_answers(db: Database) -> None:
    clock = MovableClock(NOW)
    desk, link = _desk(db, clock, reward_resend_s=30)
    link.connected = False
    verdict = desk.till.redeem(kiosk_code("s1", "d1"), "s1", by="anna")
    assert verdict.ok and verdict.redemption is not None
    assert desk.courier.step() == 0 and link.redeems == []  # no broker: kept, pending
    link.connected = True
    assert desk.courier.step() == 1
    store, device, command_id, code = link.redeems[0]
    assert (store, device, code) == ("s1", "d1", verdict.code)
    assert desk.courier.step() == 0  # not due yet
    clock.now += timedelta(seconds=31)
    assert desk.courier.step() == 1 and link.redeems[1][2] == command_id  # the same command id again
    link.results[command_id] = CommandResult(
        command="redeem", command_id=command_id, status="duplicate", ts=NOW
    )
    desk.courier.step()
    found = desk.till.find(verdict.code)
    assert found is not None and found.reward_status == "rewarded" and found.reward_sends == 2
    second = desk.till.redeem(kiosk_code("s1", "d2", seed=2), "s1", by="anna")
    assert second.redemption is not None
    desk.courier.step()
    refused_id = second.redemption.reward_command_id
    link.results[refused_id] = CommandResult(
        command="redeem", command_id=refused_id, status="refused", reason="not held by this device", ts=NOW
    )
    desk.courier.step()
    refused = desk.till.find(second.code)
    assert refused is not None and refused.reward_status == "refused" and "not held" in refused.reward_detail
    third = desk.till.redeem(kiosk_code("s1", "d1", seed=3), "s1", by="anna")
    assert third.redemption is not None
    clock.now = datetime.combine(third.redemption.expires + timedelta(days=31), datetime.min.time(), UTC)
    desk.courier.step()
    gone = desk.till.find(third.code)
    assert gone is not None and gone.reward_status == "gave_up"
