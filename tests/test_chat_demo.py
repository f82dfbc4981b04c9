"""``kiosk demo --chat``: the whole kiosk on a clip, its reactive shopper opening the chat on the offer
screen, asking, and asking for a person; on a real broker the hand-off reaches a back-office desk whose
operator's words show on the kiosk (what the whole-system demo's console gets)."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from chat_desk import OperatorDesk
from mosquitto_broker import MosquittoBroker
from waiting import wait_for

from kiosk.app.demo import DEMO_FAQ, run_demo
from kiosk.app.summary import RunSummary
from kiosk.config import KioskConfig
from kiosk.perception.types import Box, Detection, Frame, ValenceReading
from mqtt_bridge.contract.chat import OperatorReceipt
from mqtt_bridge.contract.topics import DeviceTopics
from mqtt_bridge.settings import BrokerSettings, CommandSettings

BIN = Path(sys.executable).parent


def test_the_demo_faq_is_the_example_faq(repo_root: Path) -> None:
    assert DEMO_FAQ.read_bytes() == (repo_root / "examples" / "faq.yaml").read_bytes()


def test_chat_needs_the_whole_kiosk(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(BIN / "kiosk"), "demo", "--chat", "--scripted", "--headless", "--seconds", "1",
         "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1 and "--chat needs the whole kiosk" in done.stderr


class BlockDetector:
    """A bright block in the frame is a face, 1 m away, frontal, neutral."""

    def detect(self, frame: Frame) -> list[Detection]:
        ys, xs = np.nonzero(frame[:, :, 0] > 200)
        if len(xs) == 0:
            return []
        box = Box(float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
        return [Detection(box, distance_m=1.0, yaw_deg=0.0, reading=ValenceReading("neutral", 0.9))]


def _clip(path: Path, seconds: float = 40.0, fps: int = 15) -> Path:
    """Someone stands in front of the screen the whole time."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (160, 120))
    image = np.zeros((120, 160, 3), np.uint8)
    image[30:90, 50:110] = 255
    for _ in range(int(seconds * fps)):
        writer.write(image)
    writer.release()
    return path


@pytest.mark.slow
@pytest.mark.integration
def test_the_demo_shopper_chats_and_an_operator_answers_over_the_broker(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    settings = BrokerSettings(
        enabled=True, host=mosquitto.host, port=mosquitto.port, reconnect_min_s=0.05, reconnect_max_s=0.5
    )
    desk = OperatorDesk(settings, DeviceTopics("vitrina/v1", "demo-store", "demo-kiosk"))
    desk.start()
    config = KioskConfig.model_validate(
        {
            "mqtt": settings.model_copy(update={"commands": CommandSettings(public_keys=[desk.public_key])}),
            "outbox": {"path": tmp_path / "out" / "store" / "outbox.sqlite"},
        }
    )
    result: list[RunSummary] = []
    demo = threading.Thread(
        target=lambda: result.append(
            run_demo(
                config,
                seconds=30.0,
                headless=True,
                out_dir=tmp_path / "out",
                camera=str(_clip(tmp_path / "someone.mp4")),
                rng=random.Random(1),
                detector=lambda _config: BlockDetector(),
                chat=True,
            )
        )
    )
    demo.start()
    try:
        wait_for(lambda: desk.of("handoff_requested"), "the demo shopper's hand-off", 60)
        handoff = desk.of("handoff_requested")[0]
        assert handoff.model_dump()["reason"] == "words"
        shopper = [m.model_dump() for m in desk.of("shopper_message")]
        assert shopper[0]["suggested"] is True and shopper[-1]["text"] == "позовите человека, пожалуйста"
        accept = desk.send(handoff.conversation_id, "accept", display_name="Анна")
        hello = desk.send(handoff.conversation_id, "message", text="Здравствуйте! Сейчас помогу.")
        wait_for(
            lambda: {accept.message_id, hello.message_id}
            <= {m.operator_message_id for m in desk.of("operator_receipt") if isinstance(m, OperatorReceipt)
                and m.status == "shown"},
            "the operator's messages shown on the kiosk",
            30,
        )  # fmt: skip
    finally:
        demo.join(120)
        desk.stop()
    assert not demo.is_alive() and result
    assert result[0].screen is not None and "chat" in result[0].screen.screens
    assert (tmp_path / "out" / "chat-ru.png").exists()
