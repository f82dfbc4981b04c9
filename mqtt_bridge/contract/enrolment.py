"""Enrolment, renewal and the fleet's notices on the wire: topics and payloads (docs/mqtt.md, "Enrolment").

- **Enrolment by claim**: a device that boots with the shared claim identity subscribes to
  ``{prefix}/_enrol/{request_id}/reply`` (a random ``request_id`` of its own), then publishes an
  :class:`EnrolmentRequest` (its CSR with a single-use token or an allow-listed hardware serial) on
  ``{prefix}/_enrol/{request_id}/request``; the enrolment service answers an :class:`EnrolmentReply`
  (``issued`` with the certificate, the CA and the signed config, or ``refused`` with a reason code and a
  sentence). The claim identity may use these two topics and nothing else.
- **Renewal** over the device's own identity: an :class:`RenewalRequest` on
  ``{prefix}/{store}/{device}/renew/request``, answered on ``.../renew/reply`` (:func:`renew_topics`); the
  broker's ACL lets only that device publish there, so the topic is its proof of identity.
- **Fleet notices**: a retained :class:`FleetDeviceNotice` on ``{prefix}/_fleet/devices/{store}/{device}``
  whenever a device is enrolled, renewed or revoked, so the back office knows the fleet's state.
- **The fleet's time**: a :class:`TimeRequest` on ``{prefix}/{store}/{device}/time/request`` (the device's
  own identity), answered at once with a :class:`TimeReply` on ``.../time/reply`` carrying the service's
  UTC time: the self-test (``provision check``) measures its clock's offset from the round trip.

``_enrol`` and ``_fleet`` start with '_', which no store id may, so they never collide with a store's
topics. QoS 1 and not retained, except the notices (retained).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mqtt_bridge.contract.identity import ID_PATTERN, IdentityConfig
from mqtt_bridge.contract.topics import DeviceTopics, check_prefix

#: The topic level under the prefix for enrolment requests and replies.
ENROL_LEVEL: Final = "_enrol"
#: The topic level under the prefix for the fleet's notices.
FLEET_LEVEL: Final = "_fleet"
ENROL_QOS: Final = 1

#: A request id: random, chosen by the device (16 to 64 URL-safe characters).
REQUEST_ID_PATTERN: Final = r"^[A-Za-z0-9_-]{16,64}$"
#: A CSR or certificate in PEM is at most this long.
MAX_PEM_CHARS: Final = 8192

_REQUEST_ID = re.compile(REQUEST_ID_PATTERN)

#: Why the service refused: a code for programs, with a sentence for people in ``reason``.
RefusalCode = Literal[
    "bad_request",  # not a valid request payload
    "bad_csr",  # not a CSR, a bad self-signature, a key type we do not take
    "name_mismatch",  # the CSR (or request) names another device than the token or serial is for
    "unknown_token",  # the fleet never issued this token
    "token_used",  # the token was used before (by another key)
    "token_expired",  # the token's time is up
    "unknown_serial",  # the hardware serial is not on the allow-list
    "serial_used",  # the serial enrolled before (with another key)
    "revoked",  # the device was revoked; a revoked name is never issued again
    "too_soon",  # a renewal right after the last one, with another key
    "service_error",  # the service failed (its log says why); try again
]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = Field(default=1, description="Version of this payload's schema.")


@dataclass(frozen=True)
class EnrolmentTopics:
    """The claim flow's topics: ``{prefix}/_enrol/{request_id}/request`` and ``.../reply``."""

    prefix: str

    def __post_init__(self) -> None:
        check_prefix(self.prefix)

    def request(self, request_id: str) -> str:
        """Where a device publishes its request."""
        return f"{self.prefix}/{ENROL_LEVEL}/{_check_request_id(request_id)}/request"

    def reply(self, request_id: str) -> str:
        """Where the service answers it (the device subscribes here before it publishes)."""
        return f"{self.prefix}/{ENROL_LEVEL}/{_check_request_id(request_id)}/reply"

    @property
    def request_filter(self) -> str:
        """The service's subscription: every request."""
        return f"{self.prefix}/{ENROL_LEVEL}/+/request"

    @property
    def renew_request_filter(self) -> str:
        """The service's subscription: every device's renewal request."""
        return f"{self.prefix}/+/+/renew/request"

    def request_id_of(self, topic: str) -> str | None:
        """The request id in a request topic, None when the topic is not one."""
        head, tail = f"{self.prefix}/{ENROL_LEVEL}/", "/request"
        if topic.startswith(head) and topic.endswith(tail):
            candidate = topic[len(head) : -len(tail)]
            if _REQUEST_ID.fullmatch(candidate):
                return candidate
        return None

    def device_notice(self, store_id: str, device_id: str) -> str:
        """The retained notice of one device's state: ``{prefix}/_fleet/devices/{store}/{device}``."""
        topics = DeviceTopics(self.prefix, store_id, device_id)  # validates the levels
        return f"{self.prefix}/{FLEET_LEVEL}/devices/{topics.store_id}/{topics.device_id}"

    @property
    def notice_filter(self) -> str:
        """The back office's subscription to every device's notice."""
        return f"{self.prefix}/{FLEET_LEVEL}/devices/+/+"

    def notice_device_of(self, topic: str) -> tuple[str, str] | None:
        """``(store, device)`` of a device notice topic, None when the topic is not one."""
        head = f"{self.prefix}/{FLEET_LEVEL}/devices/"
        if not topic.startswith(head):
            return None
        levels = topic[len(head) :].split("/")
        if len(levels) != 2 or not all(re.fullmatch(ID_PATTERN, level) for level in levels):
            return None
        return levels[0], levels[1]

    @property
    def time_request_filter(self) -> str:
        """The service's subscription: every device's time request."""
        return f"{self.prefix}/+/+/time/request"

    def renewer_of(self, topic: str) -> tuple[str, str] | None:
        """``(store, device)`` of a renewal request topic, None when the topic is not one."""
        return self._device_of(topic, "renew/request")

    def time_asker_of(self, topic: str) -> tuple[str, str] | None:
        """``(store, device)`` of a time request topic, None when the topic is not one."""
        return self._device_of(topic, "time/request")

    def _device_of(self, topic: str, tail: str) -> tuple[str, str] | None:
        head = f"{self.prefix}/"
        if not topic.startswith(head) or not topic.endswith(f"/{tail}"):
            return None
        levels = topic[len(head) :].split("/")
        if len(levels) != 4 or not all(re.fullmatch(ID_PATTERN, level) for level in levels[:2]):
            return None
        return levels[0], levels[1]


