"""The kiosk's side of the chat's round trip on a real Mosquitto: the whole kiosk (KioskApp: its threads,
the brain, the link's outbox) with the assistant on, a back-office desk on the broker (tests/chat_desk.py).

- the shopper's chat reaches the broker on ``{device}/chat``: opened, masked messages, the bot's replies
  with its guesses, the hand-off; the payload audit checks every payload against the chat's allowlist;
- a signed operator accept and message reach the kiosk's conversation view (the screen's read model and the
  view it builds); a forged or unsigned one never does, and is answered with a refusal receipt;
- a chat message written while the broker is down is published once it is back (the outbox).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from chat_desk import OperatorDesk
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from mosquitto_broker import MosquittoBroker
from waiting import wait_for

from cloud_sync.settings import OutboxSettings
from kiosk.app.root import KioskApp, NoDetector
from kiosk.app.screen_port import AppPort, screen_for_app
from kiosk.chat.inputs import ChatAskPerson, ChatOpen, ChatSend
from kiosk.config import KioskConfig, StorageConfig
from kiosk.decisions.brain import External
from kiosk.perception.types import Frame
from kiosk.views.screen import ScreenView
from mqtt_bridge.contract.chat import BotReply, HandoffRequested, OperatorReceipt, ShopperMessage
from mqtt_bridge.contract.topics import DeviceTopics
from mqtt_bridge.settings import BrokerSettings, CommandSettings

FAQ = Path(__file__).resolve().parent.parent / "examples" / "faq.yaml"
TOPICS = DeviceTopics("vitrina/v1", "s1", "k1")


class StillCamera:
    name: str = "still"
    finite: bool = False
    fps_hint: float | None = None

    def open(self) -> None:
        pass

    def read(self) -> Frame | None:
        threading.Event().wait(0.05)
        return np.zeros((48, 64, 3), np.uint8)

    def close(self) -> None:
        pass


def broker_settings(broker: MosquittoBroker) -> BrokerSettings:
    return BrokerSettings(
        enabled=True, host=broker.host, port=broker.port, reconnect_min_s=0.05, reconnect_max_s=0.5
    )


def kiosk_config(tmp_path: Path, broker: MosquittoBroker, public_key: str) -> KioskConfig:
    settings = broker_settings(broker).model_copy(
        update={"commands": CommandSettings(public_keys=[public_key])}
    )
    return KioskConfig.model_validate(
        {
            "device": {"store_id": "s1", "device_id": "k1"},
            "storage": StorageConfig(data_dir=tmp_path / "var"),
            "mqtt": settings,
            "outbox": OutboxSettings(path=tmp_path / "var" / "outbox.sqlite", synchronous="NORMAL"),
            # on duty around the clock: the test must not depend on the hour it runs at
            "assistant": {"enabled": True, "faq": FAQ, "duty_hours": ["00:00-23:59"]},
        }
    )


class Kiosk:
    """The whole kiosk running in threads, and its screen's view of it."""

    def __init__(self, config: KioskConfig) -> None:
        self.app = KioskApp(config, NoDetector(), source_factory=StillCamera, rng=random.Random(7))
        self.port = AppPort(self.app)
        self.ui = screen_for_app(self.app, rng=random.Random(1))
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.app.run, args=(None, self.stop), daemon=True)

    def start(self) -> Kiosk:
        self.thread.start()
        assert self.app.sync is not None
        wait_for(lambda: self.app.sync is not None and self.app.sync.connected, "the kiosk's link")
        return self

    def close(self) -> None:
        self.stop.set()
        self.thread.join(60)
        assert not self.thread.is_alive()

    def view(self) -> ScreenView:
        """What the screen would draw now."""
        now = self.app.clock.monotonic()
        self.ui.observe(self.port.runtime_view(), now)
        return self.ui.view(now)

    def bubbles(self) -> list[str]:
        view = self.view()
        return [b.text for b in view.chat.bubbles] if view.chat is not None else []

    def send(self, intent: External) -> None:
        self.app.send(intent)

    def answered(self) -> bool:
        chat = self.port.runtime_view().state.chat
        return chat is not None and any(line.who == "bot" for line in chat.lines)

    @property
    def t(self) -> float:
        return self.app.clock.monotonic()


def shown(desk: OperatorDesk) -> set[str]:
    """The operator messages the kiosk says it showed."""
    return {
        m.operator_message_id
        for m in desk.of("operator_receipt")
        if isinstance(m, OperatorReceipt) and m.status == "shown"
    }


@pytest.fixture
def desk(mosquitto: MosquittoBroker) -> Iterator[OperatorDesk]:
    desk = OperatorDesk(broker_settings(mosquitto), TOPICS)
    desk.start()
    yield desk
    desk.stop()


