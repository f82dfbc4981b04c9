"""A device process for the fault suite: commits events to its outbox and publishes them.

Usage: python producer.py HOST PORT OUTBOX LOG SEED STOP_FILE [RATE]

It produces about RATE events a second (default 300) until STOP_FILE exists (or it is killed), then waits
until the outbox is empty and every batch acknowledged, stops cleanly and exits 0 (1 if it could not drain
within 120 s). For each event it appends ``I <event_id>`` to LOG before the commit and ``C <event_id>``
after it, so the suite knows which events were surely committed (C) and which may have been (I).
"""

from __future__ import annotations

import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from cloud_sync.device import DeviceSync
from cloud_sync.settings import AnonymisationSettings, OutboxSettings
from mqtt_bridge.contract.payloads import BirthPayload
from mqtt_bridge.contract.topics import DeviceTopics
from mqtt_bridge.settings import BrokerSettings

# The same event mix as the crash tests' producer (tests/sync_producer.py), run here as a script.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from sync_producer import make_event

DRAIN_LIMIT_S = 120.0


def main() -> int:
    host, port, outbox_path, log_path, seed, stop_file = sys.argv[1:7]
    rate = float(sys.argv[7]) if len(sys.argv) > 7 else 300.0
    rng = random.Random(int(seed))
    device = DeviceSync(
        BrokerSettings(enabled=True, host=host, port=int(port), reconnect_min_s=0.05, reconnect_max_s=0.5),
        DeviceTopics("vitrina/v1", "s1", "d1"),
        BirthPayload(software_version="faults", config_hash="0" * 64, ts=datetime.now(UTC)),
        OutboxSettings(path=Path(outbox_path), batch_size=20, synchronous="NORMAL", resend_after_s=5.0),
        AnonymisationSettings(),
        rng=rng,
    )
    device.start()
    print("ready", flush=True)
    stop = Path(stop_file)
    started = time.monotonic()
    made = 0
    with Path(log_path).open("a", encoding="utf-8") as log:
        while not stop.exists():
            events = [make_event(rng) for _ in range(rng.randint(1, 5))]
            log.write("".join(f"I {e.event_id}\n" for e in events))
            log.flush()
            device.add(events)
            log.write("".join(f"C {e.event_id}\n" for e in events))
            log.flush()
            made += len(events)
            ahead = made / rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
    deadline = time.monotonic() + DRAIN_LIMIT_S
    while not device.drained():
        if time.monotonic() > deadline:
            return 1
        time.sleep(0.05)
    device.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
