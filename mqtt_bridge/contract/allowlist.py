"""The anonymisation allowlist: the only fields and keys that may leave a device.

The device's anonymiser (:mod:`cloud_sync.anonymise`) keeps only the fields listed here for an event's
``type``; the back office's ingest refuses any payload with a key outside :data:`PAYLOAD_KEYS`, or with a
key in :data:`FORBIDDEN_KEYS` anywhere. Both sides read the same lists, so they cannot drift.

The chat (:mod:`mqtt_bridge.contract.chat`) has its own lists: :data:`CHAT_ALLOWLIST` per chat message type,
checked by :func:`chat_keys_outside_allowlist` on the ``chat`` topic only. The keys that carry a person's
words (:data:`CHAT_TEXT_KEYS`) are in no event's list, so an event batch that carries them is refused; and
no chat payload may carry a visit, a valence or anything of the face (:data:`CHAT_FORBIDDEN_KEYS`).
:func:`payload_keys_outside_allowlist` picks the right check by the topic's kind.
"""

from __future__ import annotations

from typing import Final

from pydantic import JsonValue

_COMMON: Final = frozenset({"schema_version", "event_id", "ts", "store_id", "device_id", "type"})

#: The fields of each event type that may leave the device. Anything else is dropped.
EVENT_ALLOWLIST: Final[dict[str, frozenset[str]]] = {
    "visit_started": _COMMON | {"visit_ref", "distance_m", "crowd_size"},
    "visit_ended": _COMMON
    | {"visit_ref", "dwell_s", "attention_s", "watcher", "glance", "valence"}
    | {"frustrated", "frustrated_after"},
    "offer_shown": _COMMON
    | {"offer_id", "visit_ref", "reason", "language", "valence", "arm", "catalogue_version"},
    "offer_tapped": _COMMON | {"offer_id", "visit_ref", "arm"},
    "offer_ended": _COMMON
    | {
        "offer_id",
        "visit_ref",
        "arm",
        "catalogue_version",
        "shown_s",
        "attention_s",
        "attended",
        "tapped",
        "valence_before",
        "valence_during",
    },
    "offer_redeemed": _COMMON | {"offer_id", "code", "arm"},
    "feedback": _COMMON | {"kind", "score", "offer_id", "visit_ref", "valence", "catalogue_version"},
    "staff_call": _COMMON | {"call_id", "reason", "zone", "visit_ref", "offer_id"},
    "staff_call_acknowledged": _COMMON | {"call_id", "response_s"},
    "consent_changed": _COMMON | {"visit_ref", "state", "mode"},
    "health": _COMMON | {"fps", "inference_ms", "dropped_frames", "camera_ok", "queue_depths"},
}

_VALENCE_MIX: Final = frozenset({"negative_s", "neutral_s", "positive_s"})

#: Keys allowed inside nested objects of events (the valence mixes).
NESTED_ALLOWLIST: Final[dict[str, frozenset[str]]] = {
    "valence": _VALENCE_MIX,
    "valence_before": _VALENCE_MIX,
    "valence_during": _VALENCE_MIX,
}

#: Fields whose value is a map of names to numbers (its keys are data, not fields).
MAP_FIELDS: Final = frozenset({"queue_depths", "models", "dropped", "values"})

#: Every key that may appear in a payload the device publishes (wire envelopes and events).
PAYLOAD_KEYS: Final = frozenset().union(
    *EVENT_ALLOWLIST.values(),
    *NESTED_ALLOWLIST.values(),
    {
        "schema_version",
        "state",
        "ts",
        "software_version",
        "models",
        "capabilities",
        "config_hash",
        "protocol",
        "privacy_mode",
        "batch_id",
        "store_id",
        "device_id",
        "events",
        "uptime_s",
        "outbox_depth",
        "outbox_bytes",
        "dropped",
        "values",
        "command",
        "command_id",
        "status",
        "reason",
        "version",
        "installed_version",
    },
)

#: Keys that must never appear anywhere in a payload, whatever the allowlist says.
FORBIDDEN_KEYS: Final = frozenset(
    {"image", "frame", "crop", "face", "embedding", "landmarks", "visit_id", "track_id", "person_id", "bbox"}
)


