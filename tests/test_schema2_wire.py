"""Event schema 2 on the wire: what the brain computes (the arm, offer_ended's aggregates, frustration, the
staff call's visit and offer) and the birth's consent mode survive the device's anonymisation and pass the
back office's ingest validation; a version-1 event is still accepted."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest
from brain_rig import Rig, face

from backoffice.ingest import parse_messages
from cloud_sync.anonymise import Anonymiser
from cloud_sync.settings import AnonymisationSettings
from kiosk.config import KioskConfig, PrivacyConfig, PrivacyMode, StaffConfig, TrackerConfig
from kiosk.link.sync import birth_payload
from mqtt_bridge.contract.events import (
    Event,
    OfferEnded,
    OfferShown,
    OfferTapped,
    StaffCall,
    VisitEnded,
)
from mqtt_bridge.contract.payloads import EventBatch
from mqtt_bridge.contract.topics import DeviceTopics

PREFIX = "vitrina/v1"


def _schema2_run(repo_root: Path) -> Rig:
    """A shopper is shown an offer, taps it, turns frustrated and asks for a person, then leaves."""
    config = KioskConfig(
        tracker=TrackerConfig(valence_half_life_s=0.01, valence_min_evidence=0.5),
        staff=StaffConfig(negative_enter_s=2.0),
    )
    rig = Rig(repo_root, config)
    rig.frames(3.0, [face("positive")])
    rig.touch("tap")
    rig.frames(3.0, [face("negative")])  # frustrated after 2 s: a negative_valence call
    rig.touch("call_staff")
    rig.frames(2.0, [])
    return rig


def _wire(events: list[Event], store: str, device: str) -> list[tuple[str, bytes]]:
    """The device's anonymised batches, alerts on ``alerts`` and the rest on ``events``, as published."""
    anonymiser = Anonymiser(AnonymisationSettings(), lambda: datetime.now(UTC), random.Random(3))
    topics = DeviceTopics(PREFIX, store, device)
    out = []
    for kind, topic in (("alert", topics.alerts), ("normal", topics.events)):
        batch = [anonymiser(e) for e in events if (e.priority == "alert") == (kind == "alert")]
        payload = EventBatch(batch_id=kind, store_id=store, device_id=device, events=batch)
        out.append((topic, payload.model_dump_json().encode()))
    return out


def test_the_new_fields_leave_anonymised_and_pass_the_ingest(repo_root: Path) -> None:
    rig = _schema2_run(repo_root)
    device = rig.config.device
    parsed = parse_messages(PREFIX, _wire(rig.events, device.store_id, device.device_id))
    assert parsed.refusals == [] and len(parsed.events) == len(rig.events)
    assert {e.schema_version for e in parsed.events} == {2}

    def got(kind: type) -> list[Event]:
        return [e for e in parsed.events if isinstance(e, kind)]

    (shown,), (tapped,), (ended,) = got(OfferShown), got(OfferTapped), got(OfferEnded)
    assert isinstance(shown, OfferShown) and isinstance(tapped, OfferTapped) and isinstance(ended, OfferEnded)
    (sent_ended,) = rig.of(OfferEnded)
    assert shown.arm is not None and shown.arm == tapped.arm == ended.arm == sent_ended.arm
    assert ended.tapped and ended.attended and ended.offer_id == shown.offer_id
    # Durations leave rounded to the second (anonymisation), the valence mixes too.
    assert ended.shown_s == round(sent_ended.shown_s) and ended.shown_s > 0
    assert ended.valence_before.positive_s == round(sent_ended.valence_before.positive_s) > 0
    assert ended.valence_during.positive_s == round(sent_ended.valence_during.positive_s) > 0

    (visit,) = got(VisitEnded)
    assert isinstance(visit, VisitEnded) and visit.frustrated and visit.frustrated_after == shown.offer_id
    calls = [c for c in got(StaffCall) if isinstance(c, StaffCall)]
    assert [c.reason for c in calls] == ["negative_valence", "shopper_request"]
    assert {c.offer_id for c in calls} == {shown.offer_id}
    refs = {shown.visit_ref, tapped.visit_ref, ended.visit_ref, visit.visit_ref} | {
        c.visit_ref for c in calls
    }
    assert len(refs) == 1 and None not in refs, "one visit, joinable within the day"
    stored = "".join(json.dumps(json.loads(p)) for _, p in _wire(rig.events, "s", "d"))
    assert not any(vid in stored for vid in rig.visit_ids), "an ephemeral id leaked"


@pytest.mark.parametrize("mode", ["presence_only", "notice", "opt_in"])
def test_the_birth_carries_the_consent_mode_through_the_ingest(mode: PrivacyMode) -> None:
    config = KioskConfig(privacy=PrivacyConfig(mode=mode))
    birth = birth_payload(config, models={}, offers=True, commands={})
    assert (birth.schema_version, birth.privacy_mode) == (2, mode)
    topic = DeviceTopics(PREFIX, "s1", "d1").birth
    parsed = parse_messages(PREFIX, [(topic, birth.model_dump_json().encode())])
    assert parsed.refusals == [] and [b.privacy_mode for _, _, b in parsed.births] == [mode]


def test_a_version_1_event_and_birth_are_still_accepted() -> None:
    v1 = {
        "schema_version": 1,
        "event_id": "e1",
        "ts": "2026-01-01T06:00:00Z",
        "store_id": "s1",
        "device_id": "d1",
        "type": "visit_ended",
        "visit_ref": "r",
        "dwell_s": 3.0,
        "attention_s": 2.0,
        "watcher": True,
        "glance": False,
        "valence": {"negative_s": 0.0, "neutral_s": 1.0, "positive_s": 2.0},
    }
    batch = EventBatch(batch_id="b", store_id="s1", device_id="d1", events=[v1])
    birth = {"schema_version": 1, "software_version": "0.1.0", "config_hash": "0" * 64, "ts": v1["ts"]}
    topics = DeviceTopics(PREFIX, "s1", "d1")
    parsed = parse_messages(
        PREFIX,
        [(topics.events, batch.model_dump_json().encode()), (topics.birth, json.dumps(birth).encode())],
    )
    assert parsed.refusals == []
    (event,) = parsed.events
    assert isinstance(event, VisitEnded) and event.schema_version == 1 and not event.frustrated
    assert [b.privacy_mode for _, _, b in parsed.births] == [None]
