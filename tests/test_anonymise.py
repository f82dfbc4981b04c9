"""Anonymisation by allowlist: nothing identifying leaves; visit_ref rotates daily; ts coarsened; k."""

from __future__ import annotations

import json
import random
import typing
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from outbox_doubles import make_event
from pydantic import BaseModel, Field
from pydantic.fields import FieldInfo

from cloud_sync.anonymise import (
    Anonymiser,
    DailySalt,
    anonymise_event,
    coarsen_ts,
    suppress_small_counts,
)
from cloud_sync.settings import AnonymisationSettings
from mqtt_bridge.contract.allowlist import EVENT_ALLOWLIST, keys_outside_allowlist
from mqtt_bridge.contract.events import (
    ConsentChanged,
    Event,
    Feedback,
    OfferEnded,
    OfferRedeemed,
    OfferTapped,
    StaffCallAcknowledged,
    ValenceMix,
    VisitEnded,
    VisitStarted,
    parse_event,
)

T0 = datetime(2026, 3, 1, 10, 17, 42, tzinfo=UTC)
COMMON = {"store_id": "s", "device_id": "d", "ts": T0}
ALL_TYPES = [
    make_event(1),
    make_event(2),
    make_event(3, "alert"),
    make_event(4, "low"),
    VisitEnded(visit_ref="v", dwell_s=3, attention_s=2, watcher=True, glance=False, **COMMON),
    OfferTapped(offer_id="o", visit_ref="v", arm="o|positive/long/solo/morning", **COMMON),
    OfferEnded(
        offer_id="o",
        visit_ref="v",
        shown_s=7.26,
        attention_s=3.4,
        attended=True,
        valence_before=ValenceMix(negative_s=2.2),
        valence_during=ValenceMix(positive_s=4.6, neutral_s=0.4),
        **COMMON,
    ),
    OfferRedeemed(offer_id="o", code="AB12", **COMMON),
    Feedback(kind="csat", score=4, visit_ref="v", **COMMON),
    StaffCallAcknowledged(call_id="c", response_s=12.5, **COMMON),
    ConsentChanged(visit_ref="v", state="opted_in", mode="opt_in", **COMMON),
]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_every_event_type_is_covered_and_stays_schema_valid() -> None:
    assert {e.type for e in ALL_TYPES} == set(EVENT_ALLOWLIST)
    anonymiser = Anonymiser(AnonymisationSettings(), Clock(T0), random.Random(1))
    for event in ALL_TYPES:
        out = anonymiser(event)
        assert keys_outside_allowlist(out) == []
        again = parse_event(json.dumps(out))
        assert again.event_id == event.event_id and again.type == event.type


def test_a_field_nobody_listed_never_leaves() -> None:
    class LeakyVisit(VisitStarted):
        type: Literal["visit_started"] = "visit_started"
        embedding: list[float] = Field(default_factory=lambda: [0.1, 0.2])
        face: str = "base64-jpeg"

    out = anonymise_event(
        LeakyVisit(visit_ref="v", **COMMON), AnonymisationSettings(), b"s" * 32, random.Random(0)
    )
    assert "embedding" not in out and "face" not in out
    assert keys_outside_allowlist({"events": [{"embedding": [1]}], "image": "x"}) == [
        "events[].embedding",
        "image",
    ]


def test_visit_ref_is_rehashed_joinable_within_a_day_and_rotates_daily() -> None:
    clock = Clock(T0)
    anonymiser = Anonymiser(AnonymisationSettings(), clock, random.Random(1))
    a = anonymiser(VisitStarted(visit_ref="visit-42", **COMMON))["visit_ref"]
    b = anonymiser(OfferTapped(offer_id="o", visit_ref="visit-42", **COMMON))["visit_ref"]
    assert a == b != "visit-42"
    clock.now = T0 + timedelta(days=1)
    c = anonymiser(VisitStarted(visit_ref="visit-42", **COMMON))["visit_ref"]
    assert c != a


def test_unlink_mode_drops_optional_and_randomises_required_refs() -> None:
    settings = AnonymisationSettings(visit_ref="unlink")
    rng = random.Random(3)
    tapped = anonymise_event(OfferTapped(offer_id="o", visit_ref="v", **COMMON), settings, b"x", rng)
    assert "visit_ref" not in tapped
    one = anonymise_event(VisitStarted(visit_ref="v", **COMMON), settings, b"x", rng)["visit_ref"]
    two = anonymise_event(VisitStarted(visit_ref="v", **COMMON), settings, b"x", rng)["visit_ref"]
    assert one != two


