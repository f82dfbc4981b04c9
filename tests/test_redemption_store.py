"""Redemption codes on the device: kept in data_dir, so a code shown before a restart still rewards the
bandit after it, once; the till checks the device's codes with the contract alone."""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from kiosk.app.root import BANDIT_FILE, KioskApp, NoDetector
from kiosk.clock import ManualClock
from kiosk.config import DeviceConfig, KioskConfig, RedemptionConfig, StorageConfig
from kiosk.decisions.brain import KioskBrain, Redemption
from kiosk.decisions.offers import OfferContext, OfferEngine, load_catalogue
from kiosk.decisions.redemption import (
    CODES_FILE,
    CodeIssuer,
    MemoryCodeStore,
    SqliteCodeStore,
    device_codes,
)
from mqtt_bridge.contract.catalogue import Catalogue
from mqtt_bridge.contract.events import Event, OfferRedeemed
from mqtt_bridge.contract.redemption import verify
from mqtt_bridge.errors import SecretUnavailableError
from mqtt_bridge.settings import SecretRef

EVENING = datetime(2026, 5, 8, 16, 30, tzinfo=UTC)  # 19:30 in Moscow: wine-tasting's daypart
SECRET = "the back office holds this one too"


@pytest.fixture
def catalogue(repo_root: Path) -> Catalogue:
    return load_catalogue(repo_root / "examples" / "catalogue.toml")


def _config(data_dir: Path, secret: SecretRef | None = None) -> KioskConfig:
    return KioskConfig(
        device=DeviceConfig(store_id="store-1", device_id="kiosk-7"),
        storage=StorageConfig(data_dir=data_dir),
        redemption=RedemptionConfig(secret=secret, valid_days=14),
    )


class Process:
    """What one run of the kiosk builds around the brain: new objects, the same data_dir."""

    def __init__(self, config: KioskConfig, catalogue: Catalogue, clock: ManualClock) -> None:
        self.events: list[Event] = []
        rng = random.Random()
        self.codes = device_codes(config, clock, rng)
        self.engine = OfferEngine(catalogue, config.offers, rng, self.codes)
        self.bandit_path = config.storage.data_dir / BANDIT_FILE
        self.engine.bandit.load(self.bandit_path)
        self.brain = KioskBrain(config, clock, rng, self.events.append, self.engine)

    def tap(self) -> tuple[str, str]:
        """An offer shown and tapped: the code on the screen and the arm's bucket."""
        choice = self.engine.choose(OfferContext(datetime(2026, 5, 8, 19, 30), "neutral", 3.0, 1))
        self.engine.settle(tapped=True)
        code = self.brain.redemption_code
        assert code is not None
        return code, choice.bucket

    def stop(self) -> None:
        self.engine.bandit.save(self.bandit_path)
        assert isinstance(self.codes.store, SqliteCodeStore)
        self.codes.store.close()


def test_a_code_issued_before_a_restart_rewards_the_bandit_after_it_once(
    tmp_path: Path, catalogue: Catalogue
) -> None:
    config, clock = _config(tmp_path / "var"), ManualClock(EVENING)
    first = Process(config, catalogue, clock)
    code, bucket = first.tap()
    tapped = first.engine.bandit.posterior("wine-tasting", bucket)
    first.stop()

    clock.advance(3 * 86_400.0)  # redeemed at the till three days later
    second = Process(config, catalogue, clock)
    assert second.engine.bandit.posterior("wine-tasting", bucket) == tapped
    second.brain.on_external(Redemption(code.lower().replace("-", " ")))  # as typed at the till
    second.brain.on_external(Redemption(code))
    (redeemed,) = [e for e in second.events if isinstance(e, OfferRedeemed)]
    assert (redeemed.offer_id, redeemed.code, redeemed.device_id) == ("wine-tasting", code, "kiosk-7")
    rewarded = second.engine.bandit.posterior("wine-tasting", bucket)
    assert rewarded == (tapped[0] + config.offers.redemption_weight, tapped[1])
    second.stop()

    third = Process(config, catalogue, clock)
    third.brain.on_external(Redemption(code))
    assert third.events == [], "a code redeems once, across restarts too"
    assert third.engine.bandit.posterior("wine-tasting", bucket) == rewarded


