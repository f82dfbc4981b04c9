"""Exceptions of :mod:`backoffice.campaigns`. Every message says what was wrong and what to do about it."""

from __future__ import annotations

from backoffice.errors import BackofficeError


class CampaignError(BackofficeError):
    """Base class of every error raised by :mod:`backoffice.campaigns`."""


class InvalidOfferError(CampaignError):
    """An offer or a catalogue does not validate against the contract's catalogue schema; ``issues`` are
    (where, what) pairs, the message joins them."""

    def __init__(self, issues: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{where}: {what}" if where else what for where, what in issues))
        self.issues = issues


class ImageRejectedError(CampaignError):
    """An uploaded picture was refused: its format, size or dimensions (the message says which, and what
    is accepted)."""


class PublishError(CampaignError):
    """A publication could not be made or sent (nothing to publish, too large, no key, no broker, ...)."""


class ApprovalError(CampaignError):
    """An approval that is not allowed: the requester approving their own publication, a request already
    decided, or a role that may not approve."""
