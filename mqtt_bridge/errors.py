"""Exceptions of :mod:`mqtt_bridge`. Every message says what was wrong and what to do about it."""

from __future__ import annotations


class MqttBridgeError(Exception):
    """Base class of every error raised by :mod:`mqtt_bridge`."""


class SecretUnavailableError(MqttBridgeError):
    """A secret named in the configuration cannot be read from its environment variable or file."""


class BrokerUrlError(MqttBridgeError, ValueError):
    """A broker URL (``mqtt://host:port``) cannot be used; ``option`` names the option at fault."""

    def __init__(self, message: str, option: str = "--broker") -> None:
        super().__init__(message)
        self.option = option


class MqttReasonError(MqttBridgeError):
    """An MQTT operation failed with a reason code from the broker or from paho.

    ``reason_code`` is the numeric MQTT 5 reason code (or paho's error code for local failures) and
    ``reason`` its name, so callers can branch on the code and people can read the name.
    """

    def __init__(self, message: str, reason_code: int, reason: str) -> None:
        super().__init__(f"{message} (reason {reason_code}: {reason})")
        self.reason_code = reason_code
        self.reason = reason


class ConnectionRefusedByBrokerError(MqttReasonError):
    """The broker answered CONNECT with a failure: bad credentials, not authorised, banned, ...

    The transport is never considered connected after this; check the user name, password or client
    certificate, and the broker's access control list.
    """


class NotConnectedError(MqttReasonError):
    """The transport has no connection to the broker (yet, or any more)."""


class PublishError(MqttReasonError):
    """paho refused to queue a message, or the broker answered its PUBACK with a failure."""
