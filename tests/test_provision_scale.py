"""Issue #17's target: 100 devices enrolled by claim in one run (in parallel, all on the one shared claim
identity, so they take each other's connection), each then able to publish only as itself."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from provision_testbed import FleetTestbed, now

from mqtt_bridge.identity import IdentityFolder
from provisioning.claim import Enrolled, enrol

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DEVICES = 100
PARALLEL = 16
PREFIX = "vitrina/v1"


def test_a_hundred_devices_enrol_by_claim_and_each_publishes_only_as_itself() -> None:
    with FleetTestbed() as bed:
        bed.start_broker()
        bed.start_service()
        names = [(f"s{i % 7}", f"k{i:03d}") for i in range(DEVICES)]
        jobs = [
            (bed.device_folder(f"d{i}"), store, device, bed.token(store, device))
            for i, (store, device) in enumerate(names)
        ]

        def one(job: tuple[IdentityFolder, str, str, str]) -> Enrolled:
            folder, store, device, token = job
            return enrol(
                folder, store_id=store, device_id=device, token=token, serial=None, clock=now, timeout_s=120
            )

        started = time.monotonic()
        with ThreadPoolExecutor(PARALLEL) as pool:
            done = list(pool.map(one, jobs))
        enrol_s = time.monotonic() - started
        assert [d.identity.name for d in done] == [f"{s}.{d}" for s, d in names]
        assert len(bed.fleet.registry.identities("device")) == DEVICES

        def check(i: int) -> tuple[int | None, int | None]:
            folder = jobs[i][0].current_dir()
            assert isinstance(folder, Path)
            store, device = names[i]
            other_store, other_device = names[(i + 1) % DEVICES]
            with bed.connected(folder) as client:
                own = client.publish(f"{PREFIX}/{store}/{device}/events", b"{}")
                other = client.publish(f"{PREFIX}/{other_store}/{other_device}/events", b"{}")
            return own, other

        with ThreadPoolExecutor(PARALLEL) as pool:
            codes = list(pool.map(check, range(DEVICES)))
        total_s = time.monotonic() - started
        assert all(own in (0, 16) for own, _ in codes), codes
        assert all(other == 135 for _, other in codes), codes
        print(
            f"\n{DEVICES} devices enrolled by claim in {enrol_s:.1f} s ({PARALLEL} at once); checked "
            f"in {total_s:.1f} s"
        )