def _check_request_id(request_id: str) -> str:
    if not _REQUEST_ID.fullmatch(request_id):
        raise ValueError(f"request id {request_id!r} is not 16-64 URL-safe characters")
    return request_id


def renew_topics(topics: DeviceTopics) -> tuple[str, str]:
    """A device's renewal topics: ``(.../renew/request, .../renew/reply)``."""
    return topics.renew_request, topics.renew_reply


class EnrolmentRequest(_Wire):
    """On ``_enrol/{request_id}/request``, from the claim identity: a CSR and what entitles it."""

    request_id: str = Field(pattern=REQUEST_ID_PATTERN, description="Random, the device's; in both topics.")
    store_id: str | None = Field(
        default=None, pattern=ID_PATTERN, description="The store it asks to be in (required with a token)."
    )
    device_id: str | None = Field(
        default=None, pattern=ID_PATTERN, description="The device id it asks for (required with a token)."
    )
    csr: str = Field(
        max_length=MAX_PEM_CHARS,
        description="PEM certificate signing request; its common name, if any, must be 'store.device'.",
    )
    token: str | None = Field(
        default=None,
        min_length=16,
        max_length=128,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="A single-use enrolment token (provision token new), for the device it was made for.",
    )
    hardware_serial: str | None = Field(
        default=None,
        min_length=4,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="The device's hardware serial, when the fleet allow-listed it (provision serial allow).",
    )
    software_version: str = Field(default="", max_length=64, description="The provisioning tool's version.")

    @model_validator(mode="after")
    def _one_entitlement(self) -> EnrolmentRequest:
        if (self.token is None) == (self.hardware_serial is None):
            raise ValueError("give exactly one of token or hardware_serial")
        if self.token is not None and (self.store_id is None or self.device_id is None):
            raise ValueError("a request with a token names its store_id and device_id")
        return self


class EnrolmentReply(_Wire):
    """On ``_enrol/{request_id}/reply``: the certificate and signed config, or why not."""

    request_id: str = Field(pattern=REQUEST_ID_PATTERN, description="The request answered.")
    status: Literal["issued", "refused"] = Field(description="'issued' or 'refused'.")
    reason_code: RefusalCode | None = Field(default=None, description="Why it was refused (a code).")
    reason: str = Field(default="", max_length=300, description="Why, for a person to read.")
    store_id: str | None = Field(default=None, description="The device's store, when issued.")
    device_id: str | None = Field(default=None, description="The device's id, when issued.")
    certificate: str | None = Field(
        default=None, max_length=MAX_PEM_CHARS, description="cert.pem, when issued."
    )
    ca: str | None = Field(default=None, max_length=MAX_PEM_CHARS, description="ca.pem, when issued.")
    config: IdentityConfig | None = Field(default=None, description="config.toml's content, signed.")
    ts: datetime = Field(description="When the service decided (UTC).")

    @model_validator(mode="after")
    def _issued_is_complete(self) -> EnrolmentReply:
        complete = None not in (self.certificate, self.ca, self.config)
        if self.status == "issued" and not complete:
            raise ValueError("an issued reply carries certificate, ca and config")
        if self.status == "refused" and self.reason_code is None:
            raise ValueError("a refused reply carries a reason_code")
        return self