def keys_outside_allowlist(payload: JsonValue, path: str = "") -> list[str]:
    """Every key path in ``payload`` that is not in :data:`PAYLOAD_KEYS` (or is forbidden), recursively.

    Keys inside :data:`MAP_FIELDS` are names (queue names, model names) and are not checked, but their
    values must be scalars.
    """
    return _outside(payload, PAYLOAD_KEYS, FORBIDDEN_KEYS, MAP_FIELDS, path)


_CHAT_COMMON: Final = frozenset({"schema_version", "message_id", "conversation_id", "seq", "ts", "type"})

#: The fields of each chat message type that may leave the device (``chat`` topic only).
CHAT_ALLOWLIST: Final[dict[str, frozenset[str]]] = {
    "chat_opened": _CHAT_COMMON | {"lang", "opened_from", "faq_version", "on_duty"},
    "shopper_message": _CHAT_COMMON | {"text", "lang", "masked", "suggested"},
    "bot_reply": _CHAT_COMMON
    | {"in_reply_to", "action", "entry", "options", "confidence", "guesses", "text", "lang"},
    "handoff_requested": _CHAT_COMMON | {"reason", "detail", "on_duty", "wait_s"},
    "handoff_unanswered": _CHAT_COMMON | {"reason"},
    "operator_receipt": _CHAT_COMMON | {"operator_message_id", "action", "status", "reason"},
    "chat_ended": _CHAT_COMMON | {"reason"},
    "chat_csat": _CHAT_COMMON | {"score"},
}

#: Keys allowed inside nested objects of chat messages (the bot's guesses).
CHAT_NESTED_ALLOWLIST: Final[dict[str, frozenset[str]]] = {"guesses": frozenset({"entry", "score"})}

#: Every key that may appear in a payload on the ``chat`` topic (the batch envelope and its messages).
CHAT_PAYLOAD_KEYS: Final = frozenset().union(
    *CHAT_ALLOWLIST.values(),
    *CHAT_NESTED_ALLOWLIST.values(),
    {"schema_version", "batch_id", "store_id", "device_id", "messages"},
)

#: Keys that carry a person's words or the conversation: allowed on the chat topics only, never in events.
CHAT_TEXT_KEYS: Final = frozenset(
    {"text", "conversation_id", "message_id", "in_reply_to", "guesses", "display_name", "messages"}
)

#: Keys that must never appear in a chat payload: the face's, and anything that links to a visit.
CHAT_FORBIDDEN_KEYS: Final = FORBIDDEN_KEYS | frozenset(
    {
        "visit_ref",
        "valence",
        "valence_before",
        "valence_during",
        "distance_m",
        "offer_id",
        "arm",
        "call_id",
        "event_id",
    }
)


def _outside(
    payload: JsonValue, allowed: frozenset[str], forbidden: frozenset[str], maps: frozenset[str], path: str
) -> list[str]:
    found: list[str] = []
    if isinstance(payload, dict):
        for key, value in payload.items():
            where = f"{path}.{key}" if path else key
            if key not in allowed or key in forbidden:
                found.append(where)
            elif key in maps and isinstance(value, dict):
                found.extend(f"{where}.{k}" for k, v in value.items() if isinstance(v, dict | list))
            else:
                found.extend(_outside(value, allowed, forbidden, maps, where))
    elif isinstance(payload, list):
        for item in payload:
            found.extend(_outside(item, allowed, forbidden, maps, f"{path}[]"))
    return found


def chat_keys_outside_allowlist(payload: JsonValue) -> list[str]:
    """Every key path in a ``chat`` payload that is not in :data:`CHAT_PAYLOAD_KEYS` (or is in
    :data:`CHAT_FORBIDDEN_KEYS`), recursively."""
    return _outside(payload, CHAT_PAYLOAD_KEYS, CHAT_FORBIDDEN_KEYS, frozenset(), "")


def payload_keys_outside_allowlist(kind: str, payload: JsonValue) -> list[str]:
    """The allowlist check of a payload a device published on a topic of ``kind`` (a
    :class:`~mqtt_bridge.contract.topics.ParsedTopic` kind): the chat's lists on ``chat``, the events'
    lists (:func:`keys_outside_allowlist`) everywhere else."""
    if kind == "chat":
        return chat_keys_outside_allowlist(payload)
    return keys_outside_allowlist(payload)
