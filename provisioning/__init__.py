"""Store staff's tools to provision a device: identity, certificates, configuration and self-test."""

__version__ = "0.1.0"
