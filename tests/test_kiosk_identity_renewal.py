"""The kiosk's renewal worker (kiosk/app/renewal.py) over a real identity folder: it renews when the
certificate is within [identity] renew_before_days of expiry and not before, keeps the old identity when
the renewal fails, runs in its own supervised thread, and under systemd has the kiosk restart on the new
identity at a quiet moment.

The renewal client here installs a fresh bundle of the same test fleet (the seam the real client,
cloud_sync.renewal, fills: see test_kiosk_identity_renewal_fleet for the round trip over the fleet's broker).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from test_kiosk_identity import OwnFleet
from waiting import wait_for

from kiosk.app.renewal import RenewalWorker
from kiosk.app.root import KioskApp, NoDetector
from kiosk.clock import SystemClock
from kiosk.config import CameraConfig, KioskConfig, StorageConfig
from kiosk.perception.types import Frame
from mqtt_bridge.identity import IdentityFolder, VerifiedIdentity, serial_hex

NOW = datetime.now(UTC)


class FleetRenewal:
    """Stands in for the renewal client: installs a new 90-day bundle for the same device."""

    def __init__(self, fleet: OwnFleet, folder: IdentityFolder, fail: bool = False) -> None:
        self.fleet, self.folder, self.fail = fleet, folder, fail
        self.calls = 0

    def __call__(self, identity: VerifiedIdentity, now: datetime) -> VerifiedIdentity:
        self.calls += 1
        if self.fail:
            raise ConnectionError("no answer from the enrolment service within 10 s")
        assert identity.config is not None and identity.config.store_id and identity.config.device_id
        bundle = self.fleet.device_bundle(identity.config.store_id, identity.config.device_id, issued=now)
        return self.folder.install(bundle, now)


def _installed(tmp_path: Path, days_left: float) -> tuple[OwnFleet, IdentityFolder, VerifiedIdentity]:
    fleet = OwnFleet.make()
    folder = IdentityFolder(tmp_path / "identity")
    issued = NOW - timedelta(days=90 - days_left)
    return (
        fleet,
        folder,
        folder.install(fleet.device_bundle(issued=issued, days=90), issued + timedelta(hours=1)),
    )


def _worker(folder: IdentityFolder, renew: FleetRenewal, first_check_s: float = 30.0) -> RenewalWorker:
    return RenewalWorker(
        folder,
        renew,
        now=lambda: datetime.now(UTC),
        renew_before_days=30,
        check_every_s=3600,
        first_check_s=first_check_s,
    )


def test_renews_within_thirty_days(tmp_path: Path) -> None:
    fleet, folder, old = _installed(tmp_path, days_left=10)
    renew = FleetRenewal(fleet, folder)
    worker = _worker(folder, renew)
    assert worker.check()
    assert renew.calls == 1 and worker.renewed.is_set() and worker.renewals == 1
    new = folder.load(datetime.now(UTC))
    assert serial_hex(new.certificate) != serial_hex(old.certificate)
    assert new.days_left(datetime.now(UTC)) > 89
    assert not worker.check()  # 90 days left now: nothing to do
    assert renew.calls == 1


def test_does_not_renew_early(tmp_path: Path) -> None:
    fleet, folder, _old = _installed(tmp_path, days_left=45)
    renew = FleetRenewal(fleet, folder)
    assert not _worker(folder, renew).check()
    assert renew.calls == 0


def test_a_failed_renewal_keeps_the_old_identity_and_says_why(tmp_path: Path) -> None:
    fleet, folder, old = _installed(tmp_path, days_left=5)
    worker = _worker(folder, FleetRenewal(fleet, folder, fail=True))
    assert not worker.check()
    assert worker.failures == 1 and "no answer from the enrolment service" in worker.last_error
    assert not worker.renewed.is_set()
    assert serial_hex(folder.load(datetime.now(UTC)).certificate) == serial_hex(old.certificate)


def test_runs_in_its_own_thread_until_stopped(tmp_path: Path) -> None:
    fleet, folder, _old = _installed(tmp_path, days_left=3)
    worker = _worker(folder, FleetRenewal(fleet, folder), first_check_s=0.05)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    wait_for(worker.renewed.is_set, "the renewal", 10)
    stop.set()
    thread.join(5)
    assert not thread.is_alive()


class StillCamera:
    name = "still"
    finite = False
    fps_hint = None

    def open(self) -> None:
        pass

    def read(self) -> Frame | None:
        threading.Event().wait(0.02)
        return np.zeros((48, 64, 3), np.uint8)

    def close(self) -> None:
        pass


@pytest.mark.parametrize("under_systemd", [True, False])
def test_kiosk_restarts_on_the_new_identity_only_under_systemd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, under_systemd: bool
) -> None:
    if under_systemd:
        monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens"))
    else:
        monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    fleet, folder, _old = _installed(tmp_path, days_left=2)
    worker = _worker(folder, FleetRenewal(fleet, folder), first_check_s=0.05)
    config = KioskConfig(storage=StorageConfig(data_dir=tmp_path / "data"), camera=CameraConfig(source="x"))
    app = KioskApp(
        config, NoDetector(), source_factory=StillCamera, clock=SystemClock(), sync=False, renewal=worker
    )
    stop = threading.Event()
    if not under_systemd:
        threading.Timer(3.0, stop.set).start()
    summary = app.run(20.0, stop)
    assert worker.renewed.is_set()
    if under_systemd:  # stopped by itself, at the attract screen, well before 20 s
        assert summary.seconds < 10
        assert summary.fatal is None
    else:  # nobody would start it again: it keeps running on the old certificate until told to stop
        assert summary.seconds >= 2.9


def test_a_renewal_waiting_for_its_reply_does_not_hold_up_the_stop(tmp_path: Path) -> None:
    _fleet, folder, _old = _installed(tmp_path, days_left=3)
    called = threading.Event()

    def hanging(identity: VerifiedIdentity, now: datetime) -> VerifiedIdentity:
        called.set()
        threading.Event().wait(30)  # a reply that never comes (the client's own timeout is 60 s)
        raise ConnectionError("no reply")

    worker = RenewalWorker(
        folder,
        hanging,
        now=lambda: datetime.now(UTC),
        renew_before_days=30,
        check_every_s=3600,
        first_check_s=0.05,
    )
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    assert called.wait(10)
    stop.set()
    thread.join(2.0)
    assert not thread.is_alive(), "the worker waited for the renewal reply instead of stopping"
    assert not worker.renewed.is_set() and worker.failures == 0
