"""The assistant's one configuration model (a future ``[assistant]`` section of the kiosk's TOML)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from kiosk.assistant.decision import DecisionThresholds
from kiosk.assistant.knowledge import Lang
from kiosk.assistant.retrieval import RetrievalWeights


class AssistantConfig(BaseModel):
    """How the FAQ assistant reads, ranks and decides; the defaults are the calibrated ones."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    default_lang: Lang = Field(
        default="ru", description="The screen's language: used when a message's own language is undecided."
    )
    thresholds: DecisionThresholds = Field(
        default_factory=DecisionThresholds, description="When to answer, clarify or decline."
    )
    retrieval: RetrievalWeights = Field(
        default_factory=RetrievalWeights, description="How the retrieval weighs its evidence."
    )
    max_declines: int = Field(
        default=2, ge=1, description="Declines in a row after which the conversation goes to a person."
    )
