"""An operator's reply to the kiosk's screen, over a real broker: how long from the back office publishing it
to the screen showing it (issue 19's target: p95 <= 1 s).

    python bench/chat_roundtrip.py --json [--messages 50] [--gap-s 0.3] [--out FILE]

A private Mosquitto is started for the run. The whole kiosk runs (``KioskApp``: the link with its outbox,
the brain worker at ``[runtime] tick_hz``, the event writer, a still camera, no detector) with the FAQ
assistant on the example FAQ and its screen: the real render loop (``ScreenApp``, off screen under SDL's
dummy driver, at ``[ui] fps``). A scripted shopper taps "Questions?" and "Talk to a person" on the screen;
the operator accepts the hand-off and then sends ``--messages`` messages, one at a time, ``--gap-s`` apart
once the previous one showed, through the operator console's own publish path (``--via console``: the back
office's ``MqttKioskLink.send_operator_message``, which signs with the back office's key, QoS 1 on
``chat/operator``; the console's store transition is not included) or the tests' desk (``--via desk``,
``tests/chat_desk.py``). The desk reads the kiosk's ``chat`` topic either way (for the hand-off).

Each figure is from the desk's publish (QoS 1) to the start of the first frame after the one whose drawn
view held the message: the broker, the kiosk's link thread (verification), the brain's inbox, the render
loop's update, draw and flip, plus up to one frame (the hook sees the previous frame's view). Nothing is
faked: the message is signed and verified, and found in the conversation view's bubbles.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from bench_report import emit, machine_facts
from chat_desk import OperatorDesk
from mosquitto_broker import MosquittoBroker

from cloud_sync.settings import OutboxSettings
from kiosk.app.root import KioskApp, NoDetector
from kiosk.app.screen_port import run_screen
from kiosk.config import KioskConfig
from kiosk.perception.types import Frame
from kiosk.views.layout import Layout
from kiosk.views.screen import ScreenView, UiAction
from mqtt_bridge.contract.chat import OperatorAction
from mqtt_bridge.contract.topics import DeviceTopics
from mqtt_bridge.settings import BrokerSettings, CommandSettings

REPO = Path(__file__).resolve().parent.parent
FAQ = REPO / "examples" / "faq.yaml"
TARGET_P95_MS = 1000.0


class StillCamera:
    """A camera that sees an empty scene."""

    name: str = "still"
    finite: bool = False
    fps_hint: float | None = None

    def open(self) -> None:
        pass

    def read(self) -> Frame | None:
        import numpy as np

        threading.Event().wait(0.05)
        return np.zeros((48, 64, 3), np.uint8)

    def close(self) -> None:
        pass


#: Sends an operator message: (conversation id, action, display name, text).
Send = Callable[[str, OperatorAction, str | None, str | None], object]


class Script:
    """The shopper on the screen and the operator at the desk, frame by frame (the render loop's hook)."""

    def __init__(self, desk: OperatorDesk, send: Send, messages: int, gap_s: float) -> None:
        self.desk = desk
        self.send = send
        self.messages = messages
        self.gap_s = gap_s
        self.step = "open"
        self.cid = ""
        self.sent_at: float | None = None
        self.next_at = 0.0
        self.index = 0
        self.latencies_ms: list[float] = []
        self.done = False

    def __call__(self, now: float, view: ScreenView, layout: Layout) -> list[UiAction]:
        if self.step == "open" and view.screen == "attract":
            self.step = "ask"
            return [UiAction("questions")]
        if self.step == "ask" and view.chat is not None:
            self.step = "accept"
            return [UiAction("chat_person")]
        if self.step == "accept":
            handoff = self.desk.of("handoff_requested")
            if handoff:
                self.cid = handoff[0].conversation_id
                self.send(self.cid, "accept", "Bench", None)
                self.step = "joined"
        elif self.step == "joined" and view.chat is not None and "Bench" in view.chat.status:
            self.step = "reply"
        elif self.step == "reply":
            self._reply(now, view)
        return []

    def _reply(self, now: float, view: ScreenView) -> None:
        if self.sent_at is not None:
            shown = view.chat is not None and any(b.text == f"reply {self.index}" for b in view.chat.bubbles)
            if shown:
                self.latencies_ms.append((now - self.sent_at) * 1000.0)
                self.sent_at, self.next_at = None, now + self.gap_s
                self.index += 1
                self.done = self.index >= self.messages
            return
        if now >= self.next_at and not self.done:
            self.sent_at = time.monotonic()
            self.send(self.cid, "message", None, f"reply {self.index}")


def console_sender(
    settings: BrokerSettings, desk: OperatorDesk, topics: DeviceTopics
) -> tuple[Send, Callable[[], None]]:
    """The operator console's publish path (the back office's link, signing with the desk's key), and how to
    stop it."""
    from backoffice.web.chat_desk import operator_message
    from backoffice.web.link import MqttKioskLink

    link = MqttKioskLink(settings, client_id="bench-console", clock=lambda: datetime.now(UTC), key=desk.key)
    link.start()
    link.wait_connected(10)

    def send(cid: str, action: OperatorAction, name: str | None, text: str | None) -> None:
        message = operator_message(cid, action, datetime.now(UTC), 300, display_name=name, text=text)
        link.send_operator_message(topics.store_id, topics.device_id, message)

    return send, link.stop


def desk_sender(desk: OperatorDesk) -> tuple[Send, Callable[[], None]]:
    """The tests' desk's publish path."""

    def send(cid: str, action: OperatorAction, name: str | None, text: str | None) -> None:
        desk.send(cid, action, display_name=name, text=text)

    return send, lambda: None


def run(messages: int, gap_s: float, limit_s: float, via: str = "console") -> dict[str, object]:
    for name, value in (
        ("SDL_VIDEODRIVER", "dummy"),
        ("SDL_AUDIODRIVER", "dummy"),
        ("PYGAME_HIDE_SUPPORT_PROMPT", "1"),
    ):
        os.environ.setdefault(name, value)  # before the screen imports pygame
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="vitrina-chat-bench-") as folder:
        root = Path(folder)
        broker = MosquittoBroker(root / "mosquitto")
        broker.start()
        try:
            settings = BrokerSettings(
                enabled=True, host=broker.host, port=broker.port, reconnect_min_s=0.05, reconnect_max_s=0.5
            )
            topics = DeviceTopics("vitrina/v1", "bench", "k1")
            desk = OperatorDesk(settings, topics)
            desk.start()
            send, stop_sender = (
                console_sender(settings, desk, topics) if via == "console" else desk_sender(desk)
            )
            config = KioskConfig.model_validate(
                {
                    "device": {"store_id": "bench", "device_id": "k1"},
                    "storage": {"data_dir": root / "var"},
                    "mqtt": settings.model_copy(
                        update={"commands": CommandSettings(public_keys=[desk.public_key])}
                    ),
                    "outbox": OutboxSettings(path=root / "var" / "outbox.sqlite", synchronous="NORMAL"),
                    "assistant": {"enabled": True, "faq": FAQ, "duty_hours": ["00:00-23:59"]},
                }
            )
            app = KioskApp(config, NoDetector(), source_factory=StillCamera, rng=random.Random(1))
            script = Script(desk, send, messages, gap_s)
            started = time.monotonic()
            _ui, stats = run_screen(
                app,
                seconds=limit_s,
                headless=True,
                stop=lambda: script.done,
                rng=random.Random(2),
                hook=script,
            )
            elapsed = time.monotonic() - started
            stop_sender()
            desk.stop()
        finally:
            broker.stop()
    latencies = sorted(script.latencies_ms)
    figures: dict[str, object] = {"messages_shown": len(latencies), "messages_asked": messages}
    if latencies:
        p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
        figures.update(
            {
                "latency_ms_p50": round(statistics.median(latencies), 1),
                "latency_ms_p95": round(p95, 1),
                "latency_ms_max": round(latencies[-1], 1),
                "latency_ms_min": round(latencies[0], 1),
                "target_p95_ms": TARGET_P95_MS,
                "met": p95 <= TARGET_P95_MS and len(latencies) == messages,
            }
        )
    return {
        "bench": "chat_roundtrip",
        "via": via,
        **figures,
        "seconds": round(elapsed, 2),
        "screen_fps_target": config.ui.fps,
        "frame_ms_p50": round(stats.frame_ms_p50, 2),
        "brain_tick_hz": config.runtime.tick_hz,
        "machine": machine_facts(load_before),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--messages", type=int, default=50, help="operator messages to time [50]")
    parser.add_argument("--gap-s", type=float, default=0.3, help="pause after each message showed [0.3]")
    parser.add_argument("--limit-s", type=float, default=300.0, help="give up after this long [300]")
    parser.add_argument(
        "--via", choices=("console", "desk"), default="console", help="the operator's publish path [console]"
    )
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()
    result = run(args.messages, args.gap_s, args.limit_s, args.via)
    emit(result, args.out, args.json)
    if not args.json:
        shown = f"{result['messages_shown']}/{result['messages_asked']} shown"
        print(
            f"{shown}; p50 {result.get('latency_ms_p50')} ms, p95 {result.get('latency_ms_p95')} ms "
            f"(target <= {TARGET_P95_MS:.0f} ms)"
        )
    if result["messages_shown"] != result["messages_asked"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