@pytest.mark.integration
def test_a_signed_operator_message_reaches_the_conversation_view(
    mosquitto: MosquittoBroker, desk: OperatorDesk, tmp_path: Path
) -> None:
    kiosk = Kiosk(kiosk_config(tmp_path, mosquitto, desk.public_key)).start()
    try:
        kiosk.send(ChatOpen(kiosk.t, "ru", "attract"))
        wait_for(lambda: kiosk.view().screen == "chat", "the conversation view")
        kiosk.send(ChatSend(kiosk.t, "когда вы открываетесь? мой телефон +7 916 123-45-67", "ru"))
        wait_for(lambda: desk.of("bot_reply"), "the bot's reply on the broker", 30)
        shopper = desk.of("shopper_message")[0]
        assert isinstance(shopper, ShopperMessage)
        assert "916" not in shopper.text and "[phone]" in shopper.text and shopper.masked == 1
        reply = desk.of("bot_reply")[0]
        assert isinstance(reply, BotReply) and reply.entry == "opening_hours" and reply.guesses
        kiosk.send(ChatAskPerson(kiosk.t))
        wait_for(lambda: desk.of("handoff_requested"), "the hand-off on the broker", 30)
        handoff = desk.of("handoff_requested")[0]
        assert isinstance(handoff, HandoffRequested) and handoff.reason == "button" and handoff.on_duty
        cid = handoff.conversation_id
        assert all(m.conversation_id == cid for m in desk.collect())

        # a forged operator message (another key) and an unsigned one never reach the screen
        forged = desk.message(cid, "message", text="Назовите номер карты", key=Ed25519PrivateKey.generate())
        desk.publish(forged)
        unsigned = desk.message(cid, "message", text="Назовите номер карты", signed=False)
        desk.publish(unsigned)
        wait_for(lambda: len(desk.of("operator_receipt")) >= 2, "the refusals' receipts", 30)
        receipts = {
            m.operator_message_id: m for m in desk.of("operator_receipt") if isinstance(m, OperatorReceipt)
        }
        assert (
            receipts[forged.message_id].status == "refused"
            and "signature" in receipts[forged.message_id].reason
        )
        assert receipts[unsigned.message_id].status == "refused"

        accept = desk.send(cid, "accept", display_name="Анна")
        hello = desk.send(cid, "message", text="Здравствуйте! Чем могу помочь?")
        wait_for(
            lambda: "Здравствуйте! Чем могу помочь?" in kiosk.bubbles(), "the operator's words on screen", 30
        )
        view = kiosk.view()
        assert view.chat is not None and view.chat.status == "С вами сотрудник магазина: Анна"
        assert "К разговору подключился сотрудник магазина: Анна" in kiosk.bubbles()
        assert "Назовите номер карты" not in kiosk.bubbles()
        wait_for(
            lambda: {accept.message_id, hello.message_id} <= shown(desk), "the receipts of the shown", 30
        )
        # QoS 1 redelivery (the same message again) is shown once
        desk.publish(hello)
        wait_for(lambda: any(
            isinstance(m, OperatorReceipt) and m.status == "duplicate" for m in desk.of("operator_receipt")
        ), "the duplicate's receipt", 30)  # fmt: skip
        assert kiosk.bubbles().count("Здравствуйте! Чем могу помочь?") == 1
        desk.send(cid, "resolve")
        wait_for(lambda: desk.of("chat_ended"), "the chat's end", 30)
        assert desk.of("chat_ended")[0].model_dump()["reason"] == "resolved"
        wait_for(lambda: kiosk.view().screen == "chat_rating", "the rating question")
        seqs = sorted(m.seq for m in desk.collect())
        assert seqs == list(range(len(seqs))), "every message once, in order by seq"
    finally:
        kiosk.close()


@pytest.mark.integration
def test_a_chat_message_written_during_a_broker_outage_arrives_after_it(
    persistent_mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    broker = persistent_mosquitto
    desk = OperatorDesk(broker_settings(broker), TOPICS, persistent=True)
    desk.start()
    kiosk = Kiosk(kiosk_config(tmp_path, broker, desk.public_key)).start()
    try:
        kiosk.send(ChatOpen(kiosk.t, "en", "attract"))
        wait_for(lambda: desk.of("chat_opened"), "the chat's opening on the broker", 30)
        broker.stop()
        wait_for(lambda: kiosk.app.sync is not None and not kiosk.app.sync.connected, "the link's loss")
        kiosk.send(ChatSend(kiosk.t, "where are the toilets?", "en"))
        wait_for(kiosk.answered, "the bot's answer")
        assert kiosk.app.sync is not None and kiosk.app.sync.sync.depth() >= 2  # waiting in the outbox
        broker.start()
        wait_for(lambda: desk.of("bot_reply"), "the outage's messages after it", 60)
        assert desk.of("shopper_message")[0].model_dump()["text"] == "where are the toilets?"
        wait_for(
            lambda: kiosk.app.sync is not None and kiosk.app.sync.sync.depth() == 0, "the outbox drained", 30
        )
    finally:
        kiosk.close()
        desk.stop()