class RenewalRequest(_Wire):
    """On ``{store}/{device}/renew/request``, from the device itself: a CSR for a new key."""

    request_id: str = Field(pattern=REQUEST_ID_PATTERN, description="Random, the device's.")
    csr: str = Field(max_length=MAX_PEM_CHARS, description="PEM CSR for 'store.device' (or no name).")


class RenewalReply(_Wire):
    """On ``{store}/{device}/renew/reply``: the new certificate and config, or why not."""

    request_id: str = Field(pattern=REQUEST_ID_PATTERN, description="The request answered.")
    status: Literal["issued", "refused"] = Field(description="'issued' or 'refused'.")
    reason_code: RefusalCode | None = Field(default=None, description="Why it was refused (a code).")
    reason: str = Field(default="", max_length=300, description="Why, for a person to read.")
    certificate: str | None = Field(default=None, max_length=MAX_PEM_CHARS, description="The new cert.pem.")
    ca: str | None = Field(default=None, max_length=MAX_PEM_CHARS, description="ca.pem.")
    config: IdentityConfig | None = Field(default=None, description="The new config.toml's content, signed.")
    ts: datetime = Field(description="When the service decided (UTC).")


class FleetDeviceNotice(_Wire):
    """Retained on ``_fleet/devices/{store}/{device}``: a device's state in the fleet's registry."""

    store_id: str = Field(pattern=ID_PATTERN, description="The device's store.")
    device_id: str = Field(pattern=ID_PATTERN, description="The device.")
    state: Literal["active", "revoked"] = Field(description="'active' (enrolled or renewed) or 'revoked'.")
    event: Literal["enrolled", "renewed", "revoked"] = Field(description="What just happened.")
    certificate_serial: str | None = Field(default=None, description="The newest certificate's serial (hex).")
    expires_at: datetime | None = Field(default=None, description="When that certificate expires.")
    reason: str = Field(default="", max_length=300, description="Why (a revocation's reason).")
    ts: datetime = Field(description="When it happened (UTC).")


class TimeRequest(_Wire):
    """On ``{store}/{device}/time/request``, from the device itself: what time is it at the fleet?"""

    request_id: str = Field(
        pattern=REQUEST_ID_PATTERN, description="Random, the device's; the reply names it back."
    )


class TimeReply(_Wire):
    """On ``{store}/{device}/time/reply``: the enrolment service's clock when it answered."""

    request_id: str = Field(pattern=REQUEST_ID_PATTERN, description="The request answered.")
    ts: datetime = Field(
        description="The service's UTC time when it answered, to the microsecond: the device compares it "
        "with the midpoint of its own send and receive times (the round trip bounds the error)."
    )


#: The enrolment token's text in a QR code: ``vitrina-enrol:{store}/{device}/{token}``.
ENROLMENT_URI_SCHEME: Final = "vitrina-enrol:"
_URI = re.compile(
    r"^vitrina-enrol:([a-z0-9][a-z0-9_-]{0,63})/([a-z0-9][a-z0-9_-]{0,63})/([A-Za-z0-9_-]{16,128})$"
)


def enrolment_uri(store_id: str, device_id: str, token: str) -> str:
    """What the QR code of an enrolment token holds."""
    uri = f"{ENROLMENT_URI_SCHEME}{store_id}/{device_id}/{token}"
    if not _URI.fullmatch(uri):
        raise ValueError(f"cannot make an enrolment URI of {store_id!r}, {device_id!r} and that token")
    return uri


def parse_enrolment_uri(text: str) -> tuple[str, str, str]:
    """``(store, device, token)`` of a scanned QR code; ValueError when it is not an enrolment URI."""
    match = _URI.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a Vitrina enrolment code (it starts {ENROLMENT_URI_SCHEME!r}): {text[:40]!r}")
    return match.group(1), match.group(2), match.group(3)


#: Every enrolment wire model, by the name of its schema file in docs/schemas/.
ENROLMENT_MODELS: Final[dict[str, type[BaseModel]]] = {
    "enrolment_request": EnrolmentRequest,
    "enrolment_reply": EnrolmentReply,
    "renewal_request": RenewalRequest,
    "renewal_reply": RenewalReply,
    "fleet_device_notice": FleetDeviceNotice,
    "time_request": TimeRequest,
    "time_reply": TimeReply,
    "identity_config": IdentityConfig,
}
