"""A device process for the crash tests: commits events to its outbox and publishes them, until killed.

Usage: python sync_producer.py HOST PORT OUTBOX LOG SEED [--drain]

For each event it appends ``I <event_id>`` to LOG before committing it and ``C <event_id>`` after the commit,
so the test knows which events were surely committed (C) and which may have been (I). With ``--drain`` it
produces nothing, waits until the outbox is empty and every batch acknowledged, then exits 0.
"""

from __future__ import annotations

import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from cloud_sync.device import DeviceSync
from cloud_sync.settings import AnonymisationSettings, OutboxSettings
from mqtt_bridge.contract.events import Event, Health, OfferShown, StaffCall, VisitStarted
from mqtt_bridge.contract.payloads import BirthPayload
from mqtt_bridge.contract.topics import DeviceTopics
from mqtt_bridge.settings import BrokerSettings


def make_event(rng: random.Random) -> Event:
    """One event of a realistic mix: mostly visits and offers, some health, a few staff calls (alerts)."""
    common = {"store_id": "s1", "device_id": "d1", "event_id": rng.randbytes(16).hex()}
    roll = rng.random()
    if roll < 0.05:
        return StaffCall(reason="negative_valence", zone="entrance", **common)
    if roll < 0.15:
        return Health(fps=9.5, inference_ms=12, dropped_frames=1, camera_ok=True, **common)
    if roll < 0.6:
        return VisitStarted(visit_ref=f"v{rng.randrange(1000)}", **common)
    return OfferShown(offer_id="o1", reason="rules", language="ru", **common)


def main() -> int:
    host, port, outbox_path, log_path, seed = sys.argv[1:6]
    drain = "--drain" in sys.argv
    rng = random.Random(int(seed))
    device = DeviceSync(
        BrokerSettings(enabled=True, host=host, port=int(port), reconnect_min_s=0.05, reconnect_max_s=0.5),
        DeviceTopics("vitrina/v1", "s1", "d1"),
        BirthPayload(software_version="test", config_hash="0" * 64, ts=datetime.now(UTC)),
        OutboxSettings(path=Path(outbox_path), batch_size=20, synchronous="NORMAL"),
        AnonymisationSettings(),
        rng=rng,
    )
    device.start()
    print("ready", flush=True)
    if drain:
        deadline = time.monotonic() + 60
        while not device.drained():
            if time.monotonic() > deadline:
                return 1
            time.sleep(0.05)
        device.stop()
        return 0
    with Path(log_path).open("a", encoding="utf-8") as log:
        while True:
            events = [make_event(rng) for _ in range(rng.randint(1, 5))]
            log.write("".join(f"I {e.event_id}\n" for e in events))
            log.flush()
            device.add(events)
            log.write("".join(f"C {e.event_id}\n" for e in events))
            log.flush()
            time.sleep(rng.uniform(0, 0.01))


if __name__ == "__main__":
    sys.exit(main())
