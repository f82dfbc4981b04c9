"""Exceptions of :mod:`provisioning`. Every message says what was wrong and what to do about it."""


class ProvisioningError(Exception):
    """Base class of every error raised by :mod:`provisioning`."""
