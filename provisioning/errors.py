"""Exceptions of :mod:`provisioning`. Every message says what was wrong and what to do about it."""

from __future__ import annotations

from mqtt_bridge.contract.enrolment import RefusalCode


class ProvisioningError(Exception):
    """Base class of every error raised by :mod:`provisioning`."""


class FleetError(ProvisioningError):
    """The fleet folder is missing, incomplete or would be overwritten; the message says what to run."""


class CsrError(ProvisioningError):
    """A certificate signing request cannot be used: not PEM, a bad self-signature, a key we do not take."""


class CrlError(ProvisioningError):
    """A new CRL failed its checks; the broker keeps the good one it has."""


class RegistryError(ProvisioningError):
    """The fleet's registry refuses a change: an unknown or revoked device, a name already enrolled."""


class EnrolmentRefusedError(ProvisioningError):
    """The enrolment service refused a request; ``code`` is the reason code sent to the device."""

    def __init__(self, code: RefusalCode, message: str) -> None:
        super().__init__(message)
        self.code: RefusalCode = code


class BrokerReloadError(ProvisioningError):
    """The broker could not be told to reload its ACL and CRL (no pid file, the process is gone, ...)."""