def test_the_till_verifies_the_devices_code_with_the_shared_secret(
    tmp_path: Path, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VITRINA_TEST_REDEMPTION", SECRET)
    config, clock = _config(tmp_path, SecretRef(env="VITRINA_TEST_REDEMPTION")), ManualClock(EVENING)
    process = Process(config, catalogue, clock)
    code, _ = process.tap()
    offers = [o.id for o in catalogue.offers]
    today = date(2026, 5, 8)
    verdict = verify(code, devices={"kiosk-7": SECRET.encode()}, offers=offers, today=today)
    assert verdict.ok and verdict.offer_id == "wine-tasting"
    assert verdict.expires == today + timedelta(days=14)
    unkeyed = Process(_config(tmp_path / "other"), catalogue, clock)
    other_code, _ = unkeyed.tap()
    assert verify(other_code, devices={"kiosk-7": SECRET.encode()}, offers=offers, today=today).status == (
        "bad_mac"
    ), "without [redemption] secret the codes are keyed by one no till knows"


def test_the_store_holds_nothing_about_a_person(tmp_path: Path, catalogue: Catalogue) -> None:
    process = Process(_config(tmp_path), catalogue, ManualClock(EVENING))
    code, bucket = process.tap()
    process.stop()
    with sqlite3.connect(tmp_path / CODES_FILE) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(codes)")]
        rows = conn.execute("SELECT * FROM codes").fetchall()
    assert columns == ["code", "offer_id", "bucket", "expires", "redeemed"]
    assert rows == [(code, "wine-tasting", bucket, "2026-05-22", 0)]


def test_a_missing_secret_is_named_when_the_kiosk_is_built(tmp_path: Path) -> None:
    config = _config(tmp_path, SecretRef(env="VITRINA_NO_SUCH_SECRET"))
    with pytest.raises(SecretUnavailableError, match="VITRINA_NO_SUCH_SECRET"):
        KioskApp(config, NoDetector(), clock=ManualClock(EVENING))


def test_the_app_keeps_codes_in_data_dir_also_for_an_installed_catalogue(
    tmp_path: Path, catalogue: Catalogue, repo_root: Path
) -> None:
    app = KioskApp(_config(tmp_path / "var"), NoDetector(), catalogue=catalogue, clock=ManualClock(EVENING))
    assert isinstance(app.codes.store, SqliteCodeStore)
    assert app.codes.store.path == tmp_path / "var" / CODES_FILE
    assert app.engine is not None and app.engine.codes is app.codes
    bare = KioskApp(_config(tmp_path / "bare"), NoDetector(), clock=ManualClock(EVENING))
    bare.install_catalogue(catalogue, repo_root / "examples")
    assert bare.engine is not None and bare.engine.codes is bare.codes


class _Stuck(random.Random):
    """Draws the given nonces, then the last one for ever."""

    def __init__(self, *bits: int) -> None:
        super().__init__(0)
        self._bits = list(bits)

    def getrandbits(self, k: int) -> int:
        return self._bits.pop(0) if len(self._bits) > 1 else self._bits[0]


def test_a_nonce_already_held_is_drawn_again_and_a_full_day_gives_no_code() -> None:
    def issuer(rng: random.Random) -> CodeIssuer:
        return CodeIssuer(
            secret=b"x" * 32,
            device_id="kiosk-7",
            valid_days=14,
            store=store,
            rng=rng,
            today=lambda: date(2026, 5, 8),
        )

    store = MemoryCodeStore()
    first = issuer(_Stuck(5)).issue("coffee-morning", "b")
    again = issuer(_Stuck(5, 5, 9)).issue("coffee-morning", "b")
    assert first is not None and again is not None and again != first
    assert issuer(_Stuck(5)).issue("coffee-morning", "b") is None, "every draw taken: no code, logged"


def test_codes_are_forgotten_a_month_after_their_last_day(tmp_path: Path) -> None:
    today = [date(2026, 5, 8)]
    store = SqliteCodeStore(tmp_path / CODES_FILE)
    issuer = CodeIssuer(
        secret=b"x" * 32,
        device_id="kiosk-7",
        valid_days=1,
        store=store,
        rng=random.Random(1),
        today=lambda: today[0],
    )
    old = issuer.issue("coffee-morning", "b")
    older = issuer.issue("coffee-morning", "b")
    today[0] += timedelta(days=1 + 30)
    assert issuer.issue("coffee-morning", "b") is not None
    assert old is not None and issuer.redeem(old) is not None, "30 days after its last day: still counts"
    today[0] += timedelta(days=1)
    assert issuer.issue("coffee-morning", "b") is not None
    assert older is not None and issuer.redeem(older) is None, "31 days after: forgotten"


def test_the_example_configuration_documents_the_section_at_its_defaults(repo_root: Path) -> None:
    from kiosk.config import load_config

    text = (repo_root / "examples" / "kiosk.toml").read_text(encoding="utf-8")
    body = text.split("[redemption]", 1)[1].split("\n[", 1)[0]
    assert "# secret = " in body and "valid_days = 14" in body
    assert load_config(repo_root / "examples" / "kiosk.toml").redemption == RedemptionConfig()


def test_a_store_that_cannot_be_written_costs_a_code_not_the_kiosk(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = SqliteCodeStore(tmp_path / CODES_FILE)
    issuer = CodeIssuer(
        secret=b"x" * 32,
        device_id="kiosk-7",
        valid_days=14,
        store=store,
        rng=random.Random(1),
        today=lambda: date(2026, 5, 8),
    )
    code = issuer.issue("coffee-morning", "b")
    assert code is not None
    store.close()  # from here on every write fails, as on a full or vanished disk
    assert issuer.issue("coffee-morning", "b") is None
    assert issuer.redeem(code) is None
    assert "cannot write the redemption code store" in caplog.text
