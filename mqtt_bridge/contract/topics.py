"""Vitrina's versioned MQTT topic tree. Every topic string in Vitrina is built here, and only here.

``{prefix}/{store}/{device}/...`` with the prefix ``vitrina/v1`` by default (``[mqtt] topic_prefix``):

- ``status``: retained ``online`` on connect, ``offline`` as the last will, ``stopped`` on a clean exit;
- ``birth``: retained software and model versions, capabilities and configuration hash;
- ``events``: batches of anonymised events, QoS 1;
- ``metrics``: periodic health, QoS 0;
- ``alerts``: staff calls, QoS 1;
- ``chat``: the chat's messages (conversation, shopper and bot messages, hand-offs), QoS 1
  (:mod:`mqtt_bridge.contract.chat`); ``chat/operator``: the back office's signed operator messages, QoS 1;
- ``cmd/<name>``: inbound commands; ``cmd/<name>/result``: their outcome;
- ``catalogue/result``: what the device did with the store's catalogue release;
- ``renew/request`` and ``renew/reply``: certificate renewal over the device's own identity (the payloads
  are in :mod:`mqtt_bridge.contract.enrolment`);
- ``time/request`` and ``time/reply``: the fleet's time, asked by the device's self-test and answered by
  the enrolment service (payloads in :mod:`mqtt_bridge.contract.enrolment`).

One topic is per store, not per device: ``{prefix}/{store}/catalogue``, the back office's signed offer
catalogue, retained (:class:`StoreTopics`).

docs/mqtt.md has the same list as a table; tests/test_topics.py keeps the two in step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

from mqtt_bridge.contract.errors import TopicError

#: Topic kinds a device publishes (the last level of the topic).
DeviceKind = Literal["status", "birth", "events", "metrics", "alerts", "chat"]
DEVICE_KINDS: Final[tuple[DeviceKind, ...]] = ("status", "birth", "events", "metrics", "alerts", "chat")

#: QoS and retain flag of each kind a device publishes.
QOS: Final[dict[DeviceKind, int]] = {
    "status": 1,
    "birth": 1,
    "events": 1,
    "metrics": 0,
    "alerts": 1,
    "chat": 1,
}
RETAIN: Final[dict[DeviceKind, bool]] = {
    "status": True,
    "birth": True,
    "events": False,
    "metrics": False,
    "alerts": False,
    "chat": False,
}

_SEGMENT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_PREFIX_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _check_segment(value: str, what: str) -> str:
    if not _SEGMENT.fullmatch(value):
        raise TopicError(
            f"{what} {value!r} is not a valid topic level: use 1-64 characters of a-z, 0-9, '_' and '-', "
            "starting with a letter or digit"
        )
    return value


def check_prefix(prefix: str) -> str:
    """Validate a topic prefix (``vitrina/v1``): levels of letters, digits, '.', '_' or '-'."""
    levels = prefix.split("/")
    if not prefix or not all(_PREFIX_SEGMENT.fullmatch(level) for level in levels):
        raise TopicError(
            f"topic prefix {prefix!r} is not valid: use '/'-separated levels of letters, digits, '.', '_' "
            "and '-', with no wildcards (+, #), no leading or trailing '/'"
        )
    return prefix


@dataclass(frozen=True)
class DeviceTopics:
    """The topics of one device: ``{prefix}/{store}/{device}/...``."""

    prefix: str
    store_id: str
    device_id: str

    def __post_init__(self) -> None:
        check_prefix(self.prefix)
        _check_segment(self.store_id, "store id")
        _check_segment(self.device_id, "device id")

    @property
    def base(self) -> str:
        """``{prefix}/{store}/{device}``."""
        return f"{self.prefix}/{self.store_id}/{self.device_id}"

    def kind(self, kind: DeviceKind) -> str:
        """The topic of one kind the device publishes."""
        return f"{self.base}/{kind}"

    @property
    def status(self) -> str:
        """Retained ``online`` / ``offline`` (last will) / ``stopped``."""
        return self.kind("status")

    @property
    def birth(self) -> str:
        """Retained birth certificate: versions, capabilities, configuration hash."""
        return self.kind("birth")

    @property
    def events(self) -> str:
        """Event batches, QoS 1."""
        return self.kind("events")

    @property
    def metrics(self) -> str:
        """Periodic health."""
        return self.kind("metrics")

    @property
    def alerts(self) -> str:
        """Staff calls, QoS 1."""
        return self.kind("alerts")

    @property
    def chat(self) -> str:
        """The chat's messages (device -> back office), QoS 1: a
        :class:`~mqtt_bridge.contract.chat.ChatBatch`."""
        return self.kind("chat")

    @property
    def chat_operator(self) -> str:
        """Signed operator messages (back office -> device), QoS 1: ``chat/operator``
        (:class:`~mqtt_bridge.contract.chat.OperatorChatMessage`)."""
        return f"{self.base}/chat/operator"

    def command(self, name: str) -> str:
        """Inbound command ``cmd/<name>``."""
        return f"{self.base}/cmd/{_check_segment(name, 'command name')}"

    def command_result(self, name: str) -> str:
        """Outcome of a command: ``cmd/<name>/result``."""
        return f"{self.command(name)}/result"

    @property
    def command_result_filter(self) -> str:
        """Subscription filter for every command result of this device: ``cmd/+/result``."""
        return f"{self.base}/cmd/+/result"

    @property
    def command_filter(self) -> str:
        """Subscription filter for every command to this device: ``cmd/+``."""
        return f"{self.base}/cmd/+"

    @property
    def store(self) -> StoreTopics:
        """The topics of this device's store."""
        return StoreTopics(self.prefix, self.store_id)

    @property
    def catalogue_result(self) -> str:
        """What the device did with the store's catalogue release: ``catalogue/result``, QoS 1."""
        return f"{self.base}/catalogue/result"

    @property
    def renew_request(self) -> str:
        """The device asks the enrolment service for a renewed certificate: ``renew/request``, QoS 1."""
        return f"{self.base}/renew/request"

    @property
    def renew_reply(self) -> str:
        """The enrolment service's answer to a renewal: ``renew/reply``, QoS 1."""
        return f"{self.base}/renew/reply"

    @property
    def time_request(self) -> str:
        """The device asks the fleet's time (its self-test): ``time/request``, QoS 1."""
        return f"{self.base}/time/request"

    @property
    def time_reply(self) -> str:
        """The enrolment service's UTC time, in answer: ``time/reply``, QoS 1."""
        return f"{self.base}/time/reply"


