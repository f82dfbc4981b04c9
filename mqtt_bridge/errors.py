"""Exceptions of :mod:`mqtt_bridge`. Every message says what was wrong and what to do about it."""


class MqttBridgeError(Exception):
    """Base class of every error raised by :mod:`mqtt_bridge`."""


class SecretUnavailableError(MqttBridgeError):
    """A secret named in the configuration cannot be read from its environment variable or file."""
