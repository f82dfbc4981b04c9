"""What to do with a message, from its hand-off signs and the retrieval's two best scores: pure.

* **handoff** on any strong hand-off sign or two weak ones; on one weak sign when the FAQ has no answer;
* **answer** when the best entry scores at least ``answer`` and leads the second by at least ``margin``;
* **clarify** (offer the best two) when the best scores at least ``clarify`` but cannot be answered;
* **decline** otherwise, with the offer of a person.

The thresholds are chosen on the development queries (docs/assistant.md says how, and what they gave).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kiosk.assistant.handoff import HandoffSignal

Action = Literal["answer", "clarify", "decline", "handoff"]

#: Scores and thresholds compare with this much slack, so that 0.5 - 0.4 reaches a margin of 0.1.
EPSILON = 1e-9


class DecisionThresholds(BaseModel):
    """The calibrated thresholds on the retrieval score (0 to 1) that decide between the actions."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    answer: float = Field(
        default=0.42, ge=0, le=1, description="The least score of the best entry to answer it."
    )
    margin: float = Field(
        default=0.04, ge=0, le=1, description="The least lead of the best entry over the second to answer it."
    )
    clarify: float = Field(
        default=0.42,
        ge=0,
        le=1,
        description="The least score of the best entry to offer the best two instead.",
    )

    @model_validator(mode="after")
    def _ordered(self) -> DecisionThresholds:
        if self.clarify > self.answer:
            raise ValueError(f"clarify ({self.clarify}) must not be above answer ({self.answer})")
        return self


@dataclass(frozen=True)
class Decision:
    """An action, the entries it concerns (one to answer, two to choose from) and its confidence."""

    action: Action
    entries: tuple[str, ...]
    confidence: float
    reason: str | None = None


def decide(
    ranked: list[tuple[str, float]], signal: HandoffSignal, thresholds: DecisionThresholds
) -> Decision:
    """The action for a message whose entries scored ``ranked`` (best first) and whose hand-off signs are
    ``signal``."""
    if signal.strong:
        return Decision("handoff", (), 1.0, signal.strong[0])
    if len(signal.weak) >= 2:
        return Decision("handoff", (), 0.5, signal.weak[0])
    best_id, best = ranked[0] if ranked else ("", 0.0)
    second_id, second = ranked[1] if len(ranked) > 1 else ("", 0.0)
    confidence = round(best, 4)
    if best >= thresholds.answer - EPSILON and best - second >= thresholds.margin - EPSILON:
        return Decision("answer", (best_id,), confidence)
    if best >= thresholds.clarify - EPSILON and second_id:
        return Decision("clarify", (best_id, second_id), confidence)
    if signal.weak:
        return Decision("handoff", (), 0.5, signal.weak[0])
    return Decision("decline", (), confidence)
