"""Exceptions of :mod:`cloud_sync`. Every message says what was wrong and what to do about it."""


class CloudSyncError(Exception):
    """Base class of every error raised by :mod:`cloud_sync`."""
