"""The topic tree: built in one place, versioned, validated, and documented in docs/mqtt.md."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mqtt_bridge.contract.enrolment import EnrolmentTopics
from mqtt_bridge.contract.errors import TopicError
from mqtt_bridge.contract.topics import (
    CATALOGUE_QOS,
    CATALOGUE_RESULT_QOS,
    CATALOGUE_RESULT_RETAIN,
    CATALOGUE_RETAIN,
    DEVICE_KINDS,
    QOS,
    RETAIN,
    DeviceTopics,
    StoreTopics,
    parse_topic,
    shared_filter,
)

T = DeviceTopics("vitrina/v1", "store-1", "kiosk_2")


def test_every_topic_is_under_the_prefix_store_and_device() -> None:
    assert T.status == "vitrina/v1/store-1/kiosk_2/status"
    assert T.birth == "vitrina/v1/store-1/kiosk_2/birth"
    assert T.events == "vitrina/v1/store-1/kiosk_2/events"
    assert T.metrics == "vitrina/v1/store-1/kiosk_2/metrics"
    assert T.alerts == "vitrina/v1/store-1/kiosk_2/alerts"
    assert T.command("purge") == "vitrina/v1/store-1/kiosk_2/cmd/purge"
    assert T.command_result("purge") == "vitrina/v1/store-1/kiosk_2/cmd/purge/result"
    assert T.command_filter == "vitrina/v1/store-1/kiosk_2/cmd/+"
    assert T.catalogue_result == "vitrina/v1/store-1/kiosk_2/catalogue/result"


def test_the_catalogue_is_per_store() -> None:
    assert T.store == StoreTopics("vitrina/v1", "store-1")
    assert T.store.catalogue == "vitrina/v1/store-1/catalogue"
    assert T.store.catalogue_result_filter == "vitrina/v1/store-1/+/catalogue/result"
    with pytest.raises(TopicError):
        StoreTopics("vitrina/v1", "Store 1")


def test_the_prefix_is_configurable() -> None:
    assert DeviceTopics("acme/vitrina/v2", "s", "d").events == "acme/vitrina/v2/s/d/events"


def test_shared_subscription_filter() -> None:
    assert shared_filter("ingest", "vitrina/v1", "events") == "$share/ingest/vitrina/v1/+/+/events"


@pytest.mark.parametrize("bad", ["", "a/b", "+", "#", "A", "a b", "x" * 65, "-a"])
def test_invalid_levels_are_refused(bad: str) -> None:
    with pytest.raises(TopicError):
        DeviceTopics("vitrina/v1", bad, "d")
    with pytest.raises(TopicError):
        T.command(bad)


@pytest.mark.parametrize("bad", ["", "/v1", "v1/", "a/+/b", "a/#", "a//b"])
def test_invalid_prefixes_are_refused(bad: str) -> None:
    with pytest.raises(TopicError):
        DeviceTopics(bad, "s", "d")


def test_parse_round_trips() -> None:
    for kind in DEVICE_KINDS:
        parsed = parse_topic("vitrina/v1", T.kind(kind))
        assert (parsed.store_id, parsed.device_id, parsed.kind) == ("store-1", "kiosk_2", kind)
    assert parse_topic("vitrina/v1", T.command("purge")).command == "purge"
    assert parse_topic("vitrina/v1", T.command_result("purge")).kind == "cmd_result"
    store = parse_topic("vitrina/v1", T.store.catalogue)
    assert (store.store_id, store.device_id, store.kind) == ("store-1", "", "catalogue")
    result = parse_topic("vitrina/v1", T.catalogue_result)
    assert (result.store_id, result.device_id, result.kind) == ("store-1", "kiosk_2", "catalogue_result")
    for topic, kind in ((T.time_request, "time_request"), (T.time_reply, "time_reply")):
        assert parse_topic("vitrina/v1", topic).kind == kind
    assert EnrolmentTopics("vitrina/v1").time_asker_of(T.time_request) == ("store-1", "kiosk_2")
    assert EnrolmentTopics("vitrina/v1").time_asker_of(T.time_reply) is None
    assert EnrolmentTopics("vitrina/v1").time_asker_of(T.renew_request) is None
    for junk in (
        "vitrina/v1/store-1/catalogue/x",
        "vitrina/v1/store-1/kiosk_2/catalogue",
        "vitrina/v1/S/catalogue",
    ):
        with pytest.raises(TopicError):
            parse_topic("vitrina/v1", junk)


@given(st.text(max_size=80))
def test_parse_never_crashes_on_junk(topic: str) -> None:
    with contextlib.suppress(TopicError):
        parse_topic("vitrina/v1", topic)


def test_docs_table_lists_every_topic_with_its_qos_and_retain(repo_root: Path) -> None:
    text = (repo_root / "docs" / "mqtt.md").read_text(encoding="utf-8")
    rows = {
        m.group(1): (int(m.group(2)), m.group(3) == "yes")
        for m in re.finditer(
            r"^\| `vitrina/v1/\{store\}/\{device\}/(\S+)` \| [^|]+ \| (\d) \| (yes|no) \|", text, re.M
        )
    }
    for kind in DEVICE_KINDS:
        assert rows[kind] == (QOS[kind], RETAIN[kind]), kind
    assert "cmd/{name}" in rows
    assert "cmd/{name}/result" in rows
    assert rows["catalogue/result"] == (CATALOGUE_RESULT_QOS, CATALOGUE_RESULT_RETAIN)
    store_row = re.search(r"^\| `vitrina/v1/\{store\}/catalogue` \| [^|]+ \| (\d) \| (yes|no) \|", text, re.M)
    assert store_row is not None, "docs/mqtt.md has no row for the store's catalogue topic"
    assert (int(store_row.group(1)), store_row.group(2) == "yes") == (CATALOGUE_QOS, CATALOGUE_RETAIN)
