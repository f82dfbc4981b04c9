"""A test double for the transport seam (:class:`mqtt_bridge.transport.Publisher`) and event factories."""

from __future__ import annotations

import itertools
import queue
from collections import Counter

from paho.mqtt.client import MQTTMessageInfo

from mqtt_bridge.contract.events import Event, Health, OfferShown, StaffCall, VisitStarted
from mqtt_bridge.transport import PublishAck, PublishHandle


class FakeTransport:
    """Records what is published; the test decides when PUBACKs arrive (:meth:`ack`)."""

    def __init__(self, connected: bool = True) -> None:
        self.acks: queue.Queue[PublishAck] = queue.Queue()
        self.counters: Counter[str] = Counter()
        self.connected = connected
        self.published: list[tuple[int, str, bytes]] = []
        self._mids = itertools.count(1)

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> PublishHandle:
        mid = next(self._mids)
        self.published.append((mid, topic, payload))
        return PublishHandle(MQTTMessageInfo(mid))

    def ack(self, mid: int, reason_code: int = 0) -> None:
        self.acks.put(PublishAck(mid, reason_code, "Success" if reason_code < 0x80 else "Not authorized"))

    def ack_all(self) -> None:
        for mid, _t, _p in self.published:
            self.ack(mid)


def make_event(i: int, kind: str = "normal") -> Event:
    common = {"store_id": "s1", "device_id": "d1", "event_id": f"e{i:06d}"}
    if kind == "alert":
        return StaffCall(reason="shopper_request", zone="entrance", **common)
    if kind == "low":
        return Health(fps=10, inference_ms=5, dropped_frames=0, camera_ok=True, **common)
    if i % 2:
        return VisitStarted(visit_ref=f"v{i}", distance_m=1.23, **common)
    return OfferShown(offer_id="o1", reason="rules", language="en", visit_ref=f"v{i}", **common)
