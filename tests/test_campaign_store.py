"""The campaign domain on a real store, SQLite and PostgreSQL: pictures checked and resized, the draft
validated, publishing (to a store, to the fleet) with signed releases a kiosk installs, the size cap, the
second admin's approval (two accounts, both in the audit log), versions, diffs, rollback as a new signed
version, releases resent after the broker was down, the devices' catalogue results stored by the ingest and
who is behind and why."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import backoffice_fixture as fx
import pytest
from campaign_support import RecordingCampaignLink, make_desk, noisy_jpeg, offer_doc, png
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image

from backoffice.campaigns.desk import CampaignDesk
from backoffice.campaigns.device_versions import Presence, StoreRelease, device_versions
from backoffice.campaigns.errors import ApprovalError, ImageRejectedError, InvalidOfferError, PublishError
from backoffice.campaigns.images import prepare_image
from backoffice.campaigns.settings import CampaignSettings
from backoffice.db import Database, open_database
from backoffice.ingest import BackofficeStore, parse_messages
from backoffice.web.audit import AuditFilter, AuditLog
from kiosk.link.catalogue_sync import CatalogueInstaller
from mqtt_bridge.catalogue import verify_release
from mqtt_bridge.contract.catalogue import Catalogue
from mqtt_bridge.contract.payloads import CatalogueResult, StatusPayload
from mqtt_bridge.signing import public_key_text

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    for url in fx.store_url(request.param, tmp_path):
        opened = open_database(url)
        try:
            yield opened
        finally:
            opened.close()


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def _desk(
    db: Database, key: Ed25519PrivateKey, clock: Clock | None = None, **settings: object
) -> tuple[CampaignDesk, RecordingCampaignLink]:
    return make_desk(db, clock or Clock(), settings=CampaignSettings.model_validate(settings), key=key)


def _draft(desk: CampaignDesk, *offers: tuple[str, list[str]]) -> None:
    image = desk.images.add(png(), "p.png", "marketer")
    desk.drafts.set_daypart("morning", "07:00-11:00", "marketer")
    for offer_id, stores in offers:
        desk.drafts.save_offer(
            offer_doc(offer_id, dayparts=["morning"]), stores=stores, image_sha256=image.sha256, by="marketer"
        )


# --- pictures ------------------------------------------------------------------------------------------


def test_pictures_are_checked_resized_and_stripped() -> None:
    settings = CampaignSettings()
    big = prepare_image(png(3000, 2000), settings)
    assert (big.width, big.height) == (960, 640) and big.format == "JPEG"
    assert Image.open(io.BytesIO(big.data)).size == (960, 640)
    small = prepare_image(png(400, 300), settings)
    assert (small.width, small.height) == (400, 300)  # never enlarged
    clear = prepare_image(png(500, 500, alpha=True), settings)
    assert clear.format == "PNG" and clear.asset_name.endswith(".png")  # transparency kept
    photo = Image.new("RGB", (600, 400), (10, 20, 30))
    exif = Image.Exif()
    exif[0x010F] = "Camera maker"  # Make
    exif[0x0112] = 6  # Orientation: rotate 90
    out = io.BytesIO()
    photo.save(out, "JPEG", exif=exif)
    turned = prepare_image(out.getvalue(), settings)
    assert (turned.width, turned.height) == (400, 600)  # the orientation applied
    assert not Image.open(io.BytesIO(turned.data)).getexif()  # no metadata kept


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "empty"),
        (b"GIF89a not a picture at all", "not a picture"),
        (png(100, 100), "at least 160"),
        (b"x" * (11 * 1024 * 1024), "more than the"),
    ],
)
def test_bad_pictures_are_refused_with_what_is_accepted(data: bytes, problem: str) -> None:
    with pytest.raises(ImageRejectedError, match=problem):
        prepare_image(data, CampaignSettings())


def test_a_format_not_accepted_is_refused() -> None:
    out = io.BytesIO()
    Image.new("RGB", (400, 400)).save(out, "BMP")
    with pytest.raises(ImageRejectedError, match="BMP file is not accepted: upload one of PNG, JPEG, WEBP"):
        prepare_image(out.getvalue(), CampaignSettings())


def test_a_picture_is_made_small_enough_for_its_budget() -> None:
    prepared = prepare_image(noisy_jpeg(2400, 1600), CampaignSettings(image_max_bytes=120 * 1024))
    assert len(prepared.data) <= 120 * 1024


# --- the draft -----------------------------------------------------------------------------------------


def test_the_draft_holds_only_what_the_contract_accepts(db: Database, key: Ed25519PrivateKey) -> None:
    desk, _ = _desk(db, key)
    image = desk.images.add(png(), "p.png", "m")
    with pytest.raises(InvalidOfferError, match="unknown dayparts"):
        desk.drafts.save_offer(offer_doc(dayparts=["brunch"]), stores=[], image_sha256=image.sha256, by="m")
    with pytest.raises(InvalidOfferError, match="valid_to is before valid_from"):
        desk.drafts.save_offer(
            offer_doc(valid_from="2026-05-01", valid_to="2026-04-01"),
            stores=[],
            image_sha256=image.sha256,
            by="m",
        )
    with pytest.raises(InvalidOfferError, match="store id"):
        desk.drafts.save_offer(offer_doc(), stores=["Store 1"], image_sha256=image.sha256, by="m")
    with pytest.raises(InvalidOfferError, match="no picture"):
        desk.drafts.save_offer(offer_doc(), stores=[], image_sha256="0" * 64, by="m")
    desk.drafts.set_daypart("morning", "07:00-11:00", "m")
    desk.drafts.save_offer(offer_doc(dayparts=["morning"]), stores=["s1"], image_sha256=image.sha256, by="m")
    with pytest.raises(Exception, match="used by o1"):
        desk.drafts.delete_daypart("morning")
    snapshot = desk.drafts.snapshot()
    assert [o.offer_id for o in snapshot.offers] == ["o1"] and snapshot.dayparts == {"morning": "07:00-11:00"}
    assert snapshot.offers[0].offer["image"] == image.asset_name


# --- publishing ----------------------------------------------------------------------------------------


def test_publishing_sends_each_store_a_signed_release_a_kiosk_installs(
    db: Database, key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    desk, link = _desk(db, key)
    _draft(desk, ("o1", ["s1"]), ("o2", ["s2"]), ("o3", []))
    outcome = desk.publisher.request("", "marketer")  # the fleet: the stores offers name
    assert outcome.version is not None and outcome.version.version == 1 and outcome.unsent == ()
    assert sorted(store for store, _ in link.releases) == ["s1", "s2"]
    for store, payload in link.releases:
        verified = verify_release(payload, [key.public_key()], store_id=store)
        catalogue = Catalogue.model_validate_json(verified.release.catalogue)
        expected = {"s1": ["o1", "o3"], "s2": ["o2", "o3"]}[store]
        assert [o.id for o in catalogue.offers] == expected
        installer = CatalogueInstaller(tmp_path / store, [public_key_text(key)], store_id=store)
        assert installer.install(payload).status == "installed"
    audit = AuditLog(db, Clock()).entries(AuditFilter(action="publish"))
    assert audit and audit[0].actor == "marketer" and "s1, s2" in audit[0].detail


def test_a_release_over_the_cap_is_refused_and_nothing_is_published(
    db: Database, key: Ed25519PrivateKey
) -> None:
    desk, link = _desk(db, key, max_release_bytes=200 * 1024)
    for n in range(3):
        image = desk.images.add(noisy_jpeg(900, 600, seed=n), f"{n}.jpg", "m")
        desk.drafts.save_offer(offer_doc(f"o{n}"), stores=["s1"], image_sha256=image.sha256, by="m")
    with pytest.raises(PublishError, match="more than the 204800 a kiosk accepts"):
        desk.publisher.request("s1", "marketer")
    assert link.releases == [] and desk.publisher.versions() == []


def test_approval_needs_a_second_admin_and_the_audit_shows_both(db: Database, key: Ed25519PrivateKey) -> None:
    desk, link = _desk(db, key, require_approval=True)
    _draft(desk, ("o1", ["s1"]))
    asked = desk.publisher.request("s1", "marketer", note="spring")
    assert asked.version is None and asked.request.state == "pending" and link.releases == []
    with pytest.raises(ApprovalError, match="only an admin"):
        desk.publisher.approve(asked.request.id, "marketer-2", "marketer")
    admin_asked = desk.publisher.request("s1", "admin-1")
    with pytest.raises(ApprovalError, match="cannot approve it too"):
        desk.publisher.approve(admin_asked.request.id, "admin-1", "admin")
    done = desk.publisher.approve(asked.request.id, "admin-2", "admin")
    assert done.version is not None and done.version.approved_by == "admin-2"
    assert done.version.requested_by == "marketer" and done.version.published_by == "admin-2"
    with pytest.raises(ApprovalError, match="published already"):
        desk.publisher.approve(asked.request.id, "admin-3", "admin")
    desk.publisher.reject(admin_asked.request.id, "admin-2", reason="duplicate")
    entries = AuditLog(db, Clock()).entries(AuditFilter())
    by_action = {(e.action, e.actor) for e in entries}
    assert {("publish_request", "marketer"), ("approve", "admin-2"), ("publish", "admin-2")} <= by_action
    publish = next(e for e in entries if e.action == "publish")
    assert "requested by marketer, approved by admin-2" in publish.detail
    assert ("reject", "admin-2") in by_action


def test_versions_diffs_and_rollback_as_a_new_signed_version(db: Database, key: Ed25519PrivateKey) -> None:
    clock = Clock()
    desk, link = _desk(db, key, clock)
    _draft(desk, ("o1", ["s1"]))
    first = desk.publisher.request("s1", "marketer").version
    image = desk.images.add(png(colour=(10, 200, 10)), "q.png", "m")
    desk.drafts.save_offer(
        offer_doc("o1", price="99 ₽", dayparts=["morning"]), stores=["s1"], image_sha256=image.sha256, by="m"
    )
    desk.drafts.save_offer(offer_doc("o2"), stores=["s1"], image_sha256=image.sha256, by="m")
    clock.now += timedelta(hours=1)
    second = desk.publisher.request("s1", "marketer").version
    assert first is not None and second is not None and second.version == 2
    from backoffice.campaigns.publishing import diff

    changes = {(c.change, c.item, c.field) for c in diff(first.snapshot, second.snapshot)}
    assert ("added", "offer o2", "") in changes
    assert ("changed", "offer o1", "price") in changes and ("changed", "offer o1", "image") in changes
    clock.now += timedelta(hours=1)
    rolled = desk.publisher.rollback(1, "marketer")
    assert rolled.version is not None and rolled.version.version == 3 and rolled.version.kind == "rollback"
    assert rolled.version.rollback_of == 1 and rolled.version.snapshot == first.snapshot
    assert desk.drafts.snapshot() == first.snapshot  # the draft is the version rolled back to
    payload = link.releases[-1][1]
    release = verify_release(payload, [key.public_key()], store_id="s1").release
    assert release.version == 3  # newer than 2: every kiosk installs it
    assert [o.id for o in Catalogue.model_validate_json(release.catalogue).offers] == ["o1"]
    assert diff(second.snapshot, rolled.version.snapshot)  # rolling back changes something


def test_a_release_the_broker_did_not_take_is_sent_again_byte_for_byte(
    db: Database, key: Ed25519PrivateKey
) -> None:
    desk, link = _desk(db, key)
    _draft(desk, ("o1", ["s1"]))
    link.connected = False
    outcome = desk.publisher.request("s1", "marketer")
    assert outcome.unsent == ("s1",) and link.releases == []
    assert not desk.publisher.latest_releases()["s1"].sent
    link.connected = True
    assert desk.publisher.send_pending() == [(1, "s1")]
    assert desk.publisher.latest_releases()["s1"].sent
    first = link.releases[0][1]
    db.execute("UPDATE campaign_releases SET sent = 0")
    desk.publisher.send_pending()
    assert link.releases[1][1] == first  # deterministic: same text, issued_at, and Ed25519 signature
    assert desk.publisher.send_pending() == []


def test_publishing_needs_a_key_and_an_offer(db: Database) -> None:
    desk, _ = make_desk(db, Clock(), key=None)
    desk.publisher.key = None
    with pytest.raises(PublishError, match="no offers"):
        desk.publisher.request("s1", "m")
    _draft(desk, ("o1", []))
    with pytest.raises(PublishError, match="no signing key"):
        desk.publisher.request("s1", "m")
    with pytest.raises(PublishError, match="no store is known"):
        desk.publisher.key = Ed25519PrivateKey.generate()
        desk.publisher.request("", "m")


# --- devices' versions ---------------------------------------------------------------------------------


def _result(
    store: str, device: str, status: str, version: int | None, installed: int | None, at: datetime
) -> tuple[str, bytes]:
    result = CatalogueResult(
        store_id=store,
        device_id=device,
        version=version,
        status=status,  # type: ignore[arg-type]
        reason="invalid catalogue: offers.0: bad" if status == "refused" else "",
        installed_version=installed,
        ts=at,
    )
    return f"{fx.PREFIX}/{store}/{device}/catalogue/result", result.model_dump_json().encode()


def test_the_ingest_stores_catalogue_results_and_the_page_says_who_is_behind(
    db: Database, key: Ed25519PrivateKey
) -> None:
    clock = Clock()
    desk, _ = _desk(db, key, clock)
    store = BackofficeStore(db, clock=clock)
    _draft(desk, ("o1", ["s1"]))
    desk.publisher.request("s1", "m")
    clock.now += timedelta(minutes=1)
    desk.publisher.request("s1", "m")  # version 2
    t = clock.now + timedelta(seconds=5)
    messages = [
        _result("s1", "d1", "installed", 2, 2, t),
        _result("s1", "d2", "refused", 2, 1, t),
        _result("s1", "d3", "installed", 1, 1, t - timedelta(minutes=2)),
        _result("s1", "d4", "installed", 1, 1, t - timedelta(minutes=2)),
        # A late, older result changes nothing.
        _result("s1", "d1", "installed", 1, 1, t - timedelta(minutes=3)),
        (f"{fx.PREFIX}/s1/d3/status", StatusPayload(state="offline", ts=t).model_dump_json().encode()),
    ]
    parsed = parse_messages(fx.PREFIX, messages)
    assert len(parsed.catalogue_results) == 5 and not parsed.refusals
    store.write(parsed)
    releases = {s: StoreRelease(r.version, r.issued_at) for s, r in desk.publisher.latest_releases().items()}
    presence = {
        ("s1", "d1"): Presence(True, t),
        ("s1", "d2"): Presence(True, t),
        ("s1", "d3"): Presence(False, t - timedelta(hours=1)),
        ("s1", "d4"): Presence(True, t),
        ("s2", "d9"): Presence(True, t),
    }
    rows = {d.device_id: d for d in device_versions(db, releases, presence)}
    assert (rows["d1"].state, rows["d1"].installed, rows["d1"].expected) == ("current", 2, 2)
    assert rows["d2"].state == "refused" and "invalid catalogue" in rows["d2"].why and rows["d2"].behind
    assert rows["d3"].state == "offline" and rows["d3"].behind
    assert rows["d4"].state == "waiting"
    assert rows["d9"].state == "no_release"
    # Redelivered results change nothing either.
    store.write(parse_messages(fx.PREFIX, messages))
    again = {d.device_id: d.state for d in device_versions(db, releases, presence)}
    assert again == {k: v.state for k, v in rows.items()}
    assert json.loads(json.dumps([r.why for r in rows.values()]))  # words, not codes
