"""Events are frozen, versioned, discriminated by type, and carry nothing that identifies a person."""

from __future__ import annotations

import typing

import pydantic
import pytest

from mqtt_bridge.contract.events import EVENT_ADAPTER, Event, OfferShown, StaffCall, VisitEnded, parse_event

FORBIDDEN_WORDS = {"image", "crop", "embedding", "frame", "face", "person", "pixels", "photo", "name"}


def test_round_trip_by_type() -> None:
    shown = OfferShown(store_id="s1", device_id="d1", offer_id="coffee", reason="bandit", language="ru")
    parsed = parse_event(shown.model_dump_json())
    assert parsed == shown and isinstance(parsed, OfferShown)


def test_frozen_and_strict() -> None:
    call = StaffCall(store_id="s1", device_id="d1", reason="shopper_request", zone="entrance")
    with pytest.raises(pydantic.ValidationError):
        call.zone = "elsewhere"  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError):
        parse_event(
            b'{"type": "visit_ended", "store_id": "s", "device_id": "d", "dwell_s": -1,'
            b' "attention_s": 0, "watcher": false, "glance": true, "visit_ref": "x"}'
        )
    with pytest.raises(pydantic.ValidationError):
        parse_event(b'{"type": "no_such_event", "store_id": "s", "device_id": "d"}')
    assert StaffCall.priority == "alert" and VisitEnded.priority == "normal"


def test_no_event_has_an_identifying_field() -> None:
    models = typing.get_args(typing.get_args(Event)[0])
    assert len(models) >= 10
    for model in models:
        for name in model.model_fields:
            assert not FORBIDDEN_WORDS & set(name.split("_")), f"{model.__name__}.{name}"
    assert EVENT_ADAPTER.json_schema()["discriminator"]["propertyName"] == "type"
