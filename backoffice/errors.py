"""Exceptions of :mod:`backoffice`. Every message says what was wrong and what to do about it."""


class BackofficeError(Exception):
    """Base class of every error raised by :mod:`backoffice`."""