def test_salt_is_drawn_from_the_injected_rng_once_a_day() -> None:
    clock = Clock(T0)
    salt = DailySalt(clock, random.Random(5))
    first = salt.current()
    clock.now = T0 + timedelta(hours=13)
    assert salt.current() == first
    clock.now = T0 + timedelta(hours=14)
    assert salt.current() != first
    assert DailySalt(Clock(T0), random.Random(5)).current() == first


def test_timestamps_and_distances_are_coarsened() -> None:
    out = anonymise_event(
        VisitStarted(visit_ref="v", distance_m=1.37, **COMMON),
        AnonymisationSettings(ts_bucket_s=300),
        b"x",
        random.Random(0),
    )
    assert out["ts"] == "2026-03-01T10:15:00Z"
    assert out["distance_m"] == 1.5


@given(
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)),
    st.sampled_from([1, 60, 300, 3600, 86400]),
)
def test_coarsen_floors_to_the_bucket(ts: datetime, bucket: int) -> None:
    out = coarsen_ts(ts, bucket)
    assert out <= ts < out + timedelta(seconds=bucket)
    assert int(out.timestamp()) % bucket == 0


def test_counts_under_k_are_suppressed() -> None:
    assert suppress_small_counts({"a": 0, "b": 1, "c": 4, "d": 5, "e": 50}, k=5) == {
        "a": 0,
        "b": None,
        "c": None,
        "d": 5,
        "e": 50,
    }


UNROUNDED_S = 19.63673591400004


def _is_duration(name: str, field: FieldInfo) -> bool:
    """A duration as a reader of the event models would see one: seconds in its name or its description."""
    return name.endswith("_s") or (field.description or "").lower().startswith("seconds")


def _duration_paths(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every numeric duration field of ``model``, nested models included, as a key path."""
    paths: list[tuple[str, ...]] = []
    for name, field in model.model_fields.items():
        kinds = [a for a in (typing.get_args(field.annotation) or (field.annotation,)) if a is not type(None)]
        nested = [k for k in kinds if isinstance(k, type) and issubclass(k, BaseModel)]
        if nested:
            paths += _duration_paths(nested[0], (*prefix, name))
        elif _is_duration(name, field) and any(k in (float, int) for k in kinds):
            paths.append((*prefix, name))
    return paths


def _with_durations(event: Event, paths: list[tuple[str, ...]], value: float) -> Event:
    """``event`` with every duration at ``paths`` set to ``value`` (validated, as the kiosk builds it)."""
    data = event.model_dump()
    for path in paths:
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return type(event).model_validate(data)


EVENT_MODELS: list[type[BaseModel]] = list(typing.get_args(typing.get_args(Event)[0]))


def test_the_duration_fields_are_found_from_the_event_models() -> None:
    found = {(m.model_fields["type"].default, p) for m in EVENT_MODELS for p in _duration_paths(m)}
    assert {
        ("visit_ended", ("dwell_s",)),
        ("visit_ended", ("attention_s",)),
        ("visit_ended", ("valence", "positive_s")),
        ("staff_call_acknowledged", ("response_s",)),
    } <= found


@pytest.mark.parametrize("step", [1.0, 0.25, 5.0])
@pytest.mark.parametrize("event", ALL_TYPES, ids=lambda e: e.type)
def test_every_duration_of_every_event_is_rounded_before_it_leaves(event: Event, step: float) -> None:
    paths = _duration_paths(type(event))
    settings = AnonymisationSettings(duration_step_s=step)
    out = anonymise_event(_with_durations(event, paths, UNROUNDED_S), settings, b"x", random.Random(0))
    expected = round(UNROUNDED_S / step) * step
    for path in paths:
        node: Any = out
        for key in path:
            if not isinstance(node, dict) or key not in node:
                break  # not on the allowlist: it does not leave at all
            node = node[key]
        else:
            assert node == pytest.approx(expected, abs=1e-9), (event.type, path, node)
            assert node != pytest.approx(UNROUNDED_S)
    assert keys_outside_allowlist(out) == []
    parse_event(json.dumps(out))  # still a valid event


def test_durations_round_to_one_second_by_default() -> None:
    ended = VisitEnded(visit_ref="v", dwell_s=19.636, attention_s=0.4, watcher=True, glance=True, **COMMON)
    out = anonymise_event(ended, AnonymisationSettings(), b"x", random.Random(0))
    assert (out["dwell_s"], out["attention_s"]) == (20.0, 0.0)
    acked = StaffCallAcknowledged(call_id="c", response_s=6.957618475000004, **COMMON)
    assert anonymise_event(acked, AnonymisationSettings(), b"x", random.Random(0))["response_s"] == 7.0