@dataclass(frozen=True)
class StoreTopics:
    """The topics of one store, shared by all its devices: ``{prefix}/{store}/...``."""

    prefix: str
    store_id: str

    def __post_init__(self) -> None:
        check_prefix(self.prefix)
        _check_segment(self.store_id, "store id")

    @property
    def catalogue(self) -> str:
        """The store's signed offer catalogue release, retained, QoS 1 (back office -> devices)."""
        return f"{self.prefix}/{self.store_id}/catalogue"

    @property
    def catalogue_result_filter(self) -> str:
        """Subscription filter for every device's catalogue result in this store."""
        return f"{self.prefix}/{self.store_id}/+/catalogue/result"


#: QoS and retain flag of the catalogue topics (not device kinds, so not in :data:`QOS`).
CATALOGUE_QOS: Final = 1
CATALOGUE_RETAIN: Final = True
CATALOGUE_RESULT_QOS: Final = 1
CATALOGUE_RESULT_RETAIN: Final = False
#: QoS and retain flag of ``chat/operator`` (back office -> device; not a device kind).
CHAT_OPERATOR_QOS: Final = 1
CHAT_OPERATOR_RETAIN: Final = False


def fleet_filter(prefix: str, kind: DeviceKind) -> str:
    """Filter for one kind from every device: ``{prefix}/+/+/{kind}``."""
    return f"{check_prefix(prefix)}/+/+/{kind}"


def shared_filter(group: str, prefix: str, kind: DeviceKind) -> str:
    """MQTT 5 shared subscription ``$share/{group}/{prefix}/+/+/{kind}``: the group splits the load."""
    return f"$share/{_check_segment(group, 'share group')}/{fleet_filter(prefix, kind)}"


def catalogue_result_filter(prefix: str, group: str | None = None) -> str:
    """Filter for every device's ``catalogue/result``: ``{prefix}/+/+/catalogue/result``, or the MQTT 5
    shared subscription ``$share/{group}/...`` of it."""
    plain = f"{check_prefix(prefix)}/+/+/catalogue/result"
    return f"$share/{_check_segment(group, 'share group')}/{plain}" if group else plain


@dataclass(frozen=True)
class ParsedTopic:
    """A topic of the tree, taken apart."""

    store_id: str
    #: Empty for a store-level topic (``catalogue``).
    device_id: str
    kind: (
        DeviceKind
        | Literal["cmd", "cmd_result", "catalogue", "catalogue_result", "chat_operator"]
        | Literal["renew_request", "renew_reply", "time_request", "time_reply"]
    )
    command: str | None = None


FixedKind = Literal[
    "catalogue_result", "chat_operator", "renew_request", "renew_reply", "time_request", "time_reply"
]

#: Device topics of two fixed levels, by their levels.
_FIXED_KINDS: Final[dict[tuple[str, ...], FixedKind]] = {
    ("catalogue", "result"): "catalogue_result",
    ("chat", "operator"): "chat_operator",
    ("renew", "request"): "renew_request",
    ("renew", "reply"): "renew_reply",
    ("time", "request"): "time_request",
    ("time", "reply"): "time_reply",
}


def parse_topic(prefix: str, topic: str) -> ParsedTopic:
    """Take a topic of the tree apart; raises :class:`TopicError` for anything else."""
    head = check_prefix(prefix) + "/"
    if not topic.startswith(head):
        raise TopicError(f"topic {topic!r} is not under the prefix {prefix!r}")
    levels = topic[len(head) :].split("/")
    if len(levels) == 2 and levels[1] == "catalogue":
        return ParsedTopic(_check_segment(levels[0], "store id"), "", "catalogue")
    if len(levels) < 3:
        raise TopicError(f"topic {topic!r} has no store/device/kind levels")
    store, device, rest = (
        _check_segment(levels[0], "store id"),
        _check_segment(levels[1], "device id"),
        levels[2:],
    )
    if len(rest) == 1:
        for kind in DEVICE_KINDS:
            if rest[0] == kind:
                return ParsedTopic(store, device, kind)
    if rest[0] == "cmd" and len(rest) == 2:
        return ParsedTopic(store, device, "cmd", _check_segment(rest[1], "command name"))
    if rest[0] == "cmd" and len(rest) == 3 and rest[2] == "result":
        return ParsedTopic(store, device, "cmd_result", _check_segment(rest[1], "command name"))
    fixed = _FIXED_KINDS.get(tuple(rest))
    if fixed is not None:
        return ParsedTopic(store, device, fixed)
    raise TopicError(f"topic {topic!r} is not one of Vitrina's topics (see docs/mqtt.md)")
