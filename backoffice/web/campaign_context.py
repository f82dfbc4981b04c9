"""What the campaign, proof-of-play and till pages share: the campaign desk of the application and their
words in the request's language."""

from __future__ import annotations

from fastapi import Request

from backoffice.campaigns.desk import CampaignDesk
from backoffice.web.campaign_i18n import CampaignWords, campaign_words_for
from backoffice.web.render import language_of


def desk_of(request: Request) -> CampaignDesk:
    """The application's campaign desk (``app.state.campaigns``, built by ``create_app``)."""
    desk = request.app.state.campaigns
    assert isinstance(desk, CampaignDesk)
    return desk


def cwords(request: Request) -> CampaignWords:
    """The campaign pages' words in the request's language."""
    return campaign_words_for(language_of(request))
