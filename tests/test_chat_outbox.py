"""The chat's stream in the durable outbox and the link's sink: committed before publishing, published on the
chat topic in ChatBatch envelopes after alerts and before the events' backlog, removed only on PUBACK,
checked against the chat's allowlist; the sink masks the shopper's text once more at the outbox's door."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import pytest
from outbox_doubles import FakeTransport, make_event

from cloud_sync.anonymise import Anonymiser
from cloud_sync.outbox import ChatAllowlistError, Outbox, OutboxPublisher
from cloud_sync.settings import AnonymisationSettings, OutboxSettings
from kiosk.link.chat_link import ChatOutboxSink, masked_for_the_wire
from mqtt_bridge.contract.chat import (
    CHAT_MESSAGE_ADAPTER,
    BotReply,
    ChatBatch,
    ChatOpened,
    ShopperMessage,
)
from mqtt_bridge.contract.topics import DeviceTopics

TOPICS = DeviceTopics("vitrina/v1", "s1", "d1")
CID = "0123456789abcdef0123456789abcdef"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _outbox(tmp_path: Path, **kwargs: object) -> Outbox:
    settings = OutboxSettings.model_validate({"path": tmp_path / "outbox.sqlite", **kwargs})
    anonymiser = Anonymiser(AnonymisationSettings(), lambda: NOW, random.Random(0))
    return Outbox(settings, anonymiser)


def _shopper(seq: int, text: str = "когда вы открываетесь?") -> ShopperMessage:
    return ShopperMessage(conversation_id=CID, seq=seq, ts=NOW, text=text, lang="ru")


def test_chat_messages_are_committed_and_published_on_the_chat_topic_in_order(tmp_path: Path) -> None:
    outbox = _outbox(tmp_path)
    opened = ChatOpened(
        conversation_id=CID, seq=0, ts=NOW, lang="ru", opened_from="attract", faq_version=1, on_duty=True
    )
    assert outbox.add_chat([opened, _shopper(1)]) == 2
    assert outbox.add_chat([opened]) == 0, "a message_id already there is ignored"
    outbox.add([make_event(1), make_event(2, "alert")])
    outbox.close()
    outbox = _outbox(tmp_path)  # survives reopening
    transport = FakeTransport()
    publisher = OutboxPublisher(outbox, transport, TOPICS, clock=lambda: 0.0)
    publisher.step()
    topics = [topic for _, topic, _ in transport.published]
    assert topics == [TOPICS.alerts, TOPICS.chat, TOPICS.events], "alerts, then the chat, then the backlog"
    batch = ChatBatch.model_validate_json(transport.published[1][2])
    messages = [CHAT_MESSAGE_ADAPTER.validate_python(m) for m in batch.messages]
    assert [m.seq for m in messages] == [0, 1] and (batch.store_id, batch.device_id) == ("s1", "d1")
    assert outbox.stats().depth == 4
    transport.ack(transport.published[1][0])
    publisher.step()
    assert outbox.stats().depth == 2 and not outbox.pending("chat", 0, 10)


def test_a_chat_batch_without_puback_is_sent_again(tmp_path: Path) -> None:
    outbox = _outbox(tmp_path, resend_after_s=5.0)
    outbox.add_chat([_shopper(1)])
    transport = FakeTransport()
    now = [0.0]
    publisher = OutboxPublisher(outbox, transport, TOPICS, clock=lambda: now[0])
    publisher.step()
    now[0] = 6.0
    publisher.step()
    assert [topic for _, topic, _ in transport.published] == [TOPICS.chat, TOPICS.chat]
    first, again = (ChatBatch.model_validate_json(p) for _, _, p in transport.published)
    assert first.messages == again.messages


def test_a_message_outside_the_chat_allowlist_is_refused_whole(tmp_path: Path) -> None:
    outbox = _outbox(tmp_path)

    class Leaky(ShopperMessage):
        visit_ref: str = "abc"

    leaky = Leaky(conversation_id=CID, seq=2, ts=NOW, text="hi", lang="en")
    with pytest.raises(ChatAllowlistError, match="visit_ref"):
        outbox.add_chat([_shopper(1), leaky])
    assert outbox.stats().depth == 0


def test_the_sink_masks_the_shoppers_text_again_and_leaves_the_faqs_alone(tmp_path: Path) -> None:
    unmasked = _shopper(1, "мой номер 8 916 123 45 67, почта anna@example.com")
    masked = masked_for_the_wire(unmasked)
    assert isinstance(masked, ShopperMessage)
    assert masked.text == "мой номер [phone], почта [email]" and masked.masked == 2
    hotline = BotReply(
        conversation_id=CID, seq=2, ts=NOW, in_reply_to="m", action="answer", entry="contact_us",
        confidence=0.9, text="Звоните 8 800 000-00-00", lang="ru",
    )  # fmt: skip
    assert masked_for_the_wire(hotline) is hotline, "the store's own hotline is not a shopper's number"


def test_the_sink_commits_through_the_link_or_counts_what_it_cannot_send(tmp_path: Path) -> None:
    outbox = _outbox(tmp_path)
    sink = ChatOutboxSink(outbox)  # the outbox itself takes chat messages as the link does
    sink(_shopper(1, "card 4111 1111 1111 1111"))
    (row,) = outbox.pending("chat", 0, 10)
    assert "4111" not in row.payload and "[card]" in row.payload
    assert sink.counts["queued"] == 1
    nowhere = ChatOutboxSink(None)
    nowhere(_shopper(2))
    assert nowhere.counts["dropped_no_link"] == 1
