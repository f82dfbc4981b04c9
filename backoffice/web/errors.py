"""Exceptions of :mod:`backoffice.web`. Every message says what was wrong and what to do about it."""

from backoffice.errors import BackofficeError


class WebError(BackofficeError):
    """Base class of every error raised by :mod:`backoffice.web`."""
