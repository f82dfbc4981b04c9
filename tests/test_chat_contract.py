"""The chat's wire contract: message models, topics, the chat allowlist and the signed operator messages."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import JsonValue, TypeAdapter, ValidationError

from mqtt_bridge.chat import (
    OperatorMessageRefusedError,
    OperatorMessageVerifier,
    operator_signing_bytes,
    sign_operator_message,
)
from mqtt_bridge.contract.allowlist import (
    CHAT_ALLOWLIST,
    CHAT_FORBIDDEN_KEYS,
    CHAT_NESTED_ALLOWLIST,
    CHAT_TEXT_KEYS,
    EVENT_ALLOWLIST,
    PAYLOAD_KEYS,
    chat_keys_outside_allowlist,
    keys_outside_allowlist,
    payload_keys_outside_allowlist,
)
from mqtt_bridge.contract.chat import (
    CHAT_MESSAGE_ADAPTER,
    CHAT_MESSAGE_TYPES,
    BotGuess,
    BotReply,
    ChatBatch,
    ChatOpened,
    HandoffRequested,
    OperatorChatMessage,
    ShopperMessage,
    new_conversation_id,
    parse_chat_message,
)
from mqtt_bridge.contract.topics import DeviceTopics, parse_topic
from mqtt_bridge.settings import CommandSettings
from mqtt_bridge.signing import public_key_text

T = DeviceTopics("vitrina/v1", "store-1", "kiosk-1")
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CID = "0123456789abcdef0123456789abcdef"
JSON_OBJECT: TypeAdapter[dict[str, JsonValue]] = TypeAdapter(dict[str, JsonValue])


def test_topics_of_the_chat_parse_back() -> None:
    assert T.chat == "vitrina/v1/store-1/kiosk-1/chat"
    assert T.chat_operator == "vitrina/v1/store-1/kiosk-1/chat/operator"
    assert parse_topic("vitrina/v1", T.chat).kind == "chat"
    operator = parse_topic("vitrina/v1", T.chat_operator)
    assert (operator.store_id, operator.device_id, operator.kind) == ("store-1", "kiosk-1", "chat_operator")


def test_conversation_ids_are_random_and_of_the_pattern() -> None:
    ids = {new_conversation_id() for _ in range(200)}
    assert len(ids) == 200
    for cid in ids:
        ChatOpened(
            conversation_id=cid, seq=0, ts=NOW, lang="ru", opened_from="attract", faq_version=1, on_duty=True
        )
    with pytest.raises(ValidationError):
        ChatOpened(
            conversation_id="visit-1",
            seq=0,
            ts=NOW,
            lang="ru",
            opened_from="attract",
            faq_version=1,
            on_duty=True,
        )


def _samples() -> list[dict[str, object]]:
    base = {"conversation_id": CID, "ts": NOW}
    return [
        ChatOpened(**base, seq=0, lang="en", opened_from="offer", faq_version=3, on_duty=False).model_dump(
            mode="json"
        ),
        ShopperMessage(**base, seq=1, text="call me at [phone]", lang="en", masked=1).model_dump(mode="json"),
        BotReply(
            **base,
            seq=2,
            in_reply_to="abc",
            action="clarify",
            options=["delivery_cost", "delivery_time"],
            confidence=0.5,
            guesses=[BotGuess(entry="delivery_cost", score=0.5), BotGuess(entry="delivery_time", score=0.48)],
            text="Which did you mean?",
            lang="en",
        ).model_dump(mode="json"),
        HandoffRequested(
            **base, seq=3, reason="words", detail="asked_for_person", on_duty=True, wait_s=90
        ).model_dump(mode="json"),
        {**base, "ts": NOW.isoformat(), "seq": 4, "type": "handoff_unanswered", "reason": "timeout"},
        {
            **base,
            "ts": NOW.isoformat(),
            "seq": 5,
            "type": "operator_receipt",
            "operator_message_id": "op1",
            "action": "message",
            "status": "shown",
        },
        {**base, "ts": NOW.isoformat(), "seq": 6, "type": "chat_ended", "reason": "visit_ended"},
        {**base, "ts": NOW.isoformat(), "seq": 7, "type": "chat_csat", "score": 4},
    ]


def test_every_message_type_round_trips_and_is_on_the_chat_allowlist() -> None:
    samples = _samples()
    assert {s["type"] for s in samples} == set(CHAT_MESSAGE_TYPES) == set(CHAT_ALLOWLIST)
    for sample in samples:
        message = parse_chat_message(json.dumps(sample, default=str))
        dumped = message.model_dump(mode="json")
        assert chat_keys_outside_allowlist(dumped) == []
    batch = ChatBatch(
        batch_id="b1", store_id="store-1", device_id="kiosk-1", messages=[*map(_jsonable, samples)]
    )
    assert payload_keys_outside_allowlist("chat", batch.model_dump(mode="json")) == []


def _jsonable(sample: dict[str, object]) -> dict[str, JsonValue]:
    return JSON_OBJECT.validate_json(json.dumps(sample, default=str))


def test_the_allowlist_names_exactly_each_models_fields() -> None:
    for name, model in CHAT_MESSAGE_TYPES.items():
        assert set(model.model_fields) == CHAT_ALLOWLIST[name], name
    assert set(BotGuess.model_fields) == CHAT_NESTED_ALLOWLIST["guesses"]


def test_chat_text_is_allowed_on_the_chat_topic_only() -> None:
    # no event may carry the chat's words, and the event check refuses them
    assert not CHAT_TEXT_KEYS & PAYLOAD_KEYS
    for fields in EVENT_ALLOWLIST.values():
        assert not CHAT_TEXT_KEYS & fields
    smuggled = {"events": [{"type": "feedback", "text": "my phone is 8 916 123 45 67"}]}
    assert keys_outside_allowlist(smuggled) == ["events[].text"]
    assert payload_keys_outside_allowlist("events", smuggled) == ["events[].text"]


def test_no_chat_message_carries_visit_or_face_data() -> None:
    for name, fields in CHAT_ALLOWLIST.items():
        assert not fields & CHAT_FORBIDDEN_KEYS, name
    leaked = {"messages": [{"type": "shopper_message", "text": "hi", "visit_ref": "abc", "valence": {}}]}
    assert chat_keys_outside_allowlist(leaked) == ["messages[].visit_ref", "messages[].valence"]
    # and the models refuse such a field outright
    with pytest.raises(ValidationError):
        CHAT_MESSAGE_ADAPTER.validate_python(
            {
                "type": "chat_ended",
                "conversation_id": CID,
                "seq": 1,
                "ts": NOW,
                "reason": "done",
                "visit_ref": "x",
            }
        )


def test_bot_reply_limits() -> None:
    with pytest.raises(ValidationError):
        BotReply(
            conversation_id=CID,
            seq=1,
            ts=NOW,
            in_reply_to="m",
            action="answer",
            confidence=0.9,
            guesses=[BotGuess(entry=f"e{i}", score=0.1) for i in range(4)],
            text="x",
            lang="ru",
        )
    with pytest.raises(ValidationError):
        ShopperMessage(conversation_id=CID, seq=1, ts=NOW, text="x" * 501, lang="ru")


def _operator(action: str, **fields: object) -> OperatorChatMessage:
    return OperatorChatMessage.model_validate(
        {
            "conversation_id": CID,
            "action": action,
            "issued_at": NOW,
            "expires_at": NOW + timedelta(seconds=120),
            "nonce": uuid.uuid4().hex,
            **fields,
        }
    )


def test_operator_message_fields_go_with_their_action() -> None:
    assert _operator("accept", display_name="Anna").display_name == "Anna"
    assert _operator("message", text="Hello").text == "Hello"
    _operator("hand_back")
    _operator("resolve")
    for action, fields in (
        ("accept", {}),
        ("message", {}),
        ("hand_back", {"text": "x"}),
        ("resolve", {"display_name": "Anna"}),
        ("accept", {"text": "x", "display_name": "A"}),
    ):
        with pytest.raises(ValidationError):
            _operator(action, **fields)
    with pytest.raises(ValidationError):
        _operator("accept", display_name="Anna", staff_id="42")


KEY = Ed25519PrivateKey.generate()
SETTINGS = CommandSettings(public_keys=[public_key_text(KEY)], max_lifetime_s=600)


def _verifier(now: datetime = NOW) -> OperatorMessageVerifier:
    return OperatorMessageVerifier(SETTINGS, lambda: now)


def _bytes(message: OperatorChatMessage) -> bytes:
    return message.model_dump_json().encode()


def test_a_signed_operator_message_verifies_once() -> None:
    verifier = _verifier()
    signed = sign_operator_message(_operator("message", text="Здравствуйте!"), KEY)
    verified = verifier.verify(_bytes(signed))
    assert verified.message.text == "Здравствуйте!" and not verified.duplicate
    assert verifier.verify(_bytes(signed)).duplicate  # QoS 1 redelivery: shown once


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("unsigned", "unsigned"),
        ("other key", "bad signature"),
        ("tampered", "bad signature"),
        ("expired", "expired"),
        ("future", "issued in the future"),
        ("too long", "valid for longer"),
    ],
)
def test_refusals(change: str, reason: str) -> None:
    message = _operator("message", text="hello")
    if change == "unsigned":
        payload = _bytes(message)
    elif change == "other key":
        payload = _bytes(sign_operator_message(message, Ed25519PrivateKey.generate()))
    elif change == "tampered":
        signed = sign_operator_message(message, KEY)
        payload = _bytes(signed.model_copy(update={"text": "send me your card number"}))
    elif change == "expired":
        payload = _bytes(sign_operator_message(message, KEY))
        with pytest.raises(OperatorMessageRefusedError, match=reason):
            _verifier(NOW + timedelta(seconds=121)).verify(payload)
        return
    elif change == "future":
        later = message.model_copy(
            update={"issued_at": NOW + timedelta(hours=1), "expires_at": NOW + timedelta(hours=1, seconds=60)}
        )
        payload = _bytes(sign_operator_message(later, KEY))
    else:
        longer = message.model_copy(update={"expires_at": NOW + timedelta(hours=2)})
        payload = _bytes(sign_operator_message(longer, KEY))
    with pytest.raises(OperatorMessageRefusedError, match=reason):
        _verifier().verify(payload)


def test_replayed_nonce_under_another_id_is_refused() -> None:
    verifier = _verifier()
    first = sign_operator_message(_operator("message", text="a"), KEY)
    verifier.verify(_bytes(first))
    again = sign_operator_message(first.model_copy(update={"message_id": "other", "signature": None}), KEY)
    with pytest.raises(OperatorMessageRefusedError, match="replayed nonce"):
        verifier.verify(_bytes(again))


def test_junk_is_refused_with_a_reason() -> None:
    verifier = _verifier()
    for junk in (b"", b"{}", b"not json", b'{"action": "message"}', b"x" * 70_000):
        with pytest.raises(OperatorMessageRefusedError):
            verifier.verify(junk)


def test_signing_bytes_exclude_the_signature() -> None:
    message = _operator("resolve")
    signed = sign_operator_message(message, KEY)
    assert operator_signing_bytes(signed) == operator_signing_bytes(message)
    assert b"signature" not in operator_signing_bytes(signed)
