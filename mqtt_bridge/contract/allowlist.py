"""The anonymisation allowlist: the only fields and keys that may leave a device.

The device's anonymiser (:mod:`cloud_sync.anonymise`) keeps only the fields listed here for an event's
``type``; the back office's ingest refuses any payload with a key outside :data:`PAYLOAD_KEYS`, or with a
key in :data:`FORBIDDEN_KEYS` anywhere. Both sides read the same lists, so they cannot drift.
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
    found: list[str] = []
    if isinstance(payload, dict):
        for key, value in payload.items():
            where = f"{path}.{key}" if path else key
            if key not in PAYLOAD_KEYS or key in FORBIDDEN_KEYS:
                found.append(where)
            elif key in MAP_FIELDS and isinstance(value, dict):
                found.extend(f"{where}.{k}" for k, v in value.items() if isinstance(v, dict | list))
            else:
                found.extend(keys_outside_allowlist(value, where))
    elif isinstance(payload, list):
        for item in payload:
            found.extend(keys_outside_allowlist(item, f"{path}[]"))
    return found
